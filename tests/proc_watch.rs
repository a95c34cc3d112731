//! The tracked-process watcher on a real kernel (root, no network traffic): the process
//! connector path from the initial network namespace, the /proc scan path, and the fallback
//! from the connector to the scan where the connector does not exist (a network namespace).
//!
//! Each test runs its own copy of `sleep` under a unique name (its comm), so other processes
//! on the machine never count.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use tokio::sync::mpsc;
use vipd::config::ProcessConfig;
use vipd::track::{ProcessMatch, ProcessWatcher, TrackEvent, WatchPath};

/// Generous: the test waits for an event, it never measures how fast it came.
const WAIT: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A copy of /bin/sleep named `name` (at most 15 bytes: it is the process's comm).
struct Sleeper {
    dir: tempfile::TempDir,
    name: String,
}

impl Sleeper {
    fn new(tag: &str) -> Sleeper {
        let name = format!("pt{tag}{}", std::process::id() % 100_000);
        assert!(name.len() <= 15, "{name}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy("/bin/sleep", dir.path().join(&name)).unwrap();
        Sleeper { dir, name }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join(&self.name)
    }

    fn start(&self) -> Child {
        Command::new(self.path()).arg("600").spawn().unwrap()
    }
}

fn spec(name: &str) -> BTreeMap<String, ProcessConfig> {
    [(
        "web".to_string(),
        ProcessConfig {
            matcher: ProcessMatch::name(name),
            quorum: 1,
            quorum_max: u32::MAX,
            weight: -50,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            reverse: false,
        },
    )]
    .into()
}

/// The next process report (running, up), within [`WAIT`].
fn next(rx: &mut mpsc::UnboundedReceiver<TrackEvent>) -> (u32, bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match rx.try_recv() {
            Ok(TrackEvent::Process { name, running, up }) => {
                assert_eq!(name, "web");
                return (running, up);
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("no process report within {WAIT:?}: {e}"),
        }
    }
}

/// Start one, see it counted; a second; kill both, see the count fall and the process down.
fn up_and_down(s: &Sleeper, rx: &mut mpsc::UnboundedReceiver<TrackEvent>) {
    assert_eq!(next(rx), (0, false), "the first report: none running");
    let mut a = s.start();
    assert_eq!(next(rx), (1, true));
    let mut b = s.start();
    assert_eq!(next(rx), (2, true));
    a.kill().unwrap();
    a.wait().unwrap();
    assert_eq!(next(rx), (1, true));
    b.kill().unwrap();
    b.wait().unwrap();
    assert_eq!(next(rx), (0, false));
}

#[test]
fn connector_path_sees_a_process_start_and_die() {
    if !is_root() {
        eprintln!("skipped: needs root (CAP_NET_ADMIN for the process connector)");
        return;
    }
    let s = Sleeper::new("c");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let w = ProcessWatcher::spawn(&spec(&s.name), tx);
    assert_eq!(w.path(WAIT), Some(WatchPath::Connector));
    up_and_down(&s, &mut rx);
    // A process that renames itself (prctl / writing its comm: PROC_EVENT_COMM) counts from
    // then on: a shell that takes the name, then blocks reading its stdin (a builtin: no
    // child, which would inherit the name until it execs).
    let script = format!("printf %s {} > /proc/$$/comm; read x", s.name);
    let mut renamed = Command::new("/bin/sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(next(&mut rx), (1, true));
    renamed.kill().unwrap();
    renamed.wait().unwrap();
    assert_eq!(next(&mut rx), (0, false));
    drop(w);
}

#[test]
fn scan_path_sees_a_process_start_and_die() {
    let s = Sleeper::new("s");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let w = ProcessWatcher::spawn_with(&spec(&s.name), tx, false);
    assert_eq!(w.path(WAIT), Some(WatchPath::Scan));
    up_and_down(&s, &mut rx);
}

#[test]
fn in_a_network_namespace_the_connector_is_refused_and_the_scan_takes_over() {
    if !is_root() {
        eprintln!("skipped: needs root (unshare of the network namespace)");
        return;
    }
    let s = Sleeper::new("n");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let name = s.name.clone();
    // The watcher's thread inherits the namespace of the thread that starts it.
    let w = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        ProcessWatcher::spawn(&spec(&name), tx)
    })
    .join()
    .unwrap();
    assert_eq!(w.path(WAIT), Some(WatchPath::Scan));
    up_and_down(&s, &mut rx);
}

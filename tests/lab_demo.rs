//! `vipd demo` end to end (root): the whole story runs and reports each step with its
//! numbers, and nothing is left behind (namespaces, processes, files), also when the demo is
//! interrupted with SIGINT in the middle. Needs root and iproute2; fails (never skips)
//! without them.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "lab tests need root (run the README's test command as root)"
    );
    assert!(
        Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success()),
        "lab tests need `ip` (iproute2, installed by .ci/run)"
    );
}

/// A running `vipd demo` whose stdout lines arrive on a channel.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    out: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    fn start() -> Running {
        let mut child = Command::new(VIPD)
            .arg("demo")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vipd demo");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Running {
            child,
            lines,
            out: vec![],
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads output until a line contains `what`.
    fn wait_line(&mut self, what: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(what);
                    self.out.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no line with {what:?} within {timeout:?}; output:\n{}",
                        self.out.join("\n")
                    );
                }
            }
        }
    }

    /// Waits for the exit; returns the exit code, the whole stdout and stderr.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String, String) {
        let end = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > end {
                let _ = kill(Pid::from_raw(self.pid() as i32), Signal::SIGINT);
                std::thread::sleep(Duration::from_secs(5));
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "vipd demo still running after {timeout:?}; output:\n{}",
                    self.out.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The reader thread ends with the pipe.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.out.push(l);
        }
        let err = self.stderr.join().unwrap_or_default();
        (status.code(), self.out.join("\n"), err)
    }
}

/// What a demo with pid `pid` left behind: namespaces, processes (by the `VIPD_DEMO_ID`
/// every child carries) and its directory.
fn leftovers(pid: u32) -> Vec<String> {
    let prefix = format!("{}{pid}-", vipd::demo::NS_PREFIX);
    let mut left = vec![];
    let ns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for l in String::from_utf8_lossy(&ns.stdout).lines() {
        if l.starts_with(&prefix) {
            left.push(format!("namespace {l}"));
        }
    }
    let marker = format!("{}={prefix}", vipd::demo::ID_ENV);
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|v| v == marker.as_bytes()) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            left.push(format!(
                "process {:?}: {}",
                e.file_name(),
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    let dir = std::env::temp_dir().join(format!("vipd-demo-{pid}"));
    if dir.exists() {
        left.push(format!("directory {}", dir.display()));
    }
    left
}

/// The number before " ms" that follows `after` in the line containing `key`.
fn ms(out: &str, key: &str, after: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no line with {key:?} in:\n{out}"));
    let rest = &line[line
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
        + after.len()..];
    let num: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    assert!(rest.trim_start()[num.len()..].starts_with(" ms"), "{line}");
    num.parse()
        .unwrap_or_else(|_| panic!("no number after {after:?} in {line:?}"))
}

#[test]
fn demo_tells_the_whole_story_and_cleans_up() {
    require_root();
    let start = Instant::now();
    let demo = Running::start();
    let pid = demo.pid();
    let (code, out, err) = demo.finish(Duration::from_secs(60));
    let took = start.elapsed();
    eprintln!("{out}\n{err}\nvipd demo took {took:?}");
    assert_eq!(code, Some(0), "exit status; stderr: {err}");

    // Where the metrics are, per node.
    for h in ["n1", "n2"] {
        assert!(
            out.contains(&format!(
                "ip netns exec vipd-demo-{pid}-{h} curl http://127.0.0.1:9797/metrics"
            )),
            "{out}"
        );
    }
    // 1) election.
    assert!(out.contains("master elected: n1 (priority 150)"), "{out}");
    assert!(out.contains("n1: BACKUP -> MASTER"), "{out}");
    // 2) failover on link down, with the client's outage in ms.
    let fail_takeover = ms(&out, "failover: n2 holds", "after");
    let fail_outage = ms(&out, "failover: n2 holds", "lost the VIP for");
    assert!(out.contains("n1: MASTER -> FAULT"), "{out}");
    assert!(fail_takeover < 3000, "{out}");
    assert!(
        (100..3000).contains(&fail_outage),
        "link-down failover costs about the master-down interval: {out}"
    );
    // 3) preempt back.
    assert!(out.contains("preempt back: n1 holds"), "{out}");
    assert!(
        out.contains("n1: BACKUP -> MASTER: preempting lower priority 100"),
        "{out}"
    );
    let _ = ms(&out, "preempt back: n1 holds", "lost the VIP for");
    // 4) graceful stop: priority 0, takeover after skew time.
    assert!(
        out.contains("graceful stop: n1 exited (exit status: 0)"),
        "{out}"
    );
    assert!(out.contains("resigned (priority 0)"), "{out}");
    let grace_takeover = ms(&out, "graceful stop:", "after");
    let grace_outage = ms(&out, "graceful stop:", "lost the VIP for");
    assert!(grace_takeover < 1000, "{out}");
    assert!(grace_outage < 1500, "{out}");
    // Cleanup.
    assert!(out.contains("cleaned up: stopped 3 processes"), "{out}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
    assert!(took < Duration::from_secs(30), "the demo took {took:?}");
}

#[test]
fn sigint_in_the_middle_cleans_up() {
    require_root();
    let mut demo = Running::start();
    let pid = demo.pid();
    // In the middle: n1's link is down, n2 is taking over.
    demo.wait_line("2) taking n1's link down", Duration::from_secs(30));
    assert!(
        !leftovers(pid).is_empty(),
        "the demo is running and has its namespaces"
    );
    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    let (code, out, err) = demo.finish(Duration::from_secs(20));
    eprintln!("{out}\n{err}");
    assert_eq!(code, Some(130), "interrupted exit status; {err}");
    assert!(out.contains("interrupted: cleaning up"), "{out}");
    assert!(out.contains("cleaned up: stopped 3 processes"), "{out}");
    assert!(!out.contains("graceful stop:"), "stopped early: {out}");
    assert_eq!(leftovers(pid), Vec::<String>::new());
}

#[test]
fn not_root_is_refused_clearly() {
    require_root();
    // As nobody, without any capability.
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            VIPD,
            "demo",
        ])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the demo needs root"), "{err}");
}

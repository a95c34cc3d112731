//! `vipd demo`: a throwaway LAN of network namespaces with two vipd nodes and a client,
//! and a scripted story (election, link failover, preemption back, graceful stop) with a live
//! view of who holds the virtual address and how long the client lost it.
//!
//! Everything it creates is named `vipd-demo-<pid>-*` (namespaces) or lives in
//! `$TMPDIR/vipd-demo-<pid>` (configurations, logs), uses only 10.99.0.0/16, and is removed
//! on success, on error (a `Drop` guard) and on Ctrl-C / SIGTERM. Child processes run in
//! their own process group (the terminal's Ctrl-C reaches only the demo, which then stops
//! them in order) and are ended by pid. Each carries `VIPD_DEMO_ID=vipd-demo-<pid>-` in its
//! environment, so leftovers of a demo that was killed outright (SIGKILL) are recognised and
//! removed by the next `vipd demo`.
//!
//! The LAN itself (switch namespace, hosts, veth pairs, ending processes by pid, deleting the
//! namespaces) is [`crate::netlab`], the same harness the lab tests use.
//!
//! The client's pings come from the demo itself (`vipd demo --ping ADDR`, hidden, run in the
//! client namespace): ICMP echo over a raw socket every 10 ms, one `reply SEQ` line per
//! answer, so no `ping` binary is needed.

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::netlab::{self, Host, Lan};
use crate::packet::checksum::Sum;

/// Namespace names start with this, then `<pid>-`.
pub const NS_PREFIX: &str = "vipd-demo-";
/// Environment variable set on every process the demo starts (value: its namespace prefix).
pub const ID_ENV: &str = "VIPD_DEMO_ID";
/// The virtual address the nodes share.
pub const VIP: &str = "10.99.0.10";

const VRID: u8 = 10;
const ADVERT_MS: u32 = 100;
const PING_EVERY: Duration = Duration::from_millis(10);
const POLL: Duration = Duration::from_millis(50);
/// How long each step's outcome stays on screen before the next step.
const HOLD: Duration = Duration::from_millis(1500);
/// A pinger never outlives this, whatever happens to the demo.
const PINGER_MAX: Duration = Duration::from_secs(600);
const NODES: [&str; 2] = ["n1", "n2"];
const HOSTS: [(&str, Ipv4Addr); 3] = [
    ("n1", Ipv4Addr::new(10, 99, 0, 11)),
    ("n2", Ipv4Addr::new(10, 99, 0, 12)),
    ("client", Ipv4Addr::new(10, 99, 0, 100)),
];

/// Entry point of `vipd demo`; returns the exit status (0 done, 1 failed, 130 interrupted).
/// With `ping`, runs the client's pinger instead (internal).
pub fn main(ping: Option<Ipv4Addr>) -> u8 {
    if let Some(addr) = ping {
        return pinger(addr);
    }
    if let Err(msg) = preflight() {
        eprintln!("vipd demo: {msg}");
        return 1;
    }
    let stop = Arc::new(AtomicBool::new(false));
    // The runtime only watches for SIGINT/SIGTERM; it must live as long as the demo.
    let _rt = match watch_signals(stop.clone()) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipd demo: cannot install the signal handlers: {e}");
            return 1;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("vipd demo: cannot find my own executable: {e}");
            return 1;
        }
    };
    remove_stale();
    let started = Instant::now();
    let mut demo = Demo::new(exe, stop);
    let result = demo.build().and_then(|()| demo.story());
    let code = match &result {
        Ok(()) => 0,
        Err(Stop::Interrupted) => {
            demo.view.say("interrupted: cleaning up");
            130
        }
        Err(Stop::Failed(msg)) => {
            demo.view.say("");
            eprintln!("vipd demo failed: {msg}");
            println!("cleaning up after the failure");
            1
        }
    };
    drop(demo);
    if code == 0 {
        println!("done in {:.1} s", started.elapsed().as_secs_f64());
    }
    code
}

/// Why the story stopped early.
#[derive(Debug)]
enum Stop {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// Something did not work; the message says what.
    Failed(String),
}

type R<T> = Result<T, Stop>;

fn fail(msg: impl Into<String>) -> Stop {
    Stop::Failed(msg.into())
}

impl From<netlab::Error> for Stop {
    fn from(e: netlab::Error) -> Stop {
        Stop::Failed(e.0)
    }
}

/// Root, Linux and `ip` are needed; says which is missing.
fn preflight() -> Result<(), String> {
    if !cfg!(target_os = "linux") {
        return Err("the demo needs Linux (network namespaces)".into());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "the demo needs root: it creates network namespaces, a bridge and veth pairs \
             (run `sudo vipd demo`)"
                .into(),
        );
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("the demo needs the `ip` command (iproute2): apt-get install iproute2".into()),
    }
}

/// Sets `stop` on SIGINT or SIGTERM (from then on they no longer kill the process).
fn watch_signals(stop: Arc<AtomicBool>) -> std::io::Result<tokio::runtime::Runtime> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            stop.store(true, Ordering::SeqCst);
        });
        Ok::<(), std::io::Error>(())
    })?;
    Ok(rt)
}

/// Ends processes and deletes `vipd-demo-<pid>-*` namespaces left by demos whose process is
/// gone (killed with SIGKILL, say).
fn remove_stale() {
    let gone = |pid: &str| !std::path::Path::new(&format!("/proc/{pid}")).exists();
    let marker = format!("{ID_ENV}={NS_PREFIX}");
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(env) = fs::read(e.path().join("environ")) else {
            continue;
        };
        let Some(demo) = env.split(|&b| b == 0).find_map(|v| {
            std::str::from_utf8(v)
                .ok()?
                .strip_prefix(marker.as_str())?
                .split('-')
                .next()
                .map(str::to_owned)
        }) else {
            continue;
        };
        if let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>()
            && gone(&demo)
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().filter(|p| p.parse::<u32>().is_ok()) else {
            continue;
        };
        if gone(pid) {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
    let tmp = std::env::temp_dir();
    for e in fs::read_dir(&tmp).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix(NS_PREFIX)
            && pid.parse::<u32>().is_ok()
            && gone(pid)
        {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// A process the demo started (the child itself is kept by the [`Lan`]).
struct Proc {
    name: String,
    pid: u32,
    log: Option<PathBuf>,
    /// Set once the demo stops it on purpose.
    stopping: bool,
}

/// Replies the client received, as arrival times.
type Replies = Arc<Mutex<Vec<Instant>>>;

/// What one poll saw.
struct Snapshot {
    holders: Vec<&'static str>,
    replies: usize,
    last_reply: Option<Instant>,
}

/// The LAN, its processes and the story's state; everything is removed on drop.
struct Demo {
    exe: PathBuf,
    stop: Arc<AtomicBool>,
    /// Namespaces `vipd-demo-<pid>-*`.
    lan: Lan,
    dir: PathBuf,
    dir_made: bool,
    procs: Vec<Proc>,
    replies: Replies,
    view: View,
    log_seen: HashMap<String, usize>,
}

impl Demo {
    fn new(exe: PathBuf, stop: Arc<AtomicBool>) -> Demo {
        let pid = std::process::id();
        Demo {
            exe,
            stop,
            lan: Lan::new(&format!("{NS_PREFIX}{pid}-")),
            dir: std::env::temp_dir().join(format!("vipd-demo-{pid}")),
            dir_made: false,
            procs: vec![],
            replies: Arc::new(Mutex::new(Vec::new())),
            view: View::new(),
            log_seen: HashMap::new(),
        }
    }

    fn ns(&self, host: &str) -> String {
        self.lan.ns(host)
    }

    fn check_stop(&self) -> R<()> {
        if self.stop.load(Ordering::SeqCst) {
            Err(Stop::Interrupted)
        } else {
            Ok(())
        }
    }

    /// The switch (a bridge without multicast snooping, so VRRP multicast floods), the hosts
    /// with `eth0` plugged into it, and the working directory.
    fn build(&mut self) -> R<()> {
        let _ = fs::remove_dir_all(&self.dir);
        fs::create_dir_all(&self.dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", self.dir.display())))?;
        self.dir_made = true;
        let sw = self.ns("sw");
        self.view.say(&format!(
            "building a LAN of network namespaces: {sw} (bridge br0, multicast snooping off), \
             {p}n1 10.99.0.11, {p}n2 10.99.0.12, {p}client 10.99.0.100; VIP {VIP}/24",
            p = self.lan.prefix()
        ));
        self.check_stop()?;
        self.lan.switch()?;
        for (h, addr) in HOSTS {
            self.check_stop()?;
            // IPv4 only: the kernel's duplicate address detection stays on (no `sysctl`).
            self.lan.add(&Host::new(h).v4(addr).with_dad())?;
        }
        Ok(())
    }

    /// Starts `args` in host `h`'s namespace, in its own process group; output to `log` or
    /// a pipe.
    fn spawn(&mut self, h: &str, name: &str, args: &[&str], log: Option<PathBuf>) -> R<()> {
        self.check_stop()?;
        let mut cmd = self.lan.command(h, &self.exe);
        cmd.args(args)
            .env(ID_ENV, self.lan.prefix())
            .env("VIPD_LOG", "info")
            .stdin(Stdio::null())
            .process_group(0);
        if let Some(path) = &log {
            let f = fs::File::create(path)
                .map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?;
            let f2 = f
                .try_clone()
                .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
            cmd.stdout(f).stderr(f2);
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        }
        let pid = self
            .lan
            .spawn(cmd)
            .map_err(|e| fail(format!("cannot start {name}: {e}")))?
            .id();
        self.procs.push(Proc {
            name: name.to_owned(),
            pid,
            log,
            stopping: false,
        });
        Ok(())
    }

    /// Writes node `h`'s configuration and starts `vipd run` with it.
    fn start_node(&mut self, h: &str, priority: u8) -> R<()> {
        let yaml = format!(
            "# vipd demo node {h}\nrouter_id: {h}\nlisten: \"127.0.0.1:9797\"\ninstances:\n  \
             VI_1:\n    interface: eth0\n    vrid: {VRID}\n    priority: {priority}\n    \
             version: 3\n    advert_interval: {ADVERT_MS}ms\n    virtual_ipaddress: \
             [\"{VIP}/24\"]\n"
        );
        let cfg = self.dir.join(format!("{h}.yaml"));
        fs::write(&cfg, yaml).map_err(|e| fail(format!("cannot write {}: {e}", cfg.display())))?;
        let cfg = cfg.to_string_lossy().into_owned();
        let log = self.dir.join(format!("{h}.log"));
        self.spawn(h, h, &["run", "-c", &cfg], Some(log))
    }

    /// Starts the client's pinger and a thread recording when each reply arrives.
    fn start_pinger(&mut self) -> R<()> {
        self.spawn("client", "pinger", &["demo", "--ping", VIP], None)?;
        let pid = self.procs.last().map(|p| p.pid);
        let out = pid
            .and_then(|pid| self.lan.child(pid))
            .and_then(|c| c.stdout.take())
            .ok_or_else(|| fail("pinger has no output"))?;
        let replies = self.replies.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("reply ") {
                    let now = Instant::now();
                    if let Ok(mut r) = replies.lock() {
                        r.push(now);
                    }
                }
            }
        });
        Ok(())
    }

    fn proc_mut(&mut self, name: &str) -> Option<&mut Proc> {
        self.procs.iter_mut().find(|p| p.name == name)
    }

    /// Fails when a process the story relies on has exited.
    fn check_procs(&mut self) -> R<()> {
        for i in 0..self.procs.len() {
            if self.procs[i].stopping {
                continue;
            }
            if let Some(st) = self.lan.try_wait(self.procs[i].pid) {
                let p = &mut self.procs[i];
                let name = p.name.clone();
                let tail = p
                    .log
                    .as_ref()
                    .and_then(|l| fs::read_to_string(l).ok())
                    .map(|s| {
                        let lines: Vec<&str> = s.lines().collect();
                        lines[lines.len().saturating_sub(15)..].join("\n")
                    })
                    .unwrap_or_default();
                p.stopping = true;
                return Err(fail(format!("{name} exited unexpectedly ({st})\n{tail}")));
            }
        }
        Ok(())
    }

    /// Which nodes have the VIP on eth0 now.
    fn holders(&self) -> R<Vec<&'static str>> {
        let mut v = vec![];
        for h in NODES {
            if self.lan.has_addr(h, VIP)? {
                v.push(h);
            }
        }
        Ok(v)
    }

    fn snapshot(&self) -> R<Snapshot> {
        let holders = self.holders()?;
        let (replies, last_reply) = self
            .replies
            .lock()
            .map(|r| (r.len(), r.last().copied()))
            .unwrap_or((0, None));
        Ok(Snapshot {
            holders,
            replies,
            last_reply,
        })
    }

    /// Polls every 50 ms (updating the live view) until `cond` holds; returns how long it took.
    fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Snapshot) -> bool,
    ) -> R<Duration> {
        let start = Instant::now();
        loop {
            self.check_stop()?;
            self.check_procs()?;
            let snap = self.snapshot()?;
            self.view.show(&snap);
            if cond(&snap) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                let logs = self.new_state_lines();
                return Err(fail(format!(
                    "timed out after {timeout:?} waiting for {what} (VIP on {:?})\n{}",
                    snap.holders,
                    logs.join("\n")
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until exactly `host` holds the VIP.
    fn wait_holder(&mut self, host: &str, timeout: Duration) -> R<Duration> {
        self.wait(&format!("{host} alone to hold {VIP}"), timeout, |s| {
            s.holders == [host]
        })
    }

    /// Waits until the client has had replies after `t`, then for `settle` more.
    fn wait_replies_after(&mut self, t: Instant, settle: Duration) -> R<()> {
        self.wait(
            &format!("the client to get replies from {VIP}"),
            Duration::from_secs(5),
            |s| s.last_reply.is_some_and(|l| l > t),
        )?;
        let until = Instant::now() + settle;
        self.wait("time to pass", settle + Duration::from_secs(1), |_| {
            Instant::now() >= until
        })?;
        Ok(())
    }

    /// The longest gap between two replies that arrived after `since` (counting the last
    /// reply before it): how long the client could not reach the VIP.
    fn outage(&self, since: Instant) -> Duration {
        let r = self.replies.lock().map(|r| r.clone()).unwrap_or_default();
        let first = r.iter().position(|&t| t >= since).unwrap_or(r.len());
        let from = first.saturating_sub(1);
        r[from..]
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default()
    }

    /// State changes the nodes logged since the last call, as `node: FROM -> TO: cause`.
    fn new_state_lines(&mut self) -> Vec<String> {
        let mut out = vec![];
        for h in NODES {
            let path = self.dir.join(format!("{h}.log"));
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let seen = self.log_seen.entry(h.to_owned()).or_insert(0);
            let new = text.get(*seen..).unwrap_or_default();
            // Only whole lines; a partial last line is read next time.
            let whole = new.rfind('\n').map_or(0, |i| i + 1);
            for line in new[..whole].lines() {
                if let Some(msg) = state_change(line) {
                    out.push(format!("   {h}: {msg}"));
                }
            }
            *seen += whole;
        }
        out
    }

    fn say_state_lines(&mut self) {
        for l in self.new_state_lines() {
            self.view.say(&l);
        }
    }

    fn link(&self, h: &str, up: bool) -> R<()> {
        Ok(self.lan.link(h, up)?)
    }

    /// `vipd status` of node `h`, from inside its namespace.
    fn status_table(&self, h: &str) -> Option<String> {
        let out = self
            .lan
            .command(h, &self.exe)
            .args(["status", "--url", "http://127.0.0.1:9797"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn story(&mut self) -> R<()> {
        let skew = (256.0 - 100.0) * f64::from(ADVERT_MS) / 256.0;
        let mdi = 3.0 * f64::from(ADVERT_MS) + skew;

        self.start_node("n1", 150)?;
        self.start_node("n2", 100)?;
        self.view.say(&format!(
            "started vipd on n1 (priority 150) and n2 (priority 100): VRRPv3, VRID {VRID}, \
             adverts every {ADVERT_MS} ms; configurations and logs in {}",
            self.dir.display()
        ));
        for h in NODES {
            self.view.say(&format!(
                "metrics of {h}: sudo ip netns exec {} curl http://127.0.0.1:9797/metrics",
                self.ns(h)
            ));
        }
        self.start_pinger()?;
        self.view.say(&format!(
            "the client pings {VIP} every {} ms",
            PING_EVERY.as_millis()
        ));

        // 1. Election.
        self.view
            .say("\n1) election: both start as backup, the higher priority wins");
        let took = self.wait_holder("n1", Duration::from_secs(5))?;
        self.say_state_lines();
        self.view.say(&format!(
            "   master elected: n1 (priority 150) holds {VIP} after {} ms; n2 (priority 100) \
             is backup",
            took.as_millis()
        ));
        let t = Instant::now();
        self.wait_replies_after(t, HOLD)?;
        if let Some(table) = self.status_table("n1") {
            self.view.say("   `vipd status` on n1:");
            for l in table.lines() {
                self.view.say(&format!("     {l}"));
            }
        }

        // 2. The master's link goes down.
        self.view.say(&format!(
            "\n2) taking n1's link down: n2 takes over once n1's adverts stop \
             (Master_Down_Interval {mdi:.0} ms)"
        ));
        let t = Instant::now();
        self.link("n1", false)?;
        let took = self.wait_holder("n2", Duration::from_secs(5))?;
        self.wait_replies_after(t + took, HOLD)?;
        self.say_state_lines();
        let out = self.outage(t);
        self.view.say(&format!(
            "   failover: n2 holds {VIP} after {} ms; the client lost the VIP for {} ms \
             (longest gap between ping replies)",
            took.as_millis(),
            out.as_millis()
        ));

        // 3. The link comes back: n1 preempts.
        self.view
            .say("\n3) bringing n1's link back: n1 (150) preempts n2 (100)");
        let t = Instant::now();
        self.link("n1", true)?;
        let took = self.wait_holder("n1", Duration::from_secs(5))?;
        self.wait_replies_after(t + took, HOLD)?;
        self.say_state_lines();
        let out = self.outage(t);
        self.view.say(&format!(
            "   preempt back: n1 holds {VIP} again after {} ms; the client lost the VIP for \
             {} ms",
            took.as_millis(),
            out.as_millis()
        ));

        // 4. Graceful stop of the master.
        self.view.say(&format!(
            "\n4) stopping n1 gracefully (SIGTERM): it sends priority 0, n2 takes over after \
             Skew_Time ({skew:.0} ms) instead of {mdi:.0} ms"
        ));
        let t = Instant::now();
        let pid = {
            let p = self
                .proc_mut("n1")
                .ok_or_else(|| fail("n1 is not running"))?;
            p.stopping = true;
            p.pid
        };
        self.lan
            .signal(pid, Signal::SIGTERM)
            .map_err(|e| fail(format!("cannot signal n1: {e}")))?;
        let took = self.wait_holder("n2", Duration::from_secs(5))?;
        self.wait_replies_after(t + took, HOLD)?;
        let status = {
            let end = Instant::now() + Duration::from_secs(5);
            loop {
                match self.lan.try_wait(pid) {
                    Some(st) => break st,
                    _ if Instant::now() > end => {
                        return Err(fail("n1 did not exit within 5 s of SIGTERM"));
                    }
                    _ => std::thread::sleep(POLL),
                }
            }
        };
        self.say_state_lines();
        let out = self.outage(t);
        self.view.say(&format!(
            "   graceful stop: n1 exited ({status}); n2 holds {VIP} after {} ms; the client \
             lost the VIP for {} ms",
            took.as_millis(),
            out.as_millis()
        ));
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let n = self.procs.len();
        let namespaces = self.lan.namespaces().len();
        self.lan.teardown();
        if self.dir_made {
            let _ = fs::remove_dir_all(&self.dir);
        }
        self.view.say(&format!(
            "cleaned up: stopped {n} processes, deleted {namespaces} namespaces ({}*), removed {}",
            self.lan.prefix(),
            self.dir.display()
        ));
    }
}

/// `FROM -> TO: cause` from a vipd log line, if it is a state change.
fn state_change(line: &str) -> Option<String> {
    let start = ["INIT -> ", "BACKUP -> ", "MASTER -> ", "FAULT -> "]
        .iter()
        .filter_map(|s| line.find(s))
        .min()?;
    let msg = &line[start..];
    let msg = msg.find(" instance=").map_or(msg, |i| &msg[..i]);
    Some(msg.trim().to_owned())
}

/// The live line: on a terminal it is rewritten in place; otherwise a line is printed each
/// time the holder changes.
struct View {
    tty: bool,
    active: bool,
    last: Option<String>,
    start: Instant,
}

impl View {
    fn new() -> View {
        View {
            tty: std::io::stdout().is_terminal(),
            active: false,
            last: None,
            start: Instant::now(),
        }
    }

    /// Prints a narrative line (clearing the live line first).
    fn say(&mut self, msg: &str) {
        let mut o = std::io::stdout().lock();
        if self.active {
            let _ = write!(o, "\r\x1b[K");
            self.active = false;
        }
        let _ = writeln!(o, "{msg}");
        let _ = o.flush();
    }

    fn show(&mut self, s: &Snapshot) {
        let who = if s.holders.is_empty() {
            "nobody".to_owned()
        } else {
            s.holders.join(" + ")
        };
        let t = self.start.elapsed().as_secs_f64();
        let mut o = std::io::stdout().lock();
        if self.tty {
            let last = s.last_reply.map_or("-".to_owned(), |l| {
                format!("{} ms ago", l.elapsed().as_millis())
            });
            let _ = write!(
                o,
                "\r\x1b[K   [{t:5.1} s] {VIP} on {who:<8} | client: {} replies, last {last}",
                s.replies
            );
            let _ = o.flush();
            self.active = true;
        } else if self.last.as_deref() != Some(who.as_str()) {
            let _ = writeln!(o, "   [{t:5.1} s] {VIP} now on {who}");
        }
        self.last = Some(who);
    }
}

/// The client's pinger: an ICMP echo to `addr` every 10 ms over a raw socket, printing
/// `reply SEQ` per answer. Ends when its output is closed, its parent dies, or after 10 min.
fn pinger(addr: Ipv4Addr) -> u8 {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    let sock = match Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vipd demo pinger: raw ICMP socket: {e} (needs CAP_NET_RAW)");
            return 1;
        }
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
    let sender = match sock.try_clone() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vipd demo pinger: {e}");
            return 1;
        }
    };
    let id = (std::process::id() & 0xffff) as u16;
    let end = Instant::now() + PINGER_MAX;
    std::thread::spawn(move || {
        let dst = SockAddr::from(SocketAddrV4::new(addr, 0));
        let mut seq: u16 = 0;
        let mut next = Instant::now();
        while Instant::now() < end {
            // Errors (no route, no neighbour yet) are just lost pings.
            let _ = sender.send_to(&echo_request(id, seq), &dst);
            seq = seq.wrapping_add(1);
            next += PING_EVERY;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    });
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        match (&sock).read(&mut buf) {
            Ok(n) => {
                if let Some(seq) = echo_reply_seq(&buf[..n], id)
                    && writeln!(out, "reply {seq}")
                        .and_then(|()| out.flush())
                        .is_err()
                {
                    return 0;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                eprintln!("vipd demo pinger: {e}");
                return 1;
            }
        }
    }
    0
}

/// An ICMP echo request with identifier `id` and sequence `seq`.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"vipd-demo-ping..");
    let sum = inet_checksum(&p);
    p[2..4].copy_from_slice(&sum.to_be_bytes());
    p
}

/// The sequence number of an echo reply (IPv4 header included) to identifier `id`.
fn echo_reply_seq(pkt: &[u8], id: u16) -> Option<u16> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let icmp = pkt.get(ihl..)?;
    if icmp.len() < 8 || icmp[0] != 0 || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != id {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// The Internet checksum (RFC 1071).
fn inet_checksum(data: &[u8]) -> u16 {
    Sum::default().feed(data).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksums_to_zero_and_reply_parses() {
        let req = echo_request(0x1234, 7);
        assert_eq!(inet_checksum(&req), 0);
        let mut reply = vec![0x45u8; 20];
        reply[0] = 0x45;
        let mut icmp = req.clone();
        icmp[0] = 0;
        reply.extend_from_slice(&icmp);
        assert_eq!(echo_reply_seq(&reply, 0x1234), Some(7));
        assert_eq!(echo_reply_seq(&reply, 0x1235), None);
        assert_eq!(echo_reply_seq(&reply[..22], 0x1234), None);
    }

    #[test]
    fn state_change_lines_are_extracted() {
        let l = "2025-01-01T00:00:00Z  INFO vipd::daemon: BACKUP -> MASTER: master down timer \
                 expired instance=VI_1 vrid=10";
        assert_eq!(
            state_change(l).as_deref(),
            Some("BACKUP -> MASTER: master down timer expired")
        );
        assert_eq!(state_change("INFO listening on 127.0.0.1:9797"), None);
    }
}

//! A LAN of network namespaces built by each test: a bridge namespace `<prefix>-sw` with
//! multicast snooping off, and one namespace per host with `eth0` (a veth into the bridge).
//! Addresses only in 10.99.0.0/16 and fd00:99::/64. Everything is removed on drop, and every
//! process started is ended by pid. The LAN itself is `vipd::netlab` (also behind
//! `vipd demo`); this adds the test's directory, vipd, captures and panics on errors.
//!
//! Lab tests need root, iproute2, tcpdump and tshark; they fail (never skip) without them.

#![allow(dead_code)]

pub mod frr;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vipd::netlab::Lan;

pub const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

/// Runs a command, panicking with its output on failure.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Like `sh` but returns whether it succeeded.
pub fn sh_ok(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fails the test when not root or a tool is missing.
pub fn require(tools: &[&str]) {
    assert!(
        nix_is_root(),
        "lab tests need root (run the README's test command as root)"
    );
    for t in tools {
        assert!(
            sh_ok(&["sh", "-c", &format!("command -v {t}")]),
            "lab tests need `{t}` (installed by .ci/run)"
        );
    }
}

fn nix_is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// One LAN: a [`vipd::netlab::Lan`] (the harness `vipd demo` uses too) with a directory for
/// configurations, logs and captures, and panics instead of errors.
pub struct Lab {
    /// `<test prefix><pid % 10000>`; namespaces are `<prefix>-<host>`.
    pub prefix: String,
    pub dir: PathBuf,
    pub lan: Lan,
}

impl Lab {
    /// Creates the switch namespace. `prefix` must be unique per test (namespace names).
    pub fn new(prefix: &str) -> Lab {
        require(&["ip", "tcpdump", "tshark"]);
        let prefix = format!("{prefix}{}", std::process::id() % 10000);
        let dir = std::env::temp_dir().join(format!("vipd-lab-{prefix}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let lan = Lan::create(&format!("{prefix}-")).unwrap_or_else(|e| panic!("{e}"));
        Lab { prefix, dir, lan }
    }

    /// Namespace name of host `h`.
    pub fn ns(&self, h: &str) -> String {
        self.lan.ns(h)
    }

    /// Adds host `h` with `eth0` carrying `v4` (/24) and `v6` (/64), if given.
    pub fn host(&mut self, h: &str, v4: &str, v6: Option<&str>) {
        let v4 = v4.parse().unwrap_or_else(|e| panic!("{v4}: {e}"));
        let v6 = v6.map(|a| a.parse().unwrap_or_else(|e| panic!("{a}: {e}")));
        self.lan
            .host(h, v4, v6)
            .unwrap_or_else(|e| panic!("host {h}: {e}"));
    }

    /// Writes a file in the lab directory and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    /// Starts a command inside host `h`'s namespace, output to `<dir>/<log>`.
    pub fn spawn(&mut self, h: &str, log: &str, args: &[&str]) -> u32 {
        self.spawn_env(h, log, args, &[])
    }

    /// Like `spawn`, with extra environment variables (e.g. `NOTIFY_SOCKET`).
    pub fn spawn_env(&mut self, h: &str, log: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let logf = fs::File::create(self.dir.join(log)).unwrap();
        let mut cmd = self.lan.command(h, args[0]);
        cmd.args(&args[1..])
            .env("VIPD_LOG", "info,vipd=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        self.lan
            .spawn(cmd)
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"))
            .id()
    }

    /// Starts vipd on host `h` with the given YAML; returns its pid.
    pub fn vipd(&mut self, h: &str, yaml: &str) -> u32 {
        let cfg = self.file(&format!("{h}.yaml"), yaml);
        let out = Command::new(VIPD)
            .args(["check", "-c"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "config for {h} invalid: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cfg = cfg.to_str().unwrap().to_owned();
        self.spawn(h, &format!("{h}.log"), &[VIPD, "run", "-c", &cfg])
    }

    /// Host `h`'s HTTP endpoint `path` (vipd listening on the namespace's own
    /// 127.0.0.1:9797), fetched with curl inside the namespace.
    pub fn http_get(&self, h: &str, path: &str) -> String {
        sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns(h),
            "curl",
            "-fsS",
            &format!("http://127.0.0.1:9797{path}"),
        ])
    }

    /// Sends `sig` to pid.
    pub fn signal(&self, pid: u32, sig: &str) {
        sh(&["kill", &format!("-{sig}"), &pid.to_string()]);
    }

    /// Waits for process `pid` (started by this lab) to exit; returns its exit code.
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> Option<i32> {
        assert!(self.lan.child(pid).is_some(), "{pid} is not our child");
        self.lan.wait_exit(pid, timeout).and_then(|st| st.code())
    }

    /// The log written by a spawned process.
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// Whether `addr` is on host `h`'s eth0.
    pub fn has_addr(&self, h: &str, addr: &str) -> bool {
        self.lan.has_addr(h, addr).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Hosts among `hosts` that hold `addr`.
    pub fn holders(&self, hosts: &[&str], addr: &str) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| self.has_addr(h, addr))
            .map(|h| h.to_string())
            .collect()
    }

    /// Waits until exactly `host` of `hosts` holds `addr`, panicking with logs on timeout.
    pub fn wait_holder(
        &self,
        hosts: &[&str],
        addr: &str,
        host: &str,
        timeout: Duration,
    ) -> Duration {
        let start = Instant::now();
        let end = start + timeout;
        loop {
            let h = self.holders(hosts, addr);
            if h == [host] {
                return start.elapsed();
            }
            if Instant::now() > end {
                let logs: Vec<String> = hosts
                    .iter()
                    .map(|x| format!("--- {x}\n{}", self.log(&format!("{x}.log"))))
                    .collect();
                panic!(
                    "{addr}: holders {h:?}, wanted only {host}\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Checks for `during` that the holders of `addr` never change from `[host]`.
    pub fn hold_steady(&self, hosts: &[&str], addr: &str, host: &str, during: Duration) {
        let end = Instant::now() + during;
        while Instant::now() < end {
            let h = self.holders(hosts, addr);
            assert_eq!(h, [host], "{addr} must stay on {host} only");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sets host `h`'s eth0 down or up.
    pub fn link(&self, h: &str, up: bool) {
        self.lan.link(h, up).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts a capture on host `h`'s eth0 into `<dir>/<name>.pcap`; returns its pid.
    pub fn capture(&mut self, h: &str, name: &str, filter: &str) -> (u32, PathBuf) {
        let path = self.dir.join(format!("{name}.pcap"));
        let p = path.to_str().unwrap().to_owned();
        let pid = self.spawn(
            h,
            &format!("{name}.tcpdump.log"),
            &[
                "tcpdump",
                "-i",
                "eth0",
                "-U",
                "--immediate-mode",
                "-n",
                "-w",
                &p,
                filter,
            ],
        );
        // tcpdump prints "listening on" once the capture runs.
        let log = format!("{name}.tcpdump.log");
        wait_for(Duration::from_secs(5), "tcpdump to start", || {
            self.log(&log).contains("listening on")
        });
        (pid, path)
    }

    /// Stops a capture (SIGINT flushes the file) and waits for it.
    pub fn stop_capture(&mut self, pid: u32) {
        self.signal(pid, "INT");
        self.wait_exit(pid, Duration::from_secs(5));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Processes by pid, then the namespaces; the directory stays after a failure.
        self.lan.teardown();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// setpriv as packaging/vipd.service runs vipd: uid/gid 65534 (`nobody`), its two
/// capabilities as ambient ones; the command follows.
pub fn as_unit_user() -> Vec<String> {
    [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+net_raw,+net_admin",
        "--ambient-caps=+net_raw,+net_admin",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Polls `f` every 10 ms until it is true, panicking after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs tshark on a capture with a display filter and fields, returning one line per packet.
pub fn tshark(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-r".into(),
        pcap.to_str().unwrap().into(),
        "-Y".into(),
        filter.into(),
        "-T".into(),
        "fields".into(),
    ];
    for f in fields {
        args.push("-e".into());
        args.push((*f).into());
    }
    args.push("-E".into());
    args.push("separator=,".into());
    let out = Command::new("tshark").args(&args).output().expect("tshark");
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.to_owned())
        .collect()
}

pub const KEEPALIVED: &str = "/usr/sbin/keepalived";

/// keepalived processes of one test, each started in a host namespace with its own config and
/// pid files. On drop (also after a failed assertion) any process still running with one of
/// these configs is killed by pid; declare it before the `Lab` so that it is dropped after it
/// and reaps what the lab's drop left.
pub struct Keepalived {
    confs: Vec<String>,
    /// (parent pid, config) of each start.
    started: Vec<(u32, String)>,
}

impl Default for Keepalived {
    fn default() -> Keepalived {
        Keepalived::new()
    }
}

impl Keepalived {
    pub fn new() -> Keepalived {
        Keepalived {
            confs: vec![],
            started: vec![],
        }
    }

    /// Starts keepalived (VRRP only, in the foreground) on host `h` with the configuration
    /// `conf` (written to `<dir>/ka-<h>.conf` after `keepalived -t` accepts it), logging to
    /// `<h>.log` (so `wait_holder` shows it on failure). Returns the parent's pid once the
    /// VRRP child has entered its first state.
    pub fn start(&mut self, lab: &mut Lab, h: &str, conf: &str) -> u32 {
        self.start_allowing(lab, h, conf, &[])
    }

    /// Like [`Keepalived::start`], but `keepalived -t` may fail when every line it prints
    /// contains one of `allowed` (e.g. `No VIP specified; at least one is sensible`, which
    /// keepalived 2.2.7 reports as a configuration error and then runs the instance).
    pub fn start_allowing(&mut self, lab: &mut Lab, h: &str, conf: &str, allowed: &[&str]) -> u32 {
        let name = format!("ka-{h}");
        let path = lab.file(&format!("{name}.conf"), conf);
        let conf = path.to_str().unwrap().to_owned();
        let pid_file = |kind: &str| -> String {
            lab.dir
                .join(format!("{name}.{kind}.pid"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let (main, vrrp, checkers) = (pid_file("main"), pid_file("vrrp"), pid_file("checkers"));
        let out = Command::new(KEEPALIVED)
            .args(["-t", "-f", &conf])
            .output()
            .unwrap_or_else(|e| panic!("lab tests need {KEEPALIVED}: {e}"));
        let said = String::from_utf8_lossy(&out.stderr);
        let only_allowed = !allowed.is_empty()
            && said
                .lines()
                .filter(|l| !l.trim().is_empty())
                .all(|l| allowed.iter().any(|a| l.contains(a)));
        assert!(
            out.status.success() || only_allowed,
            "keepalived rejects {conf}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if !self.confs.contains(&conf) {
            self.confs.push(conf.clone());
        }
        let pid = lab.spawn(
            h,
            &format!("{h}.log"),
            &[
                KEEPALIVED, "-n", "-l", "-D", "-G", "-P", "-f", &conf, "-p", &main, "-r", &vrrp,
                "-c", &checkers,
            ],
        );
        wait_for(
            Duration::from_secs(5),
            "keepalived's VRRP child to start",
            || lab.log(&format!("{h}.log")).contains("Entering "),
        );
        self.started.push((pid, conf));
        pid
    }

    /// SIGTERMs keepalived, waits for it and checks that no child of it survived.
    pub fn stop(&self, lab: &mut Lab, pid: u32) {
        lab.signal(pid, "TERM");
        self.wait_stopped(lab, pid);
    }

    /// Waits for a keepalived that was sent SIGTERM and checks that no child of it survived.
    pub fn wait_stopped(&self, lab: &mut Lab, pid: u32) {
        assert!(
            lab.wait_exit(pid, Duration::from_secs(5)).is_some(),
            "keepalived did not exit after SIGTERM"
        );
        let (_, conf) = self
            .started
            .iter()
            .rfind(|(p, _)| *p == pid)
            .expect("a keepalived started by this test");
        let left = keepalived_leftovers(conf);
        assert!(
            left.is_empty(),
            "keepalived processes with {conf} survived their parent: {left:?}"
        );
    }
}

/// Pids of processes whose command line names `conf`.
fn keepalived_leftovers(conf: &str) -> Vec<String> {
    let out = Command::new("pgrep").args(["-f", conf]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        for conf in &self.confs {
            for pid in keepalived_leftovers(conf) {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
    }
}

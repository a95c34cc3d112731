//! Health checks under the unit's conditions (root to set up): vipd runs as an unprivileged
//! user with only CAP_NET_RAW and CAP_NET_ADMIN, as packaging/vipd.service runs it, and
//! /proc as the unit leaves it (`ProtectProc=default`: the normal /proc, other users'
//! processes visible; nothing to reproduce). A root-owned process is tracked two ways on the
//! master, by `track_processes` (VI_1) and by a `pidof` check script (VI_2); when it dies
//! both addresses move to the backup, and come back when it runs again. In the lab's network
//! namespaces the process connector is unavailable, so this is the /proc scan path (the
//! connector path is tests/proc_watch.rs, from the initial namespace).
//!
//! Needs root, iproute2, tcpdump, tshark (labkit), util-linux (`setpriv`) and procps
//! (`pidof`).

mod labkit;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command};
use std::time::Duration;

use labkit::{Lab, VIPD, as_unit_user, require, wait_for};

const S: Duration = Duration::from_secs(1);
/// `nobody` / `nogroup`: an unprivileged user like the unit's `vipd`.
const NOBODY: &str = "65534";

fn uid_of(pid: u32) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1).map(str::to_owned)
}

/// A file readable by the unprivileged user.
fn readable(lab: &Lab, name: &str, text: &str) -> String {
    fs::set_permissions(&lab.dir, fs::Permissions::from_mode(0o755)).unwrap();
    let p = lab.file(name, text);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    p.to_str().unwrap().to_owned()
}

/// A root-owned "service": a copy of sleep with a name of its own (its comm), so nothing
/// else on the machine matches.
struct Service {
    path: std::path::PathBuf,
    child: Option<Child>,
}

impl Service {
    fn new(lab: &Lab, name: &str) -> Service {
        let path = lab.dir.join(name);
        fs::copy("/bin/sleep", &path).unwrap();
        Service { path, child: None }
    }

    fn start(&mut self) -> u32 {
        let c = Command::new(&self.path).arg("600").spawn().unwrap();
        let pid = c.id();
        self.child = Some(c);
        pid
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn pidof() -> String {
    [
        "/usr/bin/pidof",
        "/bin/pidof",
        "/usr/sbin/pidof",
        "/sbin/pidof",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect("pidof (procps) is needed")
    .to_owned()
}

/// One sample of host `h`'s /metrics (vipd listens on the namespace's own loopback).
fn metric(lab: &Lab, h: &str, series: &str) -> Option<f64> {
    lab.http_get(h, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Host `h`'s /status: instance `inst`'s tracked processes as (name, up).
fn status_processes(lab: &Lab, h: &str, inst: &str) -> Vec<(String, bool)> {
    let text = lab.http_get(h, "/status");
    let doc: vipd::status::DaemonStatus =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("/status: {e}: {text}"));
    let i = doc
        .instances
        .iter()
        .find(|i| i.name == inst)
        .unwrap_or_else(|| panic!("no {inst} in /status: {text}"));
    i.processes.iter().map(|p| (p.name.clone(), p.up)).collect()
}

fn config(prio: u8, name: Option<&str>) -> String {
    let tracking = |kind: &str| match name {
        Some(_) => format!("    {kind}: [web]\n"),
        None => String::new(),
    };
    let head = match name {
        Some(n) => format!(
            "processes:\n  web: {{name: {n}, weight: -60}}\nscripts:\n  web: {{command: [{}, {n}], interval: 200ms, weight: -60}}\n  \
             asroot: {{command: [/bin/true], interval: 200ms, user: root}}\n",
            pidof()
        ),
        None => String::new(),
    };
    format!(
        "{head}listen: \"127.0.0.1:9797\"\ninstances:\n  \
         VI_1:\n    interface: eth0\n    vrid: 61\n    priority: {prio}\n    advert_interval: 100ms\n    virtual_ipaddress: [10.99.0.61/24]\n{}  \
         VI_2:\n    interface: eth0\n    vrid: 62\n    priority: {prio}\n    advert_interval: 100ms\n    virtual_ipaddress: [10.99.0.62/24]\n{}",
        tracking("track_processes"),
        tracking("track_scripts"),
    )
}

#[test]
fn track_processes_and_a_pidof_script_see_a_root_process_as_the_unit_user() {
    require(&["setpriv"]);
    let mut lab = Lab::new("ptl");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let name = format!("ptweb{}", std::process::id() % 10000);
    let mut web = Service::new(&lab, &name);
    let web_pid = web.start();
    assert_eq!(
        uid_of(web_pid).as_deref(),
        Some("0"),
        "the service is root's"
    );

    let ca = readable(&lab, "a.yaml", &config(150, Some(&name)));
    let cb = readable(&lab, "b.yaml", &config(100, None));
    let run = |lab: &mut Lab, h: &str, c: &str| {
        let mut args = as_unit_user();
        args.extend([VIPD.into(), "run".into(), "-c".into(), c.to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lab.spawn(h, &format!("{h}.log"), &args)
    };
    let a = run(&mut lab, "a", &ca);
    let b = run(&mut lab, "b", &cb);
    for vip in ["10.99.0.61", "10.99.0.62"] {
        lab.wait_holder(&["a", "b"], vip, "a", 10 * S);
    }
    assert_eq!(uid_of(a).as_deref(), Some(NOBODY), "vipd runs unprivileged");
    let log = lab.log("a.log");
    assert!(
        log.contains("tracked processes: the process connector is unavailable")
            && log.contains("scanning /proc every 200 ms"),
        "the fallback is named in the log: {log}"
    );
    let web_failed = |log: &str| {
        log.lines()
            .any(|l| l.contains("check script failed") && l.contains("script=web"))
    };
    assert!(!web_failed(&log), "{log}");
    assert_eq!(
        metric(&lab, "a", "vrrp_process_running{process=\"web\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&lab, "a", "vrrp_process_healthy{process=\"web\"}"),
        Some(1.0)
    );
    assert_eq!(
        status_processes(&lab, "a", "VI_1"),
        [("web".to_owned(), true)]
    );
    // `user: root` cannot be honoured as this user: a clear ERROR line, and counted.
    wait_for(5 * S, "the refused run counted", || {
        metric(
            &lab,
            "a",
            "vrrp_script_user_denied_total{script=\"asroot\"}",
        )
        .is_some_and(|n| n >= 1.0)
    });
    let log = lab.log("a.log");
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("cannot run as user `root` (uid 0, gid 0): vipd runs as uid 65534")),
        "{log}"
    );

    // The service dies: both instances lose 60 (150 -> 90 < 100) and b takes both addresses.
    web.kill();
    for vip in ["10.99.0.61", "10.99.0.62"] {
        lab.wait_holder(&["a", "b"], vip, "b", 10 * S);
    }
    let log = lab.log("a.log");
    assert!(
        log.contains("tracked process down"),
        "track_processes saw it: {log}"
    );
    assert!(web_failed(&log), "pidof saw it: {log}");
    assert_eq!(
        metric(&lab, "a", "vrrp_process_running{process=\"web\"}"),
        Some(0.0)
    );
    assert_eq!(
        metric(&lab, "a", "vrrp_process_healthy{process=\"web\"}"),
        Some(0.0)
    );
    assert_eq!(
        status_processes(&lab, "a", "VI_1"),
        [("web".to_owned(), false)]
    );

    // It runs again (root's, a new pid): a preempts both back.
    web.start();
    for vip in ["10.99.0.61", "10.99.0.62"] {
        lab.wait_holder(&["a", "b"], vip, "a", 10 * S);
    }
    wait_for(5 * S, "the process reported up again", || {
        lab.log("a.log").contains("tracked process up")
    });
    lab.signal(a, "TERM");
    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0), "{}", lab.log("a.log"));
    assert_eq!(lab.wait_exit(b, 10 * S), Some(0), "{}", lab.log("b.log"));
}

#[test]
fn check_as_the_unit_user_warns_that_user_root_cannot_be_honoured() {
    require(&["setpriv"]);
    let lab = Lab::new("ptc");
    let yaml = "scripts:\n  chk: {command: [/bin/true], user: root}\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 63\n    virtual_ipaddress: [10.99.0.63/24]\n    track_scripts: [chk]\n";
    let c = readable(&lab, "c.yaml", yaml);
    let mut args = as_unit_user();
    args.extend([VIPD.into(), "check".into(), c.clone()]);
    let out = Command::new(&args[0]).args(&args[1..]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning, not an error: {text}");
    assert!(
        text.contains(&format!("{c}:2:"))
            && text.contains(
                "script `chk`: user: cannot run as user `root` (uid 0, gid 0): vipd runs as uid 65534, gid 65534 without CAP_SETUID and CAP_SETGID"
            ),
        "{text}"
    );
    // As root (CAP_SETUID): nothing to warn about.
    let out = Command::new(VIPD).args(["check", &c]).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("cannot run as user"), "{text}");
}

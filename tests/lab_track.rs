//! Health checks that move the address, on a LAN of network namespaces (root): check scripts
//! with a weight and with weight 0 (Fault), a tracked file, hanging scripts and hooks that must
//! not disturb the advert rhythm (judged on the wire by tshark), and the order and arguments of
//! notify hooks across master -> backup -> master.

mod labkit;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use labkit::{Lab, VIPD, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VIP: &str = "10.99.0.50";

/// a (10.99.0.11) and b (10.99.0.12), which run vipd, and the client c (10.99.0.100).
fn lan(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    lab.host("b", "10.99.0.12", Some("fd00:99::12"));
    lab.host("c", "10.99.0.100", None);
    lab
}

/// Writes an executable shell script into the lab directory (root-owned, 0755, under the
/// sticky /tmp: accepted by vipd's script security) and returns its path.
fn script(lab: &Lab, name: &str, body: &str) -> PathBuf {
    let p = lab.file(name, &format!("#!/bin/sh\n{body}\n"));
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// One instance `VI_1` on eth0 with the VIP, adverts every 100 ms, plus `extra` lines.
fn instance(vrid: u8, prio: u8, extra: &str) -> String {
    format!(
        "  VI_1:\n    interface: eth0\n    vrid: {vrid}\n    priority: {prio}\n    advert_interval: 100ms\n{extra}    virtual_ipaddress: [\"{VIP}/24\"]\n"
    )
}

/// A whole configuration: the `scripts:` block (may be empty) and one instance.
fn config(scripts: &str, instance: &str) -> String {
    let scripts = if scripts.is_empty() {
        String::new()
    } else {
        format!("scripts:\n{scripts}")
    };
    format!("listen: \"127.0.0.1:0\"\n{scripts}instances:\n{instance}")
}

/// The interpreter behind `python3` (not a wrapper such as a pyenv shim), so that the pid
/// `Lab::spawn` returns is the server's own.
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("lab tests need python3");
    assert!(out.status.success(), "python3 does not run");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `curl` inside host `h`'s namespace: the body on success (no proxy, 1 s limit).
fn fetch(lab: &Lab, h: &str, url: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns(h)])
        .args(["curl", "-sf", "--noproxy", "*", "-m", "1", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Starts the tiny HTTP service on host `h`: port 8080 on every address, serving a
/// directory whose file `who` holds the host's name. Returns its pid once it answers.
fn start_http(lab: &mut Lab, h: &str) -> u32 {
    let www = lab.dir.join(format!("www-{h}"));
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("who"), format!("{h}\n")).unwrap();
    let py = python();
    let www = www.to_str().unwrap().to_owned();
    let pid = lab.spawn(
        h,
        &format!("http-{h}.log"),
        &[
            &py,
            "-m",
            "http.server",
            "8080",
            "--bind",
            "0.0.0.0",
            "--directory",
            &www,
        ],
    );
    wait_for(5 * S, &format!("HTTP service on {h}"), || {
        fetch(lab, h, "http://127.0.0.1:8080/who").as_deref() == Some(h)
    });
    pid
}

/// Polls the client until the service on the VIP answers `want` (the host holding it).
fn client_gets(lab: &Lab, want: &str, timeout: Duration) -> Duration {
    let url = format!("http://{VIP}:8080/who");
    let start = Instant::now();
    let mut last = None;
    while start.elapsed() < timeout {
        last = fetch(lab, "c", &url);
        if last.as_deref() == Some(want) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "client c: {url} answered {last:?}, wanted {want:?}\n--- a\n{}\n--- b\n{}",
        lab.log("a.log"),
        lab.log("b.log")
    );
}

/// Waits until `log` (a file in the lab directory) contains `what`, panicking with it.
fn wait_log(lab: &Lab, log: &str, what: &str, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !lab.log(log).contains(what) {
        assert!(
            Instant::now() < end,
            "{log}: no `{what}` after {timeout:?}:\n{}",
            lab.log(log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The check script: the local HTTP service answers.
fn http_check(lab: &Lab) -> PathBuf {
    script(
        lab,
        "check_http.sh",
        "exec curl -sf --noproxy '*' -m 1 -o /dev/null http://127.0.0.1:8080/who",
    )
}

/// The story of the issue: the check on the master fails (its service is stopped), the backup
/// takes the address and the client gets its answer from it; the service comes back and the
/// master preempts back. `weight` is the master's tracking weight (-60, or 0 for Fault).
fn service_follows_health(prefix: &str, vrid: u8, weight: i32) {
    let mut lab = lan(prefix);
    let http_a = start_http(&mut lab, "a");
    start_http(&mut lab, "b");
    let check = http_check(&lab);
    let scripts = format!(
        "  check_http:\n    command: [\"{}\"]\n    interval: 200ms\n    timeout: 1s\n",
        check.display()
    );
    let track = format!("    track_scripts: [{{name: check_http, weight: {weight}}}]\n");
    lab.vipd("a", &config(&scripts, &instance(vrid, 150, &track)));
    lab.vipd("b", &config(&scripts, &instance(vrid, 100, &track)));
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    client_gets(&lab, "a", 3 * S);

    // a's service stops: its check fails, b takes the address and answers the client.
    let t = Instant::now();
    lab.signal(http_a, "TERM");
    lab.wait_exit(http_a, 3 * S);
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    client_gets(&lab, "b", 3 * S);
    eprintln!(
        "{prefix}: service down on a, client answered by b after {:?}",
        t.elapsed()
    );
    let log = lab.log("a.log");
    assert!(log.contains("script failed"), "{log}");
    if weight == 0 {
        assert!(log.contains("MASTER -> FAULT"), "{log}");
        assert!(!lab.has_addr("a", VIP), "Fault releases the address");
    } else {
        assert!(log.contains("from=150 to=90"), "150 - 60: {log}");
        assert!(log.contains("MASTER -> BACKUP"), "{log}");
    }
    // b saw a's priority drop (or a's resignation) and took over.
    assert!(
        lab.log("b.log").contains("BACKUP -> MASTER"),
        "{}",
        lab.log("b.log")
    );
    lab.hold_steady(&HOSTS, VIP, "b", S / 2);

    // The service is back: a is healthy again and preempts back.
    let t = Instant::now();
    start_http(&mut lab, "a");
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    client_gets(&lab, "a", 3 * S);
    eprintln!(
        "{prefix}: service back on a, client answered by a after {:?}",
        t.elapsed()
    );
    let log = lab.log("a.log");
    assert!(log.contains("script healthy"), "{log}");
    if weight == 0 {
        assert!(log.contains("FAULT -> BACKUP"), "{log}");
    } else {
        assert!(log.contains("from=90 to=150"), "{log}");
    }
    assert!(
        log.contains("preempting lower priority 100 from 10.99.0.12"),
        "{log}"
    );
    lab.hold_steady(&HOSTS, VIP, "a", S / 2);
}

#[test]
fn failing_check_lowers_priority_and_the_backup_serves_the_client() {
    service_follows_health("tw", 71, -60);
}

#[test]
fn failing_check_with_weight_zero_means_fault_and_the_backup_serves_the_client() {
    service_follows_health("tz", 72, 0);
}

#[test]
fn tracked_file_value_times_weight_moves_the_address() {
    let mut lab = lan("tf");
    let prio = lab.file("prio", "0\n");
    let track = format!(
        "    track_files: [{{path: \"{}\", weight: -1}}]\n",
        prio.display()
    );
    lab.vipd("a", &config("", &instance(73, 150, &track)));
    lab.vipd("b", &config("", &instance(73, 100, "")));
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    lab.hold_steady(&HOSTS, VIP, "a", S / 2);

    // 80 x -1: 150 - 80 = 70 < 100, b takes over.
    lab.file("prio", "80\n");
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    let log = lab.log("a.log");
    assert!(log.contains("from=150 to=70"), "{log}");
    lab.hold_steady(&HOSTS, VIP, "b", S / 2);

    // Back to 0: a preempts back.
    lab.file("prio", "0\n");
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    let log = lab.log("a.log");
    assert!(log.contains("from=70 to=150"), "{log}");
    assert!(
        log.contains("preempting lower priority 100 from 10.99.0.12"),
        "{log}"
    );
}

#[test]
fn scripts_that_cannot_run_or_are_insecure_count_as_failures() {
    let mut lab = lan("tr");
    // Writable by everyone: refused when running as root (keepalived's script security).
    let open = script(&lab, "open.sh", "exit 0");
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let scripts = format!(
        "  open:\n    command: [\"{}\"]\n    interval: 200ms\n    weight: -30\n  missing:\n    command: [\"{}\"]\n    interval: 200ms\n    weight: -30\n",
        open.display(),
        lab.dir.join("missing.sh").display()
    );
    let track = "    track_scripts: [open, missing]\n";
    lab.vipd("a", &config(&scripts, &instance(78, 150, track)));
    lab.vipd("b", &config("", &instance(78, 100, "")));
    // 150 - 30 - 30 = 90 < 100.
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    wait_log(&lab, "a.log", "to=90", S);
    let log = lab.log("a.log");
    assert!(
        log.contains("refusing to run") && log.contains("writable by everyone"),
        "{log}"
    );
    assert!(log.contains("missing.sh` cannot be used"), "{log}");
    lab.hold_steady(&HOSTS, VIP, "b", S / 2);
}

/// Kills the process whose pid a hook wrote into `path` (if it is still `sleep`) when dropped,
/// so a hanging hook never outlives the test.
struct KillPidFile(PathBuf);

impl KillPidFile {
    fn pid(&self) -> Option<u32> {
        fs::read_to_string(&self.0).ok()?.trim().parse().ok()
    }

    fn alive(&self) -> bool {
        self.pid().is_some_and(|p| {
            fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
    }
}

impl Drop for KillPidFile {
    fn drop(&mut self) {
        if self.alive()
            && let Some(p) = self.pid()
        {
            let _ = Command::new("kill")
                .args(["-KILL", &p.to_string()])
                .status();
        }
    }
}

#[test]
fn hanging_scripts_and_hook_do_not_disturb_the_advert_rhythm() {
    let mut lab = lan("th");
    let pidfile = lab.dir.join("hook.pid");
    let hook = script(
        &lab,
        "hang_hook.sh",
        &format!("echo $$ > {}\nexec sleep 100", pidfile.display()),
    );
    let hook_guard = KillPidFile(pidfile);
    // Three scripts that never finish: each run is killed at its 300 ms timeout.
    let scripts: String = (1..=3)
        .map(|i| {
            format!(
                "  hang{i}:\n    command: [sleep, \"100\"]\n    interval: 200ms\n    timeout: 300ms\n    weight: -10\n"
            )
        })
        .collect();
    let extra = format!(
        "    track_scripts: [hang1, hang2, hang3]\n    notify:\n      master: [\"{}\"]\n",
        hook.display()
    );
    lab.vipd("a", &config(&scripts, &instance(74, 150, &extra)));
    lab.vipd("b", &config("", &instance(74, 100, "")));
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    wait_for(3 * S, "the master hook to hang", || hook_guard.alive());
    wait_log(&lab, "a.log", "check script timed out", 3 * S);
    // 150 - 3 x 10: still above b.
    wait_log(&lab, "a.log", "to=120", 3 * S);

    let (cap, pcap) = lab.capture("b", "rhythm", "ip proto 112");
    std::thread::sleep(3 * S);
    lab.stop_capture(cap);
    assert!(
        hook_guard.alive(),
        "the hook hung during the whole measurement"
    );
    lab.hold_steady(&HOSTS, VIP, "a", S / 10);

    let times: Vec<f64> = tshark(
        &pcap,
        "vrrp && ip.src == 10.99.0.11",
        &["frame.time_relative"],
    )
    .iter()
    .map(|t| t.parse().unwrap())
    .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let max = gaps.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "th: {} adverts from the master in 3 s, max gap {:.1} ms",
        times.len(),
        max * 1000.0
    );
    assert!(times.len() > 25, "adverts in 3 s at 100 ms: {times:?}");
    assert!(max < 0.25, "advert gaps (nominal 100 ms): {gaps:?}");
    // Everything the master sent carried the tracked priority.
    let prios = tshark(
        &pcap,
        "vrrp && ip.src == 10.99.0.11 && vrrp.prio != 120",
        &["vrrp.prio"],
    );
    assert!(prios.is_empty(), "priorities other than 120: {prios:?}");
}

/// The lines notify hooks append to `<lab dir>/notify.log`.
struct HookLog {
    hook: String,
    out: PathBuf,
}

impl HookLog {
    /// Writes the hook and returns it with the `notify:` block (master, backup, stop and any
    /// all call it; each line: `$0 $@ | VIPD_INSTANCE VIPD_STATE VIPD_PRIORITY VIPD_VRID
    /// VIPD_INTERFACE`).
    fn new(lab: &Lab) -> (HookLog, String) {
        let out = lab.dir.join("notify.log");
        let hook = script(
            lab,
            "notify.sh",
            &format!(
                "echo \"$0 $@ | $VIPD_INSTANCE $VIPD_STATE $VIPD_PRIORITY $VIPD_VRID $VIPD_INTERFACE\" >> {}",
                out.display()
            ),
        );
        let h = hook.display().to_string();
        let notify = format!(
            "    notify:\n      master: [\"{h}\", master]\n      backup: [\"{h}\", backup]\n      stop: [\"{h}\", stop]\n      any: [\"{h}\"]\n"
        );
        (HookLog { hook: h, out }, notify)
    }

    fn lines(&self) -> Vec<String> {
        fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits for at least `n` lines.
    fn wait(&self, n: usize, lab: &Lab) {
        let end = Instant::now() + 3 * S;
        while self.lines().len() < n {
            assert!(
                Instant::now() < end,
                "{n} hook lines wanted: {:#?}\n--- a\n{}",
                self.lines(),
                lab.log("a.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What instance VI_1 (priority 150 on eth0) should log for `states`: per state the
    /// state's hook, then `any` with keepalived's arguments.
    fn expected(&self, vrid: u8, states: &[&str]) -> Vec<String> {
        let line = |state: &str, args: &str| {
            format!("{} {args} | VI_1 {state} 150 {vrid} eth0", self.hook)
        };
        states
            .iter()
            .flat_map(|s| {
                [
                    line(s, &s.to_ascii_lowercase()),
                    line(s, &format!("INSTANCE VI_1 {s} 150")),
                ]
            })
            .collect()
    }
}

#[test]
fn notify_hooks_get_arguments_in_order_across_master_backup_master() {
    let mut lab = lan("tn");
    let (hooks, notify) = HookLog::new(&lab);
    // a alone: INIT -> BACKUP -> MASTER.
    lab.vipd("a", &config("", &instance(75, 150, &notify)));
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    hooks.wait(4, &lab);
    // b with a higher priority preempts: a -> BACKUP.
    let pb = lab.vipd("b", &config("", &instance(75, 200, "")));
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    hooks.wait(6, &lab);
    // b stops (resigns with priority 0): a -> MASTER.
    lab.signal(pb, "TERM");
    assert_eq!(lab.wait_exit(pb, 5 * S), Some(0));
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    hooks.wait(8, &lab);
    lab.hold_steady(&HOSTS, VIP, "a", S / 5);
    assert_eq!(
        hooks.lines(),
        hooks.expected(75, &["BACKUP", "MASTER", "BACKUP", "MASTER"]),
        "a's log:\n{}",
        lab.log("a.log")
    );
}

#[test]
fn stop_hooks_run_at_shutdown() {
    let mut lab = lan("ts");
    let (hooks, notify) = HookLog::new(&lab);
    let pa = lab.vipd("a", &config("", &instance(77, 150, &notify)));
    lab.wait_holder(&["a"], VIP, "a", 3 * S);
    hooks.wait(4, &lab);
    lab.signal(pa, "TERM");
    assert_eq!(lab.wait_exit(pa, 5 * S), Some(0));
    assert_eq!(
        hooks.lines(),
        hooks.expected(77, &["BACKUP", "MASTER", "STOP"]),
        "the stop hooks run before vipd exits; a's log:\n{}",
        lab.log("a.log")
    );
}

#[test]
fn check_warns_about_a_missing_script_with_its_position() {
    let dir = std::env::temp_dir().join(format!("vipd-lab-tc{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("missing.yaml");
    fs::write(
        &cfg,
        format!(
            "scripts:\n  chk:\n    command: [\"/nonexistent/vipd-lab-check\", x]\n    weight: -60\ninstances:\n{}    track_scripts: [chk]\n",
            instance(76, 150, "")
        ),
    )
    .unwrap();
    let out = Command::new(VIPD)
        .args(["check", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "a warning is not an error: {stdout}");
    let want = format!(
        "{}:3:15: warning: script `chk`: command: `/nonexistent/vipd-lab-check` cannot be used",
        cfg.display()
    );
    assert!(stdout.contains(&want), "wanted `{want}` in:\n{stdout}");
    assert!(
        stdout.contains(&format!("{}: ok (1 instance)", cfg.display())),
        "{stdout}"
    );
    let _ = fs::remove_dir_all(&dir);
}

//! Make-before-break handover on a LAN of network namespaces (root): through a drain and
//! undrain (preempting back), a SIGTERM on the master and the restarted master preempting
//! again, a client's new HTTP requests all succeed, and a capture on the client shows every
//! ARP probe for the address answered (each probe has its own sender MAC, so requests and
//! replies pair up without looking at any time). Behaviour only, never milliseconds.

mod labkit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use labkit::{Lab, VIPD, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VIP: &str = "10.99.0.60";
/// The ARP probes' sender address: used by nobody, so no real neighbour entry moves.
const PROBER: &str = "10.99.0.101";

/// The interpreter behind `python3` (not a pyenv shim), so spawned pids are the scripts'.
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("lab tests need python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn bench(script: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join(script)
        .to_str()
        .unwrap()
        .to_owned()
}

fn config(prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 60\n    priority: {prio}\n    advert_interval: 100ms\n    virtual_ipaddress: [\"{VIP}/24\"]\n"
    )
}

/// Starts vipd on `h` with its own control socket; returns (pid, socket path).
fn vipd(lab: &mut Lab, h: &str, prio: u8, log: &str) -> (u32, PathBuf) {
    let cfg = lab.file(&format!("{h}.yaml"), &config(prio));
    let sock = lab.dir.join(format!("{h}.control"));
    let pid = lab.spawn(
        h,
        log,
        &[
            VIPD,
            "run",
            "-c",
            cfg.to_str().unwrap(),
            "--control-socket",
            sock.to_str().unwrap(),
        ],
    );
    wait_for(10 * S, "the control socket", || sock.exists());
    (pid, sock)
}

/// `vipd drain|undrain` against a socket: (exit success, stdout + stderr).
fn control(verb: &str, sock: &Path, names: &[&str]) -> (bool, String) {
    let out = Command::new(VIPD)
        .arg(verb)
        .arg("--control-socket")
        .arg(sock)
        .args(names)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn handover_keeps_requests_and_arp_answered() {
    let mut lab = Lab::new("ho");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.host("c", "10.99.0.100", None);
    let py = python();
    // The same tiny HTTP service on both routers, on every address.
    for h in HOSTS {
        let www = lab.dir.join(format!("www-{h}"));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("who"), h).unwrap();
        let w = www.to_str().unwrap().to_owned();
        lab.spawn(
            h,
            &format!("http-{h}.log"),
            &[
                &py,
                "-m",
                "http.server",
                "8080",
                "--bind",
                "0.0.0.0",
                "-d",
                &w,
            ],
        );
    }
    let (a, sock_a) = vipd(&mut lab, "a", 150, "a.log");
    let (_b, _) = vipd(&mut lab, "b", 100, "b.log");
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);

    // Bad requests get clear errors (and change nothing).
    let (ok, text) = control("drain", &sock_a, &["VI_9"]);
    assert!(!ok && text.contains("no instance named VI_9"), "{text}");
    let missing = lab.dir.join("none.control");
    let (ok, text) = control("drain", &missing, &[]);
    assert!(!ok && text.contains("no control socket"), "{text}");

    let (cap, pcap) = lab.capture("c", "arp", "arp");
    let stop = lab.dir.join("stop");
    let s = stop.to_str().unwrap().to_owned();
    let http = lab.spawn(
        "c",
        "http-client.log",
        &[
            &py,
            &bench("httpclient.py"),
            VIP,
            "8080",
            "/who",
            "0.01",
            "2",
            &s,
        ],
    );
    let probe = lab.spawn(
        "c",
        "arp-probe.log",
        &[&py, &bench("arpprobe.py"), "eth0", VIP, PROBER, "0.005", &s],
    );
    std::thread::sleep(S);

    // (b) drain: a hands over to b and stays backup.
    let (ok, text) = control("drain", &sock_a, &[]);
    assert!(ok && text.contains("drained: VI_1"), "{text}");
    lab.wait_holder(&HOSTS, VIP, "b", 10 * S);
    lab.hold_steady(&HOSTS, VIP, "b", S);
    let status = Command::new(VIPD)
        .args(["drain", "--control-socket"])
        .arg(&sock_a)
        .output()
        .unwrap();
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("already so"));
    // (c) undrain: a preempts back.
    let (ok, text) = control("undrain", &sock_a, &["VI_1"]);
    assert!(ok && text.contains("undrained: VI_1"), "{text}");
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    std::thread::sleep(S);
    // (a) SIGTERM on the master: b takes over, a exits once it heard b.
    lab.signal(a, "TERM");
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0), "{}", lab.log("a.log"));
    lab.wait_holder(&HOSTS, VIP, "b", 5 * S);
    assert!(!sock_a.exists(), "the control socket is removed on exit");
    // (c) again: the restarted master preempts.
    let (a2, _) = vipd(&mut lab, "a", 150, "a2.log");
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    std::thread::sleep(S);

    std::fs::write(&stop, "").unwrap();
    lab.wait_exit(http, 10 * S);
    lab.wait_exit(probe, 10 * S);
    lab.stop_capture(cap);
    lab.signal(a2, "TERM");
    lab.wait_exit(a2, 10 * S);

    let a_log = lab.log("a.log");
    assert!(a_log.contains("drained (asked by uid=0 pid="), "{a_log}");
    assert!(
        a_log.contains("new master heard; addresses released"),
        "{a_log}"
    );

    let client = lab.log("http-client.log");
    let ok_n: u64 = client
        .lines()
        .find_map(|l| l.strip_prefix("ok "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("client output: {client}"));
    assert!(ok_n > 100, "requests ran: {client}");
    // A new connection always finds a holder. The client is sequential, so each of the four
    // moves can at most break the one request in flight to the old holder at that instant
    // (its next segment goes to the new holder, which resets it): that connection cannot
    // survive any move of the address between hosts.
    let refused: Vec<&str> = client
        .lines()
        .filter(|l| l.starts_with("fail connect"))
        .collect();
    assert!(refused.is_empty(), "new connections failed: {refused:?}");
    let broken: Vec<&str> = client
        .lines()
        .filter(|l| l.starts_with("fail inflight"))
        .collect();
    assert!(
        broken.len() <= 4,
        "more broken requests than moves: {broken:?}"
    );

    // Every probe (sender MAC 02:99:00:..) has a reply addressed to it.
    let rows = tshark(
        &pcap,
        "arp",
        &[
            "arp.opcode",
            "arp.src.hw_mac",
            "arp.src.proto_ipv4",
            "arp.dst.hw_mac",
        ],
    );
    let mut asked = std::collections::BTreeSet::new();
    let mut answered = std::collections::BTreeSet::new();
    let mut answerers = std::collections::BTreeSet::new();
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        if f.len() < 4 {
            continue;
        }
        if f[0] == "1" && f[2] == PROBER {
            asked.insert(f[1].to_owned());
        } else if f[0] == "2" && f[2] == VIP && f[3].starts_with("02:99:00:") {
            answered.insert(f[3].to_owned());
            answerers.insert(f[1].to_owned());
        }
    }
    assert!(asked.len() > 500, "probes captured: {}", asked.len());
    let unanswered: Vec<&String> = asked.difference(&answered).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} ARP probes for {VIP} got no answer (first: {:?})",
        unanswered.len(),
        asked.len(),
        unanswered.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        answerers.len(),
        2,
        "both routers answered in turn: {answerers:?}"
    );
}

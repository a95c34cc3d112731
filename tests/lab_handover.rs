//! Make-before-break handover on a LAN of network namespaces (root): through a drain and
//! undrain (preempting back), a SIGTERM on the master and the restarted master preempting
//! again, a client's new HTTP requests all succeed, and a capture on the client shows every
//! ARP probe (IPv4) or neighbour solicitation (IPv6) for the address answered (each probe has
//! its own sender MAC, so requests and replies pair up without looking at any time).
//! Behaviour only, never milliseconds.

mod labkit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use labkit::{Lab, VIPD, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];

/// What differs between the IPv4 and the IPv6 run.
struct Family {
    /// The lab's namespace prefix.
    prefix: &'static str,
    vip: &'static str,
    prefix_len: u8,
    /// Host addresses: a, b, the client c.
    hosts: [(&'static str, &'static str, Option<&'static str>); 3],
    /// The probes' sender address: used by nobody, so no real neighbour entry moves.
    prober: &'static str,
    /// bench/arpprobe.py or bench/ndprobe.py.
    probe: &'static str,
}

const V4: Family = Family {
    prefix: "ho",
    vip: "10.99.0.60",
    prefix_len: 24,
    hosts: [
        ("a", "10.99.0.11", None),
        ("b", "10.99.0.12", None),
        ("c", "10.99.0.100", None),
    ],
    prober: "10.99.0.101",
    probe: "arpprobe.py",
};

const V6: Family = Family {
    prefix: "h6",
    vip: "fd00:99::60",
    prefix_len: 64,
    hosts: [
        ("a", "10.99.0.11", Some("fd00:99::11")),
        ("b", "10.99.0.12", Some("fd00:99::12")),
        ("c", "10.99.0.100", Some("fd00:99::100")),
    ],
    prober: "fd00:99::101",
    probe: "ndprobe.py",
};

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

fn config(f: &Family, prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 60\n    priority: {prio}\n    advert_interval: 100ms\n    virtual_ipaddress: [\"{}/{}\"]\n",
        f.vip, f.prefix_len
    )
}

/// Starts vipd on `h` with its own control socket; returns (pid, socket path).
fn vipd(lab: &mut Lab, f: &Family, h: &str, prio: u8, log: &str) -> (u32, PathBuf) {
    let cfg = lab.file(&format!("{h}.yaml"), &config(f, prio));
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
    handover(&V4);
}

/// The same moves over IPv6: the new master's unsolicited NAs and the old master's
/// neighbour advertisements leave no solicitation unanswered.
#[test]
fn handover_v6_keeps_requests_and_neighbour_solicitations_answered() {
    handover(&V6);
}

fn handover(f: &Family) {
    let mut lab = Lab::new(f.prefix);
    for (h, v4, v6) in f.hosts {
        lab.host(h, v4, v6);
    }
    let vip = f.vip;
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
                if f.prefix_len == 64 { "::" } else { "0.0.0.0" },
                "-d",
                &w,
            ],
        );
    }
    let (a, sock_a) = vipd(&mut lab, f, "a", 150, "a.log");
    let (_b, _) = vipd(&mut lab, f, "b", 100, "b.log");
    lab.wait_holder(&HOSTS, vip, "a", 10 * S);
    if f.prefix_len == 64 {
        // The backup is already a member of the VIP's solicited-node group, so it answers
        // solicitations the moment it adds the address (the kernel's own join comes later,
        // from a work queue).
        let group = solicited_group(vip);
        wait_for(5 * S, "b to join the VIP's solicited-node group", || {
            lab.lan
                .exec("b", &["cat", "/proc/net/igmp6"])
                .is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.contains(" eth0 ") && l.contains(&group))
                })
        });
        assert!(!lab.has_addr("b", vip));
    }

    // Bad requests get clear errors (and change nothing).
    let (ok, text) = control("drain", &sock_a, &["VI_9"]);
    assert!(!ok && text.contains("no instance named VI_9"), "{text}");
    let missing = lab.dir.join("none.control");
    let (ok, text) = control("drain", &missing, &[]);
    assert!(!ok && text.contains("no control socket"), "{text}");

    let (cap, pcap) = lab.capture(
        "c",
        "probes",
        if f.prefix_len == 64 { "icmp6" } else { "arp" },
    );
    let stop = lab.dir.join("stop");
    let s = stop.to_str().unwrap().to_owned();
    let http = lab.spawn(
        "c",
        "http-client.log",
        &[
            &py,
            &bench("httpclient.py"),
            vip,
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
        &[&py, &bench(f.probe), "eth0", vip, f.prober, "0.005", &s],
    );
    std::thread::sleep(S);

    // (b) drain: a hands over to b and stays backup.
    let (ok, text) = control("drain", &sock_a, &[]);
    assert!(ok && text.contains("drained: VI_1"), "{text}");
    lab.wait_holder(&HOSTS, vip, "b", 10 * S);
    lab.hold_steady(&HOSTS, vip, "b", S);
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
    lab.wait_holder(&HOSTS, vip, "a", 10 * S);
    std::thread::sleep(S);
    // (a) SIGTERM on the master: b takes over, a exits once it heard b.
    lab.signal(a, "TERM");
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0), "{}", lab.log("a.log"));
    lab.wait_holder(&HOSTS, vip, "b", 5 * S);
    assert!(!sock_a.exists(), "the control socket is removed on exit");
    // (c) again: the restarted master preempts.
    let (a2, _) = vipd(&mut lab, f, "a", 150, "a2.log");
    lab.wait_holder(&HOSTS, vip, "a", 10 * S);
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
    let (asked, answered, answerers) = if f.prefix_len == 64 {
        nd_pairs(&pcap, f)
    } else {
        arp_pairs(&pcap, f)
    };
    assert!(asked.len() > 500, "probes captured: {}", asked.len());
    let unanswered: Vec<&String> = asked.difference(&answered).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} probes for {vip} got no answer (first: {:?})",
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

/// The solicited-node group of an IPv6 address as /proc/net/igmp6 prints it (32 hex digits).
fn solicited_group(addr: &str) -> String {
    let o = addr.parse::<std::net::Ipv6Addr>().unwrap().octets();
    format!(
        "ff0200000000000000000001ff{:02x}{:02x}{:02x}",
        o[13], o[14], o[15]
    )
}

type Macs = std::collections::BTreeSet<String>;

/// ARP: (probe MACs asked, probe MACs answered, MACs that answered).
fn arp_pairs(pcap: &Path, f: &Family) -> (Macs, Macs, Macs) {
    let rows = tshark(
        pcap,
        "arp",
        &[
            "arp.opcode",
            "arp.src.hw_mac",
            "arp.src.proto_ipv4",
            "arp.dst.hw_mac",
        ],
    );
    let (mut asked, mut answered, mut answerers) = (Macs::new(), Macs::new(), Macs::new());
    for r in &rows {
        let c: Vec<&str> = r.split(',').collect();
        if c.len() < 4 {
            continue;
        }
        if c[0] == "1" && c[2] == f.prober {
            asked.insert(c[1].to_owned());
        } else if c[0] == "2" && c[2] == f.vip && c[3].starts_with("02:99:00:") {
            answered.insert(c[3].to_owned());
            answerers.insert(c[1].to_owned());
        }
    }
    (asked, answered, answerers)
}

/// Neighbour discovery: solicitations from the prober for the VIP, and advertisements for
/// the VIP sent to a probe's MAC.
fn nd_pairs(pcap: &Path, f: &Family) -> (Macs, Macs, Macs) {
    let rows = tshark(
        pcap,
        "icmpv6.type == 135 || icmpv6.type == 136",
        &[
            "icmpv6.type",
            "eth.src",
            "ipv6.src",
            "eth.dst",
            "icmpv6.nd.ns.target_address",
            "icmpv6.nd.na.target_address",
        ],
    );
    let (mut asked, mut answered, mut answerers) = (Macs::new(), Macs::new(), Macs::new());
    for r in &rows {
        let c: Vec<&str> = r.split(',').collect();
        if c.len() < 6 {
            continue;
        }
        if c[0] == "135" && c[2] == f.prober && c[4] == f.vip {
            asked.insert(c[1].to_owned());
        } else if c[0] == "136" && c[5] == f.vip && c[3].starts_with("02:99:00:") {
            answered.insert(c[3].to_owned());
            answerers.insert(c[1].to_owned());
        }
    }
    (asked, answered, answerers)
}

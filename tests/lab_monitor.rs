//! `vipd monitor` and `vipd status` on a LAN of network namespaces (root): two vipd nodes
//! made deaf to each other by a host firewall (both master, a split brain) are seen by a
//! passive monitor on a third host; removing the firewall heals it and the monitor sees one
//! master again. `vipd status` prints a node's table.

mod labkit;

use std::process::Command;
use std::time::{Duration, Instant};

use labkit::{Lab, VIPD, sh, wait_for};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VRID: u8 = 61;
const VIP: &str = "10.99.0.61";

fn cfg(prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:9797\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: {VRID}\n    priority: {prio}\n    advert_interval: 100ms\n    virtual_ipaddress: [\"{VIP}/24\"]\n"
    )
}

/// Value of the sample of `name` whose labels include every `label="value"` of `want`.
fn sample(metrics: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.rsplit_once("} ")?;
        want.iter()
            .all(|(k, v)| labels.split(',').any(|kv| kv == format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}

fn curl(lab: &Lab, h: &str, url: &str) -> String {
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns(h),
            "curl",
            "-s",
            "--max-time",
            "3",
            url,
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn masters(lab: &Lab) -> Option<f64> {
    let m = curl(lab, "c", "http://127.0.0.1:9798/metrics");
    sample(
        &m,
        "vrrp_monitor_masters",
        &[
            ("interface", "eth0"),
            ("family", "ipv4"),
            ("vrid", &VRID.to_string()),
        ],
    )
}

fn nft_all(lab: &Lab, args: &[&str]) {
    for h in HOSTS {
        let ns = lab.ns(h);
        let mut cmd = vec!["ip", "netns", "exec", ns.as_str(), "nft"];
        cmd.extend_from_slice(args);
        sh(&cmd);
    }
}

/// `promtool check metrics` reports nothing on the scrape.
fn promtool_clean(metrics: &str) {
    use std::io::Write;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    p.stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = p.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

#[test]
fn monitor_sees_split_brain_and_its_healing_and_status_prints_a_table() {
    labkit::require(&["nft", "curl", "promtool"]);
    let mut lab = Lab::new("mo");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.host("c", "10.99.0.100", None);
    let rules = lab.file(
        "drop-vrrp.nft",
        "table inet lab {\n  chain inp {\n    type filter hook input priority 0;\n    meta l4proto 112 drop\n  }\n}\n",
    );
    nft_all(&lab, &["-f", rules.to_str().unwrap()]);
    lab.vipd("a", &cfg(150));
    lab.vipd("b", &cfg(100));
    // Deaf to each other, both take the address.
    wait_for(5 * S, "both nodes master", || {
        lab.holders(&HOSTS, VIP) == ["a", "b"]
    });

    lab.spawn(
        "c",
        "monitor.log",
        &[
            VIPD,
            "monitor",
            "--interface",
            "eth0",
            "--listen",
            "127.0.0.1:9798",
        ],
    );
    let start = Instant::now();
    let until = start + 10 * S;
    while masters(&lab) != Some(2.0) {
        assert!(
            Instant::now() < until,
            "monitor never saw 2 masters:\n{}\n--- monitor\n{}",
            curl(&lab, "c", "http://127.0.0.1:9798/metrics"),
            lab.log("monitor.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("monitor saw the split brain after {:?}", start.elapsed());
    // Per-router series: priority, interval, checksum form, a rising advert count.
    let m = curl(&lab, "c", "http://127.0.0.1:9798/metrics");
    let vrid = VRID.to_string();
    let r = |router: &'static str| [("vrid", vrid.clone()), ("router", router.to_owned())];
    let get = |m: &str, name: &str, router: &'static str, extra: &[(&str, &str)]| {
        let labels = r(router);
        let mut want: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        want.extend_from_slice(extra);
        sample(m, name, &want)
    };
    assert_eq!(
        get(&m, "vrrp_monitor_router_priority", "10.99.0.11", &[]),
        Some(150.0),
        "{m}"
    );
    assert_eq!(
        get(&m, "vrrp_monitor_router_priority", "10.99.0.12", &[]),
        Some(100.0),
        "{m}"
    );
    assert_eq!(
        get(
            &m,
            "vrrp_monitor_router_advert_interval_seconds",
            "10.99.0.12",
            &[]
        ),
        Some(0.1),
        "{m}"
    );
    assert_eq!(
        get(
            &m,
            "vrrp_monitor_router_checksum_form",
            "10.99.0.11",
            &[("form", "pseudo_header")]
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        get(
            &m,
            "vrrp_monitor_router_checksum_form",
            "10.99.0.11",
            &[("form", "rfc9568")]
        ),
        Some(0.0),
        "{m}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = get(
        &m,
        "vrrp_monitor_router_last_advert_timestamp_seconds",
        "10.99.0.12",
        &[],
    )
    .unwrap();
    assert!((now - last).abs() < 2.0, "last advert {last}, now {now}");
    let adverts = |m: &str| get(m, "vrrp_monitor_router_adverts_total", "10.99.0.11", &[]);
    let before = adverts(&m).unwrap();
    std::thread::sleep(S);
    let after = adverts(&curl(&lab, "c", "http://127.0.0.1:9798/metrics")).unwrap();
    assert!(
        (5.0..=15.0).contains(&(after - before)),
        "about 10 adverts a second at 100 ms: {before} -> {after}"
    );
    assert_eq!(
        sample(
            &m,
            "vrrp_monitor_dropped_total",
            &[("family", "ipv4"), ("reason", "checksum")]
        ),
        Some(0.0),
        "{m}"
    );
    promtool_clean(&m);
    let log = lab.log("monitor.log");
    assert!(
        log.contains(&format!(
            "split brain on eth0 vrid {VRID}: 10.99.0.11 (150), 10.99.0.12 (100)"
        )),
        "{log}"
    );
    // The monitor's /status says the same.
    let st: serde_json::Value =
        serde_json::from_str(&curl(&lab, "c", "http://127.0.0.1:9798/status")).unwrap();
    let vr = st["virtual_routers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vrid"] == VRID && v["family"] == "ipv4")
        .unwrap_or_else(|| panic!("{st}"));
    assert_eq!(vr["split_brain"], true, "{st}");
    assert_eq!(vr["masters"].as_array().unwrap().len(), 2, "{st}");

    // `vipd status` on node a prints its table.
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns("a"), VIPD, "status"])
        .args(["--url", "http://127.0.0.1:9797"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("vipd status on a:\n{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("VI_1"))
        .unwrap_or_else(|| panic!("no VI_1 row:\n{table}"));
    assert!(row.contains("MASTER"), "{table}");
    assert!(row.contains("150/150"), "{table}");
    // Unreachable: exit 1 with a clear message.
    let out = Command::new("ip")
        .args(["netns", "exec", &lab.ns("c"), VIPD, "status"])
        .args(["--url", "http://127.0.0.1:9797"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach vipd at http://127.0.0.1:9797: "),
        "{err}"
    );

    // Firewall gone: b hears a (150) and steps down; the monitor sees one master once b's
    // last advert is older than 3 x 100 ms + 1 s.
    let healed = Instant::now();
    nft_all(&lab, &["delete", "table", "inet", "lab"]);
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    let until = healed + 5 * S;
    while masters(&lab) != Some(1.0) {
        assert!(
            Instant::now() < until,
            "monitor still sees {:?} masters\n--- monitor\n{}",
            masters(&lab),
            lab.log("monitor.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = healed.elapsed();
    eprintln!("monitor saw the healing after {took:?}");
    assert!(took < 3 * S, "healing seen after {took:?}");
    let log = lab.log("monitor.log");
    assert!(
        log.contains(&format!(
            "split brain on eth0 vrid {VRID} healed: single master 10.99.0.11 (150)"
        )),
        "{log}"
    );
    let st: serde_json::Value =
        serde_json::from_str(&curl(&lab, "c", "http://127.0.0.1:9798/status")).unwrap();
    assert!(
        st["virtual_routers"][0]["masters"][0]["address"] == "10.99.0.11",
        "{st}"
    );
    // The monitor sent nothing: a and b only ever heard each other.
    for h in HOSTS {
        let s = curl(&lab, h, "http://127.0.0.1:9797/status");
        assert!(!s.contains("10.99.0.100"), "{h} heard the monitor: {s}");
    }
}

/// One monitor, two segments: LAN 1 (a, and the monitor's eth0) and LAN 2 (b, and the
/// monitor's eth1, a veth into LAN 2's bridge). The same VRID is used on both, each with its
/// own master: the monitor keeps them apart (one master per interface, no split brain), and
/// labels every series with its interface.
#[test]
fn monitor_watches_two_interfaces_apart() {
    labkit::require(&["curl"]);
    let mut lan1 = Lab::new("mi");
    let mut lan2 = Lab::new("mj");
    lan1.host("a", "10.99.0.11", None);
    lan1.host("c", "10.99.0.100", None);
    lan2.host("b", "10.99.1.12", None);
    // The monitor host's second interface, into LAN 2's switch.
    let (m, sw2) = (lan1.ns("c"), lan2.ns("sw"));
    sh(&[
        "ip", "link", "add", "eth1", "netns", &m, "type", "veth", "peer", "name", "pc1", "netns",
        &sw2,
    ]);
    sh(&[
        "ip", "-n", &sw2, "link", "set", "pc1", "master", "br0", "up",
    ]);
    sh(&[
        "ip",
        "-n",
        &m,
        "addr",
        "add",
        "10.99.1.100/24",
        "dev",
        "eth1",
    ]);
    sh(&["ip", "-n", &m, "link", "set", "eth1", "up"]);
    lan1.vipd("a", &cfg(150));
    lan2.vipd("b", &cfg(100).replace("10.99.0.61", "10.99.1.61"));
    lan1.spawn(
        "c",
        "monitor.log",
        &[
            VIPD,
            "monitor",
            "--interface",
            "eth0",
            "--interface",
            "eth1",
            "--listen",
            "127.0.0.1:9798",
        ],
    );
    let vrid = VRID.to_string();
    let masters_on = |m: &str, iface: &str| {
        sample(
            m,
            "vrrp_monitor_masters",
            &[("interface", iface), ("family", "ipv4"), ("vrid", &vrid)],
        )
    };
    let start = Instant::now();
    let mut m = String::new();
    while start.elapsed() < 10 * S {
        m = curl(&lan1, "c", "http://127.0.0.1:9798/metrics");
        if masters_on(&m, "eth0") == Some(1.0) && masters_on(&m, "eth1") == Some(1.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        (masters_on(&m, "eth0"), masters_on(&m, "eth1")),
        (Some(1.0), Some(1.0)),
        "{m}\n--- monitor\n{}",
        lan1.log("monitor.log")
    );
    eprintln!("one master per interface after {:?}", start.elapsed());
    // Each router on its own interface only.
    let prio = |iface: &str, router: &str| {
        sample(
            &m,
            "vrrp_monitor_router_priority",
            &[("interface", iface), ("vrid", &vrid), ("router", router)],
        )
    };
    assert_eq!(prio("eth0", "10.99.0.11"), Some(150.0), "{m}");
    assert_eq!(prio("eth1", "10.99.1.12"), Some(100.0), "{m}");
    assert_eq!(prio("eth0", "10.99.1.12"), None, "{m}");
    assert_eq!(prio("eth1", "10.99.0.11"), None, "{m}");
    for iface in ["eth0", "eth1"] {
        assert_eq!(
            sample(
                &m,
                "vrrp_monitor_dropped_total",
                &[("interface", iface), ("family", "ipv4"), ("reason", "ttl")]
            ),
            Some(0.0),
            "{m}"
        );
    }
    promtool_clean(&m);
    let st: serde_json::Value =
        serde_json::from_str(&curl(&lan1, "c", "http://127.0.0.1:9798/status")).unwrap();
    let names: Vec<&str> = st["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eth0", "eth1"], "{st}");
    let vrs: Vec<(String, bool)> = st["virtual_routers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["interface"].as_str().unwrap().to_owned(),
                v["split_brain"] == true,
            )
        })
        .collect();
    assert_eq!(
        vrs,
        [("eth0".to_owned(), false), ("eth1".to_owned(), false)],
        "{st}"
    );
    let log = lan1.log("monitor.log");
    assert!(log.contains("monitoring VRRP on eth0 (ipv4"), "{log}");
    assert!(log.contains("eth1 (ipv4"), "{log}");
    // A name given twice is refused at start.
    let out = Command::new("ip")
        .args(["netns", "exec", &lan1.ns("c"), VIPD, "monitor"])
        .args(["-i", "eth0,eth0", "--listen", "127.0.0.1:9799"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interface eth0 given twice"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

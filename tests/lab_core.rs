//! The router core's rules, still right in the lab (root): each rule of `src/router/tests.rs`
//! and `src/router/conformance/*.jsonl` proven on a real kernel with namespaces, veths and
//! tshark: unicast adverts that crossed a router (TTL 254) are accepted; preempt_delay
//! restarts after a fault clears; a reload to priority 255 takes over at once; a disagreeing
//! v2 peer is a master we can see (metrics and /status); a reload keeps the health of unchanged
//! scripts; IPv6 adverts fit the interface MTU while every address is added.

mod labkit;
mod observekit;

use std::time::{Duration, Instant};

use labkit::{Lab, sh, tshark, wait_for};
use observekit::{scrape, value, wait_metrics};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const PORT: u16 = 9797;

/// A config listening on the namespace's own loopback: `top` (e.g. `scripts:`), then the
/// instances.
fn cfg(top: &str, instances: &str) -> String {
    format!("listen: \"127.0.0.1:{PORT}\"\n{top}instances:\n{instances}")
}

/// One instance `VI_1` on eth0 with `extra` lines (indented by four spaces) and the VIPs.
fn inst(vrid: u8, prio: u8, extra: &str, vips: &[String]) -> String {
    let vips: Vec<String> = vips.iter().map(|v| format!("\"{v}\"")).collect();
    format!(
        "  VI_1:\n    interface: eth0\n    vrid: {vrid}\n    priority: {prio}\n{extra}    virtual_ipaddress: [{}]\n",
        vips.join(", ")
    )
}

fn pair(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    lab.host("b", "10.99.0.12", Some("fd00:99::12"));
    lab
}

// ---------------------------------------------------------------------------------------------
// /metrics and /status from inside a namespace.

/// Instance `VI_1` of host `h`'s /status.
fn status(lab: &Lab, h: &str) -> serde_json::Value {
    observekit::status_inst(&observekit::status(lab, h), "VI_1").clone()
}

const VI1: [(&str, &str); 1] = [("vr", "VI_1")];

// ---------------------------------------------------------------------------------------------

/// Two subnets joined by a router namespace: a (10.99.1.11) on the lab's bridge with the
/// router's eth0 (10.99.1.1), and b (10.99.2.12) on a veth of its own to the router's eth1
/// (10.99.2.1); ip_forward on the router, a route to the other subnet on each side.
fn routed(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", "10.99.1.11", None);
    lab.host("r", "10.99.1.1", None);
    // b starts on the bridge like every lab host; its eth0 is then replaced by a veth to the
    // router (deleting a veth deletes its bridge port too). Both namespaces are the lab's, so
    // its drop removes them and the new veth with them.
    lab.host("b", "10.99.2.12", None);
    let (a, r, b) = (lab.ns("a"), lab.ns("r"), lab.ns("b"));
    sh(&["ip", "-n", &b, "link", "del", "eth0"]);
    sh(&[
        "ip", "link", "add", "eth0", "netns", &b, "type", "veth", "peer", "name", "eth1", "netns",
        &r,
    ]);
    sh(&[
        "ip",
        "-n",
        &b,
        "addr",
        "add",
        "10.99.2.12/24",
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", &b, "link", "set", "eth0", "up"]);
    sh(&["ip", "-n", &r, "addr", "add", "10.99.2.1/24", "dev", "eth1"]);
    sh(&["ip", "-n", &r, "link", "set", "eth1", "up"]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &r,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    sh(&[
        "ip",
        "-n",
        &a,
        "route",
        "add",
        "10.99.2.0/24",
        "via",
        "10.99.1.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &b,
        "route",
        "add",
        "10.99.1.0/24",
        "via",
        "10.99.2.1",
    ]);
    let route = sh(&["ip", "-n", &a, "route", "get", "10.99.2.12"]);
    eprintln!("a -> b: {}", route.trim());
    assert!(route.contains("via 10.99.1.1 dev eth0"), "{route}");
    lab
}

#[test]
fn unicast_adverts_that_crossed_a_router_are_accepted() {
    labkit::require(&["curl"]);
    let t0 = Instant::now();
    let mut lab = routed("cu");
    const VIP: &str = "10.99.9.1";
    let (cap_r, pcap_r) = lab.capture("r", "cu-r", "ip proto 112");
    let (cap_b, pcap_b) = lab.capture("b", "cu-b", "ip proto 112");
    let uc = |src: &str, peer: &str| {
        format!("    advert_interval: 100ms\n    unicast_src: {src}\n    unicast_peers: [{peer}]\n")
    };
    let vip = [format!("{VIP}/32")];
    lab.vipd(
        "a",
        &cfg("", &inst(31, 150, &uc("10.99.1.11", "10.99.2.12"), &vip)),
    );
    lab.wait_holder(&["a"], VIP, "a", 5 * S);
    lab.vipd(
        "b",
        &cfg("", &inst(31, 100, &uc("10.99.2.12", "10.99.1.11"), &vip)),
    );
    // b hears a across the router and follows it: one master, for seconds.
    wait_metrics(&lab, "b", "b following a", 5 * S, |t| {
        value(
            t,
            "vrrp_instance_state",
            &[("vr", "VI_1"), ("state", "backup")],
        ) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", &VI1) == Some(150.0)
    });
    lab.hold_steady(&HOSTS, VIP, "a", 4 * S);
    let sb = status(&lab, "b");
    eprintln!(
        "b: state {} master {} peers {}",
        sb["state"], sb["master"], sb["peers"]
    );
    assert_eq!(sb["state"], "backup", "{sb:#}");
    assert_eq!(sb["master"]["address"], "10.99.1.11", "{sb:#}");
    assert_eq!(sb["master"]["priority"], 150, "{sb:#}");
    assert_eq!(sb["peers"][0]["address"], "10.99.1.11", "{sb:#}");
    assert!(sb["peers"][0]["disagrees"].is_null(), "{sb:#}");
    assert!(
        sb["stats"]["dropped"]
            .as_object()
            .is_none_or(|d| d.is_empty()),
        "no advert of a dropped: {sb:#}"
    );
    let tb = scrape(&lab, "b");
    let received = value(&tb, "vrrp_adverts_received_total", &VI1).unwrap_or(0.0);
    let ttl_drops = value(
        &tb,
        "vrrp_adverts_dropped_total",
        &[("vr", "VI_1"), ("reason", "ttl")],
    )
    .unwrap_or(0.0);
    eprintln!("b: adverts received {received}, dropped for ttl {ttl_drops}");
    assert!(received > 20.0, "{received}");
    assert_eq!(ttl_drops, 0.0);
    let sa = status(&lab, "a");
    assert_eq!(sa["state"], "master", "{sa:#}");
    assert_eq!(sa["masters_observed"], 1, "{sa:#}");

    // On the wire: sent at TTL 255 (router's a-side), one less after forwarding (b's side).
    lab.stop_capture(cap_r);
    lab.stop_capture(cap_b);
    let fields = [
        "ip.src",
        "ip.dst",
        "ip.ttl",
        "vrrp.prio",
        "vrrp.checksum.status",
    ];
    let at_r = tshark(&pcap_r, "vrrp", &fields);
    let at_b = tshark(&pcap_b, "vrrp", &fields);
    eprintln!(
        "adverts on the router's a-side: {} (first {:?}); on b's link: {} (first {:?})",
        at_r.len(),
        at_r.first(),
        at_b.len(),
        at_b.first()
    );
    assert!(at_r.len() > 20 && at_b.len() > 20);
    for r in &at_r {
        assert_eq!(r, "10.99.1.11,10.99.2.12,255,150,1", "sent by a: {r}");
    }
    for r in &at_b {
        assert_eq!(r, "10.99.1.11,10.99.2.12,254,150,1", "forwarded to b: {r}");
    }
    eprintln!("runtime {:?}", t0.elapsed());
}

#[test]
fn preempt_delay_restarts_after_a_fault_clears() {
    labkit::require(&["curl"]);
    let t0 = Instant::now();
    let mut lab = pair("cp");
    const VIP: &str = "10.99.0.32";
    let vip = [format!("{VIP}/24")];
    let fault = lab.file("fault", "0\n");
    let a_extra = format!(
        "    advert_interval: 100ms\n    preempt_delay: 3s\n    track_files: [{{path: \"{}\", weight: 0}}]\n",
        fault.display()
    );
    lab.vipd("a", &cfg("", &inst(32, 150, &a_extra, &vip)));
    lab.wait_holder(&["a"], VIP, "a", 5 * S);
    lab.vipd(
        "b",
        &cfg("", &inst(32, 100, "    advert_interval: 100ms\n", &vip)),
    );
    lab.hold_steady(&HOSTS, VIP, "a", S);

    // The tracked file demands Fault: b takes over.
    lab.file("fault", "1\n");
    let took = lab.wait_holder(&HOSTS, VIP, "b", 5 * S);
    eprintln!("fault -> b holds after {took:?}");
    wait_for(3 * S, "a in fault", || {
        lab.log("a.log").contains("MASTER -> FAULT")
    });
    lab.hold_steady(&HOSTS, VIP, "b", S);

    // Cleared: a is backup again and waits its preempt delay (3 s) anew before taking over.
    let cleared = Instant::now();
    lab.file("fault", "0\n");
    let mut backup_at = None;
    let mut master_at = None;
    while master_at.is_none() && cleared.elapsed() < 10 * S {
        if backup_at.is_none() && lab.log("a.log").contains("FAULT -> BACKUP") {
            backup_at = Some(cleared.elapsed());
        }
        let h = lab.holders(&HOSTS, VIP);
        if cleared.elapsed() < 2 * S {
            assert_eq!(
                h,
                ["b"],
                "b still holds the VIP {:?} after the fault cleared\n{}",
                cleared.elapsed(),
                lab.log("a.log")
            );
        }
        if h == ["a"] {
            master_at = Some(cleared.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let backup_at = backup_at.expect("a went FAULT -> BACKUP");
    let master_at = master_at.unwrap_or_else(|| {
        panic!(
            "a never took over after the fault cleared\n{}",
            lab.log("a.log")
        )
    });
    let waited = master_at - backup_at;
    eprintln!(
        "cleared -> a backup after {backup_at:?}, a holds after {master_at:?}: waited {waited:?} as backup (preempt_delay 3 s)"
    );
    assert!(
        waited >= Duration::from_millis(2900),
        "preempt delay restarted: {waited:?}"
    );
    assert!(waited < 5 * S, "then a preempts: {waited:?}");
    lab.hold_steady(&HOSTS, VIP, "a", S);
    eprintln!("runtime {:?}", t0.elapsed());
}

#[test]
fn reload_to_priority_255_takes_over_at_once() {
    let t0 = Instant::now();
    let mut lab = pair("cr");
    const VIP: &str = "10.99.0.33";
    let vip = [format!("{VIP}/24")];
    // 1 s adverts: a takeover at the master-down timer would take 3 s or more.
    let b1 = cfg("", &inst(33, 100, "    advert_interval: 1s\n", &vip));
    lab.vipd(
        "a",
        &cfg("", &inst(33, 150, "    advert_interval: 1s\n", &vip)),
    );
    lab.wait_holder(&["a"], VIP, "a", 6 * S);
    let pb = lab.vipd("b", &b1);
    wait_for(5 * S, "b backup", || lab.log("b.log").contains("-> BACKUP"));
    lab.hold_steady(&HOSTS, VIP, "a", 2 * S);

    lab.file("b.yaml", &b1.replace("priority: 100", "priority: 255"));
    let t = Instant::now();
    lab.signal(pb, "HUP");
    let mut b_has = None;
    let mut a_lost = None;
    while (b_has.is_none() || a_lost.is_none()) && t.elapsed() < 5 * S {
        if b_has.is_none() && lab.has_addr("b", VIP) {
            b_has = Some(t.elapsed());
        }
        if a_lost.is_none() && !lab.has_addr("a", VIP) {
            a_lost = Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("SIGHUP -> b holds after {b_has:?}, a released after {a_lost:?}");
    let logs = format!("--- a\n{}\n--- b\n{}", lab.log("a.log"), lab.log("b.log"));
    let b_has = b_has.unwrap_or_else(|| panic!("b never took the VIP\n{logs}"));
    let a_lost = a_lost.unwrap_or_else(|| panic!("a never released the VIP\n{logs}"));
    assert!(b_has < S, "b master at once: {b_has:?}\n{logs}");
    assert!(a_lost < S, "a steps down at once: {a_lost:?}\n{logs}");
    lab.hold_steady(&HOSTS, VIP, "b", 2 * S);
    assert!(lab.log("a.log").contains("MASTER -> BACKUP"));
    assert!(lab.log("b.log").contains("configuration reloaded"));
    eprintln!("runtime {:?}", t0.elapsed());
}

#[test]
fn a_disagreeing_peer_is_a_master_we_can_see() {
    labkit::require(&["curl"]);
    let t0 = Instant::now();
    let mut lab = pair("cm");
    const VIP: &str = "10.99.0.34";
    let vip = [format!("{VIP}/24")];
    let v2 = |interval: &str| format!("    version: 2\n    advert_interval: {interval}\n");
    lab.vipd("a", &cfg("", &inst(34, 150, &v2("1s"), &vip)));
    lab.vipd("b", &cfg("", &inst(34, 100, &v2("2s"), &vip)));
    // Split brain by configuration: each drops the other's adverts (RFC 3768 7.1).
    wait_for(15 * S, "both hosts to hold the VIP", || {
        lab.holders(&HOSTS, VIP).len() == 2
    });
    eprintln!("both masters after {:?}", t0.elapsed());
    for (h, other) in [("a", "10.99.0.12"), ("b", "10.99.0.11")] {
        let t = wait_metrics(&lab, h, "two masters observed", 10 * S, |t| {
            value(t, "vrrp_masters_observed", &VI1) == Some(2.0)
                && value(
                    t,
                    "vrrp_peer_config_mismatch_total",
                    &[("vr", "VI_1"), ("peer", other), ("reason", "interval")],
                )
                .is_some_and(|n| n > 0.0)
        });
        let mismatch = value(
            &t,
            "vrrp_peer_config_mismatch_total",
            &[("vr", "VI_1"), ("peer", other), ("reason", "interval")],
        );
        let dropped = value(
            &t,
            "vrrp_adverts_dropped_total",
            &[("vr", "VI_1"), ("reason", "interval")],
        );
        let st = status(&lab, h);
        eprintln!(
            "{h}: masters_observed {:?} (status {}), mismatch{{interval,peer={other}}} {mismatch:?}, dropped{{interval}} {dropped:?}, peers {}",
            value(&t, "vrrp_masters_observed", &VI1),
            st["masters_observed"],
            st["peers"]
        );
        assert_eq!(st["state"], "master", "{st:#}");
        assert_eq!(st["masters_observed"], 2, "{st:#}");
        let peers = st["peers"].as_array().expect("peers");
        let p = peers
            .iter()
            .find(|p| p["address"] == other)
            .unwrap_or_else(|| panic!("{h}'s peers lack {other}: {st:#}"));
        assert_eq!(p["disagrees"], "interval", "{st:#}");
    }
    assert_eq!(lab.holders(&HOSTS, VIP).len(), 2, "still both masters");
    eprintln!("runtime {:?}", t0.elapsed());
}

#[test]
fn reload_keeps_the_health_of_unchanged_scripts() {
    labkit::require(&["curl"]);
    let t0 = Instant::now();
    let mut lab = Lab::new("cs");
    lab.host("a", "10.99.0.11", None);
    const VIP: &str = "10.99.0.35";
    let scripts = |y_interval: &str| {
        format!(
            "scripts:\n  x: {{command: [/bin/false], interval: 200ms, weight: -20}}\n  y: {{command: [/bin/true], interval: {y_interval}, weight: -30}}\n"
        )
    };
    let i = inst(
        35,
        150,
        "    advert_interval: 100ms\n    track_scripts: [x, y]\n",
        &[format!("{VIP}/24")],
    );
    let pa = lab.vipd("a", &cfg(&scripts("100ms"), &i));
    lab.wait_holder(&["a"], VIP, "a", 5 * S);
    let prio = |t: &str| value(t, "vrrp_instance_priority", &VI1);
    wait_metrics(&lab, "a", "priority 150 - 20", 5 * S, |t| {
        prio(t) == Some(130.0)
    });
    let st = status(&lab, "a");
    eprintln!(
        "before: priority {} scripts {}",
        st["priority"], st["scripts"]
    );
    assert_eq!(st["priority"], 130, "{st:#}");

    // Only y's interval changes (100 ms -> 1 s: its run rate shows the new one applies).
    lab.file("a.yaml", &cfg(&scripts("1s"), &i));
    let t = Instant::now();
    lab.signal(pa, "HUP");
    let runs = |t: &str, script: &str, result: &str| {
        value(
            t,
            "vrrp_script_runs_total",
            &[("script", script), ("result", result)],
        )
        .unwrap_or(0.0)
    };
    let mut seen = vec![];
    // Runs of x (failures) and y (successes) from 0.5 s to 2.5 s after SIGHUP.
    let mut window: Option<((f64, f64), (f64, f64))> = None;
    while t.elapsed() < 2500 * Duration::from_millis(1) {
        let m = scrape(&lab, "a");
        seen.push(prio(&m));
        if t.elapsed() >= S / 2 {
            let now = (runs(&m, "x", "failure"), runs(&m, "y", "success"));
            window = Some((window.map_or(now, |w| w.0), now));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ((x0, y0), (x1, y1)) = window.expect("samples");
    eprintln!(
        "runs in the 2 s after the reload: x (200 ms) {} failures, y (now 1 s) {} successes",
        x1 - x0,
        y1 - y0
    );
    assert!(x1 - x0 >= 5.0, "x keeps running every 200 ms");
    assert!(
        (1.0..=4.0).contains(&(y1 - y0)),
        "y runs at its new interval (1 s)"
    );
    let tr = wait_metrics(&lab, "a", "the reload counted", 3 * S, |t| {
        value(t, "vipd_config_reloads_total", &[("result", "success")]) == Some(1.0)
    });
    seen.push(prio(&tr));
    let st = status(&lab, "a");
    eprintln!(
        "priority sampled {} times over {:?} from SIGHUP: {:?}; after: {} scripts {}",
        seen.len(),
        t.elapsed(),
        seen.iter()
            .fold(std::collections::BTreeMap::new(), |mut m, p| {
                *m.entry(format!("{p:?}")).or_insert(0) += 1;
                m
            }),
        st["priority"],
        st["scripts"]
    );
    let log = lab.log("a.log");
    assert!(
        seen.iter().all(|p| *p == Some(130.0)),
        "priority stays 130 through the reload: {seen:?}\n{log}"
    );
    assert_eq!(st["priority"], 130, "{st:#}");
    let (_, after) = log
        .split_once("SIGHUP: reloading configuration")
        .unwrap_or_else(|| panic!("no reload in the log:\n{log}"));
    let reloaded = after
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_else(|| panic!("reload not finished:\n{log}"));
    eprintln!("{}", reloaded.trim());
    assert!(
        !after.contains("effective priority changed"),
        "no priority change after the reload:\n{after}"
    );
    lab.hold_steady(&["a"], VIP, "a", Duration::from_millis(200));
    eprintln!("runtime {:?}", t0.elapsed());
}

#[test]
fn ipv6_adverts_fit_the_mtu_and_every_address_is_added() {
    let t0 = Instant::now();
    let mut lab = Lab::new("cd");
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    let ns = lab.ns("a");
    sh(&["ip", "-n", &ns, "link", "set", "dev", "eth0", "mtu", "1280"]);
    // 40 + 8 + 16 n <= 1280: 77 of the 80 addresses fit.
    let vips: Vec<String> = (0..80)
        .map(|i| format!("fd00:99::{:x}/64", 0x600 + i))
        .collect();
    let (cap, pcap) = lab.capture("a", "cd", "ip6 proto 112");
    lab.vipd(
        "a",
        &cfg("", &inst(36, 255, "    advert_interval: 100ms\n", &vips)),
    );
    lab.wait_holder(&["a"], "fd00:99::64f", "a", 5 * S);
    std::thread::sleep(S);
    lab.stop_capture(cap);

    let on_eth0 = sh(&["ip", "-n", &ns, "-6", "addr", "show", "dev", "eth0"]);
    let added = vips
        .iter()
        .filter(|v| {
            let a = v.split('/').next().unwrap();
            on_eth0
                .split_whitespace()
                .any(|w| w.split('/').next() == Some(a))
        })
        .count();
    let rows = tshark(
        &pcap,
        "vrrp",
        &[
            "ipv6.plen",
            "vrrp.addr_count",
            "vrrp.checksum.status",
            "vrrp.ipv6_addr",
        ],
    );
    let log = lab.log("a.log");
    let line = log
        .lines()
        .find(|l| l.contains("addresses fit"))
        .unwrap_or_default();
    eprintln!(
        "addresses on eth0: {added} of 80; adverts captured: {}; first: plen, count, checksum {:?}; log: {line}",
        rows.len(),
        rows.first()
            .map(|r| r.split(',').take(3).collect::<Vec<_>>())
    );
    assert_eq!(added, 80, "every address is added:\n{on_eth0}");
    assert!(rows.len() >= 5, "{rows:?}");
    let want: Vec<String> = vips[..77]
        .iter()
        .map(|v| v.split('/').next().unwrap().to_owned())
        .collect();
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(
            f[..3],
            ["1240", "77", "1"],
            "payload 8 + 77 x 16, 77 addresses, checksum correct"
        );
        assert_eq!(f[3..], want, "the first 77 addresses, in order");
    }
    assert!(
        log.contains("only 77 of 80 addresses fit"),
        "the log says so:\n{log}"
    );
    eprintln!("runtime {:?}", t0.elapsed());
}

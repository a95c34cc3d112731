//! The monitor file (`vipd monitor --config`) and its alerts against a real Prometheus and a
//! real keepalived pair (root, lab): two keepalived 2.2.7 nodes (VRRPv2, `advert_int 1`) and,
//! on a third host, `vipd monitor --config` expecting VRID 51 (VRRPv2) with master a, scraped
//! every second by Prometheus evaluating a shortened copy of alerts/vipd-monitor.rules.yml
//! (`promkit::shorten`, as tests/lab_monitor_alerts.rs). End to end:
//! 1. the healthy pair: no alert; `vrrp_monitor_expected_heard` 1, no unexpected master,
//!    both routers' version 2;
//! 2. a SIGKILLed: b takes over, VipdMonitorUnexpectedMaster fires naming a as expected and
//!    b as master;
//! 3. the file changed to expect b, SIGHUP: the expectation follows, the alert resolves;
//! 4. b stopped too: VipdMonitorExpectedVridMissing fires (and VipdMonitorNoMaster).
//!
//! And, no file needed: a keepalived VRRPv3 node beside a VRRPv2 one on one VRID (they ignore
//! each other, both are master): VipdMonitorVersionsMixed fires naming both versions.

mod labkit;
mod promkit;

use std::time::{Duration, Instant};

use labkit::{Keepalived, Lab, VIPD, sh};
use promkit::{LAB_FOR, Prom, describe, named, shorten};
use serde_json::Value;

const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const M: &str = "10.99.0.100";
const VIP: &str = "10.99.0.51";
const VRID: &str = "51";
const HOSTS: [&str; 2] = ["a", "b"];
const S: Duration = Duration::from_secs(1);
const MONITOR: &str = "127.0.0.1:9798";

fn prom(lab: &Lab) -> Prom<'_> {
    Prom {
        lab,
        host: "m",
        logs: &["prometheus.log", "monitor.log", "a.log", "b.log"],
    }
}

/// The monitor file: VRID 51 on eth0, VRRPv2, with `master`.
fn monitor_file(master: &str) -> String {
    format!(
        "interfaces:\n  eth0:\n    expect:\n      - {{ vrid: {VRID}, version: 2, master: {master} }}\n"
    )
}

fn ka_cfg(h: &str, prio: u8) -> String {
    format!(
        "global_defs {{\n    router_id ka_{h}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID}\n    \
         priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// The value of the single series `q` in Prometheus, if any.
fn value(lab: &Lab, q: &str) -> Option<String> {
    prom(lab)
        .query(q)
        .first()
        .and_then(|v| v["value"][1].as_str().map(str::to_owned))
}

fn vr(metric: &str) -> String {
    format!("{metric}{{interface=\"eth0\",family=\"ipv4\",vrid=\"{VRID}\"}}")
}

fn wait_firing(lab: &Lab, name: &str, since: Instant, timeout: Duration) -> (Value, Duration) {
    let ours = |a: &&Value| a["labels"]["vrid"] == VRID && a["labels"]["interface"] == "eth0";
    let (all, took) = prom(lab).wait_alerts(&format!("{name} firing"), since, timeout, |all| {
        named(all, name, Some("firing")).iter().any(ours)
    });
    let fired = named(&all, name, Some("firing"))
        .into_iter()
        .find(ours)
        .cloned()
        .unwrap();
    eprintln!(
        "{name} firing after {took:.1?}: {}",
        describe(std::slice::from_ref(&fired))
    );
    (fired, took)
}

fn ka_pid(lab: &Lab, h: &str, kind: &str) -> u32 {
    let p = lab.dir.join(format!("ka-{h}.{kind}.pid"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn expected_vrid_and_master_alerts_on_a_keepalived_pair() {
    labkit::require(&["curl", "promtool"]);
    let t0 = Instant::now();
    let shipped = promkit::monitor_lab_rules();
    let lab_rules = shorten(&shipped);
    let n_alerts = shipped.matches("- alert:").count();

    let mut ka = Keepalived::new();
    let mut lab = Lab::new("mx");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("m", M, None);
    let rules = lab.file("vipd-monitor.rules.yml", &lab_rules);
    let rules = rules.to_str().unwrap().to_owned();
    sh(&["promtool", "check", "rules", &rules]);
    let file = lab.file("monitor.yml", &monitor_file(A));
    let file = file.to_str().unwrap().to_owned();
    // The file is checked before anything runs: a bad one is refused with its line.
    let bad = lab.file(
        "bad.yml",
        "interfaces:\n  eth0:\n    expect:\n      - { vrid: 51, mastr: 1 }\n",
    );
    let out = std::process::Command::new(VIPD)
        .args([
            "monitor",
            "--config",
            bad.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("vipd monitor");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.yml:4:") && err.contains("mastr"), "{err}");

    let ka_a = ka.start(&mut lab, "a", &ka_cfg("a", 150));
    let ka_b = ka.start(&mut lab, "b", &ka_cfg("b", 100));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    let mon = lab.spawn(
        "m",
        "monitor.log",
        &[VIPD, "monitor", "--config", &file, "--listen", MONITOR],
    );
    promkit::start(&mut lab, "m", "vipd-monitor", &[MONITOR.to_owned()], &rules);
    prom(&lab).wait_up("vipd-monitor", 1, || {
        value(&lab, &vr("vrrp_monitor_expected_heard")).as_deref() == Some("1")
    });
    assert_eq!(prom(&lab).alert_rules(), n_alerts);

    // 1. Healthy: nothing active past every shortened `for:`.
    std::thread::sleep(6 * S);
    let all = prom(&lab).alerts();
    assert!(
        all.is_empty(),
        "a healthy pair raises alerts:\n{}\n--- monitor.log\n{}",
        describe(&all),
        lab.log("monitor.log")
    );
    assert_eq!(
        value(&lab, &vr("vrrp_monitor_unexpected_masters")).as_deref(),
        Some("0")
    );
    let exp = prom(&lab).query("vrrp_monitor_expected");
    assert_eq!(exp.len(), 1, "{exp:?}");
    assert_eq!(exp[0]["metric"]["master"], A, "{exp:?}");
    assert_eq!(exp[0]["metric"]["version"], "2", "{exp:?}");
    assert_eq!(
        value(
            &lab,
            &format!("vrrp_monitor_router_version{{router=\"{A}\",version=\"2\"}}")
        )
        .as_deref(),
        Some("1")
    );
    eprintln!("1. healthy pair: no alert ({:.1?})", t0.elapsed());

    // 2. a crashes (its parent stopped first so it cannot respawn the VRRP child): b is master.
    let a_vrrp = ka_pid(&lab, "a", "vrrp");
    lab.signal(ka_a, "STOP");
    lab.signal(a_vrrp, "KILL");
    lab.signal(ka_a, "KILL");
    let t_kill = Instant::now();
    assert!(
        lab.lan.wait_exit(ka_a, 5 * S).is_some(),
        "keepalived a survived SIGKILL"
    );
    labkit::wait_for(10 * S, "b to take the address", || lab.has_addr("b", VIP));
    let t_takeover = t_kill.elapsed();
    let (um, t_um) = wait_firing(&lab, "VipdMonitorUnexpectedMaster", t_kill, 30 * S);
    assert_eq!(um["labels"]["severity"], "ticket", "{um}");
    assert_eq!(um["value"], "1e+00", "{um}");
    let desc = um["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        desc.contains(&format!("other than the expected {A}")),
        "{desc}"
    );
    assert!(desc.contains(&format!("{B} (100)")), "{desc}");
    assert!(
        !desc.contains(&format!("{A} (150)")),
        "a is no master any more: {desc}"
    );
    assert!(
        lab.log("monitor.log")
            .contains(&format!("unexpected master: {B} (100) (expected {A})")),
        "{}",
        lab.log("monitor.log")
    );
    // Still served: no missing-VRID alert.
    assert!(named(&prom(&lab).alerts(), "VipdMonitorExpectedVridMissing", None).is_empty());

    // 3. b is the master now on purpose: the file says so, SIGHUP, the alert resolves.
    std::fs::write(&file, monitor_file(B)).unwrap();
    lab.signal(mon, "HUP");
    let t_hup = Instant::now();
    let (_, t_res) = prom(&lab).wait_alerts(
        "VipdMonitorUnexpectedMaster to resolve",
        t_hup,
        20 * S,
        |all| named(all, "VipdMonitorUnexpectedMaster", None).is_empty(),
    );
    let exp = prom(&lab).query("vrrp_monitor_expected");
    assert_eq!(
        exp.len(),
        1,
        "the old expectation's series is gone: {exp:?}"
    );
    assert_eq!(exp[0]["metric"]["master"], B, "{exp:?}");
    assert!(
        lab.log("monitor.log")
            .contains("reloaded: 1 expected virtual router")
    );
    eprintln!("3. file reloaded on SIGHUP: VipdMonitorUnexpectedMaster resolved after {t_res:.1?}");

    // 4. b stops as well: the expected VRID is not heard any more.
    ka.stop(&mut lab, ka_b);
    let t_stop = Instant::now();
    let (miss, t_miss) = wait_firing(&lab, "VipdMonitorExpectedVridMissing", t_stop, 30 * S);
    assert_eq!(miss["labels"]["severity"], "page", "{miss}");
    let desc = miss["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(desc.contains("(ipv4, VRRPv2)"), "{desc}");
    for node in [A, B] {
        assert!(
            desc.contains(node),
            "description names {node} as last heard: {desc}"
        );
    }
    assert_eq!(
        value(&lab, &vr("vrrp_monitor_expected_heard")).as_deref(),
        Some("0")
    );
    assert!(lab.log("monitor.log").contains("expected, no master heard"));

    eprintln!(
        "monitor expectation timings: keepalived b master {t_takeover:.1?} after a's SIGKILL, \
         VipdMonitorUnexpectedMaster firing {t_um:.1?} after the kill; resolved {t_res:.1?} \
         after SIGHUP with the new file; VipdMonitorExpectedVridMissing firing {t_miss:.1?} \
         after b stopped (rules: for: {LAB_FOR}; scrape and evaluation every 1 s); total {:.1?}",
        t0.elapsed()
    );
}

#[test]
fn mixed_versions_on_a_vrid_fire_on_real_keepalived() {
    labkit::require(&["curl", "promtool"]);
    let shipped = promkit::monitor_lab_rules();
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("mxv");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("m", M, None);
    let rules = lab.file("vipd-monitor.rules.yml", &shorten(&shipped));
    // a speaks VRRPv3 (keepalived: `version 3` in the instance), b keepalived's default v2.
    let v3 = ka_cfg("a", 150).replace("    advert_int 1\n", "    advert_int 1\n    version 3\n");
    assert!(v3.contains("version 3"));
    ka.start(&mut lab, "a", &v3);
    ka.start(&mut lab, "b", &ka_cfg("b", 100));
    lab.spawn(
        "m",
        "monitor.log",
        &[VIPD, "monitor", "--interface", "eth0", "--listen", MONITOR],
    );
    promkit::start(
        &mut lab,
        "m",
        "vipd-monitor",
        &[MONITOR.to_owned()],
        rules.to_str().unwrap(),
    );
    prom(&lab).wait_up("vipd-monitor", 1, || true);
    let t = Instant::now();
    let (mixed, took) = wait_firing(&lab, "VipdMonitorVersionsMixed", t, 30 * S);
    assert_eq!(mixed["labels"]["severity"], "ticket", "{mixed}");
    let desc = mixed["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(desc.contains(&format!("{A} v3; {B} v2;")), "{desc}");
    // They ignore each other: both master, as the alert says.
    assert_eq!(
        lab.holders(&HOSTS, VIP),
        HOSTS,
        "both keepalived hold the VIP"
    );
    eprintln!(
        "VipdMonitorVersionsMixed firing {took:.1?} after Prometheus was up (for: {LAB_FOR})"
    );
}

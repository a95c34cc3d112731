//! The monitor's alert rules (alerts/vipd-monitor.rules.yml) against a real Prometheus and a
//! real keepalived fleet (root, lab): two keepalived 2.2.7 nodes (VRRPv2, `advert_int 1`, the
//! common fleet setup) and, on a third host, `vipd monitor` scraped every second by Prometheus
//! (Debian package) evaluating a copy of the rules every second. End to end:
//! 1. a healthy pair fires no alert, and Prometheus sees one master;
//! 2. nftables on both keepalived nodes dropping IP protocol 112: both become master, the
//!    monitor hears both, VipdMonitorSplitBrain fires naming both routers;
//! 3. the rule removed: one master again, the alert resolves;
//! 4. the master killed with SIGKILL: the backup takes over without VipdMonitorNoMaster firing
//!    (a failover is no silent VRID); then the backup stopped too: VipdMonitorNoMaster fires.
//!
//! As in tests/lab_alerts.rs, the rules' timing is promtool's business (alerts/tests/
//! monitor.yml); the copy loaded here has every `for:` shortened to 2s and every range window of
//! minutes or longer to 30s (`shorten`, the same textual substitution as lab_alerts.rs).

mod labkit;
mod promkit;

use std::time::{Duration, Instant};

use labkit::{Keepalived, Lab, VIPD, sh};
use promkit::{LAB_FOR, LAB_RANGE, Prom, describe, named, nft, shorten};
use serde_json::Value;

const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const M: &str = "10.99.0.100";
const VIP: &str = "10.99.0.51";
const VRID: &str = "51";
const HOSTS: [&str; 2] = ["a", "b"];
const S: Duration = Duration::from_secs(1);
const MONITOR: &str = "127.0.0.1:9798";

/// Prometheus in host `m`, and the logs shown when a wait times out.
fn prom(lab: &Lab) -> Prom<'_> {
    Prom {
        lab,
        host: "m",
        logs: &["prometheus.log", "monitor.log", "a.log", "b.log"],
    }
}

fn query(lab: &Lab, q: &str) -> Vec<Value> {
    prom(lab).query(q)
}

fn alerts(lab: &Lab) -> Vec<Value> {
    prom(lab).alerts()
}

fn wait_alerts(
    lab: &Lab,
    what: &str,
    since: Instant,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> (Vec<Value>, Duration) {
    prom(lab).wait_alerts(what, since, timeout, done)
}

/// keepalived's configuration: VRRPv2, one advert a second, no authentication.
fn ka_cfg(h: &str, prio: u8) -> String {
    format!(
        "global_defs {{\n    router_id ka_{h}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {VRID}\n    \
         priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// Waits until `name` fires for our VRID; returns that alert and the time since `since`.
fn wait_firing(lab: &Lab, name: &str, since: Instant, timeout: Duration) -> (Value, Duration) {
    let ours = |a: &&Value| a["labels"]["vrid"] == VRID && a["labels"]["interface"] == "eth0";
    let (all, took) = wait_alerts(lab, &format!("{name} firing"), since, timeout, |all| {
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

/// `vrrp_monitor_masters` of our VRID as Prometheus last scraped it.
fn prom_masters(lab: &Lab) -> Option<String> {
    let r = query(
        lab,
        &format!("vrrp_monitor_masters{{interface=\"eth0\",family=\"ipv4\",vrid=\"{VRID}\"}}"),
    );
    r.first()
        .and_then(|v| v["value"][1].as_str().map(str::to_owned))
}

/// Pid in keepalived's pid file `<dir>/ka-<h>.<kind>.pid`.
fn ka_pid(lab: &Lab, h: &str, kind: &str) -> u32 {
    let p = lab.dir.join(format!("ka-{h}.{kind}.pid"));
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn monitor_alerts_fire_and_resolve_on_a_keepalived_pair() {
    labkit::require(&["curl", "nft", "promtool"]);
    let t0 = Instant::now();
    let shipped = promkit::monitor_lab_rules();
    let lab_rules = shorten(&shipped);
    let n_alerts = shipped.matches("- alert:").count();
    assert_eq!(lab_rules.matches("- alert:").count(), n_alerts);
    for w in ["m]", "h]", "d]"] {
        assert!(!lab_rules.contains(w), "a long range window is left: {w}");
    }
    assert!(lab_rules.contains(LAB_RANGE), "no range window shortened");

    // Declared before the lab: dropped after it, reaping any keepalived left.
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("ma");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("m", M, None);
    let rules = lab.file("vipd-monitor.rules.yml", &lab_rules);
    let rules = rules.to_str().unwrap().to_owned();
    sh(&["promtool", "check", "rules", &rules]);

    let ka_a = ka.start(&mut lab, "a", &ka_cfg("a", 150));
    let ka_b = ka.start(&mut lab, "b", &ka_cfg("b", 100));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    eprintln!("keepalived a master after {:.1?}", t0.elapsed());

    lab.spawn(
        "m",
        "monitor.log",
        &[VIPD, "monitor", "--interface", "eth0", "--listen", MONITOR],
    );
    promkit::start(&mut lab, "m", "vipd-monitor", &[MONITOR.to_owned()], &rules);
    // The target up, the rules loaded, one master scraped.
    prom(&lab).wait_up("vipd-monitor", 1, || {
        prom_masters(&lab).as_deref() == Some("1")
    });
    let loaded = prom(&lab).alert_rules();
    assert_eq!(loaded, n_alerts);
    eprintln!(
        "prometheus up, {loaded} monitor alert rules loaded after {:.1?}",
        t0.elapsed()
    );

    // 1. Healthy pair: nothing active, well past every shortened `for:`.
    std::thread::sleep(6 * S);
    let all = alerts(&lab);
    assert!(
        all.is_empty(),
        "a healthy pair raises alerts:\n{}\n--- monitor.log\n{}",
        describe(&all),
        lab.log("monitor.log")
    );
    assert_eq!(prom_masters(&lab).as_deref(), Some("1"));
    let form = query(
        &lab,
        &format!("vrrp_monitor_router_checksum_form{{router=\"{A}\",form=\"rfc9568\"}}"),
    );
    assert_eq!(
        form[0]["value"][1], "1",
        "keepalived v2: message only: {form:?}"
    );
    eprintln!("1. healthy pair: no alert ({:.1?})", t0.elapsed());

    // 2. Deaf split brain: both keepalived nodes drop IP protocol 112.
    let drop = lab.file(
        "drop-vrrp.nft",
        "table inet lab {\n  chain inp {\n    type filter hook input priority 0;\n    meta l4proto 112 drop\n  }\n}\n",
    );
    for h in HOSTS {
        nft(&lab, h, &["-f", drop.to_str().unwrap()]);
    }
    let t_fw = Instant::now();
    labkit::wait_for(10 * S, "both hosts to hold the VIP", || {
        lab.holders(&HOSTS, VIP) == HOSTS
    });
    let t_both = t_fw.elapsed();
    eprintln!("2. both keepalived master after {t_both:.1?}");
    let (sb, t_sb) = wait_firing(&lab, "VipdMonitorSplitBrain", t_fw, 30 * S);
    assert_eq!(sb["labels"]["severity"], "page", "{sb}");
    assert_eq!(sb["labels"]["family"], "ipv4", "{sb}");
    assert_eq!(sb["labels"]["instance"], MONITOR, "{sb}");
    assert_eq!(sb["value"], "2e+00", "two masters: {sb}");
    let desc = sb["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    for (node, prio) in [(A, 150), (B, 100)] {
        assert!(
            desc.contains(&format!("{node} ({prio})")),
            "description names both masters with their priority: {desc}"
        );
    }
    let summary = sb["annotations"]["summary"].as_str().unwrap_or_default();
    assert_eq!(
        summary,
        format!("Split brain on eth0 VRID {VRID}: 2 masters")
    );

    // 3. Heal: b hears a (150) and steps down; the alert resolves once b's window is over.
    for h in HOSTS {
        nft(&lab, h, &["delete", "table", "inet", "lab"]);
    }
    let t_heal = Instant::now();
    lab.wait_holder(&HOSTS, VIP, "a", 5 * S);
    let (_, t_sb_res) = wait_alerts(
        &lab,
        "VipdMonitorSplitBrain to resolve",
        t_heal,
        20 * S,
        |all| named(all, "VipdMonitorSplitBrain", None).is_empty(),
    );
    eprintln!("3. healed: VipdMonitorSplitBrain resolved after {t_sb_res:.1?}");
    assert!(
        alerts(&lab).is_empty(),
        "alerts left after the heal:\n{}",
        describe(&alerts(&lab))
    );

    // 4. a crashes (SIGKILL; its parent stopped first so that it cannot respawn the VRRP
    // child, then killed too): no priority-0 advert, b takes over after its master-down
    // interval, within the monitor's window for a. That failover is no silent VRID.
    let a_vrrp = ka_pid(&lab, "a", "vrrp");
    lab.signal(ka_a, "STOP");
    lab.signal(a_vrrp, "KILL");
    lab.signal(ka_a, "KILL");
    let t_kill = Instant::now();
    // Killed by a signal: an exit status without a code (Lab::wait_exit gives the code).
    assert!(
        lab.lan.wait_exit(ka_a, 5 * S).is_some(),
        "keepalived a survived SIGKILL"
    );
    // A crash removes nothing: the address stays on a's interface, b adds it.
    labkit::wait_for(10 * S, "b to take the address", || lab.has_addr("b", VIP));
    let t_takeover = t_kill.elapsed();
    let mut pending_seen = false;
    let watch = Instant::now();
    while watch.elapsed() < 5 * S {
        let all = alerts(&lab);
        let nm = named(&all, "VipdMonitorNoMaster", None);
        assert!(
            nm.iter().all(|a| a["state"] != "firing"),
            "a failover fired VipdMonitorNoMaster:\n{}\n--- monitor.log\n{}",
            describe(&all),
            lab.log("monitor.log")
        );
        pending_seen |= !nm.is_empty();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(prom_masters(&lab).as_deref(), Some("1"));
    eprintln!(
        "4. a SIGKILLed: b master after {t_takeover:.1?}, VipdMonitorNoMaster not firing \
         (pending seen: {pending_seen})"
    );
    // Then b stops as well (SIGTERM: a priority-0 advert, then silence): no master at all.
    ka.stop(&mut lab, ka_b);
    let t_stop = Instant::now();
    let (nm, t_nm) = wait_firing(&lab, "VipdMonitorNoMaster", t_stop, 30 * S);
    assert_eq!(nm["labels"]["severity"], "page", "{nm}");
    assert_eq!(nm["value"], "0e+00", "{nm}");
    let desc = nm["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    for node in [A, B] {
        assert!(desc.contains(node), "description names {node}: {desc}");
    }
    assert!(!lab.has_addr("b", VIP), "b removed the address on stop");
    assert_eq!(
        named(&alerts(&lab), "VipdMonitorSplitBrain", None).len(),
        0,
        "{}",
        describe(&alerts(&lab))
    );

    eprintln!(
        "monitor alert timings: VipdMonitorSplitBrain firing {t_sb:.1?} after the firewall \
         (both keepalived master after {t_both:.1?}), resolved {t_sb_res:.1?} after the heal; \
         keepalived b master {t_takeover:.1?} after a's SIGKILL, no VipdMonitorNoMaster; \
         VipdMonitorNoMaster firing {t_nm:.1?} after b stopped (rules: for: {LAB_FOR}, \
         windows {LAB_RANGE}; scrape and evaluation every 1 s); total {:.1?}",
        t0.elapsed()
    );
}

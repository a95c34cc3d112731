//! The alert rules (alerts/vipd.rules.yml) against a real Prometheus (root, lab): two vipd nodes
//! in namespaces, Prometheus (Debian package) in a third namespace scraping them every second and
//! evaluating a copy of the rules every second. Then, end to end:
//! 1. a healthy pair fires no alert;
//! 2. a firewall on both nodes dropping VRRP (IP protocol 112) makes both master: VipdSplitBrain
//!    and VipdAdvertsFiltered fire for the group;
//! 3. the firewall removed, one master again: the split-brain alert resolves;
//! 4. a check script (weight -60 on the preferred node) flipping every second moves the master
//!    back and forth: VipdFlapping and VipdGroupFlapping fire;
//! 5. b reloaded with VRRPv2 (a configuration that disagrees with a's v3): each drops the
//!    other's adverts, both become master, VipdSplitBrain fires (disagreeing routers still
//!    count in vrrp_masters_observed) and VipdPeerConfigMismatch fires with reason version.
//!
//! The rules' timing (`for:` durations, 2m..15m range windows) is unit-tested by promtool
//! (alerts/tests/*.yml); here their logic is tested against real vipd series, so the copy loaded
//! shortens every `for:` to 2s and every range window of minutes or longer to 30s (a textual
//! substitution, see `shorten`).

mod labkit;
mod promkit;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use labkit::{Lab, sh};
use promkit::{LAB_FOR, LAB_RANGE, PROMETHEUS, Prom, describe, named, nft, shorten};
use serde_json::Value;

const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const C: &str = "10.99.0.100";
const VIP: &str = "10.99.0.21";
const PORT: u16 = 9797;
const HOSTS: [&str; 2] = ["a", "b"];
const S: Duration = Duration::from_secs(1);

/// Prometheus in host `c`, and the logs shown when a wait times out.
fn prom(lab: &Lab) -> Prom<'_> {
    Prom {
        lab,
        host: "c",
        logs: &["prometheus.log", "a.log", "b.log"],
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

/// vipd's config: one instance, optionally tracking the check script `chk` (weight -60).
fn cfg(prio: u8, script: Option<&str>) -> String {
    let (scripts, track) = match script {
        Some(s) => (
            format!(
                "scripts:\n  chk:\n    command: [\"{s}\"]\n    interval: 200ms\n    weight: -60\n"
            ),
            "    track_scripts: [chk]\n",
        ),
        None => (String::new(), ""),
    };
    format!(
        "listen: \"0.0.0.0:{PORT}\"\n{scripts}\
         instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    \
         advert_interval: 100ms\n{track}    virtual_ipaddress: [\"{VIP}\"]\n"
    )
}

/// Waits until alert `name` fires for `group` on every instance of `instances` (or, when
/// `instances` is empty, fires for the group at all); prints and returns the time it took.
fn wait_firing(
    lab: &Lab,
    name: &str,
    instances: &[&str],
    since: Instant,
    timeout: Duration,
) -> (Vec<Value>, Duration) {
    let (all, took) = wait_alerts(lab, &format!("{name} firing"), since, timeout, |all| {
        let f = named(all, name, Some("firing"));
        let f: Vec<&&Value> = f.iter().filter(|a| a["labels"]["group"] == VIP).collect();
        if instances.is_empty() {
            !f.is_empty()
        } else {
            instances
                .iter()
                .all(|i| f.iter().any(|a| a["labels"]["instance"] == *i))
        }
    });
    let fired: Vec<Value> = named(&all, name, Some("firing"))
        .into_iter()
        .cloned()
        .collect();
    eprintln!(
        "{name} firing after {took:.1?}:\n{}",
        describe(&fired).replace('\n', "\n  ")
    );
    (fired, took)
}

/// Toggles a flag file every `period` on a background thread until dropped.
struct Toggler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u32>>,
    flag: std::path::PathBuf,
}

impl Toggler {
    fn start(flag: std::path::PathBuf, period: Duration) -> Toggler {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, f) = (stop.clone(), flag.clone());
        let thread = std::thread::spawn(move || {
            let mut flips = 0;
            while !s.load(Ordering::Relaxed) {
                if f.exists() {
                    let _ = std::fs::remove_file(&f);
                } else {
                    let _ = std::fs::write(&f, "down\n");
                }
                flips += 1;
                std::thread::sleep(period);
            }
            let _ = std::fs::remove_file(&f);
            flips
        });
        Toggler {
            stop,
            thread: Some(thread),
            flag,
        }
    }

    /// Stops toggling, leaves the flag absent (script healthy); returns the number of flips.
    fn stop(mut self) -> u32 {
        self.stop.store(true, Ordering::Relaxed);
        let n = self.thread.take().map(|t| t.join().unwrap()).unwrap_or(0);
        let _ = std::fs::remove_file(&self.flag);
        n
    }
}

impl Drop for Toggler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn alerts_fire_and_resolve_in_a_real_prometheus() {
    labkit::require(&["curl", "nft"]);
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "the lab needs {PROMETHEUS} (Debian package prometheus)"
    );
    let t0 = Instant::now();

    // The rules, shortened for the lab, must still be valid and keep every alert.
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/vipd.rules.yml"
    ))
    .expect("alerts/vipd.rules.yml");
    let lab_rules = shorten(&shipped);
    assert_eq!(
        lab_rules.matches("- alert:").count(),
        shipped.matches("- alert:").count()
    );
    for l in lab_rules
        .lines()
        .filter(|l| l.trim_start().starts_with("for:"))
    {
        assert_eq!(l.trim(), format!("for: {LAB_FOR}"));
    }
    for w in ["m]", "h]", "d]"] {
        assert!(!lab_rules.contains(w), "a long range window is left: {w}");
    }
    assert!(lab_rules.contains(LAB_RANGE), "no range window shortened");

    let mut lab = Lab::new("al");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("c", C, None);
    let rules = lab.file("vipd.rules.yml", &lab_rules);
    let rules = rules.to_str().unwrap().to_owned();
    sh(&["promtool", "check", "rules", &rules]);

    // a's check script fails while the flag file exists (absent now: healthy).
    let flag = lab.dir.join("a-down");
    let script = lab.file(
        "chk.sh",
        &format!("#!/bin/sh\n[ ! -e {} ]\n", flag.to_str().unwrap()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    lab.vipd("a", &cfg(150, Some(script.to_str().unwrap())));
    let b_pid = lab.vipd("b", &cfg(100, None));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);

    let targets = [format!("{A}:{PORT}"), format!("{B}:{PORT}")];
    promkit::start(&mut lab, "c", "vipd", &targets, &rules);

    // Both targets up, and the rules loaded.
    prom(&lab).wait_up("vipd", 2, || true);
    let loaded = prom(&lab).alert_rules();
    assert_eq!(loaded, shipped.matches("- alert:").count());
    eprintln!(
        "prometheus up, {loaded} alert rules loaded after {:.1?}",
        t0.elapsed()
    );

    // 1. Healthy pair: nothing fires (well past every shortened `for:`).
    std::thread::sleep(8 * S);
    let script_series = query(&lab, "vrrp_script_healthy{script=\"chk\"}");
    assert_eq!(script_series.len(), 1, "{script_series:?}");
    assert_eq!(script_series[0]["value"][1], "1", "{script_series:?}");
    let masters = query(
        &lab,
        "count by (group) ((vrrp_instance_state{state=\"master\"} == 1) \
         * on (job, instance, vr) group_left (vrid, interface, family, group) vrrp_instance_info)",
    );
    assert_eq!(masters.len(), 1, "{masters:?}");
    assert_eq!(masters[0]["metric"]["group"], VIP, "{masters:?}");
    assert_eq!(masters[0]["value"][1], "1", "{masters:?}");
    // VipdEngineLate is left out: it reports the CPU of the machine running the tests (often
    // saturated by the tests running in parallel), not the pair; promtool unit-tests it.
    let all: Vec<Value> = alerts(&lab)
        .into_iter()
        .filter(|a| a["labels"]["alertname"] != "VipdEngineLate")
        .collect();
    assert!(
        all.iter().all(|a| a["state"] != "firing"),
        "a healthy pair fires alerts:\n{}\n--- a.log\n{}\n--- b.log\n{}",
        describe(&all),
        lab.log("a.log"),
        lab.log("b.log")
    );
    if !all.is_empty() {
        eprintln!("healthy pair: pending only:\n{}", describe(&all));
    }
    eprintln!("1. healthy pair: no alert firing ({:.1?})", t0.elapsed());

    // 2. Deaf split brain: each firewall drops IP protocol 112.
    let drop = lab.file(
        "drop-vrrp.nft",
        "table inet lab {\n  chain inp {\n    type filter hook input priority 0;\n    meta l4proto 112 drop\n  }\n}\n",
    );
    for h in HOSTS {
        nft(&lab, h, &["-f", drop.to_str().unwrap()]);
    }
    let t_fw = Instant::now();
    labkit::wait_for(3 * S, "both hosts to hold the VIP", || {
        lab.holders(&HOSTS, VIP) == HOSTS
    });
    eprintln!("2. both master after {:.1?}", t_fw.elapsed());
    let (sb, t_sb) = wait_firing(&lab, "VipdSplitBrain", &[], t_fw, 20 * S);
    assert_eq!(sb.len(), 1, "one split-brain alert per group: {sb:?}");
    assert_eq!(sb[0]["labels"]["severity"], "page");
    assert_eq!(sb[0]["value"], "2e+00", "two masters: {sb:?}");
    let summary = sb[0]["annotations"]["summary"].as_str().unwrap_or_default();
    assert!(summary.contains(VIP), "{summary}");
    let desc = sb[0]["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    for node in [A, B] {
        assert!(
            desc.contains(&format!("{node}:{PORT} VI_1")),
            "description names both masters: {desc}"
        );
    }
    let a_inst = format!("{A}:{PORT}");
    let b_inst = format!("{B}:{PORT}");
    let (af, t_af) = wait_firing(
        &lab,
        "VipdAdvertsFiltered",
        &[&a_inst, &b_inst],
        t_fw,
        20 * S,
    );
    for al in &af {
        let l = &al["labels"];
        let peer = if l["instance"] == a_inst.as_str() {
            B
        } else {
            A
        };
        assert_eq!(l["peer"], peer, "{al}");
        assert_eq!(l["vr"], "VI_1", "{al}");
        assert_eq!(l["vrid"], "51", "{al}");
        assert_eq!(l["severity"], "ticket", "{al}");
    }

    // 3. Heal: one master again; the split brain resolves.
    for h in HOSTS {
        nft(&lab, h, &["delete", "table", "inet", "lab"]);
    }
    let t_heal = Instant::now();
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    let (_, t_sb_res) = wait_alerts(&lab, "VipdSplitBrain to resolve", t_heal, 20 * S, |all| {
        named(all, "VipdSplitBrain", None).is_empty()
    });
    eprintln!("3. healed: VipdSplitBrain resolved after {t_sb_res:.1?}");
    let all = alerts(&lab);
    assert!(
        named(&all, "VipdNoMaster", None).is_empty(),
        "{}",
        describe(&all)
    );

    // 4. a's check script flips every second: a drops to 90 < 100 and back to 150, so the
    // mastership moves a -> b -> a ... about once a second.
    let to_master = |lab: &Lab| -> f64 {
        let r = query(lab, "sum(vrrp_instance_transitions_total{to=\"master\"})");
        r[0]["value"][1].as_str().unwrap().parse().unwrap()
    };
    let before = to_master(&lab);
    let toggler = Toggler::start(flag.clone(), S);
    let t_flap = Instant::now();
    let (fl, t_fl) = wait_firing(&lab, "VipdFlapping", &[], t_flap, 25 * S);
    for al in &fl {
        assert_eq!(al["labels"]["to"], "master", "{al}");
        assert!(al["labels"]["from"].is_null(), "summed over from: {al}");
    }
    let (gf, t_gf) = wait_firing(&lab, "VipdGroupFlapping", &[], t_flap, 25 * S);
    assert_eq!(gf.len(), 1, "{gf:?}");
    let flips = toggler.stop();
    let moves = query(
        &lab,
        "sum by (instance) (vrrp_instance_transitions_total{to=\"master\"})",
    );
    let moves: Vec<(String, f64)> = moves
        .iter()
        .map(|m| {
            (
                m["metric"]["instance"].as_str().unwrap_or("?").to_owned(),
                m["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    eprintln!("4. {flips} script flips; transitions to master since start per node: {moves:?}");
    assert_eq!(moves.len(), 2, "{moves:?}");
    let moved = to_master(&lab) - before;
    // Toggling stops as soon as the alerts fire; increase() extrapolates over the shortened
    // window, so three real moves can already cross "> 3". Fewer would mean a false alarm.
    assert!(
        moved >= 3.0,
        "the master moved only {moved} times while the script flipped: {moves:?}"
    );
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    labkit::wait_for(20 * S, "split-brain alerts of phase 2 to be gone", || {
        named(&alerts(&lab), "VipdSplitBrain", None).is_empty()
    });

    // 5. Split brain by configuration: b speaks VRRPv2 now. Both drop the other's adverts
    // (version), both hold the address, and both still see the other as a master.
    lab.file(
        "b.yaml",
        &cfg(100, None).replace(
            "advert_interval: 100ms\n",
            "advert_interval: 1s\n    version: 2\n",
        ),
    );
    lab.signal(b_pid, "HUP");
    let t_cfg = Instant::now();
    labkit::wait_for(10 * S, "both hosts to hold the VIP", || {
        lab.holders(&HOSTS, VIP) == HOSTS
    });
    let (sb2, _) = wait_firing(&lab, "VipdSplitBrain", &[], t_cfg, 25 * S);
    assert_eq!(sb2[0]["value"], "2e+00", "two masters: {sb2:?}");
    let (pm, t_pm) = wait_firing(
        &lab,
        "VipdPeerConfigMismatch",
        &[&a_inst, &b_inst],
        t_cfg,
        25 * S,
    );
    for al in &pm {
        let l = &al["labels"];
        let peer = if l["instance"] == a_inst.as_str() {
            B
        } else {
            A
        };
        assert_eq!(l["peer"], peer, "{al}");
        assert_eq!(l["reason"], "version", "{al}");
        assert_eq!(l["severity"], "ticket", "{al}");
    }
    eprintln!("5. VipdPeerConfigMismatch (reason version) firing after {t_pm:.1?}");

    eprintln!(
        "alert timings: VipdSplitBrain {t_sb:.1?} and VipdAdvertsFiltered {t_af:.1?} after the \
         firewall; VipdSplitBrain resolved {t_sb_res:.1?} after the heal; VipdFlapping {t_fl:.1?} \
         and VipdGroupFlapping {t_gf:.1?} after the flipping started (rules: for: {LAB_FOR}, \
         windows {LAB_RANGE}); total {:.1?}",
        t0.elapsed()
    );
}

//! The deaf split brain of a firewall dropping protocol 112 on a LAN of network namespaces
//! (root): seen by `vrrp_adverts_filtered_total` and /status, judged on the wire by a third,
//! listening host, and healed.

mod labkit;
mod observekit;

use std::time::{Duration, Instant};

use labkit::{Lab, sh, tshark, wait_for};
use observekit::*;

/// Host `h`'s IPv6 link-local address (the source of its IPv6 adverts).
fn link_local(lab: &Lab, h: &str) -> String {
    let out = sh(&[
        "ip",
        "-n",
        &lab.ns(h),
        "-6",
        "-o",
        "addr",
        "show",
        "dev",
        "eth0",
        "scope",
        "link",
    ]);
    out.split_whitespace()
        .find(|w| w.starts_with("fe80"))
        .and_then(|w| w.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on {h}: {out}"))
        .to_owned()
}

/// Every `vrrp_adverts_filtered_total` sample: (vr, peer, value).
fn filtered_series(t: &str) -> Vec<(String, String, f64)> {
    samples(t)
        .into_iter()
        .filter(|s| s.name == "vrrp_adverts_filtered_total")
        .map(|s| {
            let l = |k: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (l("vr"), l("peer"), s.value)
        })
        .collect()
}

#[test]
fn firewall_split_brain_is_counted_as_filtered_adverts_and_heals() {
    labkit::require(&["curl", "nft"]);
    let mut lab = pair("sb");
    lab.host("c", C, None);
    const VIP: &str = "10.99.0.44";
    const VIP6: &str = "fd00:99::45";
    let vi: &[(&str, &str)] = &[("vr", "VI_1")];
    let vi6: &[(&str, &str)] = &[("vr", "VI_6")];
    let (lla, llb) = (link_local(&lab, "a"), link_local(&lab, "b"));
    for (h, prio) in [("a", 150), ("b", 100)] {
        lab.vipd(
            h,
            &cfg(
                "",
                &[
                    inst("VI_1", 44, prio, "", &format!("{VIP}/24")),
                    inst("VI_6", 45, prio, "", &format!("{VIP6}/64")),
                ],
            ),
        );
    }
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    lab.wait_holder(&HOSTS, VIP6, "a", 3 * S);
    // No false positives while nothing is firewalled (the tap reports lag up to ~2 s); the
    // series of the peer the tap has seen exist at 0, so rate() sees the first increase.
    std::thread::sleep(Duration::from_millis(2200));
    for h in HOSTS {
        let t = scrape(&lab, h);
        let series = filtered_series(&t);
        assert!(
            series.iter().all(|(_, _, v)| *v == 0.0),
            "{h} counts filtered adverts without a firewall: {series:?}"
        );
        if h == "b" {
            // b hears the master a on both families.
            let mut vrs: Vec<&str> = series.iter().map(|(vr, _, _)| vr.as_str()).collect();
            vrs.sort();
            assert_eq!(
                vrs,
                ["VI_1", "VI_6"],
                "{h}: filtered series at 0: {series:?}"
            );
        }
    }

    // The classic split brain: each host's firewall drops IP protocol 112 (v4 and v6).
    let (cap, pcap) = lab.capture("c", "split", "ip proto 112");
    let rules = lab.file(
        "drop-vrrp.nft",
        "table inet lab {\n  chain inp {\n    type filter hook input priority 0;\n    meta l4proto 112 drop\n  }\n}\n",
    );
    for h in HOSTS {
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(h),
            "nft",
            "-f",
            rules.to_str().unwrap(),
        ]);
    }
    let t_fw = Instant::now();
    wait_for(3 * S, "both hosts to hold the VIPs", || {
        lab.holders(&HOSTS, VIP) == HOSTS && lab.holders(&HOSTS, VIP6) == HOSTS
    });
    // The wire tap reports once a second and is compared one report later: up to ~2 s.
    let peers = [("a", B, llb.as_str()), ("b", A, lla.as_str())];
    let before: Vec<String> = peers
        .iter()
        .map(|&(h, peer, peer6)| {
            wait_metrics(&lab, h, "filtered adverts counted", 4 * S, |t| {
                let f = |vr, p| {
                    value(t, "vrrp_adverts_filtered_total", &with(vr, &[("peer", p)]))
                        .is_some_and(|v| v > 0.0)
                };
                f(vi, peer) && f(vi6, peer6)
            })
        })
        .collect();
    eprintln!("filtered adverts on both after {:?}", t_fw.elapsed());
    std::thread::sleep(2 * S);
    let after: Vec<String> = HOSTS.iter().map(|h| scrape(&lab, h)).collect();
    for (i, &(h, peer, peer6)) in peers.iter().enumerate() {
        for (vr, p) in [(vi, peer), (vi6, peer6)] {
            let l = with(vr, &[("peer", p)]);
            let f1 = get(&before[i], "vrrp_adverts_filtered_total", &l);
            let f2 = get(&after[i], "vrrp_adverts_filtered_total", &l);
            // 2 s of adverts every 100 ms: about 20.
            assert!(
                f2 - f1 >= 10.0,
                "{h}: filtered adverts from {p} rise: {f1} -> {f2}"
            );
            assert_state(&after[i], vr, "master");
            // Deaf: each sees only itself as master.
            assert_eq!(get(&after[i], "vrrp_masters_observed", vr), 1.0, "{h}");
        }
        // Only the other host's adverts count, never our own outgoing ones.
        for (vr, p, _) in filtered_series(&after[i]) {
            let want = if vr == "VI_1" { peer } else { peer6 };
            assert_eq!(p, want, "{h}: filtered series for {vr} from {p}");
        }
        assert_eq!(
            get(
                &after[i],
                "vrrp_vip_present",
                &with(vi, &[("address", VIP)])
            ),
            1.0
        );
        let st = status(&lab, h);
        for name in ["VI_1", "VI_6"] {
            let s = status_inst(&st, name);
            assert_eq!(s["state"], "master", "{h}: {s:#}");
            assert!(
                s["stats"]["filtered"].as_u64().unwrap_or(0) > 0,
                "{h}: {s:#}"
            );
        }
        let log = lab.log(&format!("{h}.log"));
        assert!(log.contains("a local firewall drops VRRP"), "{h}: {log}");
    }
    lab.stop_capture(cap);

    // The listener sees both masters advertising (priority > 0) in the same second.
    let rows = tshark(&pcap, "vrrp", &["frame.time_epoch", "ip.src", "vrrp.prio"]);
    let mut seconds: std::collections::BTreeMap<u64, (bool, bool)> = Default::default();
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let sec = f[0].parse::<f64>().unwrap() as u64;
        let prio: u32 = f[2].parse().unwrap();
        let e = seconds.entry(sec).or_default();
        match (f[1], prio > 0) {
            (A, true) => e.0 = true,
            (B, true) => e.1 = true,
            _ => {}
        }
    }
    assert!(
        seconds.values().any(|&(a, b)| a && b),
        "adverts from both {A} and {B} within one second: {rows:?}"
    );

    // Heal: the firewall goes; one master (a) within about one down interval.
    let t = Instant::now();
    for h in HOSTS {
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(h),
            "nft",
            "delete",
            "table",
            "inet",
            "lab",
        ]);
    }
    let took = lab.wait_holder(&HOSTS, VIP, "a", 2 * S);
    assert!(took < S, "healed after {took:?}");
    lab.wait_holder(&HOSTS, VIP6, "a", S);
    eprintln!("split brain healed after {:?}", t.elapsed());
    lab.hold_steady(&HOSTS, VIP, "a", Duration::from_millis(300));
    let tb1 = wait_metrics(&lab, "b", "b backup again", 3 * S, |t| {
        value(t, "vrrp_instance_state", &with(vi, &[("state", "backup")])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi) == Some(150.0)
    });
    assert_eq!(
        get(
            &tb1,
            "vrrp_instance_transitions_total",
            &with(vi, &[("from", "master"), ("to", "backup")])
        ),
        1.0
    );
    // Frames firewalled just before the heal are still reported up to two wire-tap reports
    // (about 2 s) later; after that the counters must stay put.
    std::thread::sleep((t + Duration::from_millis(2500)).saturating_duration_since(Instant::now()));
    let tb1 = scrape(&lab, "b");
    std::thread::sleep(Duration::from_millis(1500));
    let tb2 = scrape(&lab, "b");
    assert_eq!(
        filtered_series(&tb1),
        filtered_series(&tb2),
        "b's filtered counters stop rising once healed"
    );
    assert!(
        get(&tb2, "vrrp_adverts_received_total", vi) > get(&tb1, "vrrp_adverts_received_total", vi),
        "b hears a again"
    );
}

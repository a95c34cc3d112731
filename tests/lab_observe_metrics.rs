//! vipd's /metrics values (not just names) on a LAN of network namespaces (root), checked
//! by `promtool`: one test per scenario, each on its own LAN with the same two routers
//! (`a` priority 150 tracking a check script, `b` priority 100) after the election: the
//! election itself, a link failover, a script failure, reloads.

mod labkit;
mod observekit;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use labkit::Lab;
use observekit::*;

const VIP: &str = "10.99.0.33";
/// Per-instance series carry only `vr`; the rest is on `vrrp_instance_info` (INFO1).
const VI1: &[(&str, &str)] = &[("vr", "VI_1")];
const VI2: &[(&str, &str)] = &[("vr", "VI_2")];
const INFO1: &[(&str, &str)] = &[
    ("vr", "VI_1"),
    ("vrid", "33"),
    ("interface", "eth0"),
    ("family", "ipv4"),
    ("group", VIP),
    ("version", "3"),
];

/// Two routers after their election: a (priority 150, tracking `chk`) is master.
struct Elected {
    lab: Lab,
    /// a's vipd.
    pa: u32,
    /// While this file exists, the check script fails.
    flag: PathBuf,
    /// The `scripts:` YAML of a's config.
    scripts: String,
    /// a's VI_1.
    a1: String,
    /// a's scrape once its derived gauges have caught up with the election.
    ta: String,
}

fn elected(prefix: &str) -> Elected {
    labkit::require(&["curl", "promtool"]);
    let mut lab = pair(prefix);
    let vi1 = VI1;

    // A check script that fails while a flag file exists. The lab directory is root-owned
    // 0755 under the sticky /tmp, which vipd accepts for a script run as root.
    let flag = lab.dir.join("flag");
    let script = lab.file(
        "chk.sh",
        &format!("#!/bin/sh\ntest ! -e '{}'\n", flag.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&lab.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scripts = format!(
        "scripts:\n  chk:\n    command: [\"{}\"]\n    interval: 100ms\n    weight: -60\n",
        script.display()
    );
    let a1 = inst(
        "VI_1",
        33,
        150,
        "    track_scripts: [chk]\n",
        &format!("{VIP}/24"),
    );
    let pa = lab.vipd("a", &cfg(&scripts, std::slice::from_ref(&a1)));
    lab.vipd(
        "b",
        &cfg("", &[inst("VI_1", 33, 100, "", &format!("{VIP}/24"))]),
    );

    // --- Election: a is master, b backup.
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    // Derived gauges (master priority, masters observed, VIP presence) are refreshed once a
    // second: wait for the first refresh after the election.
    let ta = wait_metrics(&lab, "a", "a's gauges after the election", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(150.0)
            && value(t, "vrrp_masters_observed", vi1) == Some(1.0)
    });
    Elected {
        lab,
        pa,
        flag,
        scripts,
        a1,
        ta,
    }
}

#[test]
fn metrics_after_the_election() {
    let Elected { lab, ta, .. } = elected("obel");
    let vi1 = VI1;
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi1), 150.0);
    assert_eq!(get(&ta, "vrrp_instance_base_priority", vi1), 150.0);
    assert_eq!(
        get(&ta, "vrrp_instance_master_priority", vi1),
        150.0,
        "own when master"
    );
    assert_eq!(get(&ta, "vrrp_instance_advert_interval_seconds", vi1), 0.1);
    assert_eq!(get(&ta, "vrrp_masters_observed", vi1), 1.0);
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    assert_eq!(
        get(
            &ta,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "backup"), ("to", "master")])
        ),
        1.0
    );
    assert!(get(&ta, "vrrp_instance_last_transition_timestamp_seconds", vi1) > 1.6e9);
    assert_eq!(
        get(&ta, "vipd_config_reloads_total", &[("result", "success")]),
        0.0
    );
    assert_eq!(get(&ta, "vipd_build_info", &[]), 1.0);
    assert_eq!(get(&ta, "vrrp_priority_zero_sent_total", vi1), 0.0);
    // The instance's identity is on its info series, and on no other.
    assert_eq!(get(&ta, "vrrp_instance_info", INFO1), 1.0);
    for l in ta.lines().filter(|l| l.contains("vr=\"VI_1\"")) {
        assert!(
            l.starts_with("vrrp_instance_info{") || !l.contains("vrid="),
            "{l}"
        );
    }
    assert!(
        !ta.lines().any(|l| l.contains("instance=\"")),
        "no label called `instance`"
    );
    let sent1 = get(&ta, "vrrp_adverts_sent_total", vi1);
    assert!(sent1 > 0.0);
    promtool(&ta);

    let tb = wait_metrics(&lab, "b", "b following a", 3 * S, |t| {
        value(t, "vrrp_peer_priority", &with(vi1, &[("peer", A)])) == Some(150.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(150.0)
            && value(t, "vrrp_masters_observed", vi1) == Some(1.0)
    });
    assert_state(&tb, vi1, "backup");
    assert_eq!(get(&tb, "vrrp_instance_priority", vi1), 100.0);
    assert_eq!(get(&tb, "vrrp_instance_master_priority", vi1), 150.0);
    assert_eq!(
        get(&tb, "vrrp_instance_master_advert_interval_seconds", vi1),
        0.1
    );
    assert_eq!(
        get(&tb, "vrrp_vip_present", &with(vi1, &[("address", VIP)])),
        0.0
    );
    assert_eq!(get(&tb, "vrrp_masters_observed", vi1), 1.0);
    assert_eq!(get(&tb, "vrrp_adverts_sent_total", vi1), 0.0);
    assert_eq!(
        get(
            &tb,
            "vrrp_peer_checksum_form",
            &with(vi1, &[("peer", A), ("form", "pseudo_header")])
        ),
        1.0
    );
    // Only the peer's current form has a series.
    assert_eq!(
        value(
            &tb,
            "vrrp_peer_checksum_form",
            &with(vi1, &[("peer", A), ("form", "rfc9568")])
        ),
        None
    );
    assert!(
        get(
            &tb,
            "vrrp_peer_last_advert_timestamp_seconds",
            &with(vi1, &[("peer", A)])
        ) > 1.6e9
    );
    assert!(get(&tb, "vrrp_peer_master_total", &with(vi1, &[("peer", A)])) >= 1.0);
    let recv1 = get(&tb, "vrrp_adverts_received_total", vi1);
    assert!(recv1 > 0.0);
    // Nothing was dropped: a drop reason's series appears at its first drop
    // (docs/metrics.md, Series per instance).
    for reason in [
        "checksum",
        "ttl",
        "version",
        "length",
        "address_count",
        "vrid",
        "auth_failure",
        "auth_type",
        "interval",
    ] {
        assert_eq!(
            value(
                &tb,
                "vrrp_adverts_dropped_total",
                &with(vi1, &[("reason", reason)])
            ),
            None,
            "{reason}"
        );
    }
    promtool(&tb);

    std::thread::sleep(Duration::from_millis(500));
    let ta2 = scrape(&lab, "a");
    let sent2 = get(&ta2, "vrrp_adverts_sent_total", vi1);
    assert!(
        sent2 >= sent1 + 3.0,
        "adverts sent grow: {sent1} -> {sent2}"
    );
    let tb2 = scrape(&lab, "b");
    let recv2 = get(&tb2, "vrrp_adverts_received_total", vi1);
    assert!(
        recv2 >= recv1 + 3.0,
        "adverts received grow: {recv1} -> {recv2}"
    );

    // OpenMetrics: same samples, ends with # EOF.
    let (code, ctype, om) = http(
        &lab,
        "a",
        "GET",
        "/metrics",
        Some("application/openmetrics-text"),
    );
    assert_eq!(code, 200);
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ctype}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE vrrp_adverts_sent counter\n"), "{om}");
    assert_eq!(
        get(
            &om,
            "vrrp_instance_state",
            &with(vi1, &[("state", "master")])
        ),
        1.0
    );
    assert_eq!(get(&om, "vrrp_instance_priority", vi1), 150.0);
}

#[test]
fn metrics_after_a_link_failover() {
    let Elected { lab, .. } = elected("obfo");
    let vi1 = VI1;
    // --- Failover: a's link goes down; b takes over, a is in fault without the VIP.
    lab.link("a", false);
    lab.wait_holder(&["b"], VIP, "b", 3 * S);
    let tb = wait_metrics(&lab, "b", "b master with its VIP", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(100.0)
    });
    assert_state(&tb, vi1, "master");
    assert_eq!(
        get(
            &tb,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "backup"), ("to", "master")])
        ),
        1.0
    );
    assert_eq!(
        get(&tb, "vrrp_instance_master_priority", vi1),
        100.0,
        "own when master"
    );
    let ta = wait_metrics(&lab, "a", "a in fault without the VIP", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(0.0)
    });
    assert_state(&ta, vi1, "fault");
    assert_eq!(
        get(
            &ta,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "master"), ("to", "fault")])
        ),
        1.0
    );
    // Back up: a preempts.
    lab.link("a", true);
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
}

#[test]
fn metrics_after_a_script_failure() {
    let Elected { lab, flag, .. } = elected("obsc");
    let vi1 = VI1;
    // --- Script failure: effective priority 150 - 60 = 90 < 100, so b preempts.
    std::fs::write(&flag, "").unwrap();
    let ta = wait_metrics(&lab, "a", "priority 90", 3 * S, |t| {
        value(t, "vrrp_instance_priority", vi1) == Some(90.0)
    });
    assert_eq!(get(&ta, "vrrp_instance_base_priority", vi1), 150.0);
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 0.0);
    assert!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "failure")]
        ) > 0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "success")]
        ) > 0.0
    );
    assert_eq!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "timeout")]
        ),
        0.0
    );
    assert_eq!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "error")]
        ),
        0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_duration_seconds_count",
            &[("script", "chk")]
        ) > 0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_duration_seconds_bucket",
            &[("script", "chk"), ("le", "+Inf")]
        ) > 0.0
    );
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    let tb = wait_metrics(&lab, "b", "a's advert at 90 seen by b", 3 * S, |t| {
        value(t, "vrrp_peer_priority", &with(vi1, &[("peer", A)])) == Some(90.0)
    });
    assert_state(&tb, vi1, "master");
    let ta = wait_metrics(&lab, "a", "a backup following b", 3 * S, |t| {
        value(t, "vrrp_instance_state", &with(vi1, &[("state", "backup")])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(100.0)
    });
    assert_eq!(get(&ta, "vrrp_instance_master_priority", vi1), 100.0);
    assert_eq!(
        get(&ta, "vrrp_peer_priority", &with(vi1, &[("peer", B)])),
        100.0
    );
    promtool(&ta);
    let st = status(&lab, "a");
    let s1 = status_inst(&st, "VI_1");
    assert_eq!(s1["priority"], 90, "{s1:#}");
    assert_eq!(s1["scripts"][0]["name"], "chk", "{s1:#}");
    assert_eq!(s1["scripts"][0]["healthy"], false, "{s1:#}");
    // Healthy again: back to 150, a preempts.
    std::fs::remove_file(&flag).unwrap();
    let ta = wait_metrics(&lab, "a", "priority 150 again", 3 * S, |t| {
        value(t, "vrrp_instance_priority", vi1) == Some(150.0)
    });
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
}

#[test]
fn metrics_after_reloads() {
    let Elected {
        lab,
        pa,
        scripts,
        a1,
        ..
    } = elected("obrl");
    let (vi1, vi2) = (VI1, VI2);
    // --- Reload: VI_2 added, its series appear.
    let a2 = inst("VI_2", 34, 150, "", "10.99.0.34/24");
    lab.file("a.yaml", &cfg(&scripts, &[a1.clone(), a2]));
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "VI_2 master with its VIP", 3 * S, |t| {
        value(
            t,
            "vrrp_vip_present",
            &with(vi2, &[("address", "10.99.0.34")]),
        ) == Some(1.0)
    });
    assert_eq!(
        get(&ta, "vipd_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        get(&ta, "vipd_config_reloads_total", &[("result", "failure")]),
        0.0
    );
    assert!(
        get(
            &ta,
            "vipd_config_last_reload_success_timestamp_seconds",
            &[]
        ) > 1.6e9
    );
    assert_state(&ta, vi2, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi2), 150.0);
    assert_state(&ta, vi1, "master");
    promtool(&ta);

    // A broken config is counted as a failure and changes nothing.
    lab.file(
        "a.yaml",
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 300\n",
    );
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "failed reload counted", 3 * S, |t| {
        value(t, "vipd_config_reloads_total", &[("result", "failure")]) == Some(1.0)
    });
    assert_eq!(
        get(&ta, "vipd_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_state(&ta, vi2, "master");

    // VI_2 removed: every series with vr="VI_2" disappears; VI_1 and the script stay.
    lab.file("a.yaml", &cfg(&scripts, std::slice::from_ref(&a1)));
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "second successful reload", 3 * S, |t| {
        value(t, "vipd_config_reloads_total", &[("result", "success")]) == Some(2.0)
    });
    let left: Vec<&str> = ta.lines().filter(|l| l.contains("vr=\"VI_2\"")).collect();
    assert!(
        left.is_empty(),
        "series of the removed VI_2 remain: {left:#?}"
    );
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    assert!(!lab.has_addr("a", "10.99.0.34"));
    promtool(&ta);

    // The script removed (VI_1 updated in place, no longer tracking it): its series go.
    lab.file(
        "a.yaml",
        &cfg("", &[a1.replace("    track_scripts: [chk]\n", "")]),
    );
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "third successful reload", 3 * S, |t| {
        value(t, "vipd_config_reloads_total", &[("result", "success")]) == Some(3.0)
    });
    let left: Vec<&str> = ta
        .lines()
        .filter(|l| l.contains("script=\"chk\""))
        .collect();
    assert!(
        left.is_empty(),
        "series of the removed script remain: {left:#?}"
    );
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi1), 150.0);
    lab.hold_steady(&HOSTS, VIP, "a", Duration::from_millis(200));
}

/// The exposition parser the lab tests rely on (no root needed).
#[test]
fn exposition_parser() {
    let t = "# HELP x y\n\
             plain 3\n\
             m{vr=\"VI_1\",group=\"10.99.0.1,10.99.0.2\",q=\"a\\\"b\\\\c\"} 1.5\n\
             h_bucket{script=\"chk\",le=\"+Inf\"} 7\n\
             g{a=\"1\"} 0.0 1700000000000\n";
    assert_eq!(value(t, "plain", &[]), Some(3.0));
    assert_eq!(
        value(
            t,
            "m",
            &[("group", "10.99.0.1,10.99.0.2"), ("q", "a\"b\\c")]
        ),
        Some(1.5)
    );
    assert_eq!(value(t, "m", &[("vr", "VI_2")]), None);
    assert_eq!(value(t, "h_bucket", &[("le", "+Inf")]), Some(7.0));
    assert_eq!(value(t, "g", &[("a", "1")]), Some(0.0));
    assert_eq!(value(t, "pla", &[]), None);
}

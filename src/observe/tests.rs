use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::http::{accepts_gzip, wants_openmetrics};
use super::process::{Scheduling, parse_btime, parse_max_fds, parse_scheduling, parse_stat};
use super::*;

const L: &str = r#"vr="VI_1""#;
/// The info series of `labels()`: the only one with the other instance labels.
const INFO: &str = r#"vrrp_instance_info{vr="VI_1",vrid="13",interface="eth0",family="ipv4",group="g",version="3"} 1"#;
const L2: &str = r#"vr="VI_2""#;

fn labels() -> InstanceLabels {
    InstanceLabels::new("VI_1", 13, "eth0", crate::config::model::Family::Ipv4, "g")
}

fn labels2() -> InstanceLabels {
    InstanceLabels {
        vr: "VI_2".into(),
        vrid: 14,
        interface: "eth1".into(),
        family: "ipv6".into(),
        group: String::new(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[track_caller]
fn has_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line {line:?} in:\n{text}"
    );
}

#[track_caller]
fn lacks(text: &str, needle: &str) {
    assert!(!text.contains(needle), "unexpected {needle:?} in:\n{text}");
}

/// Every sample line (not a comment) carrying the given label text.
fn samples_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(needle))
        .collect()
}

#[test]
fn counters_and_gauges_in_both_formats() {
    let m = Metrics::new("0.1.0", "abc123");
    let i = m.instance(&labels());
    i.advert_sent(100);
    i.advert_sent(0);
    i.advert_received(0);
    i.advert_received(200);
    i.advert_received(200);
    i.dropped(DropReason::Ttl);
    i.dropped(DropReason::Checksum);
    i.dropped(DropReason::Checksum);
    i.address_list_mismatch();
    i.announced(false, 5);
    i.announced(true, 2);
    i.set_priority(90, 100);
    i.set_master_priority(200);
    i.set_intervals(Duration::from_secs(1), Duration::from_millis(1500));
    assert_eq!(i.send_error(), 1);
    assert_eq!(i.send_error(), 2);
    i.set_masters_observed(2);
    i.transition(State::Init, State::Backup, 1_700_000_000.5, None);
    i.transition(
        State::Backup,
        State::Master,
        1_700_000_010.25,
        Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
    );
    i.set_vip_present(ip("192.0.2.1"), true);
    i.set_vip_present(ip("192.0.2.2"), false);
    i.set_track_interface("eth9", false);
    i.filtered(ip("192.0.2.66"));
    i.filtered(ip("192.0.2.66"));
    let p = i.peer(ip("192.0.2.20"));
    p.advert(200, 1_700_000_005.0, ChecksumForm::PseudoHeader, true);
    p.advert(150, 1_700_000_006.0, ChecksumForm::MessageOnly, false);
    p.became_master();
    m.config_reload(true, 1_700_000_100.0);
    m.config_reload(false, 1_700_000_200.0);
    let s = m.script("chk_nginx");
    s.run("success", Duration::from_millis(30));
    s.run("timeout", Duration::from_secs(5));
    s.run("weird", Duration::from_millis(1));
    s.set_healthy(true);

    for om in [false, true] {
        let t = m.encode(om);
        has_line(&t, &format!("vrrp_adverts_sent_total{{{L}}} 2"));
        has_line(&t, &format!("vrrp_adverts_received_total{{{L}}} 3"));
        has_line(&t, &format!("vrrp_priority_zero_sent_total{{{L}}} 1"));
        has_line(&t, &format!("vrrp_priority_zero_received_total{{{L}}} 1"));
        has_line(
            &t,
            &format!("vrrp_adverts_dropped_total{{{L},reason=\"ttl\"}} 1"),
        );
        has_line(
            &t,
            &format!("vrrp_adverts_dropped_total{{{L},reason=\"checksum\"}} 2"),
        );
        lacks(&t, "reason=\"version\"");
        lacks(&t, "vrrp_address_list_mismatch_total");
        has_line(&t, INFO);
        has_line(
            &t,
            &format!("vrrp_address_announcements_total{{{L},kind=\"garp\"}} 5"),
        );
        has_line(
            &t,
            &format!("vrrp_address_announcements_total{{{L},kind=\"na\"}} 2"),
        );
        has_line(&t, &format!("vrrp_instance_priority{{{L}}} 90"));
        has_line(&t, &format!("vrrp_instance_base_priority{{{L}}} 100"));
        has_line(&t, &format!("vrrp_instance_master_priority{{{L}}} 200"));
        has_line(
            &t,
            &format!("vrrp_instance_advert_interval_seconds{{{L}}} 1.0"),
        );
        has_line(
            &t,
            &format!("vrrp_instance_master_advert_interval_seconds{{{L}}} 1.5"),
        );
        has_line(&t, &format!("vrrp_advert_send_errors_total{{{L}}} 2"));
        lacks(&t, "vrrp_instance_master_down_interval_seconds");
        has_line(&t, &format!("vrrp_masters_observed{{{L}}} 2"));
        has_line(
            &t,
            &format!("vrrp_instance_state{{{L},state=\"master\"}} 1"),
        );
        has_line(
            &t,
            &format!("vrrp_instance_state{{{L},state=\"backup\"}} 0"),
        );
        has_line(&t, &format!("vrrp_instance_state{{{L},state=\"init\"}} 0"));
        has_line(
            &t,
            &format!("vrrp_instance_transitions_total{{{L},from=\"init\",to=\"backup\"}} 1"),
        );
        // OpenMetrics carries the trace id of the transition as an exemplar; the classic
        // format has no exemplars.
        let backup_master =
            format!("vrrp_instance_transitions_total{{{L},from=\"backup\",to=\"master\"}} 1");
        if om {
            has_line(
                &t,
                &format!("{backup_master} # {{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}} 1.0"),
            );
        } else {
            has_line(&t, &backup_master);
        }
        has_line(
            &t,
            &format!("vrrp_instance_last_transition_timestamp_seconds{{{L}}} 1700000010.25"),
        );
        has_line(
            &t,
            &format!("vrrp_vip_present{{{L},address=\"192.0.2.1\"}} 1"),
        );
        has_line(
            &t,
            &format!("vrrp_vip_present{{{L},address=\"192.0.2.2\"}} 0"),
        );
        has_line(
            &t,
            &format!("vrrp_track_interface_up{{{L},track_interface=\"eth9\"}} 0"),
        );
        has_line(
            &t,
            &format!("vrrp_adverts_filtered_total{{{L},peer=\"192.0.2.66\"}} 2"),
        );
        lacks(&t, "vrrp_peer_adverts_received_total");
        has_line(
            &t,
            &format!("vrrp_peer_master_total{{{L},peer=\"192.0.2.20\"}} 2"),
        );
        has_line(
            &t,
            &format!("vrrp_peer_priority{{{L},peer=\"192.0.2.20\"}} 150"),
        );
        has_line(
            &t,
            &format!(
                "vrrp_peer_last_advert_timestamp_seconds{{{L},peer=\"192.0.2.20\"}} 1700000006.0"
            ),
        );
        has_line(
            &t,
            &format!("vrrp_peer_checksum_form{{{L},peer=\"192.0.2.20\",form=\"rfc9568\"}} 1"),
        );
        // Only the peer's current form has a series.
        lacks(&t, "form=\"pseudo_header\"");
        has_line(&t, r#"vipd_config_reloads_total{result="success"} 1"#);
        has_line(&t, r#"vipd_config_reloads_total{result="failure"} 1"#);
        has_line(
            &t,
            "vipd_config_last_reload_success_timestamp_seconds 1700000100.0",
        );
        has_line(
            &t,
            r#"vrrp_script_runs_total{script="chk_nginx",result="success"} 1"#,
        );
        has_line(
            &t,
            r#"vrrp_script_runs_total{script="chk_nginx",result="timeout"} 1"#,
        );
        has_line(
            &t,
            r#"vrrp_script_runs_total{script="chk_nginx",result="error"} 1"#,
        );
        has_line(
            &t,
            r#"vrrp_script_runs_total{script="chk_nginx",result="failure"} 0"#,
        );
        has_line(&t, r#"vrrp_script_healthy{script="chk_nginx"} 1"#);
        has_line(
            &t,
            r#"vrrp_script_duration_seconds_count{script="chk_nginx"} 3"#,
        );
        // The OpenMetrics encoder writes `le` first, the classic one last.
        has_line(
            &t,
            if om {
                r#"vrrp_script_duration_seconds_bucket{le="0.05",script="chk_nginx"} 2"#
            } else {
                r#"vrrp_script_duration_seconds_bucket{script="chk_nginx",le="0.05"} 2"#
            },
        );
        has_line(
            &t,
            &format!(
                r#"vipd_build_info{{version="0.1.0",revision="abc123",rustversion="{}"}} 1"#,
                super::RUSTC_VERSION
            ),
        );
        assert!(t.contains("\nprocess_cpu_seconds_total "), "{t}");
        assert!(t.contains("\nprocess_open_fds "), "{t}");
        assert!(t.contains("\nprocess_resident_memory_bytes "), "{t}");
        assert!(t.contains("\nprocess_start_time_seconds "), "{t}");
        lacks(&t, "instance=");
        lacks(&t, "_total_total");
        if om {
            assert!(t.ends_with("# EOF\n"), "{t}");
            has_line(&t, "# TYPE vrrp_adverts_sent counter");
            has_line(&t, "# TYPE vipd_build info");
        } else {
            lacks(&t, "# EOF");
            has_line(&t, "# TYPE vrrp_adverts_sent_total counter");
            has_line(&t, "# TYPE vipd_build_info gauge");
            has_line(&t, "# TYPE process_cpu_seconds_total counter");
        }
    }
}

#[test]
fn the_series_an_instance_has_from_creation() {
    let m = Metrics::new("v", "r");
    let _i = m.instance(&labels());
    let t = m.encode(false);
    // The info series carries the instance labels; every other series only `vr`.
    has_line(&t, INFO);
    for s in State::ALL {
        let v = if s == State::Init { 1 } else { 0 };
        has_line(
            &t,
            &format!("vrrp_instance_state{{{L},state=\"{}\"}} {v}", s.as_str()),
        );
    }
    assert_eq!(samples_with(&t, "vrrp_instance_state{").len(), 5);
    // Only the takeover exists at 0; no drop reason before the first drop, no send error
    // before the first.
    has_line(
        &t,
        &format!("vrrp_instance_transitions_total{{{L},from=\"backup\",to=\"master\"}} 0"),
    );
    assert_eq!(
        samples_with(&t, "vrrp_instance_transitions_total{").len(),
        1
    );
    lacks(&t, "vrrp_adverts_dropped_total{");
    lacks(&t, "vrrp_advert_send_errors_total");
    lacks(&t, "vrrp_address_list_mismatch_total");
    has_line(
        &t,
        &format!("vrrp_address_announcements_total{{{L},kind=\"garp\"}} 0"),
    );
    lacks(&t, "kind=\"na\"");
    lacks(&t, "vrrp_adverts_first_address_not_link_local_total{");
    let names = [
        "vrrp_adverts_sent_total",
        "vrrp_adverts_received_total",
        "vrrp_priority_zero_sent_total",
        "vrrp_priority_zero_received_total",
        "vrrp_vip_restored_total",
        "vrrp_instance_priority",
        "vrrp_instance_base_priority",
        "vrrp_instance_master_priority",
        "vrrp_masters_observed",
        "vrrp_instance_drained",
    ];
    for name in names {
        has_line(&t, &format!("{name}{{{L}}} 0"));
    }
    for name in [
        "vrrp_instance_last_transition_timestamp_seconds",
        "vrrp_instance_advert_interval_seconds",
        "vrrp_instance_master_advert_interval_seconds",
    ] {
        has_line(&t, &format!("{name}{{{L}}} 0.0"));
    }
    // 1 info + 5 states + 1 transition + 1 announcement kind + the 13 above: the count
    // docs/metrics.md gives ("Series per instance") for an instance without address or peer.
    assert_eq!(
        samples_with(&t, "vr=\"VI_1\"").len(),
        1 + 5 + 1 + 1 + names.len() + 3
    );
    assert_eq!(samples_with(&t, "vr=\"VI_1\"").len(), 21);
    // No other series of the instance has vrid, interface, family or group.
    for l in samples_with(&t, "vr=\"VI_1\"") {
        assert!(
            l.starts_with("vrrp_instance_info{") || !l.contains("vrid="),
            "{l}"
        );
    }
    has_line(&t, r#"vipd_config_reloads_total{result="success"} 0"#);
    has_line(&t, r#"vipd_config_reloads_total{result="failure"} 0"#);
    has_line(&t, "vipd_config_last_reload_successful 0");
}

#[test]
fn v2_and_ipv6_instances_have_their_own_series_and_the_unexpected_ones_appear_on_use() {
    let m = Metrics::new("v", "r");
    let v2 = m.instance_of(&labels(), crate::packet::Version::V2);
    let v6 = m.instance(&labels2());
    let t = m.encode(false);
    has_line(&t, &INFO.replace("version=\"3\"", "version=\"2\""));
    has_line(
        &t,
        r#"vrrp_instance_info{vr="VI_2",vrid="14",interface="eth1",family="ipv6",group="",version="3"} 1"#,
    );
    lacks(&t, "vrrp_adverts_dropped_total{");
    has_line(
        &t,
        &format!("vrrp_address_announcements_total{{{L2},kind=\"na\"}} 0"),
    );
    lacks(&t, &format!("{{{L2},kind=\"garp\"}}"));
    has_line(
        &t,
        &format!("vrrp_adverts_first_address_not_link_local_total{{{L2}}} 0"),
    );
    // A drop reason's series appears at its first drop, with the count, also in /status.
    v2.dropped(DropReason::AuthFailure);
    v2.dropped(DropReason::Vrid);
    v2.dropped(DropReason::Vrid);
    v6.dropped(DropReason::AuthType);
    v6.announced(false, 3);
    v2.first_address_not_link_local();
    let t = m.encode(false);
    has_line(
        &t,
        &format!("vrrp_adverts_dropped_total{{{L},reason=\"auth_failure\"}} 1"),
    );
    has_line(
        &t,
        &format!("vrrp_adverts_dropped_total{{{L},reason=\"vrid\"}} 2"),
    );
    has_line(
        &t,
        &format!("vrrp_adverts_dropped_total{{{L2},reason=\"auth_type\"}} 1"),
    );
    assert_eq!(samples_with(&t, "vrrp_adverts_dropped_total{").len(), 3);
    has_line(
        &t,
        &format!("vrrp_address_announcements_total{{{L2},kind=\"garp\"}} 3"),
    );
    has_line(
        &t,
        &format!("vrrp_adverts_first_address_not_link_local_total{{{L}}} 1"),
    );
    assert_eq!(v2.counters().dropped.get("vrid"), Some(&2));
    assert_eq!(v2.counters().dropped.get("auth_failure"), Some(&1));
    assert_eq!(v2.counters().dropped.len(), 2);
    // And they go with the instance.
    m.remove_instance(&labels());
    m.remove_instance(&labels2());
    let t = m.encode(false);
    lacks(&t, "VI_1");
    lacks(&t, "VI_2");
    v2.dropped(DropReason::Vrid);
    lacks(&m.encode(false), "VI_1");
}

#[test]
fn an_instance_whose_labels_change_under_the_same_name_replaces_the_old_one() {
    let m = Metrics::new("v", "r");
    let old = m.instance(&labels());
    old.advert_sent(100);
    old.dropped(DropReason::Ttl);
    let mut moved = labels();
    moved.vrid = 99;
    // A reload gave VI_1 another VRID: the new instance is added before the old is removed.
    let new = m.instance(&moved);
    m.remove_instance(&labels());
    let t = m.encode(false);
    has_line(&t, &INFO.replace("vrid=\"13\"", "vrid=\"99\""));
    lacks(&t, "vrid=\"13\"");
    has_line(&t, &format!("vrrp_adverts_sent_total{{{L}}} 0"));
    lacks(&t, "vrrp_adverts_dropped_total{");
    assert_eq!(samples_with(&t, "vrrp_instance_state{").len(), 5);
    // The old handles no longer export anything; the new ones do.
    old.advert_sent(100);
    old.dropped(DropReason::Ttl);
    new.advert_sent(100);
    let t = m.encode(false);
    has_line(&t, &format!("vrrp_adverts_sent_total{{{L}}} 1"));
    lacks(&t, "vrrp_adverts_dropped_total{");
    // The same labels again return the same series.
    m.instance(&moved).advert_sent(100);
    has_line(
        &m.encode(false),
        &format!("vrrp_adverts_sent_total{{{L}}} 2"),
    );
}

#[test]
fn start_up_load_sets_success_and_timestamp_without_counting_a_reload() {
    let m = Metrics::new("v", "r");
    m.config_loaded(1_700_000_000.0);
    let t = m.encode(false);
    has_line(&t, "vipd_config_last_reload_successful 1");
    has_line(
        &t,
        "vipd_config_last_reload_success_timestamp_seconds 1700000000.0",
    );
    has_line(&t, r#"vipd_config_reloads_total{result="success"} 0"#);
    // A rejected reload keeps the timestamp of the last good load and clears the flag.
    m.config_reload(false, 1_700_000_100.0);
    let t = m.encode(false);
    has_line(&t, "vipd_config_last_reload_successful 0");
    has_line(
        &t,
        "vipd_config_last_reload_success_timestamp_seconds 1700000000.0",
    );
    m.config_reload(true, 1_700_000_200.0);
    let t = m.encode(false);
    has_line(&t, "vipd_config_last_reload_successful 1");
    has_line(
        &t,
        "vipd_config_last_reload_success_timestamp_seconds 1700000200.0",
    );
}

#[test]
fn build_info_names_a_rust_version() {
    // build.rs runs `rustc --version`; the bare number ("1.89.0") is exported.
    assert!(
        super::RUSTC_VERSION
            .split('.')
            .take(2)
            .all(|p| p.parse::<u32>().is_ok()),
        "{}",
        super::RUSTC_VERSION
    );
}

#[test]
fn remove_instance_removes_every_series_and_stale_handles_do_not_resurrect() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    let other = m.instance(&labels2());
    i.transition(State::Init, State::Master, 1.0, None);
    i.set_vip_present(ip("192.0.2.1"), true);
    i.set_track_interface("eth9", true);
    i.filtered(ip("192.0.2.66"));
    i.peer(ip("192.0.2.20"))
        .advert(1, 1.0, ChecksumForm::PseudoHeader, true);
    i.peer(ip("2001:db8::1"))
        .advert(1, 1.0, ChecksumForm::MessageOnly, false);
    other.advert_sent(1);
    other
        .peer(ip("192.0.2.30"))
        .advert(1, 1.0, ChecksumForm::PseudoHeader, false);
    assert!(samples_with(&m.encode(false), L).len() > 30);

    m.remove_instance(&labels());
    for om in [false, true] {
        let t = m.encode(om);
        assert_eq!(samples_with(&t, L), Vec::<&str>::new());
        lacks(&t, "VI_1");
        // The other instance is untouched.
        has_line(&t, &format!("vrrp_adverts_sent_total{{{L2}}} 1"));
        has_line(
            &t,
            &format!("vrrp_peer_priority{{{L2},peer=\"192.0.2.30\"}} 1"),
        );
    }

    // Stale handles keep working without exporting anything.
    i.advert_sent(1);
    i.dropped(DropReason::Vrid);
    i.transition(State::Master, State::Backup, 2.0, None);
    i.set_vip_present(ip("192.0.2.1"), false);
    i.set_track_interface("eth9", false);
    i.filtered(ip("192.0.2.66"));
    i.peer(ip("192.0.2.99"))
        .advert(1, 1.0, ChecksumForm::PseudoHeader, true);
    lacks(&m.encode(false), "VI_1");

    // The same labels again start from zero.
    let again = m.instance(&labels());
    let t = m.encode(false);
    has_line(&t, &format!("vrrp_adverts_sent_total{{{L}}} 0"));
    has_line(&t, &format!("vrrp_instance_state{{{L},state=\"init\"}} 1"));
    again.advert_sent(1);
    has_line(
        &m.encode(false),
        &format!("vrrp_adverts_sent_total{{{L}}} 1"),
    );
    // Removing an unknown instance is a no-op.
    m.remove_instance(&InstanceLabels {
        vr: "nope".into(),
        ..labels()
    });
}

#[test]
fn instance_twice_shares_series() {
    let m = Metrics::new("v", "r");
    let a = m.instance(&labels());
    let b = m.instance(&labels());
    a.advert_sent(1);
    b.advert_sent(1);
    has_line(
        &m.encode(false),
        &format!("vrrp_adverts_sent_total{{{L}}} 2"),
    );
}

#[test]
fn peers_are_bounded_and_least_recently_heard_is_evicted() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    for n in 0..MAX_PEERS {
        let peer = ip(&format!("10.0.0.{n}"));
        i.peer(peer)
            .advert(1, n as f64, ChecksumForm::PseudoHeader, false);
        i.filtered(peer);
    }
    // 10.0.0.0 is heard again: 10.0.0.1 is now the least recent.
    i.peer(ip("10.0.0.0"));
    i.filtered(ip("10.0.0.0"));
    i.peer(ip("10.0.1.1"));
    i.filtered(ip("10.0.1.1"));
    let t = m.encode(false);
    assert_eq!(samples_with(&t, "vrrp_peer_priority{").len(), MAX_PEERS);
    assert_eq!(
        samples_with(&t, "vrrp_adverts_filtered_total{").len(),
        MAX_PEERS
    );
    lacks(&t, "peer=\"10.0.0.1\"");
    assert!(t.contains("peer=\"10.0.0.0\""));
    assert!(t.contains("peer=\"10.0.1.1\""));
    // 10.0.1.1 sent no advert yet: no checksum form.
    assert_eq!(
        samples_with(&t, "vrrp_peer_checksum_form{").len(),
        MAX_PEERS - 1
    );

    i.remove_peer(ip("10.0.0.0"));
    let t = m.encode(false);
    lacks(&t, "vrrp_peer_priority{vr=\"VI_1\",peer=\"10.0.0.0\"}");
    assert_eq!(
        samples_with(&t, "vrrp_peer_master_total{").len(),
        MAX_PEERS - 1
    );
}

#[test]
fn peer_config_mismatch_appears_at_first_counts_by_reason_and_goes_with_the_peer() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    let p = i.peer(ip("192.0.2.20"));
    let series = |reason: &str| {
        format!("vrrp_peer_config_mismatch_total{{{L},peer=\"192.0.2.20\",reason=\"{reason}\"}}")
    };
    lacks(&m.encode(false), "vrrp_peer_config_mismatch_total");

    p.config_mismatch("interval");
    p.config_mismatch("interval");
    p.config_mismatch("auth_failure");
    // Noise is not a disagreement: no series, no count.
    p.config_mismatch("checksum");
    p.config_mismatch("ttl");
    // A later handle on the same peer shares the series.
    i.peer(ip("192.0.2.20")).config_mismatch("version");
    for om in [false, true] {
        let t = m.encode(om);
        has_line(&t, &format!("{} 2", series("interval")));
        has_line(&t, &format!("{} 1", series("auth_failure")));
        has_line(&t, &format!("{} 1", series("version")));
        let help = if om { "" } else { "_total" };
        has_line(
            &t,
            &format!(
                "# HELP vrrp_peer_config_mismatch{help} Adverts from this peer dropped because they disagree with our configuration, by reason (address_list ones are counted but still used)."
            ),
        );
        lacks(&t, &series("auth_type"));
        lacks(&t, &series("address_list"));
        let mismatch = samples_with(&t, "vrrp_peer_config_mismatch_total{");
        assert_eq!(mismatch.len(), 3, "{mismatch:?}");
        assert!(
            !mismatch
                .iter()
                .any(|l| l.contains("checksum") || l.contains("ttl")),
            "{mismatch:?}"
        );
    }
    // Not in the instance's drops either (a different family, counted by the caller).
    lacks(&m.encode(false), "vrrp_adverts_dropped_total{");

    // Removed with the peer ...
    i.remove_peer(ip("192.0.2.20"));
    lacks(&m.encode(false), "vrrp_peer_config_mismatch_total{");
    p.config_mismatch("interval");
    lacks(&m.encode(false), "vrrp_peer_config_mismatch_total{");
    // ... when evicted ...
    for n in 0..=MAX_PEERS {
        i.peer(ip(&format!("10.0.0.{n}")))
            .config_mismatch("interval");
    }
    let t = m.encode(false);
    assert_eq!(
        samples_with(&t, "vrrp_peer_config_mismatch_total{").len(),
        MAX_PEERS
    );
    lacks(&t, "peer=\"10.0.0.0\"");
    // ... and with the instance; a stale handle re-creates nothing.
    let q = i.peer(ip("10.0.0.5"));
    m.remove_instance(&labels());
    q.config_mismatch("auth_type");
    q.advert(1, 1.0, ChecksumForm::MessageOnly, false);
    i.peer(ip("10.0.0.77")).config_mismatch("interval");
    lacks(&m.encode(false), "vrrp_peer_");
}

#[test]
fn a_peer_has_the_checksum_form_series_of_its_last_advert_only() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    let p = i.peer(ip("192.0.2.20"));
    let form =
        |f: &str| format!("vrrp_peer_checksum_form{{{L},peer=\"192.0.2.20\",form=\"{f}\"}} 1");
    lacks(&m.encode(false), "vrrp_peer_checksum_form{");
    p.advert(1, 1.0, ChecksumForm::PseudoHeader, false);
    p.advert(1, 2.0, ChecksumForm::PseudoHeader, false);
    let t = m.encode(false);
    has_line(&t, &form("pseudo_header"));
    assert_eq!(samples_with(&t, "vrrp_peer_checksum_form{").len(), 1);
    p.advert(1, 3.0, ChecksumForm::MessageOnly, false);
    let t = m.encode(false);
    has_line(&t, &form("rfc9568"));
    assert_eq!(samples_with(&t, "vrrp_peer_checksum_form{").len(), 1);
    i.with_peer(ip("192.0.2.20"), |p| {
        p.advert(1, 4.0, ChecksumForm::PseudoHeader, false)
    });
    let t = m.encode(false);
    has_line(&t, &form("pseudo_header"));
    assert_eq!(samples_with(&t, "vrrp_peer_checksum_form{").len(), 1);
    i.remove_peer(ip("192.0.2.20"));
    lacks(&m.encode(false), "vrrp_peer_checksum_form{");
}

#[test]
fn filtered_source_exists_at_zero_idempotent_and_bounded() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    let series = |peer: &str| format!("vrrp_adverts_filtered_total{{{L},peer=\"{peer}\"}}");
    lacks(&m.encode(false), "vrrp_adverts_filtered_total{");
    i.filtered_source(ip("192.0.2.66"));
    has_line(&m.encode(false), &format!("{} 0", series("192.0.2.66")));
    i.filtered_source(ip("192.0.2.66"));
    assert_eq!(
        samples_with(&m.encode(false), "vrrp_adverts_filtered_total{").len(),
        1
    );
    i.filtered(ip("192.0.2.66"));
    i.filtered(ip("192.0.2.66"));
    // Seeing the source again keeps its count.
    i.filtered_source(ip("192.0.2.66"));
    has_line(&m.encode(true), &format!("{} 2", series("192.0.2.66")));

    // Bounded like filtered(): the least recently heard source is evicted.
    for n in 0..MAX_PEERS {
        i.filtered_source(ip(&format!("10.0.0.{n}")));
    }
    let t = m.encode(false);
    assert_eq!(
        samples_with(&t, "vrrp_adverts_filtered_total{").len(),
        MAX_PEERS
    );
    lacks(&t, "peer=\"192.0.2.66\"");
    has_line(&t, &format!("{} 0", series("10.0.0.31")));

    // Gone with the instance; the stale handle re-creates nothing.
    m.remove_instance(&labels());
    i.filtered_source(ip("192.0.2.67"));
    lacks(&m.encode(false), "vrrp_adverts_filtered_total{");
}

#[test]
fn remove_vip_and_script() {
    let m = Metrics::new("v", "r");
    let i = m.instance(&labels());
    i.set_vip_present(ip("192.0.2.1"), true);
    i.remove_vip(ip("192.0.2.1"));
    lacks(&m.encode(false), "vrrp_vip_present{");
    let s = m.script("chk");
    s.run("failure", Duration::from_millis(2));
    m.remove_script("chk");
    lacks(&m.encode(true), "chk");
}

#[test]
fn proc_parsers() {
    let stat = "1234 (vi pd) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2 0 5000 123456789 321 18446744073709551615";
    let s = parse_stat(stat).unwrap();
    assert_eq!(s.cpu_ticks, 10);
    assert_eq!(s.start_ticks, 5000);
    assert_eq!(s.vsize_bytes, 123456789);
    assert_eq!(s.rss_pages, 321);
    assert_eq!(parse_stat("garbage"), None);
    // Lines read from `chrt -r 10 cat` and `nice -n 5 cat`.
    let rr = "25380 (cat) R 25378 25378 20002 0 -1 4194560 176 0 1 0 0 0 0 0 -11 0 1 0 1158784 3133440 350 18446744073709551615 94606850654208 94606850674089 140726589447008 0 0 0 0 0 0 0 0 0 17 1 10 2 0 0 0 94606850690096 94606850691712 94607730741248 140726589455066 140726589455093 140726589455093 140726589456363 0";
    let rr = parse_scheduling(rr).unwrap();
    assert_eq!(
        rr,
        Scheduling {
            policy: 2,
            rt_priority: 10,
            nice: 0
        }
    );
    assert!(rr.is_realtime());
    assert_eq!(rr.to_string(), "SCHED_RR priority 10");
    let other = "25381 (c a t)) R 25378 25378 20002 0 -1 4194304 183 0 1 0 0 0 0 0 25 5 1 0 1158784 3133440 384 18446744073709551615 94820015239168 94820015259049 140727635667024 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94820015275056 94820015276672 94820825968640 140727635671770 140727635671797 140727635671797 140727635673067 0";
    let other = parse_scheduling(other).unwrap();
    assert!(!other.is_realtime());
    assert_eq!(other.to_string(), "SCHED_OTHER nice 5");
    assert_eq!(parse_scheduling("1 (x) S 1 2"), None);
    assert_eq!(
        parse_btime("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n"),
        Some(1700000000)
    );
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n";
    assert_eq!(parse_max_fds(limits), Some(1024));
    let real = std::fs::read_to_string("/proc/self/stat").unwrap();
    assert!(parse_stat(&real).is_some(), "{real}");
}

#[test]
fn accept_negotiation() {
    use hyper::header::HeaderValue;
    let w = |s: &'static str| wants_openmetrics(Some(&HeaderValue::from_static(s)));
    assert!(!wants_openmetrics(None));
    assert!(!w("*/*"));
    assert!(!w("text/plain"));
    assert!(w("application/openmetrics-text"));
    assert!(w(
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    ));
    // What Prometheus 2.x sends.
    assert!(w(
        "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    ));
    assert!(!w("application/openmetrics-text;q=0.2,text/plain;q=0.9"));
    assert!(!w("application/openmetrics-text;q=0"));
}

#[test]
fn accept_encoding_negotiation() {
    use hyper::header::HeaderValue;
    let g = |vs: &[&'static str]| {
        let vs: Vec<HeaderValue> = vs.iter().map(|v| HeaderValue::from_static(v)).collect();
        accepts_gzip(&vs)
    };
    assert!(!g(&[]));
    assert!(g(&["gzip"]));
    // What Prometheus sends (Go's net/http transport).
    assert!(g(&["gzip"]));
    assert!(g(&["gzip, deflate, br"]));
    assert!(g(&["deflate", "GZip;q=0.5"]));
    assert!(g(&["x-gzip"]));
    assert!(g(&["*"]));
    assert!(!g(&["identity"]));
    assert!(!g(&["br, deflate"]));
    assert!(!g(&["gzip;q=0"]));
    assert!(!g(&["gzip;q=0, *"]));
    assert!(!g(&["*;q=0"]));
    assert!(g(&["*;q=0, gzip"]));
}

/// The compressed body decompresses to the same exposition as the plain one.
#[test]
fn encode_gzip_is_the_text_compressed() {
    use std::io::Read as _;
    let m = Metrics::new("0.1.0", "abc");
    for n in 0..40u8 {
        let l = InstanceLabels::new(
            format!("VI_{n}"),
            n + 1,
            "eth0",
            crate::config::model::Family::Ipv4,
            "10.0.0.1",
        );
        m.instance(&l).advert_sent(100);
    }
    for om in [false, true] {
        let gz = m.encode_gzip(om);
        assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        // The process metrics (CPU time, RSS) may change between two encodes: compare the rest.
        let stable = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("process_"))
                .map(str::to_owned)
                .collect()
        };
        let plain = m.encode(om);
        assert_eq!(stable(&text), stable(&plain));
        assert!(
            plain.len() > 40 * 1024,
            "{} bytes: more than one chunk",
            plain.len()
        );
        assert!(
            gz.len() * 4 < plain.len(),
            "{} of {}",
            gz.len(),
            plain.len()
        );
    }
}

/// `promtool check metrics` on a realistic classic-format scrape must print nothing.
#[test]
fn promtool_check_metrics_is_clean() {
    let m = Metrics::new("0.1.0", "deadbeef");
    let i = m.instance(&labels());
    i.transition(State::Init, State::Backup, 1.0, None);
    i.set_vip_present(ip("192.0.2.1"), false);
    i.set_track_interface("eth9", true);
    i.filtered(ip("192.0.2.66"));
    i.filtered_source(ip("192.0.2.67"));
    let p = i.peer(ip("192.0.2.20"));
    p.advert(200, 1.0, ChecksumForm::PseudoHeader, true);
    p.config_mismatch("interval");
    m.script("chk").run("success", Duration::from_millis(3));
    m.config_reload(true, 1.0);
    m.http_request("/metrics", 200);
    let text = m.encode(false);

    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool not runnable ({e}): install it (Debian package `prometheus`: apt-get install -y prometheus)"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics complained:\n{report}\non:\n{text}"
    );
}

async fn request(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("response within 5 s")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
}

#[tokio::test]
async fn http_endpoints() {
    let m = Metrics::new("0.1.0", "abc");
    let i = m.instance(&labels());
    i.advert_sent(1);
    let (status_tx, mut status_rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<serde_json::Value>>(4);
    // A fake engine answering /status.
    tokio::spawn(async move {
        while let Some(reply) = status_rx.recv().await {
            let _ =
                reply.send(serde_json::json!({"instances": [{"name": "VI_1", "state": "master"}]}));
        }
    });
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, m.clone(), status_tx));

    let r = request(addr, &get("/metrics", "")).await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{r}"
    );
    assert!(
        r.contains(&format!("\nvrrp_adverts_sent_total{{{L}}} 1\n")),
        "{r}"
    );
    assert!(!r.contains("# EOF"), "{r}");

    let r = request(
        addr,
        &get(
            "/metrics",
            "Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3\r\n",
        ),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"),
        "{r}"
    );
    assert!(r.ends_with("# EOF\n"), "{r}");

    let r = request(addr, &get("/status", "")).await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("content-type: application/json\r\n"), "{r}");
    let body = &r[r.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["instances"][0]["state"], "master");

    let r = request(addr, &get("/healthz", "")).await;
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\nok\n"),
        "{r}"
    );

    let r = request(
        addr,
        "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n"),
        "{r}"
    );

    let r = request(addr, &get("/", "")).await;
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("href=\"metrics\"") && r.contains("href=\"status\""),
        "{r}"
    );

    let r = request(addr, &get("/nope?x=1", "")).await;
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");

    let r = request(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    assert!(r.contains("allow: GET, HEAD\r\n"), "{r}");

    let r = request(addr, "THIS IS NOT HTTP\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    let r = request(addr, "GET / HTTP/1.1\r\nBad Header Line\r\n\r\n").await;
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");

    // Still serving, and every request was counted with bounded labels.
    let r = request(addr, &get("/metrics", "")).await;
    assert!(
        r.contains("\nvipd_http_requests_total{path=\"/metrics\",code=\"200\"} 2\n"),
        "{r}"
    );
    assert!(
        r.contains("\nvipd_http_requests_total{path=\"/status\",code=\"200\"} 1\n"),
        "{r}"
    );
    assert!(
        r.contains("\nvipd_http_requests_total{path=\"other\",code=\"404\"} 1\n"),
        "{r}"
    );
    assert!(
        r.contains("\nvipd_http_requests_total{path=\"/metrics\",code=\"405\"} 1\n"),
        "{r}"
    );
    assert!(
        r.contains("\nvipd_http_requests_total{path=\"other\",code=\"400\"} 2\n"),
        "{r}"
    );
    assert!(!r.contains("nope"), "{r}");
}

async fn request_bytes(addr: std::net::SocketAddr, raw: &str) -> (String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("response within 5 s")
        .unwrap();
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4;
    let body = out.split_off(end);
    (String::from_utf8(out).unwrap().to_ascii_lowercase(), body)
}

/// `/metrics` over TCP: gzip exactly when the request allows it, `Vary` always.
#[tokio::test]
async fn metrics_gzip_negotiation() {
    use std::io::Read as _;
    let m = Metrics::new("0.1.0", "abc");
    m.instance(&labels()).advert_sent(1);
    let (status_tx, _status_rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<serde_json::Value>>(4);
    let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, m.clone(), status_tx));
    let sent = format!("\nvrrp_adverts_sent_total{{{L}}} 1\n");

    for (accept_encoding, gzip) in [
        ("", false),
        ("Accept-Encoding: gzip\r\n", true),
        ("Accept-Encoding: deflate, gzip;q=0.8\r\n", true),
        ("Accept-Encoding: *\r\n", true),
        ("Accept-Encoding: identity\r\n", false),
        ("Accept-Encoding: gzip;q=0\r\n", false),
    ] {
        for om in [false, true] {
            let accept = if om {
                "Accept: application/openmetrics-text;version=1.0.0\r\n"
            } else {
                ""
            };
            let (head, body) = request_bytes(
                addr,
                &get("/metrics", &format!("{accept}{accept_encoding}")),
            )
            .await;
            let what = format!("{accept_encoding:?} {accept:?}: {head}");
            assert!(head.starts_with("http/1.1 200 ok\r\n"), "{what}");
            assert!(
                head.contains("\r\nvary: accept, accept-encoding\r\n"),
                "{what}"
            );
            assert_eq!(
                head.contains("\r\ncontent-encoding: gzip\r\n"),
                gzip,
                "{what}"
            );
            assert!(
                head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
                "{what}"
            );
            let text = if gzip {
                let mut t = String::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_string(&mut t)
                    .unwrap_or_else(|e| panic!("{what}: not gzip: {e}"));
                t
            } else {
                String::from_utf8(body).unwrap()
            };
            assert!(text.contains(&sent), "{what}\n{text}");
            assert_eq!(text.ends_with("# EOF\n"), om, "{what}");
        }
    }
    // HEAD: the same headers, no body.
    let (head, body) = request_bytes(
        addr,
        "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept-Encoding: gzip\r\n\r\n",
    )
    .await;
    assert!(head.contains("\r\ncontent-encoding: gzip\r\n"), "{head}");
    assert!(body.is_empty(), "{} bytes", body.len());
}

#[tokio::test]
async fn status_answers_503_when_the_engine_is_silent_or_gone() {
    let t = Duration::from_millis(100);
    // Nobody answers: the receiver is kept but never read.
    let (status_tx, _status_rx) = tokio::sync::mpsc::channel(1);
    let start = std::time::Instant::now();
    assert_eq!(super::http::status_json_for_test(&status_tx, t).await, 503);
    assert!(start.elapsed() >= t);
    // The engine is gone: 503 at once.
    let (status_tx, status_rx) = tokio::sync::mpsc::channel(1);
    drop(status_rx);
    assert_eq!(
        super::http::status_json_for_test(&status_tx, Duration::from_secs(60)).await,
        503
    );
    assert_eq!(super::http::STATUS_TIMEOUT, Duration::from_secs(2));
}

#[test]
fn build_info_revision_is_the_checkout_head() {
    // build.rs asks git; from a tarball (no git checkout here) it is "unknown".
    let dir = env!("CARGO_MANIFEST_DIR");
    let head = std::process::Command::new("git")
        .args([
            "-C",
            dir,
            "rev-parse",
            "--show-toplevel",
            "--short=12",
            "HEAD",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            let s = String::from_utf8_lossy(&o.stdout).into_owned();
            let mut lines = s.lines();
            let top = std::fs::canonicalize(lines.next()?).ok()?;
            (top == std::fs::canonicalize(dir).ok()?).then(|| lines.next().map(str::to_owned))?
        });
    assert_eq!(super::REVISION, head.as_deref().unwrap_or("unknown"));
}

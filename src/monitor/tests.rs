use serde_json::json;

use super::run::{Iface, Monitor};
use super::*;
use crate::net::Received;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::observe::{Metrics, MonitorVrLabels};
use crate::packet::vrrp::{ChecksumForm, DropReason};
use crate::packet::{Family, Version};
use std::net::Ipv4Addr;

const S: Duration = Duration::from_secs(1);
const PH: ChecksumForm = ChecksumForm::PseudoHeader;
const V3: Version = Version::V3;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

#[test]
fn master_window_is_three_intervals_plus_a_second() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
    assert_eq!(s.masters(t0, 51, Family::Ipv4), vec![(ip(1), 150)]);
    assert_eq!(
        s.masters(t0 + 4 * S, 51, Family::Ipv4),
        vec![(ip(1), 150)],
        "exactly 3 x 1 s + 1 s still counts"
    );
    assert!(
        s.masters(t0 + 4 * S + Duration::from_millis(1), 51, Family::Ipv4)
            .is_empty()
    );
    // Other VRID, other family: nothing.
    assert!(s.masters(t0, 52, Family::Ipv4).is_empty());
    assert!(s.masters(t0, 51, Family::Ipv6).is_empty());
    // Faster interval: shorter window.
    s.advert(
        t0,
        ip(2),
        52,
        Family::Ipv4,
        100,
        Duration::from_millis(100),
        PH,
        V3,
    );
    assert_eq!(
        s.masters(t0 + Duration::from_millis(1300), 52, Family::Ipv4)
            .len(),
        1
    );
    assert!(
        s.masters(t0 + Duration::from_millis(1301), 52, Family::Ipv4)
            .is_empty()
    );
}

#[test]
fn priority_zero_is_not_a_master() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
    s.advert(t0 + S, ip(1), 51, Family::Ipv4, 0, S, PH, V3);
    assert!(s.masters(t0 + S, 51, Family::Ipv4).is_empty());
    let r = s.routers(51, Family::Ipv4);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1.adverts, r[0].1.priority), (2, 0));
}

#[test]
fn split_brain_and_heal_events() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut s = MonitorState::new();
    let v4 = Family::Ipv4;
    s.advert(t0, ip(1), 51, v4, 150, S, PH, V3);
    let (counts, ev) = s.evaluate(t0);
    assert_eq!(
        counts,
        vec![Count {
            family: v4,
            vrid: 51,
            masters: 1
        }]
    );
    assert_eq!(
        ev,
        vec![Event::NewMaster {
            family: v4,
            vrid: 51,
            master: (ip(1), 150)
        }]
    );
    // Nothing changes: no event.
    s.advert(t0 + S, ip(1), 51, v4, 150, S, PH, V3);
    assert!(s.evaluate(t0 + S).1.is_empty());
    // A second router starts advertising: split brain.
    s.advert(t0 + S + ms(100), ip(2), 51, v4, 100, S, PH, V3);
    let (counts, ev) = s.evaluate(t0 + S + ms(200));
    assert_eq!(counts[0].masters, 2);
    assert_eq!(
        ev,
        vec![Event::SplitBrain {
            family: v4,
            vrid: 51,
            masters: vec![(ip(1), 150), (ip(2), 100)]
        }]
    );
    assert_eq!(
        event_line("eth0", &ev[0]),
        (
            true,
            "split brain on eth0 vrid 51: 10.0.0.1 (150), 10.0.0.2 (100)".to_owned()
        )
    );
    // Still two: reported once.
    s.advert(t0 + 2 * S, ip(1), 51, v4, 150, S, PH, V3);
    s.advert(t0 + 2 * S, ip(2), 51, v4, 100, S, PH, V3);
    assert!(s.evaluate(t0 + 2 * S).1.is_empty());
    // 10.0.0.2 hears 10.0.0.1 again and falls silent (backup): healed once its
    // window (3 s + 1 s) has passed, while 10.0.0.1 keeps advertising.
    for k in 3..=6 {
        s.advert(t0 + k * S, ip(1), 51, v4, 150, S, PH, V3);
    }
    let (counts, ev) = s.evaluate(t0 + 6 * S);
    assert_eq!(counts[0].masters, 2, "window not over yet");
    assert!(ev.is_empty());
    s.advert(t0 + 7 * S, ip(1), 51, v4, 150, S, PH, V3);
    let (counts, ev) = s.evaluate(t0 + 7 * S);
    assert_eq!(counts[0].masters, 1);
    assert_eq!(
        ev,
        vec![Event::Healed {
            family: v4,
            vrid: 51,
            master: Some((ip(1), 150))
        }]
    );
    assert_eq!(
        event_line("eth0", &ev[0]).1,
        "split brain on eth0 vrid 51 healed: single master 10.0.0.1 (150)"
    );
    // The master goes silent: no master.
    let (counts, ev) = s.evaluate(t0 + 12 * S);
    assert_eq!(counts[0].masters, 0);
    assert_eq!(
        ev,
        vec![Event::NoMaster {
            family: v4,
            vrid: 51
        }]
    );
}

#[test]
fn straight_from_none_to_two_is_a_split_brain() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    s.advert(t0, ip(2), 7, Family::Ipv4, 100, S, PH, V3);
    s.advert(
        t0,
        ip(1),
        7,
        Family::Ipv4,
        100,
        S,
        ChecksumForm::MessageOnly,
        V3,
    );
    let (_, ev) = s.evaluate(t0);
    assert_eq!(
        ev,
        vec![Event::SplitBrain {
            family: Family::Ipv4,
            vrid: 7,
            masters: vec![(ip(1), 100), (ip(2), 100)]
        }]
    );
}

#[test]
fn routers_bounded_per_vrid_least_recent_evicted() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    for i in 0..MAX_ROUTERS as u8 {
        let o = s.advert(
            t0 + Duration::from_millis(u64::from(i)),
            ip(i + 1),
            9,
            Family::Ipv4,
            100,
            S,
            PH,
            V3,
        );
        assert_eq!(
            o,
            AdvertOutcome {
                new_router: true,
                evicted: None
            }
        );
    }
    // 10.0.0.1 is heard again, so 10.0.0.2 is now the least recently heard.
    let o = s.advert(t0 + S, ip(1), 9, Family::Ipv4, 100, S, PH, V3);
    assert_eq!(o, AdvertOutcome::default());
    let o = s.advert(t0 + 2 * S, ip(200), 9, Family::Ipv4, 100, S, PH, V3);
    assert_eq!(
        o,
        AdvertOutcome {
            new_router: true,
            evicted: Some(ip(2))
        }
    );
    assert_eq!(s.routers(9, Family::Ipv4).len(), MAX_ROUTERS);
    // Another VRID has its own budget.
    let o = s.advert(t0 + 2 * S, ip(2), 10, Family::Ipv4, 100, S, PH, V3);
    assert_eq!(o.evicted, None);
}

#[test]
fn status_document() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
    s.advert(
        t0,
        ip(2),
        51,
        Family::Ipv4,
        100,
        S,
        ChecksumForm::MessageOnly,
        V3,
    );
    let v = serde_json::to_value(status(
        t0 + S,
        &[
            ("eth0", &[Family::Ipv4], &s),
            ("eth1", &[], &MonitorState::new()),
        ],
    ))
    .unwrap();
    // The whole document, field for field (the shape `vipd status` and the lab tests read).
    let router = |last: u8, priority: u8, form: &str| {
        json!({"address": ip(last).to_string(), "priority": priority, "master": true,
               "adverts": 1, "advert_interval_ms": 1000.0, "checksum_form": form,
               "first_advert_ms_ago": 1000.0, "last_advert_ms_ago": 1000.0})
    };
    let want = json!({
        "mode": "monitor",
        "version": env!("CARGO_PKG_VERSION"),
        "interfaces": [{"name": "eth0", "families": ["ipv4"]},
                       {"name": "eth1", "families": []}],
        "virtual_routers": [{
            "interface": "eth0",
            "family": "ipv4",
            "vrid": 51,
            "split_brain": true,
            "masters": [{"address": "10.0.0.1", "priority": 150},
                        {"address": "10.0.0.2", "priority": 100}],
            "routers": [router(1, 150, "pseudo_header"), router(2, 100, "rfc9568")],
        }],
    });
    assert_eq!(v, want, "{v:#}");
}

/// A v3 IPv4 advert from `src` (checksum over the message only) as the socket hands it.
fn v3_advert(src: IpAddr, vrid: u8, priority: u8) -> (Received, Vec<u8>) {
    let mut msg = vec![0x31, vrid, priority, 1, 0, 100, 0, 0, 10, 0, 0, 200];
    let sum = !msg
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .fold(0u32, |a, w| {
            let t = a + w;
            (t & 0xffff) + (t >> 16)
        }) as u16;
    msg[6..8].copy_from_slice(&sum.to_be_bytes());
    let rx = Received {
        src,
        dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        ttl: 255,
        offset: 0,
        len: msg.len(),
    };
    (rx, msg)
}

#[test]
fn interfaces_are_watched_apart_and_labelled() {
    assert_eq!(
        interfaces(&["eth0".into(), "vlan20".into()]),
        Ok(vec!["eth0".to_owned(), "vlan20".to_owned()])
    );
    assert_eq!(
        interfaces(&["eth0".into(), "eth0".into()]),
        Err("interface eth0 given twice".to_owned())
    );
    assert!(interfaces(&[]).is_err());
    assert!(interfaces(&["".into()]).is_err());

    // The same VRID on two segments: two masters on eth0 (a split brain), one on vlan20.
    let (metrics, mm) = Metrics::new_monitor("0.1.0", "abc");
    let mut eth0 = Iface::new("eth0", vec![Family::Ipv4]);
    let mut vlan = Iface::new("vlan20", vec![Family::Ipv4]);
    let t0 = Instant::now();
    for (on_eth0, src) in [(true, 1), (true, 2), (false, 3)] {
        let (rx, buf) = v3_advert(ip(src), 51, 100);
        let iface = if on_eth0 { &mut eth0 } else { &mut vlan };
        iface.packet(&mm, t0, Family::Ipv4, &rx, &buf);
    }
    let (mut rx, buf) = v3_advert(ip(4), 51, 100);
    rx.ttl = 64;
    vlan.packet(&mm, t0, Family::Ipv4, &rx, &buf);
    eth0.tick(&mm, t0);
    vlan.tick(&mm, t0);
    assert_eq!(eth0.state.masters(t0, 51, Family::Ipv4).len(), 2);
    assert_eq!(vlan.state.masters(t0, 51, Family::Ipv4), vec![(ip(3), 100)]);
    let text = metrics.encode(false);
    for want in [
        r#"vrrp_monitor_masters{interface="eth0",family="ipv4",vrid="51"} 2"#,
        r#"vrrp_monitor_masters{interface="vlan20",family="ipv4",vrid="51"} 1"#,
        r#"vrrp_monitor_router_priority{interface="vlan20",family="ipv4",vrid="51",router="10.0.0.3"} 100"#,
        r#"vrrp_monitor_dropped_total{interface="vlan20",family="ipv4",reason="ttl"} 1"#,
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    assert!(
        !text.contains(r#"interface="eth0",family="ipv4",vrid="51",router="10.0.0.3""#),
        "{text}"
    );
    let m = Monitor {
        ifaces: vec![eth0, vlan],
        metrics: mm,
    };
    let st = m.status(t0);
    let names: Vec<&str> = st.interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["eth0", "vlan20"]);
    let vrs: Vec<(&str, bool)> = st
        .virtual_routers
        .iter()
        .map(|v| (v.interface.as_str(), v.split_brain))
        .collect();
    assert_eq!(vrs, [("eth0", true), ("vlan20", false)]);
    assert_eq!(
        m.status_line(t0),
        "eth0, vlan20: 2 virtual routers, 1 split brain, 0 without master"
    );
    assert_eq!(
        m.status_line(t0 + 10 * S),
        "eth0, vlan20: 2 virtual routers, 0 split brain, 2 without master"
    );
}

fn exp(vrid: u8, version: Option<Version>, master: Option<u8>) -> Expected {
    Expected {
        family: Family::Ipv4,
        vrid,
        version,
        master: master.map(ip),
    }
}

#[test]
fn judge_expected_vrid_and_master() {
    let v2 = Version::V2;
    let any = exp(51, None, None);
    let a_v3 = exp(51, Some(V3), Some(1));
    // Nothing heard: missing; no master, so none unexpected.
    assert_eq!(
        judge(&any, &[]),
        Verdict {
            heard: false,
            unexpected_masters: None
        }
    );
    assert_eq!(
        judge(&a_v3, &[]),
        Verdict {
            heard: false,
            unexpected_masters: Some(0)
        }
    );
    // The expected master: heard, nothing unexpected.
    assert_eq!(
        judge(&a_v3, &[(ip(1), 150, V3)]),
        Verdict {
            heard: true,
            unexpected_masters: Some(0)
        }
    );
    // The other node took over.
    assert_eq!(
        judge(&a_v3, &[(ip(2), 100, V3)]),
        Verdict {
            heard: true,
            unexpected_masters: Some(1)
        }
    );
    // Split brain of the expected master and two others: two unexpected.
    assert_eq!(
        judge(
            &a_v3,
            &[(ip(1), 150, V3), (ip(2), 100, V3), (ip(3), 90, V3)]
        )
        .unexpected_masters,
        Some(2)
    );
    // Only a v2 master where v3 is expected: not heard (still unexpected counts by
    // address only).
    assert_eq!(
        judge(&a_v3, &[(ip(1), 150, v2)]),
        Verdict {
            heard: false,
            unexpected_masters: Some(0)
        }
    );
    // No version expected: either is heard.
    assert!(judge(&any, &[(ip(9), 1, v2)]).heard);
    assert!(judge(&exp(51, Some(v2), None), &[(ip(9), 1, v2)]).heard);
}

#[test]
fn judge_from_the_state_uses_the_master_window_and_versions() {
    let t0 = Instant::now();
    let mut s = MonitorState::new();
    let e = exp(51, Some(Version::V2), Some(1));
    s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, Version::V2);
    assert_eq!(
        s.judge(t0, &e),
        Verdict {
            heard: true,
            unexpected_masters: Some(0)
        }
    );
    assert_eq!(
        s.masters_with_version(t0, 51, Family::Ipv4),
        vec![(ip(1), 150, Version::V2)]
    );
    // a falls silent, b takes over (v3): heard is false (v2 expected), b unexpected.
    s.advert(t0 + 3 * S, ip(2), 51, Family::Ipv4, 100, S, PH, V3);
    let later = t0 + 5 * S;
    assert_eq!(
        s.judge(later, &e),
        Verdict {
            heard: false,
            unexpected_masters: Some(1)
        }
    );
    // Another family is another virtual router.
    let e6 = Expected {
        family: Family::Ipv6,
        ..e
    };
    assert!(!s.judge(t0, &e6).heard);
}

#[test]
fn verdict_lines_on_changes_only() {
    let e = exp(51, None, Some(1));
    let ok = Verdict {
        heard: true,
        unexpected_masters: Some(0),
    };
    let gone = Verdict {
        heard: false,
        unexpected_masters: Some(0),
    };
    let other = Verdict {
        heard: true,
        unexpected_masters: Some(1),
    };
    let b = [(ip(2), 100, V3)];
    assert_eq!(
        verdict_line("eth0", &e, None, ok, &[(ip(1), 150, V3)]),
        None
    );
    assert_eq!(verdict_line("eth0", &e, Some(ok), ok, &[]), None);
    assert_eq!(
        verdict_line("eth0", &e, Some(ok), gone, &[]),
        Some((
            true,
            "eth0 vrid 51 (ipv4): expected, no master heard".to_owned()
        ))
    );
    assert_eq!(
        verdict_line("eth0", &e, Some(gone), other, &b),
        Some((
            true,
            "eth0 vrid 51 (ipv4): unexpected master: 10.0.0.2 (100) (expected 10.0.0.1)".to_owned()
        ))
    );
    assert_eq!(verdict_line("eth0", &e, Some(other), other, &b), None);
    // In a split brain with the expected master, only the other one is named.
    assert_eq!(
        verdict_line(
            "eth0",
            &e,
            Some(ok),
            other,
            &[(ip(1), 150, V3), (ip(2), 100, V3)]
        ),
        Some((
            true,
            "eth0 vrid 51 (ipv4): unexpected master: 10.0.0.2 (100) (expected 10.0.0.1)".to_owned()
        ))
    );
    assert_eq!(
        verdict_line("eth0", &e, Some(other), ok, &[(ip(1), 150, V3)]),
        Some((
            false,
            "eth0 vrid 51 (ipv4): master is the expected one again".to_owned()
        ))
    );
    assert_eq!(
        verdict_line("eth0", &exp(52, None, None), Some(gone), ok, &b),
        Some((
            false,
            "eth0 vrid 52 (ipv4): expected, heard: 10.0.0.2 (100)".to_owned()
        ))
    );
    let v3_only = exp(53, Some(V3), None);
    assert_eq!(
        verdict_line(
            "eth0",
            &v3_only,
            Some(ok),
            gone,
            &[(ip(2), 100, Version::V2)]
        ),
        Some((
            true,
            "eth0 vrid 53 (ipv4): expected, no VRRPv3 master heard (masters: 10.0.0.2 (100))"
                .to_owned()
        ))
    );
}

#[test]
fn expected_series_are_bounded_to_the_file_and_follow_a_reload() {
    let (metrics, mm) = Metrics::new_monitor("0.1.0", "abc");
    let mut eth0 = Iface::new("eth0", vec![Family::Ipv4]);
    let t0 = Instant::now();
    eth0.set_expected(&mm, &[exp(51, None, Some(1)), exp(52, Some(V3), None)]);
    let (rx, buf) = v3_advert(ip(2), 51, 100);
    eth0.packet(&mm, t0, Family::Ipv4, &rx, &buf);
    // A VRID heard but not expected gets no expected series.
    let (rx, buf) = v3_advert(ip(3), 60, 100);
    eth0.packet(&mm, t0, Family::Ipv4, &rx, &buf);
    eth0.tick(&mm, t0);
    let text = metrics.encode(false);
    let l = |vrid: u32| format!(r#"interface="eth0",family="ipv4",vrid="{vrid}""#);
    for want in [
        format!(
            r#"vrrp_monitor_expected{{{},version="",master="10.0.0.1"}} 1"#,
            l(51)
        ),
        format!(
            r#"vrrp_monitor_expected{{{},version="3",master=""}} 1"#,
            l(52)
        ),
        format!("vrrp_monitor_expected_heard{{{}}} 1", l(51)),
        format!("vrrp_monitor_expected_heard{{{}}} 0", l(52)),
        format!("vrrp_monitor_unexpected_masters{{{}}} 1", l(51)),
        format!(
            r#"vrrp_monitor_router_version{{{},router="10.0.0.2",version="3"}} 1"#,
            l(51)
        ),
        format!(
            r#"vrrp_monitor_router_version{{{},router="10.0.0.2",version="2"}} 0"#,
            l(51)
        ),
    ] {
        assert!(text.contains(&want), "{want}\n{text}");
    }
    assert!(
        !text.contains(&format!("vrrp_monitor_unexpected_masters{{{}}}", l(52))),
        "{text}"
    );
    assert!(
        !text.contains(&format!("vrrp_monitor_expected_heard{{{}}}", l(60))),
        "{text}"
    );
    // Reloaded: 51 now expects 10.0.0.2, 52 is gone.
    eth0.set_expected(&mm, &[exp(51, None, Some(2))]);
    eth0.tick(&mm, t0);
    let text = metrics.encode(false);
    assert!(
        text.contains(&format!("vrrp_monitor_unexpected_masters{{{}}} 0", l(51))),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"vrrp_monitor_expected{{{},version="",master="10.0.0.2"}} 1"#,
            l(51)
        )),
        "{text}"
    );
    assert!(!text.contains("master=\"10.0.0.1\""), "{text}");
    assert!(!text.contains(&l(52)), "{text}");
}

#[test]
fn file_and_command_line_interfaces_merge() {
    let f = config::parse_str("interfaces:\n  eth0: {}\n  vlan20: {}\n", "m.yml").unwrap();
    assert_eq!(
        merged_interfaces(Some(&f), &["vlan30".into()]),
        Ok(vec!["eth0".into(), "vlan20".into(), "vlan30".into()])
    );
    assert_eq!(
        merged_interfaces(Some(&f), &["eth0".into()]),
        Err("interface eth0 given twice".to_owned())
    );
    assert_eq!(
        merged_interfaces(None, &["eth0".into()]),
        Ok(vec!["eth0".into()])
    );
    assert!(merged_interfaces(None, &[]).is_err());
}

#[test]
fn monitor_registry_exports_only_monitor_families() {
    let (metrics, m) = Metrics::new_monitor("0.1.0", "abc");
    m.socket("eth0", Family::Ipv4);
    let vr = MonitorVrLabels::new("eth0", Family::Ipv4, 51);
    m.set_masters(&vr, 2);
    let r = m.router(&vr, ip(1));
    r.advert(150, Duration::from_millis(100), PH, 1234.5);
    r.advert(150, Duration::from_millis(100), PH, 1235.5);
    m.dropped("eth0", Family::Ipv4, DropReason::Ttl);
    let text = metrics.encode(false);
    let l = r#"interface="eth0",family="ipv4",vrid="51""#;
    for want in [
        format!("vrrp_monitor_masters{{{l}}} 2"),
        format!(r#"vrrp_monitor_router_priority{{{l},router="10.0.0.1"}} 150"#),
        format!(r#"vrrp_monitor_router_adverts_total{{{l},router="10.0.0.1"}} 2"#),
        format!(r#"vrrp_monitor_router_advert_interval_seconds{{{l},router="10.0.0.1"}} 0.1"#),
        format!(
            r#"vrrp_monitor_router_checksum_form{{{l},router="10.0.0.1",form="pseudo_header"}} 1"#
        ),
        format!(r#"vrrp_monitor_router_checksum_form{{{l},router="10.0.0.1",form="rfc9568"}} 0"#),
        format!(
            r#"vrrp_monitor_router_last_advert_timestamp_seconds{{{l},router="10.0.0.1"}} 1235.5"#
        ),
        r#"vrrp_monitor_dropped_total{interface="eth0",family="ipv4",reason="ttl"} 1"#.to_owned(),
        r#"vrrp_monitor_dropped_total{interface="eth0",family="ipv4",reason="checksum"} 0"#
            .to_owned(),
    ] {
        assert!(text.contains(&want), "{want}\n{text}");
    }
    assert!(text.contains("vipd_build_info"), "{text}");
    assert!(!text.contains("vrrp_instance_state"), "{text}");
    m.remove_router(&vr, ip(1));
    let text = metrics.encode(true);
    assert!(!text.contains("router=\"10.0.0.1\""), "{text}");
    assert!(text.ends_with("# EOF\n"));
}

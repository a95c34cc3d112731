//! Router core tests on a virtual LAN (see `testnet`): each names the rule it checks.

use std::net::IpAddr;
use std::time::Duration;

use super::testnet::{Net, advert};
use super::*;
use crate::engine::State;
use crate::packet::Version;

const MS: Duration = Duration::from_millis(1);
const S: Duration = Duration::from_secs(1);

fn v2(prio: u8, interval: &str, extra: &str) -> String {
    format!(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    version: 2\n    priority: {prio}\n    advert_interval: {interval}\n{extra}    virtual_ipaddress: [10.99.0.51/24]\n"
    )
}

fn v3(prio: u8, extra: &str) -> String {
    format!(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    advert_interval: 1s\n{extra}    virtual_ipaddress: [10.99.0.51/24]\n"
    )
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 99, 0, last])
}

fn group() -> IpAddr {
    IpAddr::from([224, 0, 0, 18])
}

/// a (priority `pa`) and b (`pb`) with `cfg(prio)`, run until a is master.
fn pair(cfg: impl Fn(u8) -> String, pa: u8, pb: u8) -> Net {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &cfg(pa));
    net.node("b", [10, 99, 0, 12], &cfg(pb));
    net.run_until(10 * S);
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Backup);
    net
}

#[test]
fn rfc3768_6_1_v2_skew_time_is_in_seconds_takeover_after_priority_zero() {
    // The tutorial's config: v2, advert_int 2, backup priority 80: skew 0.6875 s, as
    // keepalived waits (the interval is not in the v2 formula).
    let mut net = pair(|p| v2(p, "2s", ""), 100, 80);
    net.run_until(20 * S);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 5 * S);
    let resign = net.first("a", "send prio=0", t).expect("priority 0 sent");
    let took = net
        .first("b", "send prio=80", t)
        .unwrap_or_else(|| panic!("b takes over: {:?}", net.find("b", "", t)));
    assert_eq!(took - resign, Duration::from_micros(687_500));
    assert_eq!(
        net.first("b", "transition BACKUP -> MASTER", t),
        Some(took),
        "{:?}",
        net.events
    );
}

#[test]
fn rfc3768_6_1_v2_master_down_interval_is_three_intervals_plus_skew_in_seconds() {
    let mut net = pair(|p| v2(p, "2s", ""), 100, 80);
    net.run_until(20 * S);
    let last = net
        .find("a", "send prio=100", Duration::ZERO)
        .last()
        .unwrap()
        .at;
    net.link(0, false);
    net.run_until(40 * S);
    let took = net.first("b", "send prio=80", last).unwrap();
    assert_eq!(took - last, Duration::from_micros(6_687_500));
}

/// A backup's master-down deadline moves with every advert; its heap entry moves only when
/// it reaches the top (`Inst::scheduled`), so the heap does not grow by an entry per advert,
/// and the takeover still comes exactly one master-down interval after the last advert.
#[test]
fn a_backup_timer_entry_moves_lazily_and_the_takeover_stays_exact() {
    let cfg = |p: u8| v3(p, "").replace("advert_interval: 1s", "advert_interval: 10ms");
    let mut net = pair(cfg, 100, 80);
    let t = net.elapsed();
    net.run_until(t + 10 * S);
    let adverts = net.find("a", "send prio=100", t).len();
    assert!(adverts >= 999, "{adverts} adverts in 10 s");
    let mut entries = 0;
    net.with(1, |r, _| entries = r.timer_entries());
    assert!(
        entries <= 2,
        "{entries} heap entries after {adverts} adverts"
    );
    let last = net.find("a", "send prio=100", t).last().unwrap().at;
    net.link(0, false);
    net.run_until(last + S);
    let took = net.first("b", "send prio=80", last).unwrap();
    // v3, 10 ms, priority 80: 3 x 10 ms + (256 - 80) x 10 ms / 256 = 36.875 ms.
    assert_eq!(took - last, Duration::from_micros(36_875));
}

#[test]
fn master_entering_fault_resigns_backup_takes_over_after_skew_time() {
    // A tracked script puts the master in Fault while its link is up: it sends priority 0
    // (keepalived does), so the backup waits Skew_Time (0.609 s), not 3.6 s.
    let scripts = "scripts:\n  chk: {command: [/bin/true], weight: 0}\n";
    let cfg = |p: u8| format!("{scripts}{}", v3(p, "    track_scripts: [chk]\n"));
    let mut net = pair(cfg, 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| {
        r.handle_track(
            now,
            &TrackEvent::Script {
                name: "chk".into(),
                healthy: false,
            },
        )
    });
    assert_eq!(net.state(0), State::Fault);
    let sends: Vec<&str> = net
        .find("a", "", t)
        .iter()
        .map(|e| e.what.as_str())
        .filter(|w| w.starts_with("send") || *w == "remove")
        .collect();
    assert_eq!(sends, vec!["send prio=0 dst=224.0.0.18 count=1", "remove"]);
    net.run_until(net.elapsed() + 5 * S);
    let took = net.first("b", "transition BACKUP -> MASTER", t).unwrap();
    assert_eq!(took - t, Duration::from_micros(609_375));
}

#[test]
fn fault_from_the_link_itself_sends_nothing() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.link(0, false);
    assert_eq!(net.state(0), State::Fault);
    assert!(net.find("a", "send", t).is_empty(), "{:?}", net.events);
    assert_eq!(net.find("a", "remove", t).len(), 1);
    // The link event takes effect at once and asks for a fresh lookup (no waiting).
    assert!(net.first("a", "lookup eth0", t).is_some());
}

#[test]
fn preempt_delay_restarts_when_a_fault_clears() {
    let scripts = "scripts:\n  chk: {command: [/bin/true], weight: 0}\n";
    let cfg = |p: u8| {
        format!(
            "{scripts}{}",
            v3(p, "    preempt_delay: 5s\n    track_scripts: [chk]\n")
        )
    };
    let mut net = pair(cfg, 150, 100);
    let fail = |healthy| TrackEvent::Script {
        name: "chk".into(),
        healthy,
    };
    net.with(0, |r, now| r.handle_track(now, &fail(false)));
    net.run_until(net.elapsed() + 5 * S);
    assert_eq!(net.state(1), State::Master);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &fail(true)));
    net.run_until(t + 4 * S);
    assert_eq!(net.state(0), State::Backup, "preempt delay restarted");
    net.run_until(t + 10 * S);
    assert_eq!(net.state(0), State::Master);
    let took = net.first("a", "transition BACKUP -> MASTER", t).unwrap();
    assert!(took - t >= 5 * S, "{:?}", took - t);
}

#[test]
fn reload_to_priority_255_takes_over_at_once() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.with(1, |r, now| {
        r.handle_reload(now, testnet::config(&v3(255, "")));
    });
    assert_eq!(net.state(1), State::Master);
    assert!(net.first("b", "send prio=255", t).is_some());
    net.run_until(t + 3 * S);
    assert_eq!(net.state(0), State::Backup);
}

#[test]
fn reload_refreshes_the_gauges_at_once() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let now = net.now;
    let r = &mut net.nodes[0].router;
    let _ = std::iter::from_fn(|| r.poll_effect()).count();
    r.handle_reload(now, testnet::config(&v3(120, "")));
    let gauges: Vec<InstId> = std::iter::from_fn(|| r.poll_effect())
        .filter_map(|e| match e {
            Effect::Fact(Fact::Gauges { inst, .. }) => Some(inst),
            _ => None,
        })
        .collect();
    assert_eq!(gauges.len(), 1, "one instance updated in place");
    assert_eq!(r.engine(gauges[0]).map(|e| e.priority()), Some(120));
}

#[test]
fn addresses_beyond_the_mtu_are_added_but_not_advertised() {
    let mut net = Net::new();
    let yaml = "instances:\n  V6:\n    interface: eth0\n    vrid: 6\n    priority: 255\n    virtual_ipaddress: [fd00:99::1, fd00:99::2, fd00:99::3]\n";
    let mut ifaces = HashMap::new();
    let mut f = testnet::iface("eth0", [10, 99, 0, 11].into(), 2);
    f.mtu = 40 + 8 + 2 * 16; // two addresses fit
    ifaces.insert("eth0".to_owned(), f);
    net.nodes.push(testnet::Node {
        name: "a".into(),
        router: Router::new(testnet::config(yaml), net.now),
        ifaces,
        ttl: 255,
        cut: false,
    });
    net.deliver();
    net.run_until(S);
    let sends = net.find("a", "send prio=255", Duration::ZERO);
    assert!(!sends.is_empty());
    assert!(
        sends.iter().all(|e| e.what.ends_with("count=2")),
        "{sends:?}"
    );
    assert!(
        net.first("a", "not advertised 2/3", Duration::ZERO)
            .is_some()
    );
    let Effect::AddAddresses { vips, .. } = &net.find("a", "add", Duration::ZERO)[0].effect else {
        unreachable!()
    };
    assert_eq!(vips.len(), 3, "every address is added");
    // The MTU grows back: all three advertised again, and nothing reported as left out.
    net.nodes[0].ifaces.get_mut("eth0").unwrap().mtu = 1500;
    let t = net.elapsed();
    net.link_iface(0, "eth0", false);
    net.link_iface(0, "eth0", true);
    net.run_until(t + 3 * S);
    let sends = net.find("a", "send prio=255", t + S);
    assert!(!sends.is_empty());
    assert!(
        sends.iter().all(|e| e.what.ends_with("count=3")),
        "{sends:?}"
    );
    assert!(net.first("a", "not advertised", t).is_none());
}

#[test]
fn the_kernel_filter_of_a_port_passes_exactly_the_vrids_configured_on_it() {
    let yaml = |vrids: &[u8]| {
        let mut y = "instances:\n".to_owned();
        for v in vrids {
            y += &format!(
                "  V{v}:\n    interface: eth0\n    vrid: {v}\n    priority: 100\n    virtual_ipaddress: [10.99.0.{v}/24]\n"
            );
        }
        y
    };
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &yaml(&[7, 5]));
    net.run_until(S);
    let last = |net: &Net| {
        net.find("a", "filter", Duration::ZERO)
            .last()
            .map(|e| e.what.clone())
    };
    assert_eq!(last(&net).as_deref(), Some("filter [5, 7]"));
    // A reload that removes one and adds another refilters the port.
    net.with(0, |r, now| {
        r.handle_reload(now, testnet::config(&yaml(&[5, 9])));
    });
    net.run_until(2 * S);
    assert_eq!(last(&net).as_deref(), Some("filter [5, 9]"));
}

#[test]
fn ipv6_ports_join_the_solicited_node_groups_of_their_addresses_before_adding_them() {
    let yaml = |vips: &str| {
        format!(
            "instances:\n  V6:\n    interface: eth0\n    vrid: 6\n    priority: 255\n    virtual_ipaddress: [{vips}]\n"
        )
    };
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &yaml("fd00:99::60, fd00:99::1:60"));
    net.run_until(S);
    let pos = |net: &Net, what: &str| net.events.iter().position(|e| e.what.starts_with(what));
    let joined = pos(&net, "join-solicited").expect("joined");
    let added = pos(&net, "add").expect("added");
    assert!(joined < added, "{:?}", net.events);
    let Effect::JoinSolicited { addrs, .. } = &net.events[joined].effect else {
        unreachable!()
    };
    // Both on eth0 (index 2), sorted.
    let want: Vec<(u32, std::net::Ipv6Addr)> = vec![
        (2, "fd00:99::60".parse().unwrap()),
        (2, "fd00:99::1:60".parse().unwrap()),
    ];
    assert_eq!(addrs, &want);
    // A reload that changes the addresses changes the groups; one that does not, nothing.
    let t = net.elapsed();
    net.with(0, |r, now| {
        r.handle_reload(now, testnet::config(&yaml("fd00:99::61")));
    });
    let changed = net.find("a", "join-solicited", t).len();
    assert_eq!(
        net.find("a", "join-solicited", t)
            .last()
            .map(|e| e.what.as_str()),
        Some("join-solicited [2/fd00:99::61]")
    );
    net.with(0, |r, now| {
        r.handle_reload(now, testnet::config(&yaml("fd00:99::61")));
    });
    assert_eq!(net.find("a", "join-solicited", t).len(), changed);
}

#[test]
fn an_instance_without_addresses_elects_advertises_count_0_and_notifies_but_adds_nothing() {
    // The cloud pattern (keepalived v2, no virtual_ipaddress; notify_master moves an elastic IP).
    let cfg = |p: u8| {
        format!(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    version: 2\n    priority: {p}\n    notify: {{master: [/usr/local/bin/move-eip]}}\n"
        )
    };
    let mut net = pair(cfg, 150, 100);
    let sends = net.find("a", "send prio=150", Duration::ZERO);
    assert!(!sends.is_empty());
    assert!(
        sends.iter().all(|e| e.what.ends_with("count=0")),
        "{sends:?}"
    );
    assert!(net.first("a", "notify MASTER", Duration::ZERO).is_some());
    assert!(net.first("b", "notify BACKUP", Duration::ZERO).is_some());
    for node in ["a", "b"] {
        for what in ["add", "remove", "announce"] {
            assert!(
                net.find(node, what, Duration::ZERO).is_empty(),
                "{node}: {what}: {:?}",
                net.find(node, what, Duration::ZERO)
            );
        }
    }
    // b hears a's count-0 adverts as agreeing (no drop, no list mismatch) and takes over
    // when a resigns.
    assert!(net.find("b", "drop", Duration::ZERO).is_empty());
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 5 * S);
    assert_eq!(net.state(1), State::Master);
    assert!(net.first("b", "notify MASTER", t).is_some());
    assert!(net.find("b", "announce", t).is_empty());
}

#[test]
fn an_instance_with_addresses_drops_a_v2_advert_without_any() {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v2(100, "1s", ""));
    let none = "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    version: 2\n    priority: 200\n";
    net.node("b", [10, 99, 0, 12], none);
    net.run_until(10 * S);
    assert!(
        net.first("a", "drop reason=address_count", Duration::ZERO)
            .is_some()
    );
}

#[test]
fn rfc9568_7_1_multicast_ttl_below_255_is_dropped() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    net.nodes[0].ttl = 254;
    let t = net.elapsed();
    net.run_until(t + 5 * S);
    assert!(net.first("b", "drop reason=ttl", t).is_some());
    assert_eq!(net.state(1), State::Master, "b no longer hears a");
}

#[test]
fn unicast_adverts_that_crossed_a_router_are_accepted_as_keepalived_does() {
    let cfg = |me: u8, peer: u8, p: u8| {
        v3(
            p,
            &format!("    unicast_src: 10.99.0.{me}\n    unicast_peers: [10.99.0.{peer}]\n"),
        )
    };
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &cfg(11, 12, 150));
    net.node("b", [10, 99, 0, 12], &cfg(12, 11, 100));
    net.nodes[0].ttl = 62;
    net.nodes[1].ttl = 62;
    net.run_until(10 * S);
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Backup, "{:?}", net.events);
    assert!(net.first("b", "drop", Duration::ZERO).is_none());
}

#[test]
fn check_unicast_src_drops_adverts_from_a_source_outside_unicast_peers() {
    // b checks the source; a (10.99.0.11) is one of its peers or not.
    for (b_peers, a_is_peer) in [("10.99.0.11", true), ("10.99.0.13", false)] {
        let a = v3(
            150,
            "    unicast_src: 10.99.0.11\n    unicast_peers: [10.99.0.12]\n",
        );
        let b = v3(
            100,
            &format!(
                "    unicast_src: 10.99.0.12\n    unicast_peers: [{b_peers}]\n    check_unicast_src: true\n"
            ),
        );
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], &a);
        net.node("b", [10, 99, 0, 12], &b);
        net.run_until(10 * S);
        let dropped = net
            .first("b", "drop reason=unicast_src", Duration::ZERO)
            .is_some();
        assert_eq!(dropped, !a_is_peer, "{:?}", net.events);
        let want = if a_is_peer {
            State::Backup
        } else {
            State::Master
        };
        assert_eq!(net.state(1), want, "{:?}", net.events);
    }
}

/// keepalived's `unicast_peer { A min_ttl N max_ttl M }`: a's adverts arrive with TTL 62
/// (routed); b drops them, counted as `unicast_ttl`, when 62 is outside a's range.
#[test]
fn unicast_peer_ttl_range_drops_adverts_arriving_with_another_ttl() {
    for (range, inside) in [
        ("min_ttl: 60", true),
        ("min_ttl: 250", false),
        ("max_ttl: 61", false),
        ("min_ttl: 62, max_ttl: 62", true),
    ] {
        let a = v3(
            150,
            "    unicast_src: 10.99.0.11\n    unicast_peers: [10.99.0.12]\n",
        );
        let b = v3(
            100,
            &format!(
                "    unicast_src: 10.99.0.12\n    unicast_peers: [{{address: 10.99.0.11, {range}}}]\n"
            ),
        );
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], &a);
        net.node("b", [10, 99, 0, 12], &b);
        net.nodes[0].ttl = 62;
        net.run_until(10 * S);
        let dropped = net
            .first("b", "drop reason=unicast_ttl", Duration::ZERO)
            .is_some();
        assert_eq!(dropped, !inside, "{range}: {:?}", net.events);
        let want = if inside { State::Backup } else { State::Master };
        assert_eq!(net.state(1), want, "{range}: {:?}", net.events);
    }
}

#[test]
fn garp_interval_goes_with_every_announcement_of_the_instance() {
    let mut net = Net::new();
    net.node(
        "a",
        [10, 99, 0, 11],
        &v3(255, "    garp: {interval: 20ms, delay: 1s}\n"),
    );
    net.run_until(3 * S);
    let bursts = net
        .find(
            "a",
            "announce count=5 router=false interval=20ms",
            Duration::ZERO,
        )
        .len();
    assert_eq!(bursts, 2, "at once and after the delay: {:?}", net.events);
}

#[test]
fn rfc9568_6_4_1_unsolicited_na_carries_the_router_flag_when_forwarding() {
    for forwarding in [false, true] {
        let mut net = Net::new();
        let mut ifaces = HashMap::new();
        let mut f = testnet::iface("eth0", [10, 99, 0, 11].into(), 2);
        f.ipv6_forwarding = forwarding;
        ifaces.insert("eth0".to_owned(), f);
        let yaml = "instances:\n  V6:\n    interface: eth0\n    vrid: 6\n    priority: 255\n    virtual_ipaddress: [fd00:99::1]\n";
        net.nodes.push(testnet::Node {
            name: "a".into(),
            router: Router::new(testnet::config(yaml), net.now),
            ifaces,
            ttl: 255,
            cut: false,
        });
        net.run_until(S);
        assert!(
            net.first(
                "a",
                &format!("announce count=5 router={forwarding}"),
                Duration::ZERO
            )
            .is_some(),
            "{:?}",
            net.events
        );
    }
}

/// A LAN with one node, "b": an IPv6 instance on VRID 6 (priority 100) with `vips`, 100 ms
/// after its start.
fn v6_backup(vips: &str) -> Net {
    let yaml = format!(
        "instances:\n  V6:\n    interface: eth0\n    vrid: 6\n    priority: 100\n    virtual_ipaddress: [{vips}]\n"
    );
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &yaml);
    net.run_until(100 * MS);
    net
}

/// Hands node 0 a v3 IPv6 advert for VRID 6 (priority 200, 1 s) from fe80::11 listing `addrs`.
fn deliver_v6_advert(net: &mut Net, addrs: &[&str]) {
    let src: IpAddr = "fe80::11".parse().unwrap();
    let dst: IpAddr = "ff02::12".parse().unwrap();
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| a.parse().unwrap()).collect();
    let bytes = advert(Version::V3, 6, 200, 100, &addrs, src, dst);
    net.with(0, |r, now| {
        r.handle_packet(
            now,
            Packet {
                port: PortId(0),
                src,
                dst,
                ttl: 255,
                bytes: &bytes,
            },
        )
    });
}

#[test]
fn rfc9568_5_2_9_an_advert_starting_with_a_link_local_address_is_not_reported() {
    let mut net = v6_backup("fe80::6, fd00:99::1");
    deliver_v6_advert(&mut net, &["fe80::6", "fd00:99::1"]);
    assert!(
        net.first("b", "received prio=200", Duration::ZERO)
            .is_some()
    );
    assert!(
        net.first("b", "first not link-local", Duration::ZERO)
            .is_none()
    );
}

#[test]
fn a_link_going_down_faults_the_master_at_once() {
    let yaml = "instances:\n  V1:\n    interface: eth0\n    vrid: 1\n    priority: 255\n    virtual_ipaddress: [10.99.0.1/24]\n";
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], yaml);
    net.run_until(S);
    assert_eq!(net.state(0), State::Master);
    // The kernel's link event (and the lookup it triggers): Fault in the same instant.
    net.link(0, false);
    assert_eq!(net.state(0), State::Fault);
}

#[test]
fn rfc9568_5_2_9_first_address_not_link_local_is_counted_and_accepted() {
    let mut net = v6_backup("fd00:99::1");
    deliver_v6_advert(&mut net, &["fd00:99::1"]);
    assert!(
        net.first("b", "first not link-local", Duration::ZERO)
            .is_some()
    );
    assert!(
        net.first("b", "received prio=200", Duration::ZERO)
            .is_some()
    );
}

#[test]
fn reload_keeps_script_health_of_unchanged_scripts() {
    let base = "scripts:\n  a: {command: [/bin/true], weight: -20}\n  b: {command: [/bin/true], weight: -30}\n";
    let inst = v3(150, "    track_scripts: [a, b]\n");
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &format!("{base}{inst}"));
    net.run_until(S);
    net.with(0, |r, now| {
        r.handle_track(
            now,
            &TrackEvent::Script {
                name: "a".into(),
                healthy: false,
            },
        )
    });
    let prio = |net: &Net| net.nodes[0].router.engine(InstId(0)).unwrap().priority();
    assert_eq!(prio(&net), 130);
    let changed = base.replace("weight: -30}", "weight: -30, interval: 2s}");
    net.run_until(2 * S);
    let t = net.elapsed();
    let mut plan = None;
    net.with(0, |r, now| {
        plan = Some(r.handle_reload(now, testnet::config(&format!("{changed}{inst}"))));
    });
    let plan = plan.unwrap();
    assert_eq!(plan.scripts_stop, vec!["b"]);
    assert_eq!(plan.scripts_start, vec!["b"]);
    assert_eq!(prio(&net), 130, "script a is still failed after the reload");
    assert!(!net.nodes[0].router.script_healthy("a"));
    assert!(
        net.first("a", "priority", t).is_none(),
        "no priority change: {:?}",
        net.find("a", "", t)
    );
}

#[test]
fn a_disagreeing_peer_is_still_a_master_we_can_see() {
    // Same VRID, another advert interval (v2 drops it): both become master; a disagreeing
    // router still counts in masters_observed.
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v2(150, "1s", ""));
    net.node("b", [10, 99, 0, 12], &v2(100, "2s", ""));
    net.run_until(10 * S);
    assert_eq!(net.state(0), State::Master);
    assert_eq!(net.state(1), State::Master, "split brain by configuration");
    assert!(
        net.first("b", "disagrees reason=interval", Duration::ZERO)
            .is_some()
    );
    let st = net.nodes[1].router.status(net.now);
    assert_eq!(st.instances[0].masters_observed, 2);
    assert_eq!(
        st.instances[0].peers[0].disagrees.as_deref(),
        Some("interval")
    );
}

#[test]
fn noise_is_not_a_disagreement() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let mut bytes = advert(Version::V3, 51, 200, 100, &[ip(51)], ip(11), group());
    bytes[6] ^= 0xff; // checksum
    net.with(0, |r, now| {
        r.handle_packet(
            now,
            Packet {
                port: PortId(0),
                src: ip(11),
                dst: group(),
                ttl: 255,
                bytes: &bytes,
            },
        )
    });
    assert!(
        net.first("b", "drop reason=checksum", Duration::ZERO)
            .is_some()
    );
    assert!(net.first("b", "disagrees", Duration::ZERO).is_none());
    assert_eq!(
        net.nodes[0].router.status(net.now).instances[0].masters_observed,
        0
    );
}

#[test]
fn unknown_vrid_is_counted_on_the_port() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let bytes = advert(Version::V3, 99, 200, 100, &[ip(51)], ip(11), group());
    net.with(0, |r, now| {
        r.handle_packet(
            now,
            Packet {
                port: PortId(0),
                src: ip(11),
                dst: group(),
                ttl: 255,
                bytes: &bytes,
            },
        )
    });
    let st = net.nodes[0].router.status(net.now);
    assert_eq!(st.sockets[0].dropped_before_demux.get("vrid"), Some(&1));
}

#[test]
fn filtered_series_exists_before_the_first_filtered_advert() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let r = &mut net.nodes[0].router;
    let mut counts = HashMap::new();
    counts.insert((51u8, ip(11)), 3u64);
    r.handle_tap(PortId(0), counts.clone());
    let facts: Vec<Effect> = std::iter::from_fn(|| r.poll_effect()).collect();
    assert!(
        facts.iter().any(
            |e| matches!(e, Effect::Fact(Fact::FilteredSource { peer, .. }) if *peer == ip(11))
        )
    );
    assert!(
        !facts
            .iter()
            .any(|e| matches!(e, Effect::Fact(Fact::Filtered { .. })))
    );
    // One report later, none of the three reached the socket: a firewall.
    r.handle_tap(PortId(0), counts);
    let facts: Vec<Effect> = std::iter::from_fn(|| r.poll_effect()).collect();
    assert!(
        facts.iter().any(|e| matches!(
            e,
            Effect::Fact(Fact::Filtered {
                count: 3,
                first: true,
                ..
            })
        )),
        "{facts:?}"
    );
}

/// Sum of the `Filtered` counts among the effects.
fn filtered_count(r: &mut Router) -> u64 {
    std::iter::from_fn(|| r.poll_effect())
        .map(|e| match e {
            Effect::Fact(Fact::Filtered { count, .. }) => count,
            _ => 0,
        })
        .sum()
}

#[test]
fn filtered_count_is_exact_and_stops_once_healed_whatever_is_in_flight() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let bytes = advert(Version::V3, 51, 200, 100, &[ip(51)], ip(11), group());
    let r = &mut net.nodes[0].router;
    let now = net.now;
    let deliver = |r: &mut Router, n: u64| {
        for _ in 0..n {
            r.handle_packet(
                now,
                Packet {
                    port: PortId(0),
                    src: ip(11),
                    dst: group(),
                    ttl: 255,
                    bytes: &bytes,
                },
            );
        }
    };
    let report = |r: &mut Router, wire: u64| {
        let mut counts = HashMap::new();
        counts.insert((51u8, ip(11)), wire);
        r.handle_tap(PortId(0), counts);
        filtered_count(r)
    };
    // Healthy, with one frame in flight at the second report (seen, not yet delivered).
    deliver(r, 10);
    assert_eq!(report(r, 10), 0);
    deliver(r, 9);
    assert_eq!(report(r, 20), 0);
    deliver(r, 1);
    // A firewall eats 40 frames over two reports; each is counted once, one report later
    // (one as soon as the balance has been positive at two reports).
    assert_eq!(report(r, 40), 1);
    assert_eq!(report(r, 60), 19);
    // The heal falls between two reports: 2 of the next 10 are eaten.
    deliver(r, 8);
    assert_eq!(report(r, 70), 20);
    deliver(r, 9);
    assert_eq!(report(r, 80), 2, "one in flight now");
    // Healed: whatever the number of adverts between reports and whether one is in flight
    // at a report, the count stays put.
    for (got, wire) in [
        (11, 90),
        (9, 100),
        (12, 111),
        (8, 120),
        (10, 129),
        (13, 142),
    ] {
        deliver(r, got);
        assert_eq!(report(r, wire), 0, "healed, wire {wire}");
    }
}

#[test]
fn shutdown_order_priority_zero_then_addresses_then_sockets() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    assert!(!net.nodes[0].router.stopped(), "holding until b is master");
    net.run_until(t + Duration::from_secs(2));
    assert!(net.nodes[0].router.stopped());
    let order: Vec<&str> = net
        .find("a", "", t)
        .iter()
        .map(|e| e.what.as_str())
        .filter(|w| w.starts_with("send") || *w == "remove" || *w == "close")
        .collect();
    assert_eq!(
        order,
        vec!["send prio=0 dst=224.0.0.18 count=1", "remove", "close"]
    );
    // Make-before-break, in effect order: b adds and announces, then advertises, and only
    // then does a remove its addresses.
    let pos = |node: &str, what: &str| {
        net.events
            .iter()
            .position(|e| e.node == node && e.at >= t && e.what.starts_with(what))
            .unwrap_or_else(|| panic!("{node} {what} missing"))
    };
    assert!(pos("b", "add") < pos("b", "announce"));
    assert!(pos("b", "announce") < pos("b", "send prio=100"));
    assert!(pos("b", "send prio=100") < pos("a", "remove"));
}

#[test]
fn instances_start_only_after_their_interface_lookup_answers() {
    let mut net = Net::new();
    let mut r = Router::new(testnet::config(&v3(100, "")), net.now);
    let first: Vec<Effect> = std::iter::from_fn(|| r.poll_effect()).collect();
    assert!(
        first
            .iter()
            .any(|e| matches!(e, Effect::Lookup { ifname, .. } if ifname == "eth0"))
    );
    assert!(
        !first
            .iter()
            .any(|e| matches!(e, Effect::Fact(Fact::Transition { .. })))
    );
    let answer = testnet::iface("eth0", [10, 99, 0, 12].into(), 2);
    net.now += MS;
    r.handle_iface(net.now, "eth0", Ok(answer));
    let after: Vec<Effect> = std::iter::from_fn(|| r.poll_effect()).collect();
    assert!(after.iter().any(|e| matches!(e, Effect::OpenPort { .. })));
    assert!(after.iter().any(|e| matches!(
        e,
        Effect::Fact(Fact::Transition {
            to: State::Backup,
            ..
        })
    )));
}

#[test]
fn a_master_puts_back_a_virtual_address_removed_by_hand() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    for i in [0, 1] {
        net.with(i, |r, now| r.handle_address(now, 2, ip(51), false));
    }
    let adds = net.find("a", "add", t);
    assert_eq!(adds.len(), 1, "{:?}", net.find("a", "", t));
    let Effect::AddAddresses { vips, .. } = &adds[0].effect else {
        unreachable!()
    };
    assert_eq!(vips.iter().map(|v| v.addr).collect::<Vec<_>>(), [ip(51)]);
    assert!(net.first("a", "announce count=5", t).is_some());
    assert!(net.find("b", "add", t).is_empty(), "a backup adds nothing");
    // Another address gone (not ours): nothing to put back.
    net.with(0, |r, now| r.handle_address(now, 2, ip(99), false));
    assert_eq!(net.find("a", "add", t).len(), 1);
}

#[test]
fn a_removed_source_address_asks_for_a_fresh_lookup() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.with(1, |r, now| r.handle_address(now, 2, ip(12), false));
    assert!(net.first("b", "lookup eth0", t).is_some());
}

/// A tracked process's reports as the watcher sends them.
fn process(running: u32, up: bool) -> TrackEvent {
    TrackEvent::Process {
        name: "web".into(),
        running,
        up,
    }
}

#[test]
fn tracked_process_down_lowers_the_priority_like_a_script_and_the_backup_takes_over() {
    let processes = "processes:\n  web: {name: nginx, weight: -60}\n";
    let cfg = |p: u8| format!("{processes}{}", v3(p, "    track_processes: [web]\n"));
    let mut net = pair(cfg, 150, 100);
    // The first report (a full scan) finds it running: nothing changes.
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &process(2, true)));
    net.with(1, |r, now| r.handle_track(now, &process(1, true)));
    net.run_until(t + 3 * S);
    assert_eq!(net.state(0), State::Master);
    // A count change within the quorum moves nothing either.
    net.with(0, |r, now| r.handle_track(now, &process(1, true)));
    net.run_until(t + 4 * S);
    assert!(net.first("a", "send prio=150", t).is_some());
    assert!(net.first("a", "send prio=90", t).is_none());
    // nginx dies on a: 150 - 60 = 90 < 100, b preempts.
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &process(0, false)));
    assert!(
        net.first("a", "send prio=90", t).is_some(),
        "{:?}",
        net.find("a", "send", t)
    );
    // b ignores the lower master's adverts and takes over after its master down interval.
    net.run_until(t + 5 * S);
    assert_eq!(net.state(1), State::Master);
    assert_eq!(net.state(0), State::Backup);
    // Back: a preempts again.
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &process(1, true)));
    // A backup preempts when the lower master's adverts stop counting: master down interval.
    net.run_until(t + 5 * S);
    assert_eq!(net.state(0), State::Master);
}

#[test]
fn tracked_process_weight_zero_means_fault_and_the_entry_weight_overrides() {
    let processes = "processes:\n  web: {name: nginx}\n";
    let cfg = |p: u8| format!("{processes}{}", v3(p, "    track_processes: [web]\n"));
    let mut net = pair(cfg, 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &process(0, false)));
    assert_eq!(net.state(0), State::Fault);
    net.run_until(t + 4 * S);
    assert_eq!(net.state(1), State::Master);
    net.with(0, |r, now| r.handle_track(now, &process(1, true)));
    net.run_until(t + 8 * S);
    assert_eq!(net.state(0), State::Master);

    // `{name: web, weight: -10}`: down is 140, still above the backup, no Fault.
    let cfg = |p: u8| {
        format!(
            "{processes}{}",
            v3(p, "    track_processes: [{name: web, weight: -10}]\n")
        )
    };
    let mut net = pair(cfg, 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_track(now, &process(0, false)));
    net.run_until(t + 4 * S);
    assert_eq!(net.state(0), State::Master);
    assert!(net.first("a", "send prio=140", t).is_some());
}

#[test]
fn reload_restarts_the_process_watcher_only_when_processes_change() {
    let with = |procs: &str| {
        testnet::config(&format!(
            "processes:\n{procs}{}",
            v3(150, "    track_processes: [web]\n")
        ))
    };
    let old = with("  web: {name: nginx, weight: -60}\n");
    let same = with("  web: {name: nginx, weight: -60}\n");
    let other = with("  web: {name: nginx, weight: -60, delay: 1s}\n");
    assert!(!reload::plan(&old, &same).processes_changed);
    assert!(reload::plan(&old, &other).processes_changed);
    let mut r = Router::new(old, Instant::now());
    while r.poll_effect().is_some() {}
    r.handle_track(Instant::now(), &process(0, false));
    assert!(!r.process_up("web"));
    r.handle_reload(Instant::now(), other);
    let mut effects = Vec::new();
    while let Some(e) = r.poll_effect() {
        effects.push(e);
    }
    assert!(
        effects.iter().any(|e| matches!(e, Effect::TrackProcesses)),
        "{effects:?}"
    );
    // Kept until the new watcher's first report.
    assert!(!r.process_up("web"));
    // Removed: forgotten.
    let none = testnet::config(&v3(150, ""));
    r.handle_reload(Instant::now(), none);
    assert!(r.process_up("web"));
}

#[test]
fn drain_of_an_unknown_instance_is_an_error_and_changes_nothing() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let now = net.now;
    let r = &mut net.nodes[0].router;
    let err = r
        .handle_drain(now, &["VI_1".into(), "nope".into()], true, "uid=0 pid=1")
        .unwrap_err();
    assert!(err.contains("no instance named nope"), "{err}");
    assert!(err.contains("configured: VI_1"), "{err}");
    assert!(r.drained().is_empty());
    assert_eq!(net.state(0), State::Master);
    // Draining twice changes nothing the second time.
    let r = &mut net.nodes[0].router;
    assert_eq!(r.handle_drain(now, &[], true, "t"), Ok(vec!["VI_1".into()]));
    assert_eq!(r.handle_drain(now, &[], true, "t"), Ok(vec![]));
}

#[test]
fn drained_instance_stays_drained_across_reloads_that_keep_or_restart_it() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    for i in 0..2 {
        let r = &net.nodes[i].router;
        assert!(
            !r.engine(r.ids()[0]).unwrap().drained(),
            "nobody drained yet"
        );
    }
    net.with(0, |r, now| {
        r.handle_drain(now, &["VI_1".into()], true, "t").unwrap();
    });
    let t = net.elapsed();
    net.run_until(t + 2 * S);
    assert_eq!(net.state(0), State::Backup);
    assert_eq!(net.state(1), State::Master);
    // Update in place (priority change), then a restart (VRID change keeps the name).
    for yaml in [v3(160, ""), v3(160, "").replace("vrid: 51", "vrid: 52")] {
        let c = super::testnet::config(&yaml);
        net.with(0, |r, now| {
            r.handle_reload(now, c);
        });
        let t = net.elapsed();
        net.run_until(t + 10 * S);
        let r = &net.nodes[0].router;
        assert_eq!(r.drained(), vec!["VI_1".to_owned()]);
        let id = r.ids()[0];
        assert!(r.engine(id).unwrap().drained());
        assert_eq!(net.state(0), State::Backup, "{yaml}");
    }
    // A reload that removes the instance forgets its drain.
    let other = v3(150, "").replace("VI_1", "VI_2");
    let c = super::testnet::config(&other);
    net.with(0, |r, now| {
        r.handle_reload(now, c);
    });
    assert!(net.nodes[0].router.drained().is_empty());
}

#[test]
fn second_stop_request_releases_at_once() {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.run_until(10 * S);
    assert_eq!(net.state(0), State::Master);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    assert!(!net.nodes[0].router.stopped());
    assert!(net.first("a", "remove", t).is_none());
    net.with(0, |r, now| r.handle_shutdown_now(now));
    assert!(net.nodes[0].router.stopped());
    assert_eq!(net.first("a", "remove", t), Some(t));
    assert_eq!(net.first("a", "close", t), Some(t));
}

#[test]
fn status_shows_drained_and_holding() {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.run_until(10 * S);
    net.with(0, |r, now| {
        r.handle_drain(now, &[], true, "t").unwrap();
    });
    let s = net.nodes[0].router.status(net.now);
    let i = &s.instances[0];
    assert!(i.drained && i.holding_addresses);
    assert_eq!(i.state, "backup");
    assert!(i.timers.contains_key("release_in_ms"), "{:?}", i.timers);
    let t = net.elapsed();
    net.run_until(t + 5 * S);
    let s = net.nodes[0].router.status(net.now);
    assert!(s.instances[0].drained && !s.instances[0].holding_addresses);
}

#[test]
fn status_gives_timers_and_peer_ages_in_milliseconds() {
    // a (150) is master, b (100) its backup; each advert 1 s apart. Read /status between two.
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(10 * S);
    let at = net.now + Duration::from_millis(250);
    let a = net.nodes[0].router.status(at);
    let adver = a.instances[0].timers["adver_in_ms"];
    assert!(
        adver > 0.0 && adver <= 1000.0,
        "{:?}",
        a.instances[0].timers
    );
    let b = net.nodes[1].router.status(at);
    let down = b.instances[0].timers["master_down_in_ms"];
    // Master_Down_Interval 3 s + skew 0.61 s after a's last advert.
    assert!(
        down > 2000.0 && down <= 3610.0,
        "{:?}",
        b.instances[0].timers
    );
    let age = b.instances[0].peers[0].last_advert_ms_ago;
    assert!((250.0..1250.0).contains(&age), "{age}");
}

/// The core has no clock: every decision depends on the `now` values it is given, and only on
/// their differences. The same election fed instants from two origins ten years apart (what a
/// wall-clock jump could at most look like, if a wall clock were used) produces the same
/// events at the same offsets. The shell feeds it CLOCK_MONOTONIC (`Instant`, the timerfd), so
/// a step of CLOCK_REALTIME reaches only the Unix timestamps of metrics and /status.
#[test]
fn decisions_depend_only_on_differences_of_now_not_on_its_origin() {
    let run = |origin: std::time::Instant| -> Vec<(Duration, String, String)> {
        let mut net = Net::new();
        net.t0 = origin;
        net.now = origin;
        net.node("a", [10, 99, 0, 11], &v3(150, ""));
        net.node("b", [10, 99, 0, 12], &v3(100, ""));
        net.run_until(10 * S);
        net.link(0, false);
        net.run_until(15 * S);
        net.link(0, true);
        net.run_until(25 * S);
        net.with(0, |r, now| r.handle_shutdown(now));
        net.run_until(35 * S);
        net.events
            .iter()
            .map(|e| (e.at, e.node.clone(), e.what.clone()))
            .collect()
    };
    let now = std::time::Instant::now();
    let here = run(now);
    let later = run(now + Duration::from_secs(10 * 365 * 24 * 3600));
    assert!(
        here.iter()
            .any(|(_, n, w)| n == "b" && w == "transition BACKUP -> MASTER"),
        "{here:?}"
    );
    assert_eq!(here, later);
}

#[test]
fn a_reload_that_tracks_a_new_interface_looks_it_up_and_no_known_one_again() {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.run_until(2 * S);
    let t = net.elapsed();
    net.with(0, |r, now| {
        r.handle_reload(
            now,
            testnet::config(&v3(150, "    track_interfaces: [eth7, eth0]\n")),
        );
    });
    net.run_until(t + S);
    assert!(
        net.first("a", "lookup eth7", t).is_some(),
        "{:?}",
        net.events
    );
    assert!(
        net.first("a", "lookup eth0", t).is_none(),
        "{:?}",
        net.events
    );
}

#[test]
fn a_repeated_link_event_with_no_change_does_nothing() {
    // The kernel sends RTM_NEWLINK for many reasons; "up" again for an interface known to be
    // up is no news: no lookup, no transition.
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.run_until(5 * S);
    let t = net.elapsed();
    let before = net.events.len();
    net.with(0, |r, now| r.handle_link(now, "eth0", true));
    let new: Vec<&str> = net.events[before..]
        .iter()
        .map(|e| e.what.as_str())
        .collect();
    assert!(new.is_empty(), "{new:?}");
    net.run_until(t + S);
    assert!(
        net.first("a", "lookup", t).is_none(),
        "{:?}",
        &net.events[before..]
    );
    assert!(net.first("a", "transition", t).is_none());
}

/// One node running `yaml` with `eth0` adjusted by `adjust`, after three and a half RETRYs.
fn after_retries(yaml: &str, adjust: impl FnOnce(&mut IfaceInfo)) -> Net {
    let mut net = Net::new();
    net.node_with("a", [10, 99, 0, 11], yaml, adjust);
    net.run_until(RETRY * 3 + RETRY / 2);
    net
}

#[test]
fn a_missing_interface_or_source_address_is_looked_up_again_every_retry() {
    let count = |net: &Net, what: &str| net.find("a", what, Duration::ZERO).len();
    // The interface does not exist (yet): asked again every RETRY until it appears.
    let net = after_retries(
        &v3(150, "").replace("interface: eth0", "interface: eth9"),
        |_| {},
    );
    assert_eq!(count(&net, "lookup eth9"), 4, "{:?}", net.events);
    assert_eq!(net.state(0), State::Fault);
    // A missing interface is not a missing source address.
    assert_eq!(count(&net, "no source address"), 0);
    // The interface is up but has no IPv4 address to advertise from: the same.
    let net = after_retries(&v3(150, ""), |f| f.ipv4_primary = None);
    assert_eq!(count(&net, "lookup eth0"), 4, "{:?}", net.events);
    assert_eq!(count(&net, "send"), 0);
    assert_eq!(count(&net, "no source address"), 4);
    // The link down (with its address): retried, but no missing source reported.
    let net = after_retries(&v3(150, ""), |f| f.up = false);
    assert_eq!(net.state(0), State::Fault);
    assert_eq!(count(&net, "no source address"), 0);
    // Down and without an address: no retry either; the link event that brings it up asks
    // again.
    let net = after_retries(&v3(150, ""), |f| {
        f.up = false;
        f.ipv4_primary = None;
    });
    assert_eq!(count(&net, "lookup eth0"), 1);
    // A healthy instance looks its interface up once.
    let net = after_retries(&v3(150, ""), |_| {});
    assert_eq!(net.state(0), State::Master);
    assert_eq!(count(&net, "lookup eth0"), 1);
}

#[test]
fn a_tracked_interface_that_is_missing_or_down_at_start_faults_the_instance() {
    let mut net = Net::new();
    net.node(
        "a",
        [10, 99, 0, 11],
        &v3(150, "    track_interfaces: [eth7]\n"),
    );
    net.run_until(3 * S);
    assert!(net.first("a", "lookup eth7", Duration::ZERO).is_some());
    assert_eq!(net.state(0), State::Fault, "{:?}", net.events);
    assert!(net.find("a", "send", Duration::ZERO).is_empty());
}

#[test]
fn a_steady_pair_reports_no_hold() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    net.run_until(net.elapsed() + 10 * S);
    assert!(
        net.find("a", "hold", Duration::ZERO).is_empty(),
        "{:?}",
        net.find("a", "hold", Duration::ZERO)
    );
    assert!(net.find("b", "hold", Duration::ZERO).is_empty());
}

#[test]
fn the_wire_tap_comparison_keeps_at_most_max_tap_keys_sources_per_port() {
    let mut net = Net::new();
    net.node("b", [10, 99, 0, 12], &v3(100, ""));
    net.run_until(100 * MS);
    let r = &mut net.nodes[0].router;
    let now = net.now;
    let src = |n: usize| IpAddr::from([10, 99, 100 + (n / 250) as u8, 1 + (n % 250) as u8]);
    let deliver = |r: &mut Router, from: IpAddr| {
        let bytes = advert(Version::V3, 51, 200, 100, &[ip(51)], from, group());
        r.handle_packet(
            now,
            Packet {
                port: PortId(0),
                src: from,
                dst: group(),
                ttl: 255,
                bytes: &bytes,
            },
        );
    };
    for n in 0..MAX_TAP_KEYS + 10 {
        deliver(r, src(n));
    }
    let delivered = |r: &Router| r.ports[0].as_ref().unwrap().delivered.clone();
    let d = delivered(r);
    assert_eq!(d.len(), MAX_TAP_KEYS);
    assert!(!d.contains_key(&(51, src(MAX_TAP_KEYS))));
    // A source already counted still is; a new one still is not.
    deliver(r, src(0));
    deliver(r, src(MAX_TAP_KEYS + 20));
    let d = delivered(r);
    assert_eq!(d.len(), MAX_TAP_KEYS);
    assert_eq!(d.get(&(51, src(0))), Some(&2));
}

#[test]
fn a_tracked_interface_going_down_faults_the_instance_and_coming_back_recovers_it() {
    let mut net = Net::new();
    net.node_multi(
        "a",
        &[[10, 99, 0, 11], [10, 99, 1, 11]],
        &v3(150, "    track_interfaces: [eth1]\n"),
    );
    net.run_until(5 * S);
    assert_eq!(net.state(0), State::Master);
    net.link_iface(0, "eth1", false);
    net.run_until(net.elapsed() + S);
    assert_eq!(net.state(0), State::Fault, "{:?}", net.events);
    net.link_iface(0, "eth1", true);
    net.run_until(net.elapsed() + 5 * S);
    assert_eq!(net.state(0), State::Master, "{:?}", net.events);
}

#[test]
fn a_backup_reports_the_master_it_follows_once_not_with_every_advert() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    net.run_until(net.elapsed() + 10 * S);
    let became: Vec<IpAddr> = net
        .events
        .iter()
        .filter(|e| e.node == "b")
        .filter_map(|e| match &e.effect {
            Effect::Fact(Fact::Received {
                peer,
                became_master: true,
                ..
            }) => Some(*peer),
            _ => None,
        })
        .collect();
    assert_eq!(became, [ip(11)]);
    assert!(net.find("b", "received prio=150", Duration::ZERO).len() > 5);
}

#[test]
fn notify_hooks_run_only_where_configured() {
    // No hooks configured: no notify effect at all, whatever the transitions.
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 5 * S);
    assert_eq!(net.state(1), State::Master);
    assert!(net.find("a", "notify", Duration::ZERO).is_empty());
    assert!(net.find("b", "notify", Duration::ZERO).is_empty());
    // Hooks configured: the states entered are notified.
    let hooks = "    notify: {master: [/bin/true], backup: [/bin/true]}\n";
    let mut net = pair(|p| v3(p, hooks), 150, 100);
    assert!(net.first("a", "notify MASTER", Duration::ZERO).is_some());
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 5 * S);
    assert!(net.first("b", "notify MASTER", t).is_some());
}

#[test]
fn an_address_appearing_on_a_healthy_interface_asks_the_kernel_nothing() {
    // Netlink reports every address added, the master's own virtual ones included: on an
    // interface whose link is fine that is no reason to look it up again.
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    let before = net.find("a", "lookup eth0", Duration::ZERO).len();
    net.with(0, |r, now| {
        r.handle_address(now, 2, ip(51), true);
        r.handle_address(now, 2, IpAddr::from([10, 99, 0, 77]), true);
    });
    net.run_until(t + S);
    assert_eq!(net.find("a", "lookup eth0", Duration::ZERO).len(), before);
    // Its source address going away is: the instance needs a new one.
    net.with(0, |r, now| r.handle_address(now, 2, ip(11), false));
    assert!(net.first("a", "lookup eth0", t).is_some());
}

#[test]
fn a_link_flap_without_tracking_weights_reports_no_priority_change() {
    let mut net = pair(|p| v3(p, ""), 150, 100);
    net.link(0, false);
    net.run_until(net.elapsed() + 2 * S);
    net.link(0, true);
    net.run_until(net.elapsed() + 5 * S);
    assert_eq!(net.state(0), State::Master);
    assert!(
        net.find("a", "priority", Duration::ZERO).is_empty(),
        "{:?}",
        net.find("a", "priority", Duration::ZERO)
    );
}

#[test]
fn the_state_summary_names_every_instance_and_its_state() {
    let net = pair(|p| v3(p, ""), 150, 100);
    assert_eq!(
        net.nodes[0].router.state_summary(),
        vec![("VI_1".to_owned(), State::Master)]
    );
    assert_eq!(
        net.nodes[1].router.state_summary(),
        vec![("VI_1".to_owned(), State::Backup)]
    );
}

#[test]
fn a_tracked_interface_going_down_faults_the_instance_before_its_lookup_is_answered() {
    // The link event itself decides (keepalived acts on RTM_NEWLINK at once); the lookup it
    // asks for only refreshes addresses and index.
    let mut net = Net::new();
    net.node_multi(
        "a",
        &[[10, 99, 0, 11], [10, 99, 1, 11]],
        &v3(150, "    track_interfaces: [eth1]\n"),
    );
    net.run_until(5 * S);
    assert_eq!(net.state(0), State::Master);
    let now = net.now;
    let r = &mut net.nodes[0].router;
    r.handle_link(now, "eth1", false);
    let id = r.ids()[0];
    assert_eq!(r.engine(id).map(|e| e.state()), Some(State::Fault));
    let queued: Vec<Effect> = std::iter::from_fn(|| r.poll_effect()).collect();
    assert!(
        queued
            .iter()
            .any(|e| matches!(e, Effect::Lookup { ifname, .. } if ifname == "eth1")),
        "{queued:?}"
    );
}

#[test]
fn nothing_is_decided_before_every_interface_of_an_instance_has_been_looked_up() {
    // eth0 is known, the tracked eth1 not yet: no Start (an unknown interface would read
    // as down and fault the instance for nothing).
    let mut r = Router::new(
        testnet::config(&v3(150, "    track_interfaces: [eth1]\n")),
        Instant::now(),
    );
    let now = Instant::now();
    let mut asked = Vec::new();
    while let Some(e) = r.poll_effect() {
        if let Effect::Lookup { ifname, .. } = e {
            asked.push(ifname);
        }
    }
    assert_eq!(asked, ["eth0", "eth1"]);
    let id = r.ids()[0];
    r.handle_iface(
        now,
        "eth0",
        Ok(testnet::iface("eth0", [10, 99, 0, 11].into(), 2)),
    );
    let transitions = |r: &mut Router| {
        std::iter::from_fn(|| r.poll_effect())
            .filter(|e| matches!(e, Effect::Fact(Fact::Transition { .. })))
            .count()
    };
    assert_eq!(transitions(&mut r), 0);
    assert_eq!(r.engine(id).map(|e| e.state()), Some(State::Init));
    r.handle_iface(
        now,
        "eth1",
        Ok(testnet::iface("eth1", [10, 99, 1, 11].into(), 3)),
    );
    assert_eq!(transitions(&mut r), 1);
    assert_eq!(r.engine(id).map(|e| e.state()), Some(State::Backup));
}

#[test]
fn a_port_that_cannot_be_opened_faults_its_instances_and_is_retried_after_retry() {
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &v3(150, ""));
    net.run_until(5 * S);
    assert_eq!(net.state(0), State::Master);
    let t = net.elapsed();
    net.with(0, |r, now| {
        r.handle_port_failed(now, PortId(0), "Operation not permitted".into())
    });
    assert_eq!(net.state(0), State::Fault, "{:?}", net.find("a", "", t));
    assert_eq!(net.find("a", "remove", t).len(), 1);
    // Not at once (a failing socket would spin): one RETRY later, looked up and opened again.
    net.run_until(t + 6 * S);
    assert_eq!(net.first("a", "lookup eth0", t), Some(t + RETRY));
    assert_eq!(net.first("a", "open", t), Some(t + RETRY));
    assert_eq!(net.state(0), State::Master, "{:?}", net.find("a", "", t));
}

#[test]
fn a_reload_restarts_check_scripts_only_when_the_set_of_scripts_changes() {
    let chk = |names: &[&str]| {
        let mut s = String::from("scripts:\n");
        for n in names {
            s.push_str(&format!("  {n}: {{command: [/bin/true]}}\n"));
        }
        s
    };
    let with = |names: &[&str]| {
        let track = if names.is_empty() {
            String::new()
        } else {
            format!("    track_scripts: [{}]\n", names.join(", "))
        };
        let head = if names.is_empty() {
            String::new()
        } else {
            chk(names)
        };
        format!("{head}{}", v3(150, &track))
    };
    let mut net = Net::new();
    net.node("a", [10, 99, 0, 11], &with(&["a1"]));
    net.run_until(2 * S);
    let reload = |net: &mut Net, yaml: String| {
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_reload(now, testnet::config(&yaml));
        });
        let s: Vec<String> = net
            .find("a", "scripts", t)
            .iter()
            .map(|e| e.what.clone())
            .collect();
        net.run_until(t + S);
        s
    };
    // The same scripts: nothing is restarted.
    assert_eq!(reload(&mut net, with(&["a1"])), Vec::<String>::new());
    // One more: only it starts.
    assert_eq!(
        reload(&mut net, with(&["a1", "b2"])),
        ["scripts stop=[] start=[\"b2\"]"]
    );
    // One fewer: only it stops.
    assert_eq!(
        reload(&mut net, with(&["b2"])),
        ["scripts stop=[\"a1\"] start=[]"]
    );
}

#[test]
fn a_lookup_excludes_the_virtual_addresses_of_the_instances_on_that_interface_only() {
    // The shell picks the interface's primary address as the advert source; a virtual
    // address there must not be taken for it, one on another interface is not in the way.
    let yaml = "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: 150\n    virtual_ipaddress: [10.99.0.51/24]\n  VI_2:\n    interface: eth1\n    vrid: 52\n    priority: 150\n    virtual_ipaddress: [10.99.1.52/24]\n";
    let mut net = Net::new();
    net.node_multi("a", &[[10, 99, 0, 11], [10, 99, 1, 11]], yaml);
    let exclude = |name: &str| -> Vec<IpAddr> {
        match &net.find("a", &format!("lookup {name}"), Duration::ZERO)[0].effect {
            Effect::Lookup { exclude, .. } => exclude.clone(),
            e => panic!("{e:?}"),
        }
    };
    assert_eq!(exclude("eth0"), [ip(51)]);
    assert_eq!(exclude("eth1"), [IpAddr::from([10, 99, 1, 52])]);
}

#[test]
fn shutting_down_with_no_static_items_uninstalls_nothing_else() {
    // Static addresses, routes and rules are removed last, once; with none, no empty removal.
    let mut net = pair(|p| v3(p, ""), 150, 100);
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 5 * S);
    let statics: Vec<&str> = net
        .find("a", "", t)
        .iter()
        .filter(|e| matches!(e.effect, Effect::Uninstall { inst: None, .. }))
        .map(|e| e.what.as_str())
        .collect();
    assert!(statics.is_empty(), "{statics:?}");
    assert!(net.first("a", "close", t).is_some());
}

#[test]
fn the_effect_queue_gives_back_the_room_of_a_start_up_burst_once_drained() {
    // 250 instances on one interface: their start queues well over OUT_KEPT effects.
    let mut yaml = String::from("instances:\n");
    for i in 1..=250u32 {
        yaml.push_str(&format!(
            "  VI_{i}:\n    interface: eth0\n    vrid: {i}\n    priority: 100\n    advert_interval: 1s\n    virtual_ipaddress: [10.99.1.{i}/24]\n"
        ));
    }
    let mut net = Net::new();
    let mut r = Router::new(testnet::config(&yaml), net.now);
    while r.poll_effect().is_some() {}
    net.now += MS;
    r.handle_iface(
        net.now,
        "eth0",
        Ok(testnet::iface("eth0", [10, 99, 0, 12].into(), 2)),
    );
    let queued = r.out.len();
    assert!(queued > OUT_KEPT, "{queued} effects queued");
    let drained = std::iter::from_fn(|| r.poll_effect()).count();
    assert_eq!(drained, queued);
    assert!(r.out.capacity() <= OUT_KEPT.next_power_of_two());
    // Steady state keeps its room: a queue within OUT_KEPT is not shrunk.
    let kept = r.out.capacity();
    net.now += 10 * S;
    r.handle_timeout(net.now);
    while r.poll_effect().is_some() {}
    assert_eq!(r.out.capacity(), kept);
}

/// A master of many instances whose deadlines fall together queues one observation per timer
/// (`TimerLate`) between its adverts; none of them may split the round, or the shell sends one
/// advert per `sendmmsg` (issue 14: 25,000 system calls a second at 250 x 10 ms).
#[test]
fn a_round_of_adverts_is_not_split_by_observations() {
    let mut yaml = String::from("instances:\n");
    for v in 1..=20 {
        yaml.push_str(&format!(
            "  VI_{v}:\n    interface: eth0\n    vrid: {v}\n    priority: 150\n    advert_interval: 10ms\n    virtual_ipaddress: [10.99.1.{v}/24]\n"
        ));
    }
    let t0 = Instant::now();
    let mut r = Router::new(super::testnet::config(&yaml), t0);
    r.handle_iface(
        t0,
        "eth0",
        Ok(super::testnet::iface("eth0", [10, 99, 0, 11].into(), 2)),
    );
    while r.poll_effect().is_some() {}
    // Past Master_Down: every instance is master; then one round more, all due at once.
    let mut now = t0;
    let mut last_round = Vec::new();
    for _ in 0..10 {
        now = r.poll_timeout().expect("a deadline");
        r.handle_timeout(now);
        last_round = std::iter::from_fn(|| r.poll_effect()).collect();
    }
    let sends: Vec<usize> = last_round
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Effect::Send { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        sends.len(),
        20,
        "one advert per instance at {now:?}: {last_round:?}"
    );
    let (first, last) = (sends[0], sends[sends.len() - 1]);
    let splitting: Vec<&Effect> = last_round[first..=last]
        .iter()
        .filter(|e| e.waits_for_sends())
        .collect();
    assert!(splitting.is_empty(), "{splitting:?}");
    assert!(
        last_round[first..=last]
            .iter()
            .any(|e| matches!(e, Effect::Fact(Fact::TimerLate { .. }))),
        "the observations are still there"
    );
}

#[test]
fn what_waits_for_queued_adverts() {
    let removed = Effect::Fact(Fact::InstanceRemoved {
        inst: InstId(0),
        name: "VI_1".into(),
    });
    assert!(removed.waits_for_sends());
    assert!(Effect::Fact(Fact::InstanceAdded { inst: InstId(0) }).waits_for_sends());
    assert!(Effect::ClosePort { port: PortId(0) }.waits_for_sends());
    assert!(
        Effect::RemoveAddresses {
            inst: InstId(0),
            ifindex: 2,
            vips: Vec::new()
        }
        .waits_for_sends()
    );
    assert!(!Effect::Fact(Fact::TimerLate { late: MS }).waits_for_sends());
}

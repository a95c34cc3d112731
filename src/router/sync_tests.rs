//! Sync group rules (`router::sync`) on a virtual network of two LANs: each node has `eth0`
//! (the outside leg, instance OUT) and `eth1` (the inside leg, instance IN), one group GW.

use std::time::Duration;

use super::sync::group_state;
use super::testnet::Net;
use crate::engine::State;

const S: Duration = Duration::from_secs(1);

fn gw(out: u8, inside: u8, extra_group: &str) -> String {
    format!(
        "instances:
  OUT:
    interface: eth0
    vrid: 1
    priority: {out}
    advert_interval: 1s
    virtual_ipaddress: [10.99.1.1/24]
  IN:
    interface: eth1
    vrid: 2
    priority: {inside}
    advert_interval: 1s
    virtual_ipaddress: [10.99.2.1/24]
sync_groups:
  GW:
    instances: [OUT, IN]
    notify: {{master: [/bin/m], backup: [/bin/b], fault: [/bin/f], any: [/bin/a]}}
{extra_group}"
    )
}

/// a (150 on both legs) master of both, b (100 on both) backup of both.
fn gateway() -> Net {
    let mut net = Net::new();
    net.node_multi("a", &[[10, 99, 1, 11], [10, 99, 2, 11]], &gw(150, 150, ""));
    net.node_multi("b", &[[10, 99, 1, 12], [10, 99, 2, 12]], &gw(100, 100, ""));
    net.run_until(10 * S);
    for m in ["OUT", "IN"] {
        assert_eq!(net.state_of(0, m), State::Master, "a {m}: {:?}", net.events);
        assert_eq!(net.state_of(1, m), State::Backup, "b {m}");
    }
    net
}

fn group(net: &Net, i: usize) -> Option<State> {
    net.nodes[i].router.sync_groups()[0].1
}

#[test]
fn group_state_is_fault_if_one_is_master_if_all_else_backup() {
    use State::*;
    assert_eq!(group_state(&[Master, Master], false), Some(Master));
    assert_eq!(group_state(&[Master, Backup], false), Some(Backup));
    assert_eq!(group_state(&[Master, Fault], false), Some(Fault));
    assert_eq!(group_state(&[Backup, Init], false), Some(Init));
    assert_eq!(group_state(&[Fault, Init], false), Some(Fault));
    assert_eq!(group_state(&[Master, Master], true), Some(Stop));
    assert_eq!(group_state(&[], false), None);
}

#[test]
fn both_legs_elect_together_and_the_group_hooks_run_once_per_state() {
    let net = gateway();
    assert_eq!(group(&net, 0), Some(State::Master));
    assert_eq!(group(&net, 1), Some(State::Backup));
    let a: Vec<&str> = net
        .find("a", "group notify", Duration::ZERO)
        .iter()
        .map(|e| e.what.as_str())
        .collect();
    // Both members started Backup (group BACKUP), then both became Master (group MASTER).
    assert_eq!(a, ["group notify GW BACKUP", "group notify GW MASTER"]);
    let b: Vec<&str> = net
        .find("b", "group notify", Duration::ZERO)
        .iter()
        .map(|e| e.what.as_str())
        .collect();
    assert_eq!(b, ["group notify GW BACKUP"]);
}

#[test]
fn keepalived_sync_fault_inside_link_down_moves_both_addresses_together() {
    let mut net = gateway();
    let t = net.elapsed();
    net.link_iface(0, "eth1", false);
    // a: IN in Fault, OUT forced into Fault with it (resigning with priority 0 on eth0).
    assert_eq!(net.state_of(0, "IN"), State::Fault);
    assert_eq!(net.state_of(0, "OUT"), State::Fault);
    assert_eq!(group(&net, 0), Some(State::Fault));
    assert!(net.first("a", "send prio=0", t).is_some(), "OUT resigns");
    assert!(net.first("a", "group notify GW FAULT", t).is_some());
    net.run_until(t + 10 * S);
    // b's OUT wanted Master after Skew_Time, but waited for IN's master-down timer: both
    // become Master at the same moment.
    let out = net
        .find("b", "transition BACKUP -> MASTER", t)
        .iter()
        .map(|e| e.at)
        .collect::<Vec<_>>();
    assert_eq!(out.len(), 2, "{:?}", net.find("b", "", t));
    assert_eq!(out[0], out[1], "both members at once");
    let mdi = Duration::from_micros(3_609_375); // 3 s + (256 - 100) / 256 s
    assert!(out[0] - t <= mdi + S, "within IN's master-down interval");
    assert!(
        out[0] - t > Duration::from_secs(2),
        "not at OUT's skew time"
    );
    assert_eq!(net.state_of(1, "OUT"), State::Master);
    assert_eq!(net.state_of(1, "IN"), State::Master);
    assert_eq!(group(&net, 1), Some(State::Master));
    assert!(net.first("b", "group notify GW MASTER", t).is_some());
}

#[test]
fn keepalived_sync_fault_group_leaves_fault_only_when_every_member_is_up_then_preempts() {
    let mut net = gateway();
    net.link_iface(0, "eth1", false);
    net.run_until(net.elapsed() + 10 * S);
    let t = net.elapsed();
    net.link_iface(0, "eth1", true);
    assert_eq!(group(&net, 0), Some(State::Backup), "out of Fault together");
    assert_eq!(net.state_of(0, "OUT"), State::Backup);
    net.run_until(t + 10 * S);
    // a (150) preempts b (100) on both legs: both members wanted Master, so both went.
    for m in ["OUT", "IN"] {
        assert_eq!(net.state_of(0, m), State::Master, "a {m}");
        assert_eq!(net.state_of(1, m), State::Backup, "b {m}");
    }
    assert_eq!(group(&net, 1), Some(State::Backup));
}

#[test]
fn keepalived_sync_backup_one_leg_leaving_master_takes_the_other_leg_along() {
    let mut net = gateway();
    let t = net.elapsed();
    // An operator drains a's inside leg only: it resigns and goes Backup; OUT follows it
    // (resigning too, so b's OUT takes over after Skew_Time although b is lower there).
    net.with(0, |r, now| {
        r.handle_drain(now, &["IN".to_owned()], true, "test")
            .unwrap();
    });
    assert_eq!(net.state_of(0, "IN"), State::Backup);
    assert_eq!(
        net.state_of(0, "OUT"),
        State::Backup,
        "{:?}",
        net.find("a", "", t)
    );
    assert_eq!(net.find("a", "send prio=0", t).len(), 2, "both legs resign");
    net.run_until(t + 10 * S);
    assert_eq!(net.state_of(1, "IN"), State::Master);
    assert_eq!(net.state_of(1, "OUT"), State::Master);
    assert_eq!(group(&net, 0), Some(State::Backup));
    assert_eq!(group(&net, 1), Some(State::Master));
    // And it stays so: a's OUT (150 > 100) wants Master, but a's IN is drained: a waits.
    let settled = net.elapsed();
    net.run_until(settled + 20 * S);
    assert!(
        net.find("a", "transition BACKUP -> MASTER", settled)
            .is_empty(),
        "no re-election: {:?}",
        net.find("a", "", settled)
    );
    assert_eq!(net.state_of(1, "OUT"), State::Master);
}

#[test]
fn keepalived_sync_goto_master_a_higher_priority_on_one_leg_alone_does_not_split_the_group() {
    // b's inside leg gets priority 200: it wants to preempt a there, but its outside leg
    // follows a (150 > 100), so b's group prefers Backup (keepalived: "prefer backup state
    // to avoid thrashing") and a keeps both legs.
    let mut net = gateway();
    let t = net.elapsed();
    net.with(1, |r, now| {
        r.handle_reload(now, super::testnet::config(&gw(100, 200, "")));
    });
    net.run_until(t + 20 * S);
    for m in ["OUT", "IN"] {
        assert_eq!(net.state_of(0, m), State::Master, "a {m}");
        assert_eq!(net.state_of(1, m), State::Backup, "b {m}");
    }
    assert!(net.find("b", "transition BACKUP -> MASTER", t).is_empty());
}

#[test]
fn keepalived_sync_goto_master_no_member_becomes_master_alone() {
    // b alone on the inside LAN's master side: its OUT hears a, its IN hears nobody (a has
    // no IN on that LAN). b's IN wants Master, but OUT follows a: b stays Backup on both.
    let mut net = Net::new();
    let only_out = "instances:
  OUT:
    interface: eth0
    vrid: 1
    priority: 150
    advert_interval: 1s
    virtual_ipaddress: [10.99.1.1/24]
";
    net.node_multi("a", &[[10, 99, 1, 11], [10, 99, 2, 11]], only_out);
    net.node_multi("b", &[[10, 99, 1, 12], [10, 99, 2, 12]], &gw(100, 100, ""));
    net.run_until(20 * S);
    assert_eq!(net.state_of(1, "OUT"), State::Backup);
    assert_eq!(net.state_of(1, "IN"), State::Backup);
    assert_eq!(group(&net, 1), Some(State::Backup));
    let b = &net.nodes[1].router;
    let id = b.by_name["IN"];
    assert!(
        b.engine(id).unwrap().wants_master(),
        "IN waits for its group"
    );
}

#[test]
fn a_group_of_one_is_ignored_and_its_member_elects_alone() {
    let mut net = Net::new();
    let yaml = "instances:
  OUT:
    interface: eth0
    vrid: 1
    priority: 100
    advert_interval: 1s
    virtual_ipaddress: [10.99.1.1/24]
sync_groups:
  ALONE:
    instances: [OUT]
    notify: {master: [/bin/m]}
";
    net.node_multi("b", &[[10, 99, 1, 12]], yaml);
    net.run_until(10 * S);
    assert_eq!(net.state_of(0, "OUT"), State::Master);
    assert!(net.nodes[0].router.sync_groups().is_empty());
    assert!(net.find("b", "group", Duration::ZERO).is_empty());
}

#[test]
fn shutdown_reports_the_group_stopped_once() {
    let mut net = gateway();
    let t = net.elapsed();
    net.with(0, |r, now| r.handle_shutdown(now));
    net.run_until(t + 10 * S);
    let stops = net.find("a", "group notify GW STOP", t);
    assert_eq!(stops.len(), 1, "{:?}", net.find("a", "group", t));
    assert!(net.find("a", "group notify GW BACKUP", t).is_empty());
    // b takes both legs over (a resigned on both).
    assert_eq!(group(&net, 1), Some(State::Master));
}

#[test]
fn reload_removing_the_group_ungates_its_members_and_forgets_its_series() {
    let mut net = gateway();
    let t = net.elapsed();
    let plain = gw(100, 100, "").replace(
        "sync_groups:\n  GW:\n    instances: [OUT, IN]\n    notify: {master: [/bin/m], backup: [/bin/b], fault: [/bin/f], any: [/bin/a]}\n",
        "",
    );
    // A reload that keeps the group does not report it removed ...
    net.with(1, |r, now| {
        r.handle_reload(now, super::testnet::config(&gw(100, 100, "")));
    });
    assert!(net.find("b", "group removed", t).is_empty());
    assert_eq!(net.nodes[1].router.sync_groups().len(), 1);
    // ... one that drops it does, once.
    net.with(1, |r, now| {
        r.handle_reload(now, super::testnet::config(&plain));
    });
    assert_eq!(net.find("b", "group removed GW", t).len(), 1);
    assert!(net.nodes[1].router.sync_groups().is_empty());
    assert!(
        net.nodes[1].router.by_name.values().all(|id| !net.nodes[1]
            .router
            .engine(*id)
            .unwrap()
            .wants_master())
    );
    // Now b's IN alone may take over the inside leg when a's inside link dies.
    net.link_iface(0, "eth1", false);
    net.run_until(t + 10 * S);
    assert_eq!(net.state_of(1, "IN"), State::Master);
}

#[test]
fn the_status_document_shows_each_group_and_its_members() {
    let mut net = gateway();
    let doc = |net: &mut Net, i: usize| {
        let mut d = None;
        net.with(i, |r, now| d = Some(r.status(now).sync_groups));
        d.unwrap()
    };
    let a = doc(&mut net, 0);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].name.as_str(), a[0].state.as_str()), ("GW", "master"));
    let m: Vec<(&str, &str)> = a[0]
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.state.as_str()))
        .collect();
    assert_eq!(m, [("OUT", "master"), ("IN", "master")]);
    assert_eq!(doc(&mut net, 1)[0].state, "backup");
    // The inside leg of a fails: the group and both members show fault, b's group master.
    let t = net.elapsed();
    net.link_iface(0, "eth1", false);
    net.run_until(t + 10 * S);
    let a = doc(&mut net, 0);
    assert_eq!(a[0].state, "fault");
    assert!(a[0].members.iter().all(|m| m.state == "fault"), "{a:?}");
    assert_eq!(doc(&mut net, 1)[0].state, "master");
    // Without groups the list is empty.
    let mut plain = Net::new();
    plain.node(
        "c",
        [10, 99, 0, 13],
        "instances:\n  V:\n    interface: eth0\n    vrid: 3\n    priority: 100\n    virtual_ipaddress: [10.99.0.3/24]\n",
    );
    assert!(doc(&mut plain, 0).is_empty());
}

#[test]
fn an_instance_outside_the_group_is_not_held_by_a_faulted_member() {
    let lone = "  LONE:
    interface: eth0
    vrid: 3
    priority: 150
    advert_interval: 1s
    virtual_ipaddress: [10.99.1.3/24]
sync_groups:";
    let mut net = Net::new();
    net.node_multi("a", &[[10, 99, 1, 11], [10, 99, 2, 11]], &gw(150, 150, ""));
    net.run_until(10 * S);
    net.link_iface(0, "eth1", false);
    assert_eq!(net.state_of(0, "IN"), State::Fault);
    assert_eq!(net.state_of(0, "OUT"), State::Fault);
    // LONE arrives by reload while the group is in Fault: it is no member, it elects alone.
    let t = net.elapsed();
    let c = super::testnet::config(&gw(150, 150, "").replace("sync_groups:", lone));
    net.with(0, |r, now| {
        r.handle_reload(now, c);
    });
    net.run_until(t + 10 * S);
    assert_eq!(
        net.state_of(0, "LONE"),
        State::Master,
        "{:?}",
        net.find("a", "", t)
    );
    assert_eq!(net.state_of(0, "OUT"), State::Fault);
}

#[test]
fn a_reload_that_keeps_two_groups_reports_neither_again() {
    // Two groups in different states on one node: each keeps its own state across a reload
    // (nothing reported, no group hook run), not the other's.
    let second = "  LONE:
    interface: eth0
    vrid: 3
    priority: 50
    advert_interval: 1s
    virtual_ipaddress: [10.99.1.3/24]
  LTWO:
    interface: eth1
    vrid: 4
    priority: 50
    advert_interval: 1s
    virtual_ipaddress: [10.99.2.4/24]
sync_groups:
  LOW:
    instances: [LONE, LTWO]";
    let cfg = gw(150, 150, "").replace("sync_groups:", second);
    let mut net = Net::new();
    net.node_multi("a", &[[10, 99, 1, 11], [10, 99, 2, 11]], &cfg);
    let other = gw(100, 100, "").replace("sync_groups:", &second.replace("50", "200"));
    net.node_multi("b", &[[10, 99, 1, 12], [10, 99, 2, 12]], &other);
    net.run_until(10 * S);
    let groups = |net: &Net| net.nodes[0].router.sync_groups();
    assert_eq!(
        groups(&net),
        [
            ("GW".to_owned(), Some(State::Master)),
            ("LOW".to_owned(), Some(State::Backup))
        ]
    );
    let t = net.elapsed();
    net.with(0, |r, now| {
        r.handle_reload(now, super::testnet::config(&cfg));
    });
    net.run_until(t + 5 * S);
    assert!(
        net.find("a", "group", t).is_empty(),
        "{:?}",
        net.find("a", "", t)
    );
    assert_eq!(groups(&net)[0].1, Some(State::Master));
    assert_eq!(groups(&net)[1].1, Some(State::Backup));
}

//! What moves with the master beside the advertised addresses on the instance's interface:
//! addresses on other devices (`dev`), `virtual_ipaddress_excluded`, `virtual_routes` and
//! `virtual_rules`; and what is installed whatever the state (`static_*`). The decisions of
//! what to install and remove, and in which order; the shell only executes
//! [`Effect::Install`](super::Effect::Install) / [`Effect::Uninstall`](super::Effect::Uninstall).
//!
//! Order: addresses before the routes (a route's `src` or gateway may need them), routes
//! before the rules that point at their tables; removal in the reverse order.

use crate::config::{InstanceConfig, Route, Rule, Statics, Vip};

/// One thing installed in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    /// An address on the named device (`vip.dev`, or the instance's interface).
    Address {
        dev: String,
        vip: Vip,
    },
    Route(Route),
    Rule(Rule),
}

impl Item {
    /// For logs: `address 10.0.0.1/24 on eth1`, `route 10.1.0.0/16`, `rule table 100`.
    pub fn describe(&self) -> String {
        match self {
            Item::Address { dev, vip } => {
                format!("address {}/{} on {dev}", vip.addr, vip.prefix_len)
            }
            Item::Route(r) => format!(
                "route {}/{} table {}",
                r.to.0,
                r.to.1,
                r.table.unwrap_or(254)
            ),
            Item::Rule(r) => format!("rule to table {}", r.table),
        }
    }
}

/// Whether a virtual address lives on the instance's interface (it is added with the
/// instance's interface index and read back there).
pub fn on_instance_iface(cfg: &InstanceConfig, v: &Vip) -> bool {
    v.dev.as_ref().is_none_or(|d| *d == cfg.interface)
}

/// The advertised addresses that live on the instance's interface.
pub fn own_iface_vips(cfg: &InstanceConfig) -> Vec<Vip> {
    cfg.virtual_ipaddress
        .iter()
        .filter(|v| on_instance_iface(cfg, v))
        .cloned()
        .collect()
}

fn address(default_dev: &str, v: &Vip) -> Item {
    Item::Address {
        dev: v.dev.clone().unwrap_or_else(|| default_dev.to_owned()),
        vip: v.clone(),
    }
}

/// What a master installs besides [`own_iface_vips`], in the order to add it: advertised
/// addresses on other devices, excluded addresses, routes, rules.
pub fn master_items(cfg: &InstanceConfig) -> Vec<Item> {
    let other_dev = cfg
        .virtual_ipaddress
        .iter()
        .filter(|v| !on_instance_iface(cfg, v));
    other_dev
        .chain(&cfg.virtual_ipaddress_excluded)
        .map(|v| address(&cfg.interface, v))
        .chain(cfg.virtual_routes.iter().cloned().map(Item::Route))
        .chain(cfg.virtual_rules.iter().cloned().map(Item::Rule))
        .collect()
}

/// The excluded addresses on the instance's interface: announced (gratuitous ARP /
/// unsolicited NA) with the advertised ones.
pub fn excluded_on_iface(cfg: &InstanceConfig) -> impl Iterator<Item = &Vip> {
    cfg.virtual_ipaddress_excluded
        .iter()
        .filter(|v| on_instance_iface(cfg, v))
}

/// The addresses a master installs with its extras, each with its device (`dev`, or the
/// instance's interface): the advertised ones on other devices, then the excluded ones.
pub fn extra_addresses(cfg: &InstanceConfig) -> impl Iterator<Item = (&str, &Vip)> {
    cfg.virtual_ipaddress
        .iter()
        .filter(|v| !on_instance_iface(cfg, v))
        .chain(&cfg.virtual_ipaddress_excluded)
        .map(|v| (v.dev.as_deref().unwrap_or(&cfg.interface), v))
}

/// The devices other than the instance's interface that carry its addresses (advertised or
/// excluded), each once, in configuration order. vipd looks them up to announce the
/// addresses there and to read them back.
pub fn other_devs(cfg: &InstanceConfig) -> Vec<String> {
    let mut devs: Vec<String> = Vec::new();
    for (dev, _) in extra_addresses(cfg) {
        if dev != cfg.interface && !devs.iter().any(|d| d == dev) {
            devs.push(dev.to_owned());
        }
    }
    devs
}

/// The addresses on other devices grouped by device, in configuration order: what is
/// announced on each (gratuitous ARP / unsolicited NA from that device's MAC, as keepalived
/// 2.2.7 does: it sends each address's announcement on the address's own interface).
pub fn by_other_dev(cfg: &InstanceConfig) -> Vec<(String, Vec<std::net::IpAddr>)> {
    other_devs(cfg)
        .into_iter()
        .map(|d| {
            let addrs = extra_addresses(cfg)
                .filter(|(dev, _)| *dev == d)
                .map(|(_, v)| v.addr)
                .collect();
            (d, addrs)
        })
        .collect()
}

/// The static addresses, routes and rules in the order to add them.
pub fn static_items(s: &Statics) -> Vec<Item> {
    s.addresses
        .iter()
        .map(|v| address("", v))
        .chain(s.routes.iter().cloned().map(Item::Route))
        .chain(s.rules.iter().cloned().map(Item::Rule))
        .collect()
}

/// Items in the order to remove them (the reverse of adding).
pub fn removal_order(mut items: Vec<Item>) -> Vec<Item> {
    items.reverse();
    items
}

/// A reload of the static items: (remove, add). What is in both stays untouched.
pub fn static_diff(old: &Statics, new: &Statics) -> (Vec<Item>, Vec<Item>) {
    let (o, n) = (static_items(old), static_items(new));
    let remove = o.iter().filter(|x| !n.contains(x)).cloned().collect();
    let add = n.into_iter().filter(|x| !o.contains(x)).collect();
    (removal_order(remove), add)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::State;
    use crate::router::Effect;
    use crate::router::testnet::{Net, config};

    const S: Duration = Duration::from_secs(1);

    fn yaml(prio: u8) -> String {
        format!(
            "static_ipaddress:\n  - {{address: 10.99.9.1/24, dev: eth1}}\nstatic_routes:\n  - {{to: 10.99.8.0/24, via: 10.99.9.254, dev: eth1}}\n\
             instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    advert_interval: 1s\n\
             \x20   virtual_ipaddress:\n      - 10.99.0.51/24\n      - {{address: 10.99.1.1/24, dev: eth1, label: \"eth1:v\"}}\n      - {{address: 10.99.0.52/24, dev: eth0}}\n\
             \x20   virtual_ipaddress_excluded: [10.99.2.1/24, fd00:99::5/64]\n\
             \x20   virtual_routes:\n      - {{to: 10.99.3.0/24, via: 10.99.0.254}}\n      - {{to: 10.99.4.0/24, type: blackhole}}\n\
             \x20   virtual_rules:\n      - {{from: 10.99.5.0/24, table: 100}}\n"
        )
    }

    #[test]
    fn other_devices_are_listed_once_each_in_configuration_order() {
        let c = config(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: 100\n\
             \x20   virtual_ipaddress:\n      - 10.99.0.51/24\n      - {address: 10.99.1.1/24, dev: eth2}\n\
             \x20     - {address: 10.99.1.2/24, dev: eth1}\n      - {address: 10.99.1.3/24, dev: eth2}\n\
             \x20     - {address: 10.99.0.52/24, dev: eth0}\n\
             \x20   virtual_ipaddress_excluded:\n      - {address: 10.99.2.1/24, dev: eth3}\n      - {address: 10.99.2.2/24, dev: eth1}\n",
        );
        assert_eq!(other_devs(&c.instances["VI_1"]), ["eth2", "eth1", "eth3"]);
    }

    fn kinds(items: &[Item]) -> Vec<String> {
        items.iter().map(Item::describe).collect()
    }

    #[test]
    fn a_master_adds_other_devices_excluded_routes_then_rules_and_removes_in_reverse() {
        let c = config(&yaml(150));
        let cfg = &c.instances["VI_1"];
        // The address on eth0 (dev given or not) is the instance's own.
        let own: Vec<String> = own_iface_vips(cfg)
            .iter()
            .map(|v| v.addr.to_string())
            .collect();
        assert_eq!(own, ["10.99.0.51", "10.99.0.52"]);
        let add = master_items(cfg);
        assert_eq!(
            kinds(&add),
            [
                "address 10.99.1.1/24 on eth1",
                "address 10.99.2.1/24 on eth0",
                "address fd00:99::5/64 on eth0",
                "route 10.99.3.0/24 table 254",
                "route 10.99.4.0/24 table 254",
                "rule to table 100",
            ]
        );
        let mut back = removal_order(add.clone());
        back.reverse();
        assert_eq!(back, add);
        let ex: Vec<String> = excluded_on_iface(cfg).map(|v| v.addr.to_string()).collect();
        assert_eq!(ex, ["10.99.2.1", "fd00:99::5"]);
    }

    #[test]
    fn a_reload_of_the_statics_removes_what_went_and_adds_what_came() {
        let old = config(&yaml(100)).statics;
        let mut new = old.clone();
        new.routes[0].metric = Some(7);
        let (remove, add) = static_diff(&old, &new);
        assert_eq!(remove, [Item::Route(old.routes[0].clone())]);
        assert_eq!(add, [Item::Route(new.routes[0].clone())]);
        assert_eq!(static_diff(&old, &old), (vec![], vec![]));
    }

    /// Every install / uninstall of `node`, as (time, install?, first item).
    fn changes(net: &Net, node: &str) -> Vec<(Duration, bool, Option<String>, usize)> {
        net.find(node, "", Duration::ZERO)
            .iter()
            .filter_map(|e| match &e.effect {
                Effect::Install { inst, items } => {
                    Some((e.at, true, inst.map(|_| "inst".into()), items.len()))
                }
                Effect::Uninstall { inst, items } => {
                    Some((e.at, false, inst.map(|_| "inst".into()), items.len()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn extras_follow_the_master_and_the_statics_stay_until_exit() {
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], &yaml(150));
        net.node("b", [10, 99, 0, 12], &yaml(100));
        net.run_until(10 * S);
        assert_eq!((net.state(0), net.state(1)), (State::Master, State::Backup));
        // The adverts carry every virtual address, the one on eth1 too (keepalived 2.2.7
        // does); only those on eth0 are added there.
        let mut advertised = 0;
        net.with(0, |r, now| {
            advertised = r.status(now).instances[0].advertised_addresses;
        });
        assert_eq!(advertised, 3);
        let cfg = &config(&yaml(150)).instances["VI_1"];
        let on_eth0: Vec<String> = crate::router::vmac::iface_vips(cfg)
            .iter()
            .map(|v| v.addr.to_string())
            .collect();
        assert_eq!(on_eth0, ["10.99.0.51", "10.99.0.52"]);
        // Start: statics installed (not tied to the instance); the instance's extras removed
        // first (leftovers of a crash), then installed by the master only.
        for n in ["a", "b"] {
            let c = changes(&net, n);
            assert!(c[0].1, "{n}: {c:?}");
            assert_eq!((c[0].2.clone(), c[0].3), (None, 2), "{n}: statics first");
            assert_eq!(
                (c[1].1, c[1].2.is_some(), c[1].3),
                (false, true, 6),
                "{n}: cleanup"
            );
        }
        let a = changes(&net, "a");
        assert_eq!((a.len(), a[2].1, a[2].3), (3, true, 6), "{a:?}");
        assert_eq!(changes(&net, "b").len(), 2, "the backup installs nothing");
        // The master's own addresses go before its extras, each add before the first advert.
        let add = net.first("a", "add", Duration::ZERO).unwrap();
        let install = net
            .first("a", "install address 10.99.1.1", Duration::ZERO)
            .unwrap();
        assert!(add <= install);

        // Fault: the extras move to b.
        let t = net.elapsed();
        net.link(0, false);
        net.run_until(t + 10 * S);
        assert_eq!(net.state(1), State::Master);
        assert!(net.first("a", "uninstall rule to table 100", t).is_some());
        assert!(
            net.first("b", "install address 10.99.1.1/24 on eth1", t)
                .is_some()
        );
        assert!(
            net.first("a", "uninstall address 10.99.9.1", t).is_none(),
            "statics stay"
        );

        // Exit: the statics go once, last.
        let t = net.elapsed();
        net.with(1, |r, now| r.handle_shutdown_now(now));
        net.run_until(t + S);
        let ends: Vec<_> = changes(&net, "b")
            .into_iter()
            .filter(|c| c.0 >= t)
            .collect();
        assert_eq!(ends.len(), 2, "{ends:?}");
        assert_eq!(
            (ends[0].1, ends[0].2.is_some()),
            (false, true),
            "extras first"
        );
        assert_eq!(
            (ends[1].1, ends[1].2.clone(), ends[1].3),
            (false, None, 2),
            "then statics"
        );
    }
    /// Announcements of `node` after `from`: (time, interface, addresses, count).
    fn announces(net: &Net, node: &str, from: Duration) -> Vec<(Duration, String, String, u32)> {
        net.find(node, "announce", from)
            .iter()
            .filter_map(|e| match &e.effect {
                Effect::Announce {
                    iface,
                    addrs,
                    count,
                    ..
                } => {
                    let a: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
                    Some((e.at, iface.name.clone(), a.join(","), *count))
                }
                _ => None,
            })
            .collect()
    }

    fn two_legs(net: &mut Net, refresh: &str) {
        let y = |p| {
            yaml(p).replace(
                "    advert_interval: 1s\n",
                &format!("    advert_interval: 1s\n    garp: {{refresh: {refresh}}}\n"),
            )
        };
        net.node_multi("a", &[[10, 99, 0, 11], [10, 99, 1, 11]], &y(150));
        net.node_multi("b", &[[10, 99, 0, 12], [10, 99, 1, 12]], &y(100));
    }

    #[test]
    fn addresses_on_other_devices_are_announced_on_their_device_at_every_burst() {
        let mut net = Net::new();
        two_legs(&mut net, "3s");
        net.run_until(20 * S);
        assert_eq!((net.state(0), net.state(1)), (State::Master, State::Backup));
        let a = announces(&net, "a", Duration::ZERO);
        let on = |dev: &str| -> Vec<(Duration, String, u32)> {
            a.iter()
                .filter(|x| x.1 == dev)
                .map(|x| (x.0, x.2.clone(), x.3))
                .collect()
        };
        let (eth0, eth1) = (on("eth0"), on("eth1"));
        // eth0: its advertised addresses and the excluded ones; eth1: its own, never
        // mixed with the others (keepalived sends each on the address's interface).
        assert!(
            eth0.iter()
                .all(|x| x.1 == "10.99.0.51,10.99.0.52,10.99.2.1,fd00:99::5"),
            "{eth0:?}"
        );
        assert!(eth1.iter().all(|x| x.1 == "10.99.1.1"), "{eth1:?}");
        // The same moments and counts: becoming master, the second burst after
        // `garp.delay`, every refresh.
        let times = |v: &[(Duration, String, u32)]| -> Vec<(Duration, u32)> {
            v.iter().map(|x| (x.0, x.2)).collect()
        };
        assert_eq!(times(&eth0), times(&eth1));
        assert!(eth1.len() >= 4, "become master, delay, refreshes: {eth1:?}");
        // From eth1's MAC: the announcement carries eth1's facts.
        let mac = net.find("a", "announce count=5 router=false on eth1", Duration::ZERO)[0]
            .effect
            .clone();
        let Effect::Announce { iface, .. } = mac else {
            unreachable!()
        };
        assert_eq!((iface.index, iface.mac), (3, [2, 0, 0, 0, 0, 11]));
        assert!(announces(&net, "b", Duration::ZERO).is_empty(), "backup");

        // Failover: b announces on both of its devices at once.
        let t = net.elapsed();
        net.link(0, false);
        net.run_until(t + 10 * S);
        let b = announces(&net, "b", t);
        let first: Vec<&str> = b.iter().take(2).map(|x| x.1.as_str()).collect();
        assert_eq!(first, ["eth0", "eth1"], "{b:?}");
        assert_eq!(b[0].0, b[1].0);
    }

    #[test]
    fn a_device_not_found_is_skipped_and_an_instance_without_other_devices_announces_once() {
        let mut net = Net::new();
        // eth1 does not exist on this host: the lookup fails, eth0 still announces.
        net.node("a", [10, 99, 0, 11], &yaml(150));
        net.run_until(10 * S);
        assert_eq!(net.state(0), State::Master);
        assert!(net.first("a", "lookup eth1", Duration::ZERO).is_some());
        let a = announces(&net, "a", Duration::ZERO);
        assert!(!a.is_empty());
        assert!(a.iter().all(|x| x.1 == "eth0"), "{a:?}");
    }

    #[test]
    fn an_address_deleted_by_hand_on_another_device_or_excluded_comes_back_on_the_master() {
        let mut net = Net::new();
        two_legs(&mut net, "0s");
        net.run_until(10 * S);
        assert_eq!((net.state(0), net.state(1)), (State::Master, State::Backup));
        let ip = |s: &str| -> std::net::IpAddr { s.parse().unwrap() };
        let restored = |net: &Net, node: &str, from| {
            net.find(node, "", from)
                .iter()
                .filter_map(|e| match &e.effect {
                    Effect::Fact(crate::router::Fact::AddressRestored { addr, .. }) => {
                        Some(addr.to_string())
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        // On eth1 (index 3): put back on eth1 and announced there.
        let t = net.elapsed();
        net.with(0, |r, now| r.handle_address(now, 3, ip("10.99.1.1"), false));
        assert!(
            net.first("a", "install address 10.99.1.1/24 on eth1", t)
                .is_some()
        );
        assert!(
            net.first("a", "announce count=5 router=false on eth1 10.99.1.1", t)
                .is_some()
        );
        // An excluded one on eth0 (index 2), IPv4 and IPv6.
        net.with(0, |r, now| r.handle_address(now, 2, ip("10.99.2.1"), false));
        net.with(0, |r, now| {
            r.handle_address(now, 2, ip("fd00:99::5"), false)
        });
        assert!(
            net.first("a", "install address 10.99.2.1/24 on eth0", t)
                .is_some()
        );
        assert!(
            net.first("a", "install address fd00:99::5/64 on eth0", t)
                .is_some()
        );
        assert!(
            net.first("a", "announce count=5 router=false on eth0 fd00:99::5", t)
                .is_some()
        );
        assert_eq!(
            restored(&net, "a", t),
            ["10.99.1.1", "10.99.2.1", "fd00:99::5"]
        );
        // Not on the wrong device, not an address added, not on the backup.
        let before = net.events.len();
        net.with(0, |r, now| r.handle_address(now, 2, ip("10.99.1.1"), false));
        net.with(0, |r, now| r.handle_address(now, 3, ip("10.99.1.1"), true));
        net.with(1, |r, now| r.handle_address(now, 3, ip("10.99.1.1"), false));
        let after: Vec<&str> = net.events[before..]
            .iter()
            .map(|e| e.what.as_str())
            .collect();
        assert!(after.is_empty(), "{after:?}");
    }

    #[test]
    fn addresses_on_other_devices_and_excluded_ones_are_read_back_on_their_device() {
        let mut net = Net::new();
        two_legs(&mut net, "0s");
        net.run_until(10 * S);
        let reads: Vec<(u32, Vec<String>)> = net
            .find("a", "", 5 * S)
            .iter()
            .filter_map(|e| match &e.effect {
                Effect::ReadBack { ifindex, insts } => Some((
                    *ifindex,
                    insts
                        .iter()
                        .flat_map(|(_, a)| a.iter().map(|a| a.to_string()))
                        .collect(),
                )),
                _ => None,
            })
            .collect();
        assert!(
            reads.contains(&(
                2,
                vec![
                    "10.99.0.51".into(),
                    "10.99.0.52".into(),
                    "10.99.2.1".into(),
                    "fd00:99::5".into()
                ]
            )),
            "{reads:?}"
        );
        assert!(reads.contains(&(3, vec!["10.99.1.1".into()])), "{reads:?}");
    }

    #[test]
    fn a_device_created_again_gets_the_masters_addresses_back() {
        let mut net = Net::new();
        two_legs(&mut net, "0s");
        net.run_until(10 * S);
        assert_eq!((net.state(0), net.state(1)), (State::Master, State::Backup));
        // eth1 deleted and created again (new index 9): the kernel reports the link, the
        // lookup answers with the new index.
        for i in [0, 1] {
            net.nodes[i].ifaces.get_mut("eth1").unwrap().index = 9;
        }
        let t = net.elapsed();
        let before = net.events.len();
        for i in [0, 1] {
            net.link_iface(i, "eth1", false);
            net.link_iface(i, "eth1", true);
        }
        net.run_until(t + S);
        assert!(
            net.first("a", "install address 10.99.1.1/24 on eth1", t)
                .is_some(),
            "{:?}",
            &net.events[before..]
        );
        let a = announces(&net, "a", t);
        assert!(
            a.iter().any(|x| x.1 == "eth1" && x.2 == "10.99.1.1"),
            "{a:?}"
        );
        assert!(
            net.first("b", "install", t).is_none(),
            "the backup adds nothing"
        );
        // A plain link flap (same index): put back too (what the kernel dropped on the way
        // down, IPv6, comes back; what stayed is already there) and announced once up.
        let t = net.elapsed();
        net.link_iface(0, "eth1", false);
        assert!(net.first("a", "install", t).is_none(), "not while down");
        net.link_iface(0, "eth1", true);
        net.run_until(t + S);
        assert!(
            net.first("a", "install address 10.99.1.1/24 on eth1", t)
                .is_some()
        );
        assert!(
            net.first("a", "announce count=5 router=false on eth1 10.99.1.1", t)
                .is_some()
        );
        // Created again while down (new index 10): the addresses go back at once, the
        // announcement waits for the link.
        net.nodes[0].ifaces.get_mut("eth1").unwrap().index = 10;
        let t = net.elapsed();
        net.link_iface(0, "eth1", false);
        net.run_until(t + S);
        assert!(
            net.first("a", "install address 10.99.1.1/24 on eth1", t)
                .is_some(),
            "{:?}",
            net.find("a", "", t)
        );
        let a = announces(&net, "a", t);
        assert!(
            !a.iter().any(|x| x.1 == "eth1"),
            "not on a down link: {a:?}"
        );
        let t = net.elapsed();
        net.link_iface(0, "eth1", true);
        net.run_until(t + S);
        let a = announces(&net, "a", t);
        assert!(a.iter().any(|x| x.1 == "eth1"), "{a:?}");
    }

    #[test]
    fn a_reload_installs_only_the_statics_that_came_and_uninstalls_only_those_that_went() {
        let mut net = Net::new();
        net.node_multi("a", &[[10, 99, 0, 11], [10, 99, 1, 11]], &yaml(150));
        net.run_until(5 * S);
        let statics = |net: &Net, from| -> Vec<String> {
            net.find("a", "", from)
                .iter()
                .filter(|e| e.what.starts_with("install") || e.what.starts_with("uninstall"))
                .filter(|e| {
                    matches!(
                        e.effect,
                        Effect::Install { inst: None, .. } | Effect::Uninstall { inst: None, .. }
                    )
                })
                .map(|e| e.what.clone())
                .collect()
        };
        let more = yaml(150).replace(
            "  - {address: 10.99.9.1/24, dev: eth1}\n",
            "  - {address: 10.99.9.1/24, dev: eth1}\n  - {address: 10.99.9.2/24, dev: eth1}\n",
        );
        // Unchanged: nothing installed or removed.
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_reload(now, config(&yaml(150)));
        });
        assert_eq!(statics(&net, t), Vec::<String>::new());
        // One more: only that one installed.
        net.run_until(t + S);
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_reload(now, config(&more));
        });
        assert_eq!(statics(&net, t), ["install address 10.99.9.2/24 on eth1"]);
        // Back: only that one removed.
        net.run_until(t + S);
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_reload(now, config(&yaml(150)));
        });
        assert_eq!(statics(&net, t), ["uninstall address 10.99.9.2/24 on eth1"]);
    }

    #[test]
    fn ipv6_addresses_on_another_device_have_their_solicited_node_group_joined_there() {
        let y = |p: u8| {
            format!(
                "instances:\n  V6:\n    interface: eth0\n    vrid: 61\n    priority: {p}\n    advert_interval: 1s\n\
                 \x20   virtual_ipaddress:\n      - fd00:99::61/64\n      - {{address: 'fd00:99::1:61/64', dev: eth1}}\n"
            )
        };
        let mut net = Net::new();
        net.node_multi("a", &[[10, 99, 0, 11], [10, 99, 1, 11]], &y(150));
        net.node_multi("b", &[[10, 99, 0, 12], [10, 99, 1, 12]], &y(100));
        net.run_until(10 * S);
        assert_eq!((net.state(0), net.state(1)), (State::Master, State::Backup));
        // The backup is in both groups, each on the device that will hold the address
        // (eth0 is index 2, eth1 index 3), before it ever holds them.
        let joined = |net: &Net, from| {
            net.find("b", "join-solicited", from)
                .last()
                .map(|e| e.what.clone())
        };
        assert_eq!(
            joined(&net, Duration::ZERO).as_deref(),
            Some("join-solicited [2/fd00:99::61, 3/fd00:99::1:61]")
        );
        assert!(net.first("b", "add", Duration::ZERO).is_none());
        // eth1 re-created with a new index: the group follows it.
        net.nodes[1].ifaces.get_mut("eth1").unwrap().index = 9;
        let t = net.elapsed();
        net.link_iface(1, "eth1", false);
        net.link_iface(1, "eth1", true);
        net.run_until(t + S);
        assert_eq!(
            joined(&net, t).as_deref(),
            Some("join-solicited [2/fd00:99::61, 9/fd00:99::1:61]")
        );
    }
}

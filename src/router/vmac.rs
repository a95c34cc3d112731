//! The virtual MAC (keepalived's `use_vmac`): what the macvlan is called, which MAC it has,
//! and the IPv6 link-local address derived from it. RFC 9568 7.3: the master sends from
//! 00-00-5E-00-01-{VRID} (IPv4) or 00-00-5E-00-02-{VRID} (IPv6).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;

use super::{Effect, InstId, RETRY, Router, VmacSpec};
use crate::config::{Family, InstanceConfig, Vip};
use crate::engine;
use crate::net::IfaceInfo;

/// The virtual router MAC of `vrid` for `family`.
pub fn mac(family: Family, vrid: u8) -> [u8; 6] {
    let f = match family {
        Family::Ipv4 => 0x01,
        Family::Ipv6 => 0x02,
    };
    [0x00, 0x00, 0x5e, 0x00, f, vrid]
}

/// The modified EUI-64 link-local address of a MAC (RFC 4291 appendix A): fe80::, then the
/// MAC with ff:fe in the middle and the universal/local bit flipped.
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8] = mac[0] ^ 0x02;
    o[9] = mac[1];
    o[10] = mac[2];
    o[11] = 0xff;
    o[12] = 0xfe;
    o[13] = mac[3];
    o[14] = mac[4];
    o[15] = mac[5];
    Ipv6Addr::from(o)
}

/// The virtual address an IPv6 instance with a virtual MAC puts first in its adverts and on
/// its macvlan (RFC 9568 5.2.9: the first address is the virtual router's link-local), unless
/// its configuration already starts with a link-local address.
pub fn extra_vip(cfg: &InstanceConfig) -> Option<Vip> {
    if !cfg.vmac.as_ref().is_some_and(|v| v.link_local) || cfg.family != Family::Ipv6 {
        return None;
    }
    let starts_ll = cfg
        .virtual_ipaddress
        .first()
        .is_some_and(|v| matches!(v.addr, IpAddr::V6(a) if crate::net::is_ipv6_link_local(&a)));
    if starts_ll {
        return None;
    }
    cfg.virtual_ipaddress.first()?;
    Some(Vip::new(
        IpAddr::V6(link_local(mac(Family::Ipv6, cfg.vrid))),
        64,
    ))
}

/// Every virtual address of an instance, in advert order: the derived link-local first
/// (see [`extra_vip`]), then the configured ones, whatever their `dev` (keepalived 2.2.7
/// advertises them all).
pub fn vips(cfg: &InstanceConfig) -> Vec<Vip> {
    extra_vip(cfg)
        .into_iter()
        .chain(cfg.virtual_ipaddress.iter().cloned())
        .collect()
}

/// The virtual addresses an instance puts on its address interface (the macvlan with a
/// virtual MAC, else its interface): [`vips`] without those with another `dev` (installed
/// with the master's extras, [`super::extras`]).
pub fn iface_vips(cfg: &InstanceConfig) -> Vec<Vip> {
    extra_vip(cfg)
        .into_iter()
        .chain(super::extras::own_iface_vips(cfg))
        .collect()
}

impl Router {
    /// Asks for the instance's macvlan on `base` (source address `src`) unless that exact
    /// one was already asked for. A new ask forgets the old macvlan's facts until answered.
    pub(super) fn ensure_vmac(&mut self, id: InstId, base: &IfaceInfo, src: IpAddr) {
        let Some(inst) = self.inst(id) else { return };
        let Some(v) = &inst.vmac else { return };
        let spec = VmacSpec {
            name: v.name.clone(),
            base: base.name.clone(),
            base_index: base.index,
            mac: v.mac,
            family: inst.cfg.family,
            source: match src {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            },
        };
        if v.asked.as_ref() == Some(&spec) && !v.failed {
            return;
        }
        if let Some(v) = self.inst_mut(id).and_then(|x| x.vmac.as_mut()) {
            v.asked = Some(spec.clone());
            v.failed = false;
        }
        self.pending.insert(spec.name.clone());
        self.out.push_back(Effect::EnsureVmac {
            inst: id,
            vmac: spec,
        });
    }

    /// Instances whose macvlan is called `name`.
    fn vmac_users(&self, name: &str) -> Vec<InstId> {
        self.ids()
            .into_iter()
            .filter(|&id| {
                self.inst(id)
                    .and_then(|x| x.vmac.as_ref())
                    .is_some_and(|v| v.name == name)
            })
            .collect()
    }

    /// The answer about a macvlan (after [`Effect::EnsureVmac`] or a lookup); false when
    /// `name` is no instance's macvlan. A master whose macvlan was re-created puts its
    /// addresses back; a failure is asked again after [`RETRY`].
    pub(super) fn vmac_answer(
        &mut self,
        now: Instant,
        name: &str,
        info: Option<&IfaceInfo>,
    ) -> bool {
        let ids = self.vmac_users(name);
        for &id in &ids {
            let Some(inst) = self.inst_mut(id) else {
                continue;
            };
            let master = inst.engine.state() == engine::State::Master;
            let Some(v) = inst.vmac.as_mut() else {
                continue;
            };
            let old = v.iface.as_ref().map(|f| f.index);
            v.iface = info.cloned();
            let Some(f) = info else {
                // Asked again by the retry (its lookup of the interface), not at once.
                v.failed = true;
                inst.link_ok = false;
                self.retry_at.get_or_insert(now + RETRY);
                self.reassess(id, now);
                continue;
            };
            let base_name = inst.cfg.interface.clone();
            let base = self.ifaces.get(&base_name).cloned().flatten();
            if let (true, Some(old)) = (master, old)
                && f.index != old
            {
                self.readd(id, f);
            }
            self.attach(id, now, base.as_ref());
        }
        !ids.is_empty()
    }

    /// A master's macvlan came back with a new index: its addresses and announcements again.
    fn readd(&mut self, id: InstId, f: &IfaceInfo) {
        let Some(inst) = self.inst(id) else { return };
        let vips = iface_vips(&inst.cfg);
        let addrs = vips.iter().map(|v| v.addr).collect::<Vec<_>>();
        let inst_interval = inst.cfg.garp.interval;
        let (repeat, router) = (
            inst.cfg.garp.repeat,
            inst.cfg.family == Family::Ipv6
                && inst.iface.as_ref().is_some_and(|b| b.ipv6_forwarding),
        );
        if vips.is_empty() {
            return;
        }
        self.out.push_back(Effect::AddAddresses {
            inst: id,
            ifindex: f.index,
            vips,
        });
        self.out.push_back(Effect::Announce {
            inst: id,
            iface: f.clone(),
            addrs,
            count: repeat.max(1),
            router,
            interval: inst_interval,
        });
    }

    /// A link event for a macvlan of ours; false when `name` is none. A change of its state
    /// takes effect at once (down: the instance cannot send, a fault), then it is looked up
    /// again (gone: asked for again).
    pub(super) fn vmac_link(&mut self, now: Instant, name: &str, up: bool) -> bool {
        let ids = self.vmac_users(name);
        let mut changed = false;
        for &id in &ids {
            let Some(inst) = self.inst_mut(id) else {
                continue;
            };
            let Some(f) = inst.vmac.as_mut().and_then(|v| v.iface.as_mut()) else {
                continue;
            };
            if f.up == up {
                continue;
            }
            f.up = up;
            changed = true;
            let base_name = inst.cfg.interface.clone();
            let base = self.ifaces.get(&base_name).cloned().flatten();
            self.attach(id, now, base.as_ref());
        }
        if changed {
            self.lookup(name);
        }
        !ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_follow_rfc_9568() {
        assert_eq!(mac(Family::Ipv4, 21), [0, 0, 0x5e, 0, 1, 0x15]);
        assert_eq!(mac(Family::Ipv6, 255), [0, 0, 0x5e, 0, 2, 0xff]);
    }

    #[test]
    fn link_local_is_modified_eui64() {
        let ll = link_local(mac(Family::Ipv6, 0x15));
        assert_eq!(ll, "fe80::200:5eff:fe00:215".parse::<Ipv6Addr>().unwrap());
        // The universal/local bit is flipped, not set: a locally administered MAC clears it.
        let local = link_local([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(
            local,
            "fe80::11:22ff:fe33:4455".parse::<Ipv6Addr>().unwrap()
        );
    }
}

#[cfg(test)]
mod core_tests {
    use std::time::Duration;

    use super::super::testnet::Net;
    use super::*;
    use crate::engine::State;

    const S: Duration = Duration::from_secs(1);
    const VMAC4: [u8; 6] = [0, 0, 0x5e, 0, 1, 51];

    fn cfg(prio: u8, extra: &str) -> String {
        format!(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    advert_interval: 1s\n    use_vmac: true\n{extra}    virtual_ipaddress: [10.99.0.51/24]\n"
        )
    }

    fn cfg6(prio: u8) -> String {
        format!(
            "instances:\n  VI_6:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    advert_interval: 1s\n    use_vmac: vx6\n    virtual_ipaddress: ['fd00:99::51/64']\n"
        )
    }

    fn pair(a: &str, b: &str) -> Net {
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], a);
        net.node("b", [10, 99, 0, 12], b);
        net.run_until(10 * S);
        assert_eq!(net.state(0), State::Master);
        assert_eq!(net.state(1), State::Backup);
        net
    }

    /// The effects of `node` of one kind (by summary prefix), after `from`.
    fn effects(net: &Net, node: &str, prefix: &str, from: Duration) -> Vec<Effect> {
        net.find(node, prefix, from)
            .iter()
            .map(|e| e.effect.clone())
            .collect()
    }

    fn vmac_index(net: &Net, i: usize) -> u32 {
        net.nodes[i].ifaces["vrrp.51"].index
    }

    #[test]
    fn macvlan_is_created_before_the_instance_starts_and_kept_in_backup() {
        let net = pair(&cfg(150, ""), &cfg(100, ""));
        for node in ["a", "b"] {
            let created = effects(&net, node, "vmac create", Duration::ZERO);
            assert_eq!(created.len(), 1, "{node}: {:?}", net.events);
            let Effect::EnsureVmac { vmac, .. } = &created[0] else {
                unreachable!()
            };
            assert_eq!(vmac.name, "vrrp.51");
            assert_eq!(vmac.base, "eth0");
            assert_eq!(vmac.mac, VMAC4);
            assert_eq!(vmac.source, None);
            // Created before the state machine started.
            let at = net.first(node, "vmac create", Duration::ZERO).unwrap();
            let started = net.first(node, "transition INIT", Duration::ZERO).unwrap();
            assert!(at <= started);
            assert!(net.find(node, "vmac delete", Duration::ZERO).is_empty());
        }
    }

    #[test]
    fn master_holds_addresses_on_the_macvlan_and_sends_and_announces_from_it() {
        let net = pair(&cfg(150, ""), &cfg(100, ""));
        let idx = vmac_index(&net, 0);
        let adds = effects(&net, "a", "add", Duration::ZERO);
        assert_eq!(adds.len(), 1);
        assert!(matches!(&adds[0], Effect::AddAddresses { ifindex, .. } if *ifindex == idx));
        let ann = effects(&net, "a", "announce", Duration::ZERO);
        assert!(!ann.is_empty());
        for a in ann {
            let Effect::Announce { iface, .. } = a else {
                unreachable!()
            };
            assert_eq!(
                (iface.index, iface.mac),
                (idx, VMAC4),
                "GARP from the virtual MAC"
            );
        }
        // Both nodes send and receive on the macvlan's port (the peer's adverts carry the
        // same MAC, which the kernel hands only to the macvlan).
        for node in ["a", "b"] {
            let opened = effects(&net, node, "open", Duration::ZERO);
            assert_eq!(opened.len(), 1);
            let Effect::OpenPort { iface, .. } = &opened[0] else {
                unreachable!()
            };
            assert_eq!(iface.name, "vrrp.51");
        }
        assert!(effects(&net, "b", "add", Duration::ZERO).is_empty());
    }

    #[test]
    fn xmit_base_sends_from_the_interface_addresses_stay_on_the_macvlan() {
        let extra = "    vmac_xmit_base: true\n";
        let net = pair(&cfg(150, extra), &cfg(100, extra));
        let opened = effects(&net, "a", "open", Duration::ZERO);
        let Effect::OpenPort { iface, .. } = &opened[0] else {
            unreachable!()
        };
        assert_eq!(iface.name, "eth0");
        let idx = vmac_index(&net, 0);
        let adds = effects(&net, "a", "add", Duration::ZERO);
        assert!(matches!(&adds[0], Effect::AddAddresses { ifindex, .. } if *ifindex == idx));
    }

    #[test]
    fn ipv6_joins_the_solicited_node_groups_on_the_macvlan_also_with_xmit_base() {
        for extra in ["", "    vmac_xmit_base: true\n"] {
            let y = |p: u8| {
                cfg6(p).replace(
                    "    use_vmac: vx6\n",
                    &format!("    use_vmac: vx6\n{extra}"),
                )
            };
            let net = pair(&y(150), &y(100));
            // The backup, which keeps its macvlan, is in the groups of the derived
            // link-local and the configured address on the macvlan, not on eth0 (index 2).
            let idx = net.nodes[1].ifaces["vx6"].index;
            assert_ne!(idx, 2);
            let last = net.find("b", "join-solicited", Duration::ZERO);
            let want = format!(
                "join-solicited [{idx}/fd00:99::51, {idx}/{}]",
                link_local(mac(Family::Ipv6, 51))
            );
            assert_eq!(
                last.last().map(|e| e.what.as_str()),
                Some(want.as_str()),
                "{extra}"
            );
        }
    }

    #[test]
    fn failover_moves_addresses_off_the_old_masters_macvlan_and_keeps_it() {
        let mut net = pair(&cfg(150, ""), &cfg(100, ""));
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_drain(now, &[], true, "test").unwrap();
        });
        net.run_until(t + 10 * S);
        assert_eq!(net.state(1), State::Master);
        let idx_a = vmac_index(&net, 0);
        let rm = effects(&net, "a", "remove", t);
        assert_eq!(rm.len(), 1);
        assert!(matches!(&rm[0], Effect::RemoveAddresses { ifindex, .. } if *ifindex == idx_a));
        assert!(net.find("a", "vmac delete", t).is_empty(), "kept in backup");
        let idx_b = vmac_index(&net, 1);
        let add = effects(&net, "b", "add", t);
        assert!(matches!(&add[0], Effect::AddAddresses { ifindex, .. } if *ifindex == idx_b));
    }

    #[test]
    fn shutdown_removes_addresses_then_deletes_the_macvlan() {
        let mut net = pair(&cfg(150, ""), &cfg(100, ""));
        let t = net.elapsed();
        net.with(0, |r, now| r.handle_shutdown(now));
        net.run_until(t + 10 * S);
        let order: Vec<&str> = net
            .find("a", "", t)
            .iter()
            .map(|e| e.what.as_str())
            .filter(|w| *w == "remove" || w.starts_with("vmac"))
            .collect();
        assert_eq!(order, ["remove", "vmac delete vrrp.51"]);
        assert!(net.nodes[0].router.stopped());
        // The backup that stays keeps its macvlan.
        assert!(net.find("b", "vmac delete", t).is_empty());
    }

    #[test]
    fn a_macvlan_that_cannot_be_created_keeps_the_instance_out_and_is_asked_again() {
        let mut net = Net::new();
        net.vmac_fails.push(0);
        net.node("a", [10, 99, 0, 11], &cfg(150, ""));
        net.run_until(5 * S);
        assert!(net.find("a", "open", Duration::ZERO).is_empty());
        assert!(net.find("a", "send", Duration::ZERO).is_empty());
        assert!(net.find("a", "add", Duration::ZERO).is_empty());
        let asks = net.find("a", "vmac create", Duration::ZERO).len();
        assert!(asks >= 3, "asked again every second: {asks}");
        net.vmac_fails.clear();
        let t = net.elapsed();
        net.run_until(t + 10 * S);
        assert_eq!(net.state(0), State::Master);
        assert_eq!(net.find("a", "add", t).len(), 1);
    }

    #[test]
    fn macvlan_down_is_a_fault_and_recreated_one_gets_the_addresses_back() {
        let mut net = pair(&cfg(150, ""), &cfg(100, ""));
        let t = net.elapsed();
        net.nodes[0].ifaces.get_mut("vrrp.51").unwrap().up = false;
        net.with(0, |r, now| r.handle_link(now, "vrrp.51", false));
        assert_eq!(net.state(0), State::Fault);
        net.run_until(t + 10 * S);
        assert_eq!(net.state(1), State::Master);
        // Someone else's interface events are not ours.
        let before = net.events.len();
        net.with(0, |r, now| r.handle_link(now, "unrelated0", false));
        assert_eq!(net.events.len(), before);
        // A re-created macvlan (new index) while master: addresses put back on it.
        let mut net = pair(&cfg(150, ""), &cfg(100, ""));
        let t = net.elapsed();
        let mut f = net.nodes[0].ifaces["vrrp.51"].clone();
        f.index += 1000;
        let idx = f.index;
        net.with(0, |r, now| r.handle_iface(now, "vrrp.51", Ok(f)));
        let add = effects(&net, "a", "add", t);
        assert!(matches!(&add[..], [Effect::AddAddresses { ifindex, .. }] if *ifindex == idx));
        assert_eq!(net.state(0), State::Master);
    }

    #[test]
    fn a_recreated_macvlan_announces_as_a_router_only_for_ipv6_on_a_forwarding_host() {
        // (IPv6, the base interface forwards, the NA's router flag)
        for (v6, forwarding, router) in [
            (false, true, false),
            (true, true, true),
            (true, false, false),
        ] {
            let y = |p: u8| if v6 { cfg6(p) } else { cfg(p, "") };
            let mut net = Net::new();
            net.node_with("a", [10, 99, 0, 11], &y(150), |f| {
                f.ipv6_forwarding = forwarding
            });
            net.node("b", [10, 99, 0, 12], &y(100));
            net.run_until(10 * S);
            assert_eq!(net.state(0), State::Master);
            let name = if v6 { "vx6" } else { "vrrp.51" };
            let t = net.elapsed();
            let mut f = net.nodes[0].ifaces[name].clone();
            f.index += 1000;
            net.with(0, |r, now| r.handle_iface(now, name, Ok(f)));
            let announce = net.find("a", "announce", t);
            assert!(!announce.is_empty(), "{v6} {forwarding}: {:?}", net.events);
            for e in announce {
                assert!(
                    e.what.contains(&format!("router={router}")),
                    "{v6} {forwarding}: {}",
                    e.what
                );
            }
        }
    }

    #[test]
    fn ipv6_adverts_start_with_the_link_local_of_the_virtual_mac() {
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], &cfg6(150));
        net.run_until(10 * S);
        assert_eq!(net.state(0), State::Master);
        let ll = link_local(mac(Family::Ipv6, 51));
        let created = effects(&net, "a", "vmac create", Duration::ZERO);
        let Effect::EnsureVmac { vmac, .. } = &created[0] else {
            unreachable!()
        };
        assert_eq!(vmac.name, "vx6");
        assert_eq!(vmac.mac, [0, 0, 0x5e, 0, 2, 51]);
        // The base's link-local is the adverts' source, on the macvlan too.
        let base_ll = net.nodes[0].ifaces["eth0"].ipv6_link_local.unwrap();
        assert_eq!(vmac.source, Some(base_ll));
        let add = effects(&net, "a", "add", Duration::ZERO);
        let Effect::AddAddresses { vips, .. } = &add[0] else {
            unreachable!()
        };
        assert_eq!(vips[0].addr, IpAddr::V6(ll));
        assert_eq!(vips[0].prefix_len, 64);
        assert_eq!(vips[1].addr, "fd00:99::51".parse::<IpAddr>().unwrap());
        let sent = effects(&net, "a", "send", Duration::ZERO);
        let Effect::Send { bytes, src, .. } = &sent[0] else {
            unreachable!()
        };
        assert_eq!(*src, IpAddr::V6(base_ll));
        assert_eq!(bytes[3], 2, "two addresses");
        assert_eq!(&bytes[8..24], &ll.octets());
    }

    #[test]
    fn a_configured_link_local_first_address_is_not_doubled() {
        let mut c = super::super::testnet::config(&cfg6(100));
        let i = c.instances.get_mut("VI_6").unwrap();
        i.virtual_ipaddress
            .insert(0, Vip::new("fe80::51".parse().unwrap(), 64));
        assert_eq!(extra_vip(i), None);
        assert_eq!(vips(i).len(), 2);
        i.vmac = None;
        assert_eq!(extra_vip(i), None);
    }
}

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
    if cfg.vmac.is_none() || cfg.family != Family::Ipv6 {
        return None;
    }
    let starts_ll = cfg
        .virtual_ipaddress
        .first()
        .is_some_and(|v| matches!(v.addr, IpAddr::V6(a) if crate::net::is_ipv6_link_local(&a)));
    if starts_ll {
        return None;
    }
    let mut v = *cfg.virtual_ipaddress.first()?;
    v.addr = IpAddr::V6(link_local(mac(Family::Ipv6, cfg.vrid)));
    v.prefix_len = 64;
    Some(v)
}

/// Every virtual address of an instance, in advert order: the derived link-local first
/// (see [`extra_vip`]), then the configured ones.
pub fn vips(cfg: &InstanceConfig) -> Vec<Vip> {
    extra_vip(cfg)
        .into_iter()
        .chain(cfg.virtual_ipaddress.iter().copied())
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
        if v.asked.as_ref() == Some(&spec) {
            return;
        }
        if let Some(v) = self.inst_mut(id).and_then(|x| x.vmac.as_mut()) {
            v.asked = Some(spec.clone());
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
            if info.is_none() {
                v.asked = None;
            }
            let base_name = inst.cfg.interface.clone();
            if info.is_none() {
                self.retry_at.get_or_insert(now + RETRY);
            }
            let base = self.ifaces.get(&base_name).cloned().flatten();
            if let (true, Some(f), Some(old)) = (master, info, old)
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
        let vips = vips(&inst.cfg);
        let addrs = vips.iter().map(|v| v.addr).collect::<Vec<_>>();
        let (repeat, router) = (
            inst.cfg.garp.repeat,
            inst.cfg.family == Family::Ipv6 && inst.iface.as_ref().is_some_and(|b| b.ipv6_forwarding),
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
    }
}

//! The ports of the core: one per (interface, family), the VRID table that demultiplexes
//! packets to instances, the kernel filter it implies, drops before an instance is found, and
//! the wire-tap comparison that finds a firewall eating adverts.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};

use super::{Effect, Fact, InstId, PortId, Router, extras, vmac};
use crate::config::Family;
use crate::fastmap::FastMap;
use crate::net::IfaceInfo;
use crate::packet::vrrp::DropReason;

/// The instance of each VRID on a port: a table indexed by the VRID byte, so demultiplexing
/// an advert reads one slot (a hash map costs a hash and a probe of its control bytes, and
/// on the receive path every memory access is a likely cache miss: docs/benchmarks.md,
/// section 20).
#[derive(Clone, Debug)]
pub(super) struct VridMap {
    slots: Box<[Option<InstId>; 256]>,
    len: usize,
}

impl Default for VridMap {
    fn default() -> Self {
        VridMap {
            slots: Box::new([None; 256]),
            len: 0,
        }
    }
}

impl VridMap {
    pub(super) fn get(&self, vrid: &u8) -> Option<&InstId> {
        self.slots[usize::from(*vrid)].as_ref()
    }

    /// Sets the VRID's instance; returns the one it replaced.
    pub(super) fn insert(&mut self, vrid: u8, id: InstId) -> Option<InstId> {
        let old = self.slots[usize::from(vrid)].replace(id);
        self.len += usize::from(old.is_none());
        old
    }

    pub(super) fn remove(&mut self, vrid: &u8) -> Option<InstId> {
        let old = self.slots[usize::from(*vrid)].take();
        self.len -= usize::from(old.is_some());
        old
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The VRIDs in use, ascending.
    pub(super) fn keys(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=u8::MAX).filter(|v| self.slots[usize::from(*v)].is_some())
    }

    /// The instances, by ascending VRID.
    pub(super) fn values(&self) -> impl Iterator<Item = &InstId> {
        self.slots.iter().flatten()
    }
}

/// A receive port: one raw socket per (interface, family).
#[derive(Clone, Debug)]
pub(super) struct Port {
    pub(super) iface: String,
    pub(super) family: Family,
    pub(super) ifindex: u32,
    pub(super) by_vrid: VridMap,
    /// Packets dropped before an instance could be found (TTL, malformed, unknown VRID).
    pub(super) dropped: BTreeMap<DropReason, u64>,
    /// Packets the VRRP socket was handed, per (VRID, source).
    pub(super) delivered: FastMap<(u8, IpAddr), u64>,
    /// The balance (wire minus delivered) at the wire tap's previous report.
    pub(super) tap_prev: HashMap<(u8, IpAddr), u64>,
    /// Filtered counts already reported.
    pub(super) filtered_reported: HashMap<(u8, IpAddr), u64>,
    /// The (interface index, address) pairs of the last [`Effect::JoinSolicited`] (IPv6 ports).
    pub(super) solicited: Vec<(u32, Ipv6Addr)>,
}

impl Router {
    /// What a port's wire tap counted per (VRID, source) since it opened.
    ///
    /// The tap sees a frame a moment before the VRRP socket delivers it, so at any instant
    /// `wire - delivered` (the balance) is the frames a local firewall ate plus the few still
    /// in flight to the engine. A frame is in flight for well under a millisecond, so of two
    /// consecutive reports at most one sees it: the smaller of the two balances counts only
    /// eaten frames. (Comparing the previous report's wire count with the current delivered
    /// count instead is off by however many adverts arrived in between, and that number
    /// jitters: a healed link then looked filtered again now and then.)
    pub fn handle_tap<S>(&mut self, port: PortId, counts: HashMap<(u8, IpAddr), u64, S>) {
        let Some(p) = self.ports.get_mut(port.0).and_then(|o| o.as_mut()) else {
            return;
        };
        let mut facts = Vec::new();
        let mut balance = HashMap::with_capacity(counts.len());
        let mut filtered = Vec::new();
        for (&key, &wire) in &counts {
            let Some(&id) = p.by_vrid.get(&key.0) else {
                continue;
            };
            if !p.tap_prev.contains_key(&key) {
                facts.push(Fact::FilteredSource {
                    inst: id,
                    peer: key.1,
                });
            }
            let now = wire.saturating_sub(p.delivered.get(&key).copied().unwrap_or(0));
            let lost = p.tap_prev.get(&key).map_or(0, |&prev| prev.min(now));
            balance.insert(key, now);
            let reported = p.filtered_reported.entry(key).or_default();
            if lost > *reported {
                filtered.push((id, key.1, lost - *reported));
                *reported = lost;
            }
        }
        p.tap_prev = balance;
        for f in facts {
            self.fact(f);
        }
        for (id, peer, count) in filtered {
            let Some(inst) = self.inst_mut(id) else {
                continue;
            };
            let first = !inst.filtered_any;
            inst.filtered_any = true;
            self.fact(Fact::Filtered {
                inst: id,
                peer,
                count,
                first,
            });
        }
    }

    pub(super) fn drop_packet(
        &mut self,
        port: PortId,
        inst: Option<InstId>,
        src: IpAddr,
        reason: DropReason,
    ) {
        if inst.is_none()
            && let Some(p) = self.ports.get_mut(port.0).and_then(|o| o.as_mut())
        {
            *p.dropped.entry(reason).or_default() += 1;
        }
        self.fact(Fact::Dropped {
            inst,
            port,
            src,
            reason,
        });
    }

    /// The port for (interface, family), opened on first use (or reopened when the
    /// interface was re-created with a new index).
    pub(super) fn port_for(&mut self, info: &IfaceInfo, family: Family) -> PortId {
        let key = (info.name.clone(), family);
        if let Some(&p) = self.port_by_key.get(&key) {
            if self.ports[p.0]
                .as_ref()
                .is_some_and(|x| x.ifindex == info.index)
            {
                return p;
            }
            self.close_port(p);
        }
        let id = self
            .ports
            .iter()
            .position(|p| p.is_none())
            .unwrap_or(self.ports.len());
        let port = Port {
            iface: info.name.clone(),
            family,
            ifindex: info.index,
            by_vrid: VridMap::default(),
            dropped: BTreeMap::new(),
            delivered: FastMap::default(),
            tap_prev: HashMap::new(),
            filtered_reported: HashMap::new(),
            solicited: Vec::new(),
        };
        if id == self.ports.len() {
            self.ports.push(Some(port));
        } else {
            self.ports[id] = Some(port);
        }
        let pid = PortId(id);
        self.port_by_key.insert(key, pid);
        self.out.push_back(Effect::OpenPort {
            port: pid,
            iface: info.clone(),
            family,
        });
        pid
    }

    pub(super) fn close_port(&mut self, p: PortId) {
        if let Some(port) = self.ports.get_mut(p.0).and_then(|o| o.take()) {
            self.port_by_key.remove(&(port.iface, port.family));
            self.out.push_back(Effect::ClosePort { port: p });
        }
    }

    /// Routes `vrid` on port `p` to instance `id` and lets the kernel pass that VRID.
    pub(super) fn register(&mut self, p: PortId, vrid: u8, id: InstId) {
        let Some(port) = self.ports.get_mut(p.0).and_then(|o| o.as_mut()) else {
            return;
        };
        if port.by_vrid.insert(vrid, id) != Some(id) {
            self.refresh_filter(p);
        }
    }

    /// Forgets `vrid` on port `p` if it still routes to `id`.
    pub(super) fn unregister(&mut self, p: PortId, vrid: u8, id: InstId) {
        let Some(port) = self.ports.get_mut(p.0).and_then(|o| o.as_mut()) else {
            return;
        };
        if port.by_vrid.get(&vrid) == Some(&id) {
            port.by_vrid.remove(&vrid);
            self.refresh_filter(p);
        }
    }

    pub(super) fn refresh_filter(&mut self, p: PortId) {
        let Some(port) = self.ports.get(p.0).and_then(|o| o.as_ref()) else {
            return;
        };
        let mut vrids: Vec<u8> = port.by_vrid.keys().collect();
        vrids.sort_unstable();
        self.out.push_back(Effect::SetVridFilter { port: p, vrids });
        self.refresh_solicited(p);
    }

    /// An IPv6 port joins the solicited-node groups of the virtual addresses its instances
    /// place, each on the interface that holds it (see [`Effect::JoinSolicited`]): the
    /// instance's address interface (its interface, or its macvlan once it exists) and the
    /// other devices of addresses with `dev`, once found. Emitted when the set changes.
    pub(super) fn refresh_solicited(&mut self, p: PortId) {
        let Some(port) = self.ports.get(p.0).and_then(|o| o.as_ref()) else {
            return;
        };
        if port.family != Family::Ipv6 {
            return;
        }
        let v6 = |v: IpAddr| match v {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        };
        let mut addrs: Vec<(u32, Ipv6Addr)> = Vec::new();
        for inst in port.by_vrid.values().filter_map(|&id| self.inst(id)) {
            if let Some(f) = inst.addr_iface() {
                addrs.extend(
                    vmac::iface_vips(&inst.cfg)
                        .into_iter()
                        .filter_map(|v| v6(v.addr))
                        .map(|a| (f.index, a)),
                );
            }
            for (dev, on_dev) in extras::by_other_dev(&inst.cfg) {
                if let Some(Some(f)) = self.ifaces.get(&dev) {
                    addrs.extend(on_dev.into_iter().filter_map(v6).map(|a| (f.index, a)));
                }
            }
        }
        addrs.sort_unstable();
        addrs.dedup();
        if addrs == port.solicited {
            return;
        }
        if let Some(port) = self.ports.get_mut(p.0).and_then(|o| o.as_mut()) {
            port.solicited = addrs.clone();
        }
        self.out.push_back(Effect::JoinSolicited { port: p, addrs });
    }

    /// [`Router::refresh_solicited`] on every port (a device an address lives on was found,
    /// lost or re-created).
    pub(super) fn refresh_all_solicited(&mut self) {
        for p in 0..self.ports.len() {
            self.refresh_solicited(PortId(p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrid_map_counts_replaces_and_lists_in_vrid_order() {
        let mut m = VridMap::default();
        assert!(m.is_empty());
        assert_eq!(m.insert(200, InstId(1)), None);
        assert_eq!(m.insert(0, InstId(2)), None);
        assert_eq!(m.insert(255, InstId(3)), None);
        assert_eq!(
            m.insert(200, InstId(4)),
            Some(InstId(1)),
            "replaced, not added"
        );
        assert_eq!(m.get(&200), Some(&InstId(4)));
        assert_eq!(m.get(&7), None);
        assert_eq!(m.keys().collect::<Vec<_>>(), [0, 200, 255]);
        assert_eq!(
            m.values().copied().collect::<Vec<_>>(),
            [InstId(2), InstId(4), InstId(3)]
        );
        assert_eq!(m.remove(&7), None);
        assert_eq!(m.remove(&0), Some(InstId(2)));
        assert_eq!(m.remove(&200), Some(InstId(4)));
        assert!(!m.is_empty());
        assert_eq!(m.remove(&255), Some(InstId(3)));
        assert!(m.is_empty());
    }
}

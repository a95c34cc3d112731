//! Turning the state machine's actions into effects: encoding adverts for their
//! destinations, addresses, announcements (with the NA Router flag), notify hooks, and the
//! transition fact.

use std::net::IpAddr;

use super::{Effect, Fact, InstId, Router, extras, vmac};
use crate::config::{Family, InstanceConfig, Version};
use crate::engine::{self, Action};
use crate::net::{VRRP_V4_GROUP, VRRP_V6_GROUP};
use crate::packet::vrrp::AdvertSpec;

impl Router {
    /// Turns the engine's actions into effects.
    pub(super) fn execute(&mut self, id: InstId, actions: &mut Vec<Action>) {
        let Some(inst) = self.insts.get_mut(id.0).and_then(|o| o.as_mut()) else {
            actions.clear();
            return;
        };
        let out = &mut self.out;
        let ifaces = &self.ifaces;
        for a in actions.drain(..) {
            match a {
                Action::SendAdvert { priority } => {
                    // A link that is down sends nothing (a fault from the link itself).
                    let (true, Some(port), Some(src)) = (inst.link_ok, inst.port, inst.src) else {
                        continue;
                    };
                    let form = inst.cfg.v3_checksum;
                    let group = match inst.cfg.family {
                        Family::Ipv4 => IpAddr::V4(VRRP_V4_GROUP),
                        Family::Ipv6 => IpAddr::V6(VRRP_V6_GROUP),
                    };
                    for slot in 0..inst.cfg.unicast_peers.len().max(1) {
                        let dst = inst.cfg.unicast_peers.get(slot).copied().unwrap_or(group);
                        let spec = AdvertSpec {
                            version: inst.cfg.version,
                            vrid: inst.cfg.vrid,
                            priority,
                            interval: interval_field(&inst.cfg),
                            auth: inst.auth,
                            addresses: &inst.addrs[..inst.advertised],
                        };
                        let bytes = inst.adverts.get(slot, &spec, src, dst, form);
                        out.push_back(Effect::Send {
                            port,
                            inst: id,
                            src,
                            dst,
                            priority,
                            bytes,
                        });
                    }
                }
                // Addresses on the interface first, then what else moves with the master
                // (extras); removal in the reverse order. An instance without any of them
                // (notify hooks move an elastic IP) has no effect, not an empty one.
                Action::AddAddresses | Action::RemoveAddresses => {
                    let add = a == Action::AddAddresses;
                    let vips = vmac::iface_vips(&inst.cfg);
                    let items = extras::master_items(&inst.cfg);
                    if !add && !items.is_empty() {
                        out.push_back(Effect::Uninstall {
                            inst: Some(id),
                            items: extras::removal_order(items.clone()),
                        });
                    }
                    if let (Some(ifc), false) = (inst.addr_iface(), vips.is_empty()) {
                        let (inst_id, ifindex) = (id, ifc.index);
                        out.push_back(if add {
                            Effect::AddAddresses {
                                inst: inst_id,
                                ifindex,
                                vips,
                            }
                        } else {
                            Effect::RemoveAddresses {
                                inst: inst_id,
                                ifindex,
                                vips,
                            }
                        });
                    }
                    if add && !items.is_empty() {
                        out.push_back(Effect::Install {
                            inst: Some(id),
                            items,
                        });
                    }
                }
                Action::Announce { count } => {
                    // The advertised addresses on the interface (not those with another
                    // `dev`; the virtual link-local of a virtual MAC is), and the excluded.
                    let mut addrs: Vec<IpAddr> =
                        inst.addrs
                            .iter()
                            .copied()
                            .filter(|a| {
                                !inst.cfg.virtual_ipaddress.iter().any(|v| {
                                    v.addr == *a && !extras::on_instance_iface(&inst.cfg, v)
                                })
                            })
                            .collect();
                    addrs.extend(extras::excluded_on_iface(&inst.cfg).map(|v| v.addr));
                    if let (Some(ifc), Some(base), false) =
                        (inst.addr_iface(), &inst.iface, addrs.is_empty())
                    {
                        out.push_back(Effect::Announce {
                            inst: id,
                            router: inst.cfg.family == Family::Ipv6 && base.ipv6_forwarding,
                            iface: ifc.clone(),
                            addrs,
                            count,
                            interval: inst.cfg.garp.interval,
                        });
                    }
                    // The addresses on other devices go out on their device, from its MAC
                    // (keepalived 2.2.7 sends each on the address's own interface), at the
                    // same moments. A device not (yet) found is skipped.
                    for (dev, addrs) in extras::by_other_dev(&inst.cfg) {
                        let Some(Some(info)) = ifaces.get(&dev) else {
                            continue;
                        };
                        if !info.up {
                            continue;
                        }
                        out.push_back(Effect::Announce {
                            inst: id,
                            router: info.ipv6_forwarding,
                            iface: info.clone(),
                            addrs,
                            count,
                            interval: inst.cfg.garp.interval,
                        });
                    }
                }
                Action::Barrier => out.push_back(Effect::Barrier { inst: id }),
                Action::Transition { from, to, cause } => {
                    out.push_back(Effect::Fact(Fact::Transition {
                        inst: id,
                        from,
                        to,
                        cause,
                        priority: inst.engine.priority(),
                    }));
                    if to != engine::State::Init && !inst.cfg.notify.is_empty() {
                        out.push_back(Effect::Notify {
                            inst: id,
                            name: inst.cfg.name.clone(),
                            state: to,
                            priority: inst.engine.priority(),
                            vrid: inst.cfg.vrid,
                            interface: inst.cfg.interface.clone(),
                            hooks: inst.cfg.notify.clone(),
                        });
                    }
                }
            }
        }
    }
}

/// The interval field of an instance's adverts: whole seconds (v2) or centiseconds (v3).
fn interval_field(cfg: &InstanceConfig) -> u16 {
    match cfg.version {
        Version::V2 => cfg.advert_interval.as_secs() as u16,
        Version::V3 => (cfg.advert_interval.as_millis() / 10) as u16,
    }
}

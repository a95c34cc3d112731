//! The kernel task: the effects that wait for the kernel (rtnetlink address changes and
//! read-backs, interface lookups) and the ARP/NA bursts, run in order on their own task so
//! the engine loop never awaits them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, warn};

use crate::config::Vip;
use crate::net::{Announcer, IfaceInfo, Netlink};
use crate::observe::InstanceMetrics;
use crate::router::InstId;
use crate::router::extras::Item;

/// One job for the kernel task.
pub enum Job {
    /// Look an interface up; the answer goes back to the engine loop.
    Lookup {
        ifname: String,
        exclude: Vec<IpAddr>,
    },
    /// Add (`add`) or remove the addresses, then read the interface back.
    Addresses {
        add: bool,
        ifindex: u32,
        vips: Vec<Vip>,
        name: String,
        m: Option<InstanceMetrics>,
    },
    /// Install (`add`) or remove addresses on named devices, routes and rules, in order.
    Items {
        add: bool,
        items: Vec<Item>,
        /// The instance's name, or `static` for the `static_*` items.
        name: String,
    },
    Announce {
        iface: IfaceInfo,
        vips: Vec<IpAddr>,
        count: u32,
        router: bool,
    },
    /// Reads the addresses of one interface back (one dump) and sets `vrrp_vip_present`.
    ReadBack {
        ifindex: u32,
        instances: Vec<(Vec<IpAddr>, InstanceMetrics)>,
    },
    /// Answered once every job queued before it is done.
    Flush(oneshot::Sender<()>),
    /// The same for the core: every address change and announcement of this instance
    /// queued before it is done (the new master's first advert waits for it).
    Barrier(InstId),
}

/// An interface lookup's answer.
pub type Answer = (String, Result<IfaceInfo, String>);

/// Sets `vrrp_vip_present` for each instance's addresses from one dump of what the kernel has
/// on `ifindex`.
async fn read_back(netlink: &Netlink, ifindex: u32, instances: &[(Vec<IpAddr>, InstanceMetrics)]) {
    match netlink.addresses(ifindex).await {
        Ok(have) => {
            for (vips, m) in instances {
                for v in vips {
                    m.set_vip_present(*v, have.iter().any(|(a, _)| a == v));
                }
            }
        }
        Err(e) => debug!(ifindex, "cannot read addresses back: {e}"),
    }
}

/// The index of a route's `dev`, if it has one.
async fn oif(netlink: &Netlink, dev: Option<&str>) -> Result<Option<u32>, crate::net::NetError> {
    match dev {
        Some(d) => netlink.link_index(d).await.map(Some),
        None => Ok(None),
    }
}

/// Installs or removes one item; a device that does not exist is an error when adding and
/// nothing to do when removing (the kernel took what was on it).
async fn apply(netlink: &Netlink, add: bool, item: &Item) -> Result<(), crate::net::NetError> {
    let gone =
        |e: &crate::net::NetError| !add && matches!(e, crate::net::NetError::NoSuchInterface(_));
    match item {
        Item::Address { dev, vip } => match netlink.link_index(dev).await {
            Ok(i) if add => netlink.add_vip(i, vip).await,
            Ok(i) => netlink.del_address(i, vip.addr, vip.prefix_len).await,
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(e),
        },
        Item::Route(r) => match oif(netlink, r.dev.as_deref()).await {
            Ok(oif) if add => netlink.add_route(r, oif).await,
            Ok(oif) => netlink.del_route(r, oif).await,
            Err(e) if gone(&e) => Ok(()),
            Err(e) => Err(e),
        },
        Item::Rule(r) if add => netlink.add_rule(r).await,
        Item::Rule(r) => netlink.del_rule(r).await,
    }
}

/// Runs jobs in order until the sender is dropped.
pub async fn run(
    netlink: Netlink,
    mut rx: mpsc::UnboundedReceiver<Job>,
    answers: mpsc::UnboundedSender<Answer>,
    barriers: mpsc::UnboundedSender<InstId>,
) {
    let mut announcers: HashMap<u32, Announcer> = HashMap::new();
    while let Some(job) = rx.recv().await {
        match job {
            Job::Lookup { ifname, exclude } => {
                let r = netlink
                    .iface(&ifname, &exclude)
                    .await
                    .map_err(|e| e.to_string());
                let _ = answers.send((ifname, r));
            }
            Job::Addresses {
                add,
                ifindex,
                vips,
                name,
                m,
            } => {
                for v in &vips {
                    let (r, done) = if add {
                        (netlink.add_vip(ifindex, v).await, "added")
                    } else {
                        (
                            netlink.del_address(ifindex, v.addr, v.prefix_len).await,
                            "removed",
                        )
                    };
                    match r {
                        Ok(()) => debug!(instance = %name, address = %v.addr, "address {done}"),
                        Err(e) => {
                            let verb = if add { "add" } else { "remove" };
                            error!(instance = %name, address = %v.addr, "cannot {verb} address: {e}")
                        }
                    }
                }
                if let Some(m) = m {
                    read_back(
                        &netlink,
                        ifindex,
                        &[(vips.iter().map(|v| v.addr).collect(), m)],
                    )
                    .await;
                }
            }
            Job::ReadBack { ifindex, instances } => read_back(&netlink, ifindex, &instances).await,
            Job::Items { add, items, name } => {
                for item in &items {
                    match apply(&netlink, add, item).await {
                        Ok(()) => {
                            debug!(instance = %name, "{} {}", item.describe(), if add { "installed" } else { "removed" })
                        }
                        Err(e) => {
                            let verb = if add { "install" } else { "remove" };
                            error!(instance = %name, "cannot {verb} {}: {e}", item.describe())
                        }
                    }
                }
            }
            Job::Announce {
                iface,
                vips,
                count,
                router,
            } => {
                let a = match announcers.entry(iface.index) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => match Announcer::open(&iface) {
                        Ok(a) => v.insert(a),
                        Err(e) => {
                            error!(interface = %iface.name, "cannot open announcer: {e}");
                            continue;
                        }
                    },
                };
                for _ in 0..count {
                    for vip in &vips {
                        let r = match vip {
                            IpAddr::V4(v4) => a.garp(*v4),
                            IpAddr::V6(v6) => a.unsolicited_na(*v6, router),
                        };
                        if let Err(e) = r {
                            warn!(interface = %iface.name, address = %vip, "announcement failed: {e}");
                        }
                    }
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Barrier(inst) => {
                let _ = barriers.send(inst);
            }
        }
    }
}

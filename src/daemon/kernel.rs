//! The kernel task: the effects that wait for the kernel (rtnetlink address changes and
//! read-backs, interface lookups) and the ARP/NA bursts, run in order on their own task so
//! the engine loop never awaits them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::config::Vip;
use crate::net::netlink::{set_sysctl, sysctl};
use crate::net::{Announcer, IfaceInfo, Netlink};
use crate::observe::InstanceMetrics;
use crate::router::extras::Item;
use crate::router::{InstId, VmacSpec};

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
    /// `count` rounds of announcements of `vips`, spaced by `interval` on the interface
    /// (the schedule is [`crate::router::pace::Pacer`]'s).
    Announce {
        iface: IfaceInfo,
        vips: Vec<IpAddr>,
        count: u32,
        router: bool,
        interval: std::time::Duration,
    },
    /// Reads the addresses of one interface back (one dump) and sets `vrrp_vip_present`.
    ReadBack {
        ifindex: u32,
        instances: Vec<(Vec<IpAddr>, InstanceMetrics)>,
    },
    /// Create an instance's macvlan, then look it up (the answer goes back as a lookup's).
    EnsureVmac(VmacSpec),
    /// Delete it.
    DeleteVmac(VmacSpec),
    /// Answered once every job queued before it is done.
    Flush(oneshot::Sender<()>),
    /// The same for the core: every address change and announcement of this instance
    /// queued before it is done (the new master's first advert waits for it).
    Barrier(InstId),
}

/// Sends one gratuitous ARP / unsolicited NA; a failure is logged.
fn announce(a: &Announcer, vip: IpAddr, router: bool, ifname: &str) {
    let r = match vip {
        IpAddr::V4(v4) => a.garp(v4),
        IpAddr::V6(v6) => a.unsolicited_na(v6, router),
    };
    if let Err(e) = r {
        warn!(interface = %ifname, address = %vip, "announcement failed: {e}");
    }
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

/// What vipd sets on a base interface under a macvlan of ours (restored when the last one
/// goes, as keepalived does): arp_ignore=1 and arp_filter=1 (keepalived's: the base never
/// answers ARP for a virtual address with its own MAC), and arp_announce=2 (vipd's addition:
/// the base's own ARP requests name its own address, not a virtual one its replies come
/// from, which would re-point the asking host's entry for the virtual address at the
/// base's MAC).
const BASE_ARP: [(&str, &str); 3] = [
    ("arp_ignore", "1"),
    ("arp_filter", "1"),
    ("arp_announce", "2"),
];

/// The base interfaces' ARP settings before the first macvlan on them changed them, and how
/// many macvlans of ours are on each.
#[derive(Default)]
struct BaseArp(HashMap<String, (Vec<Option<String>>, usize)>);

impl BaseArp {
    /// A macvlan on `base`: [`BASE_ARP`].
    fn take(&mut self, base: &str) {
        let e = self.0.entry(base.to_string()).or_insert_with(|| {
            let old = BASE_ARP
                .iter()
                .map(|(k, _)| sysctl("ipv4", base, k).ok())
                .collect();
            (old, 0)
        });
        e.1 += 1;
        for (key, v) in BASE_ARP {
            if let Err(e) = set_sysctl("ipv4", base, key, v) {
                warn!(
                    interface = base,
                    "cannot set {key}={v} for the virtual MAC: {e}"
                );
            }
        }
    }

    /// One macvlan fewer on `base`; the last one restores its settings.
    fn release(&mut self, base: &str) {
        let Some(e) = self.0.get_mut(base) else {
            return;
        };
        e.1 = e.1.saturating_sub(1);
        if e.1 > 0 {
            return;
        }
        let Some((old, _)) = self.0.remove(base) else {
            return;
        };
        for ((key, _), v) in BASE_ARP.iter().zip(old) {
            if let Some(v) = v {
                let _ = set_sysctl("ipv4", base, key, &v);
            }
        }
    }
}

/// Creates and configures an instance's macvlan: keepalived's settings (IPv4: the macvlan
/// answers ARP only for its own addresses, accepts packets from local sources, no reverse
/// path filter, promotes secondaries, no IPv6 at all; the base answers ARP only for its own
/// addresses; IPv6: no automatic link-local, the base's link-local added as the adverts'
/// source), then up.
async fn ensure_vmac(netlink: &Netlink, spec: &VmacSpec, arp: &mut BaseArp) -> Result<(), String> {
    let index = netlink
        .create_macvlan(&spec.name, spec.base_index, spec.mac)
        .await
        .map_err(|e| e.to_string())?;
    let n = spec.name.as_str();
    let mut settings = vec![
        ("ipv4", "arp_ignore", "1"),
        ("ipv4", "accept_local", "1"),
        ("ipv4", "rp_filter", "0"),
        ("ipv4", "promote_secondaries", "1"),
    ];
    match spec.family {
        crate::config::Family::Ipv4 => settings.push(("ipv6", "disable_ipv6", "1")),
        crate::config::Family::Ipv6 => settings.push(("ipv6", "addr_gen_mode", "1")),
    }
    for (fam, key, v) in settings {
        if let Err(e) = set_sysctl(fam, n, key, v) {
            warn!(interface = n, "cannot set {fam} {key}={v}: {e}");
        }
    }
    if spec.family == crate::config::Family::Ipv4 {
        arp.take(&spec.base);
    }
    if let Some(ll) = spec.source {
        netlink
            .add_address(index, IpAddr::V6(ll), 64)
            .await
            .map_err(|e| e.to_string())?;
    }
    netlink.link_up(index).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs jobs in order until the sender is dropped.
pub async fn run(
    netlink: Netlink,
    mut rx: mpsc::UnboundedReceiver<Job>,
    answers: mpsc::UnboundedSender<Answer>,
    barriers: mpsc::UnboundedSender<InstId>,
) {
    let mut announcers: HashMap<u32, std::sync::Arc<Announcer>> = HashMap::new();
    let mut pacer = crate::router::pace::Pacer::default();
    let mut arp = BaseArp::default();
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
                interval,
            } => {
                let a = match announcers.entry(iface.index) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => match Announcer::open(&iface) {
                        Ok(a) => v.insert(std::sync::Arc::new(a)),
                        Err(e) => {
                            error!(interface = %iface.name, "cannot open announcer: {e}");
                            continue;
                        }
                    },
                };
                let msgs: Vec<IpAddr> = (0..count).flat_map(|_| vips.iter().copied()).collect();
                let na = vips.first().is_some_and(IpAddr::is_ipv6);
                let at = pacer.schedule(
                    std::time::Instant::now(),
                    (iface.index, na),
                    msgs.len(),
                    interval,
                );
                if interval.is_zero() {
                    for vip in msgs {
                        announce(a, vip, router, &iface.name);
                    }
                } else {
                    // Spaced: sent by a task of their own, so that the jobs behind (and the
                    // new master's first advert, which waits for this one) are not held up.
                    let (a, name) = (a.clone(), iface.name.clone());
                    tokio::spawn(async move {
                        for (vip, t) in msgs.into_iter().zip(at) {
                            tokio::time::sleep_until(t.into()).await;
                            announce(&a, vip, router, &name);
                        }
                    });
                }
            }
            Job::EnsureVmac(spec) => {
                let r = match ensure_vmac(&netlink, &spec, &mut arp).await {
                    Ok(()) => {
                        info!(interface = %spec.name, base = %spec.base, "virtual MAC interface ready");
                        netlink
                            .iface(&spec.name, &[])
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => {
                        error!(interface = %spec.name, base = %spec.base, "cannot create the virtual MAC interface: {e}");
                        Err(e)
                    }
                };
                let _ = answers.send((spec.name, r));
            }
            Job::DeleteVmac(spec) => {
                match netlink.delete_macvlan(&spec.name).await {
                    Ok(()) => info!(interface = %spec.name, "virtual MAC interface removed"),
                    Err(e) => {
                        error!(interface = %spec.name, "cannot remove the virtual MAC interface: {e}")
                    }
                }
                if spec.family == crate::config::Family::Ipv4 {
                    arp.release(&spec.base);
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

//! The router core: every decision vipd makes, over all instances, pure.
//!
//! No sockets, no clock, no tasks: every call takes `now`. The shell (`crate::daemon`) feeds
//! inputs (`handle_*`), asks [`Router::poll_timeout`] when to call
//! [`Router::handle_timeout`], and carries out what [`Router::poll_effect`] returns, in
//! order. quinn-proto's `Connection` is the model of this boundary.
//!
//! It owns: the instances (each an [`engine::Instance`], the RFC state machine), the ports
//! and the demultiplexing of packets by interface, family and VRID, every receive check
//! ([`receive`]), the peer tables ([`peers`]), the health fold ([`health`]), the reload plan
//! ([`reload`]) and the shutdown order. Interface facts come in as answers to
//! [`Effect::Lookup`], so nothing here ever waits for the kernel.

mod actions;
mod advert;
pub mod effect;
pub mod extras;
pub mod health;
pub mod pace;
pub mod peers;
mod ports;
pub mod receive;
pub mod reload;
mod status_doc;
mod sync;
pub mod vmac;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod sync_tests;
#[cfg(test)]
mod testnet;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use effect::{Effect, Fact, InstId, PortId, VmacSpec};

use crate::config::{Config, Family, Garp, InstanceConfig};
use crate::engine::{self, Action, Input, Instance};
use crate::net::IfaceInfo;
use crate::packet::vrrp::{self, DropReason};
use crate::track::{TrackEvent, TrackState};
use peers::PeerTable;
use ports::Port;

/// How often unresolved interfaces and source addresses are looked up again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How often derived gauges (masters observed, VIP presence) are refreshed.
pub const OBSERVE_TICK: Duration = Duration::from_secs(1);
/// Bound on the (VRID, source) pairs counted per port for the wire-tap comparison.
pub const MAX_TAP_KEYS: usize = 1024;
/// Effects whose room the queue keeps once drained: a round of 500 instances' adverts, all due
/// at once, without growing again (an effect is about 100 bytes).
pub const OUT_KEPT: usize = 512;

/// A received packet with the metadata the checks need.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub port: PortId,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The VRRP message.
    pub bytes: &'a [u8],
}

/// The engine parameters of an instance configuration.
pub fn engine_params(cfg: &InstanceConfig) -> engine::Params {
    engine::Params {
        version: cfg.version,
        priority: cfg.priority,
        advert_interval: cfg.advert_interval,
        preempt: cfg.preempt,
        preempt_delay: cfg.preempt_delay,
        garp: cfg.garp,
    }
}

/// The `group` label, which names the virtual router across nodes: the instance's `group`
/// when configured, else its first virtual address as written (bounded, it does not change
/// when addresses are added after it, and it tells apart routers on other LANs that reuse the
/// VRID), else (no addresses) the instance name.
pub fn group_of(cfg: &InstanceConfig) -> String {
    if let Some(g) = &cfg.group {
        return g.clone();
    }
    match cfg.virtual_ipaddress.first() {
        Some(v) => v.addr.to_string(),
        None => cfg.name.clone(),
    }
}

/// One configured instance and what the core knows around its state machine.
#[derive(Clone, Debug)]
struct Inst {
    cfg: InstanceConfig,
    engine: Instance,
    /// v2 authentication data, padded.
    auth: Option<crate::security::Secret<[u8; 8]>>,
    /// Every virtual address.
    addrs: Vec<IpAddr>,
    /// How many of `addrs` fit in an advert on the interface's MTU (the rest are added but
    /// not advertised).
    advertised: usize,
    /// The port it sends and receives on, once the interface is known.
    port: Option<PortId>,
    /// The interface, as last looked up.
    iface: Option<IfaceInfo>,
    /// Source address of adverts (unicast_src, primary IPv4 or IPv6 link-local).
    src: Option<IpAddr>,
    /// Interface up, source address and port in place: adverts can go out.
    link_ok: bool,
    /// Last health fed to the engine (its own and, in a sync group, the other members').
    healthy: bool,
    /// Its own health as last folded (what its sync group's other members see).
    own_healthy: bool,
    /// The engine has had its Start.
    started: bool,
    /// The instance's entry on the timer heap: no later than the engine's deadline, and
    /// earlier when adverts moved that deadline on since it was pushed (a backup's
    /// master-down timer moves with every advert; the entry is re-pushed when it reaches the
    /// top, not on every advert). Heap entries with another time are stale.
    scheduled: Option<Instant>,
    peers: PeerTable,
    /// Peers whose address-list mismatch was already reported in full.
    mismatch_logged: HashSet<IpAddr>,
    /// A filtered advert was already reported (warn once).
    filtered_any: bool,
    /// Shut down, still holding its addresses until the new master is heard; forgotten
    /// once released.
    stopping: bool,
    /// `use_vmac`: the macvlan, as asked for and last looked up.
    vmac: Option<VmacState>,
    /// Its adverts, encoded once per change ([`advert::AdvertCache`]).
    adverts: advert::AdvertCache,
}

/// What the core knows of an instance's macvlan.
#[derive(Clone, Debug)]
struct VmacState {
    name: String,
    mac: [u8; 6],
    /// What was last asked of the shell ([`Effect::EnsureVmac`]); None: not asked (or it
    /// failed, and is asked again).
    asked: Option<VmacSpec>,
    /// The last ask failed (asked again with the next retry).
    failed: bool,
    /// The macvlan as last looked up.
    iface: Option<IfaceInfo>,
}

impl Inst {
    /// Where the virtual addresses live and ARP/NA go out: the macvlan with `use_vmac`,
    /// else the interface.
    fn addr_iface(&self) -> Option<&IfaceInfo> {
        match &self.vmac {
            Some(v) => v.iface.as_ref(),
            None => self.iface.as_ref(),
        }
    }

    /// Where adverts are sent and received: the macvlan with `use_vmac` (so they carry the
    /// virtual MAC, and the peers' adverts from the same MAC, which the kernel hands only to
    /// the macvlan, are heard), the interface without it or with `vmac_xmit_base`.
    fn port_iface<'a>(&'a self, base: Option<&'a IfaceInfo>) -> Option<&'a IfaceInfo> {
        match (&self.vmac, &self.cfg.vmac) {
            (Some(v), Some(c)) if !c.xmit_base => v.iface.as_ref(),
            _ => base,
        }
    }
}

/// The router core over all instances (`Clone` so the model checker can branch a world).
#[derive(Clone, Debug)]
pub struct Router {
    config: Config,
    insts: Vec<Option<Inst>>,
    by_name: HashMap<String, InstId>,
    ports: Vec<Option<Port>>,
    port_by_key: HashMap<(String, Family), PortId>,
    /// The last answer about each interface we use or track (None: it does not exist).
    ifaces: HashMap<String, Option<IfaceInfo>>,
    /// Lookups asked and not yet answered.
    pending: HashSet<String>,
    /// Other devices (`dev` of an address) that came up: the masters' addresses go back on
    /// them, announced, once the lookup answers.
    came_up: HashSet<String>,
    /// Health of scripts and values of tracked files.
    track: TrackState,
    /// Instance deadlines; stale entries are skipped.
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    retry_at: Option<Instant>,
    observe_at: Instant,
    out: VecDeque<Effect>,
    /// Reused action buffer of the engine.
    actions: Vec<Action>,
    /// Names of drained instances (kept across reloads).
    drained: BTreeSet<String>,
    /// `handle_shutdown` was called: ports close once the last instance is released.
    shutting_down: bool,
    /// Active sync groups ([`sync`]).
    sync: Vec<sync::Group>,
    /// A sync step is running (the inputs it feeds do not start another).
    syncing: bool,
    /// The `static_*` items were removed (shutdown; done once).
    statics_removed: bool,
}

impl Router {
    /// A router for `config`: every instance created (in Init) and a lookup of every
    /// interface asked.
    pub fn new(config: Config, now: Instant) -> Router {
        let mut r = Router {
            track: TrackState::new(&config.scripts),
            config: config.clone(),
            insts: Vec::new(),
            by_name: HashMap::new(),
            ports: Vec::new(),
            port_by_key: HashMap::new(),
            ifaces: HashMap::new(),
            pending: HashSet::new(),
            came_up: HashSet::new(),
            heap: BinaryHeap::new(),
            retry_at: None,
            observe_at: now + OBSERVE_TICK,
            out: VecDeque::new(),
            actions: Vec::new(),
            drained: BTreeSet::new(),
            shutting_down: false,
            sync: sync::groups(&config, &[]),
            syncing: false,
            statics_removed: false,
        };
        let statics = extras::static_items(&config.statics);
        if !statics.is_empty() {
            r.out.push_back(Effect::Install {
                inst: None,
                items: statics,
            });
        }
        for cfg in config.instances.values() {
            r.add_instance(cfg.clone(), now);
        }
        r
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next effect to carry out. Once the queue is drained, a queue grown past
    /// [`OUT_KEPT`] effects (the start-up of many instances: 4,096 of room at 250) gives the memory
    /// back (issue 14: 426 KB at 250 instances, kept for the life of the daemon before).
    pub fn poll_effect(&mut self) -> Option<Effect> {
        let e = self.out.pop_front();
        if e.is_none() && self.out.capacity() > OUT_KEPT {
            self.out.shrink_to(OUT_KEPT);
        }
        e
    }

    /// How many adverts were encoded so far, over all instances (each instance re-encodes
    /// only when its advert's contents change; see `advert.rs`).
    pub fn adverts_encoded(&self) -> u64 {
        self.insts
            .iter()
            .flatten()
            .map(|x| x.adverts.encodes())
            .sum()
    }

    /// When [`Router::handle_timeout`] must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            let Some(inst) = self.inst(InstId(i)).filter(|x| x.scheduled == Some(t)) else {
                self.heap.pop();
                continue;
            };
            // An entry earlier than its instance's deadline moves to the deadline now, so
            // the loop does not wake for it.
            match inst.engine.poll_timeout() {
                Some(d) if d > t => {
                    self.heap.pop();
                    self.arm(InstId(i), Some(d));
                }
                _ => break,
            }
        }
        let t = self.heap.peek().map(|Reverse((t, _))| *t);
        [t, self.retry_at, Some(self.observe_at)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Entries on the timer heap, stale ones included (tests bound it).
    #[cfg(test)]
    pub(crate) fn timer_entries(&self) -> usize {
        self.heap.len()
    }

    /// Handles every deadline that has passed at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let id = InstId(i);
            let Some(inst) = self.inst_mut(id) else {
                continue;
            };
            if inst.scheduled != Some(t) {
                continue;
            }
            inst.scheduled = None;
            // The entry may be earlier than the deadline (see `Inst::scheduled`).
            let Some(due) = inst.engine.poll_timeout() else {
                continue;
            };
            if due > now {
                self.arm(id, Some(due));
                continue;
            }
            self.fact(Fact::TimerLate {
                late: now.saturating_duration_since(due),
            });
            let was_holding = self.holding(id);
            let mut actions = std::mem::take(&mut self.actions);
            if let Some(inst) = self.inst_mut(id) {
                inst.engine.handle_timeout(now, &mut actions);
            }
            self.execute(id, &mut actions);
            self.actions = actions;
            self.schedule(id);
            self.after_hold(id, was_holding, false);
            self.sync_step(now);
        }
        if self.retry_at.is_some_and(|r| r <= now) {
            self.retry_at = None;
            let names: Vec<String> = self
                .insts
                .iter()
                .flatten()
                .filter(|x| !x.link_ok)
                .map(|x| x.cfg.interface.clone())
                .collect();
            for n in names {
                self.lookup(&n);
            }
        }
        if self.observe_at <= now {
            self.observe_at = now + OBSERVE_TICK;
            self.observe_tick(now);
        }
    }

    /// The answer to an [`Effect::Lookup`].
    pub fn handle_iface(&mut self, now: Instant, name: &str, answer: Result<IfaceInfo, String>) {
        self.pending.remove(name);
        let info = match answer {
            Ok(info) => Some(info),
            Err(error) => {
                self.fact(Fact::LookupFailed {
                    ifname: name.to_owned(),
                    error,
                });
                None
            }
        };
        if self.vmac_answer(now, name, info.as_ref()) {
            return;
        }
        let old = self.ifaces.insert(name.to_owned(), info.clone());
        let old_index = old.as_ref().and_then(|o| o.as_ref().map(|f| f.index));
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            if inst.cfg.interface == name {
                self.attach(id, now, info.as_ref());
            } else if inst.cfg.track_interfaces.iter().any(|t| t.name == name) {
                self.reassess(id, now);
            }
        }
        // Another device that came back with a new index (deleted and created again) lost
        // the addresses a master had put on it: they go back, announced.
        let back = match old {
            Some(Some(o)) => info.as_ref().is_some_and(|n| n.index != o.index),
            // It did not exist.
            Some(None) => info.is_some(),
            None => false,
        };
        let up = info.as_ref().is_some_and(|n| n.up) && self.came_up.remove(name);
        if let (Some(new), true) = (&info, back || up) {
            self.readd_on_dev(name, new);
        }
        if old_index != info.as_ref().map(|f| f.index)
            && self
                .insts
                .iter()
                .flatten()
                .any(|x| extras::other_devs(&x.cfg).iter().any(|d| d == name))
        {
            self.refresh_all_solicited();
        }
    }

    /// Masters put their addresses on device `name` (not their interface) back and announce
    /// them there.
    fn readd_on_dev(&mut self, name: &str, info: &IfaceInfo) {
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            if inst.engine.state() != engine::State::Master || inst.cfg.interface == name {
                continue;
            }
            let (items, addrs): (Vec<extras::Item>, Vec<IpAddr>) =
                extras::extra_addresses(&inst.cfg)
                    .filter(|(d, _)| *d == name)
                    .map(|(d, v)| {
                        let item = extras::Item::Address {
                            dev: d.to_owned(),
                            vip: v.clone(),
                        };
                        (item, v.addr)
                    })
                    .unzip();
            if items.is_empty() {
                continue;
            }
            let (repeat, interval) = (inst.cfg.garp.repeat, inst.cfg.garp.interval);
            self.out.push_back(Effect::Install {
                inst: Some(id),
                items,
            });
            if info.up {
                self.out.push_back(Effect::Announce {
                    inst: id,
                    router: info.ipv6_forwarding,
                    iface: info.clone(),
                    addrs,
                    count: repeat,
                    interval,
                });
            }
        }
    }

    /// A link went up or down (a kernel event). Takes effect at once; a lookup refreshes
    /// the rest of the interface's facts (addresses, index).
    pub fn handle_link(&mut self, now: Instant, name: &str, up: bool) {
        if self.vmac_link(now, name, up) {
            return;
        }
        let used = self.insts.iter().flatten().any(|x| {
            x.cfg.interface == name
                || x.cfg.track_interfaces.iter().any(|t| t.name == name)
                || extras::other_devs(&x.cfg).iter().any(|d| d == name)
        });
        if !used {
            return;
        }
        let changed = match self.ifaces.get_mut(name) {
            Some(Some(info)) if info.up != up => {
                info.up = up;
                true
            }
            Some(Some(_)) => false,
            _ => true,
        };
        if !changed {
            return;
        }
        if up
            && self
                .insts
                .iter()
                .flatten()
                .any(|x| extras::other_devs(&x.cfg).iter().any(|d| d == name))
        {
            self.came_up.insert(name.to_owned());
        }
        let info = self.ifaces.get(name).cloned().flatten();
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            if inst.cfg.interface == name {
                if let Some(info) = &info {
                    self.attach(id, now, Some(info));
                }
            } else if inst.cfg.track_interfaces.iter().any(|t| t.name == name) {
                self.reassess(id, now);
            }
        }
        self.lookup(name);
    }

    /// A virtual address put back after a hand deletion: announced on `iface` (when known;
    /// `garp.repeat` is at least 1, the configuration checks it) and reported.
    fn restored(&mut self, id: InstId, iface: Option<IfaceInfo>, addr: IpAddr, garp: Garp) {
        if let Some(iface) = iface {
            self.out.push_back(Effect::Announce {
                inst: id,
                router: addr.is_ipv6() && iface.ipv6_forwarding,
                iface,
                addrs: vec![addr],
                count: garp.repeat,
                interval: garp.interval,
            });
        }
        self.fact(Fact::AddressRestored { inst: id, addr });
    }

    /// An address appeared on or disappeared from interface `ifindex` (a kernel event).
    /// A master whose virtual address was removed by someone else puts it back at once and
    /// announces it, whatever the device it lives on (its interface, another `dev`, an
    /// excluded address); a removed source address, or a new address where an instance still
    /// lacks one, asks for a fresh lookup.
    pub fn handle_address(&mut self, _now: Instant, ifindex: u32, addr: IpAddr, present: bool) {
        let mut restore = Vec::new();
        let mut reinstall = Vec::new();
        let mut refresh = Vec::new();
        // The name of the device with this index, as last looked up.
        let dev = self
            .ifaces
            .iter()
            .find(|(_, f)| f.as_ref().is_some_and(|f| f.index == ifindex))
            .map(|(n, f)| (n.clone(), f.clone()));
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            let master = inst.engine.state() == engine::State::Master;
            if let Some(ifc) = inst.addr_iface().filter(|f| f.index == ifindex)
                && !present
                && master
                && let Some(vip) = vmac::iface_vips(&inst.cfg)
                    .into_iter()
                    .find(|v| v.addr == addr)
            {
                restore.push((id, ifc.clone(), vip, inst.cfg.garp));
                continue;
            }
            if let (Some((name, Some(info))), false, true) = (&dev, present, master)
                && let Some((d, vip)) =
                    extras::extra_addresses(&inst.cfg).find(|(d, v)| d == name && v.addr == addr)
            {
                // Announced where the Announce action sends it: the instance's address
                // interface for an excluded address without `dev`, else its device.
                let on = if d == inst.cfg.interface {
                    inst.addr_iface().cloned()
                } else {
                    Some(info.clone())
                };
                let item = extras::Item::Address {
                    dev: d.to_owned(),
                    vip: vip.clone(),
                };
                reinstall.push((id, item, on, addr, inst.cfg.garp));
                continue;
            }
            let Some(ifc) = inst.iface.as_ref().filter(|f| f.index == ifindex) else {
                continue;
            };
            if (!present && inst.src == Some(addr)) || (present && !inst.link_ok) {
                refresh.push(ifc.name.clone());
            }
        }
        for (id, iface, vip, garp) in restore {
            let addr = vip.addr;
            self.out.push_back(Effect::AddAddresses {
                inst: id,
                ifindex,
                vips: vec![vip],
            });
            self.restored(id, Some(iface), addr, garp);
        }
        for (id, item, on, addr, garp) in reinstall {
            self.out.push_back(Effect::Install {
                inst: Some(id),
                items: vec![item],
            });
            self.restored(id, on, addr, garp);
        }
        for name in refresh {
            self.lookup(&name);
        }
    }

    /// The sockets of `port` could not be opened.
    pub fn handle_port_failed(&mut self, now: Instant, port: PortId, error: String) {
        let Some(p) = self.ports.get_mut(port.0).and_then(|o| o.take()) else {
            return;
        };
        self.port_by_key.remove(&(p.iface.clone(), p.family));
        self.fact(Fact::PortFailed {
            port,
            ifname: p.iface.clone(),
            error,
        });
        for id in p.by_vrid.values().copied().collect::<Vec<_>>() {
            if let Some(inst) = self.inst_mut(id) {
                inst.port = None;
                inst.link_ok = false;
            }
            self.reassess(id, now);
        }
        self.retry_at.get_or_insert(now + RETRY);
    }

    /// A packet from a port's socket.
    pub fn handle_packet(&mut self, now: Instant, p: Packet<'_>) {
        let Some(port) = self.ports.get_mut(p.port.0).and_then(|o| o.as_mut()) else {
            return;
        };
        let msg = p.bytes;
        // The VRID byte, to charge a drop to its instance when there is one.
        let owner = msg.get(1).and_then(|v| port.by_vrid.get(v).copied());
        if let (Some(_), Some(&vrid)) = (owner, msg.get(1)) {
            // What the VRRP socket was handed, compared with what the wire tap saw.
            let key = (vrid, p.src);
            crate::fastmap::count_bounded(&mut port.delivered, key, MAX_TAP_KEYS);
        }
        let decoded = if receive::ttl_ok(p.dst, p.ttl) {
            vrrp::decode(msg, p.src, p.dst)
        } else {
            Err(DropReason::Ttl)
        };
        let (advert, form) = match decoded {
            Ok(x) => x,
            Err(r) => return self.drop_packet(p.port, owner, p.src, r),
        };
        let Some(id) = owner else {
            return self.drop_packet(p.port, None, p.src, DropReason::Vrid);
        };
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        if !receive::unicast_src_ok(&inst.cfg, p.src) {
            return self.drop_packet(p.port, Some(id), p.src, DropReason::UnicastSrc);
        }
        if !receive::unicast_ttl_ok(&inst.cfg, p.src, p.ttl) {
            return self.drop_packet(p.port, Some(id), p.src, DropReason::UnicastTtl);
        }
        let interval = Duration::from_nanos(advert.interval_nanos());
        let mut heard = peers::Heard {
            src: p.src,
            priority: advert.priority,
            interval,
            form,
            disagrees: None,
        };
        let agreement = match receive::agree(&inst.cfg, &advert) {
            Ok(a) => a,
            Err(r) => {
                if receive::is_disagreement(r) {
                    heard.disagrees = Some(r);
                    let rec = inst.peers.record(now, heard);
                    self.fact(Fact::PeerDisagrees {
                        inst: id,
                        peer: p.src,
                        priority: advert.priority,
                        form,
                        reason: r,
                        new_peer: rec.new,
                        evicted: rec.evicted,
                    });
                }
                return self.drop_packet(p.port, Some(id), p.src, r);
            }
        };
        if agreement.address_list_differs {
            let theirs = inst
                .mismatch_logged
                .insert(p.src)
                .then(|| advert.addresses().collect());
            self.fact(Fact::AddressListMismatch {
                inst: id,
                peer: p.src,
                theirs,
            });
        }
        if agreement.first_not_link_local {
            self.fact(Fact::FirstAddressNotLinkLocal {
                inst: id,
                peer: p.src,
            });
        }
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        let rec = inst.peers.record(now, heard);
        let before = inst.engine.master().map(|(a, _)| a);
        let advert = engine::Heard {
            src: p.src,
            priority: advert.priority,
            interval,
        };
        self.input(id, now, Input::Advert(advert));
        let after = self
            .inst(id)
            .and_then(|x| x.engine.master())
            .map(|(a, _)| a);
        self.fact(Fact::Received {
            inst: id,
            peer: p.src,
            priority: advert.priority,
            form,
            new_peer: rec.new,
            evicted: rec.evicted,
            form_changed: rec.form_changed,
            became_master: after == Some(p.src) && before != after,
            report: rec.report,
        });
    }

    /// A script's health, a tracked process's state or a tracked file's value (run reports,
    /// process counts and refused runs are observation only).
    pub fn handle_track(&mut self, now: Instant, ev: &TrackEvent) {
        if self.track.apply(ev) {
            for id in self.ids() {
                if self.inst(id).is_some_and(|x| x.started) {
                    self.reassess(id, now);
                }
            }
        }
    }

    /// Applies a new configuration; returns the plan it followed.
    pub fn handle_reload(&mut self, now: Instant, new: Config) -> reload::Plan {
        let plan = reload::plan(&self.config, &new);
        let (remove, add) = extras::static_diff(&self.config.statics, &new.statics);
        if !remove.is_empty() {
            self.out.push_back(Effect::Uninstall {
                inst: None,
                items: remove,
            });
        }
        if !add.is_empty() {
            self.out.push_back(Effect::Install {
                inst: None,
                items: add,
            });
        }
        self.track.reconcile(&new.scripts, &plan.scripts_start);
        if !plan.scripts_stop.is_empty() || !plan.scripts_start.is_empty() {
            self.out.push_back(Effect::Scripts {
                stop: plan.scripts_stop.clone(),
                start: plan.scripts_start.clone(),
            });
        }
        if plan.files_changed {
            self.out.push_back(Effect::TrackFiles);
        }
        if plan.processes_changed {
            // Removed processes are forgotten; the others keep their state until the new
            // watcher's first report (a full scan, at once).
            self.track
                .forget_processes(|n| new.processes.contains_key(n));
            self.out.push_back(Effect::TrackProcesses);
        }
        for name in plan.remove.iter().chain(&plan.restart) {
            if let Some(&id) = self.by_name.get(name) {
                // A removed or restarted instance lets go at once (its name may come back
                // in the same reload).
                self.remove_instance(id, now, false);
            }
        }
        self.drained.retain(|n| new.instances.contains_key(n));
        for name in &plan.update {
            let (Some(&id), Some(c)) = (self.by_name.get(name), new.instances.get(name)) else {
                continue;
            };
            let mut actions = std::mem::take(&mut self.actions);
            if let Some(inst) = self.inst_mut(id) {
                inst.auth = c.auth_pass.as_ref().map(|p| vrrp::auth_data(p));
                inst.cfg = c.clone();
                inst.engine.set_params(engine_params(c), now, &mut actions);
            }
            self.execute(id, &mut actions);
            self.actions = actions;
            self.schedule(id);
            // Priorities and intervals changed in place: the gauges say so now, not at the
            // next observe tick (a scrape right after a counted reload sees the new values).
            if let Some(inst) = self.inst(id) {
                let masters_observed = self.masters_observed(inst, now);
                self.fact(Fact::Gauges {
                    inst: id,
                    masters_observed,
                });
            }
            let info = self.ifaces.get(&c.interface).cloned().flatten();
            self.attach(id, now, info.as_ref());
            let names = c.track_interfaces.iter().map(|t| t.name.clone());
            for n in names.chain(extras::other_devs(c)) {
                if !self.ifaces.contains_key(&n) {
                    self.lookup(&n);
                }
            }
        }
        for name in plan.restart.iter().chain(&plan.add) {
            if let Some(c) = new.instances.get(name) {
                self.add_instance(c.clone(), now);
                // Interfaces already known need no lookup to start.
                if let (Some(&id), Some(info)) = (
                    self.by_name.get(name),
                    self.ifaces.get(&c.interface).cloned().flatten(),
                ) {
                    self.attach(id, now, Some(&info));
                }
            }
        }
        self.sync_reload(&new);
        self.config = new;
        self.sync_step(now);
        plan
    }

    /// Shutdown, make-before-break: every master sends priority 0 and keeps its addresses
    /// (still answering ARP/ND) until it hears the new master's advert or
    /// `Instance::hold_bound` passes; then the addresses go and the instance is forgotten.
    /// The ports close after the last one; [`Router::stopped`] says when.
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        for id in self.ids() {
            self.remove_instance(id, now, true);
        }
        self.sync_step(now);
        self.close_if_stopped();
    }

    /// Ends every hold at once (a second SIGTERM, the stop timeout): addresses go now.
    pub fn handle_shutdown_now(&mut self, now: Instant) {
        self.shutting_down = true;
        for id in self.ids() {
            if self.inst(id).is_some_and(|x| !x.stopping) {
                self.remove_instance(id, now, false);
                continue;
            }
            let mut actions = std::mem::take(&mut self.actions);
            if let Some(inst) = self.inst_mut(id) {
                inst.engine.release_now(&mut actions);
            }
            self.execute(id, &mut actions);
            self.actions = actions;
            self.after_hold(id, true, false);
        }
        self.close_if_stopped();
    }

    /// Shut down and every instance released: the shell may exit.
    pub fn stopped(&self) -> bool {
        self.shutting_down && self.insts.iter().all(Option::is_none)
    }

    /// The answer to [`Effect::Barrier`]: the instance's addresses and announcement are done.
    pub fn handle_announced(&mut self, now: Instant, id: InstId) {
        if self.inst(id).is_some() {
            self.input(id, now, Input::Announced);
        }
    }

    /// Drains (`on`) or undrains the named instances (all when `names` is empty); `by` says
    /// who asked, for the log. Nothing changes if a name is unknown. Returns the instances
    /// changed (already in that state: not listed).
    pub fn handle_drain(
        &mut self,
        now: Instant,
        names: &[String],
        on: bool,
        by: &str,
    ) -> Result<Vec<String>, String> {
        if self.shutting_down {
            return Err("vipd is shutting down".into());
        }
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !self.by_name.contains_key(*n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            known.sort();
            return Err(format!(
                "no instance named {} (configured: {})",
                unknown.join(", "),
                known.join(", ")
            ));
        }
        let mut targets: Vec<String> = if names.is_empty() {
            self.by_name.keys().cloned().collect()
        } else {
            names.to_vec()
        };
        targets.sort();
        targets.dedup();
        let mut changed = Vec::new();
        for name in targets {
            let Some(&id) = self.by_name.get(&name) else {
                continue;
            };
            if self.drained.contains(&name) == on {
                continue;
            }
            if on {
                self.drained.insert(name.clone());
            } else {
                self.drained.remove(&name);
            }
            self.fact(Fact::Drained {
                inst: id,
                drained: on,
                by: by.to_owned(),
            });
            self.input(id, now, Input::Drain(on));
            changed.push(name);
        }
        Ok(changed)
    }

    /// Names of the drained instances.
    pub fn drained(&self) -> Vec<String> {
        self.drained.iter().cloned().collect()
    }

    /// Name and state of every instance, in configuration order (sd_notify `STATUS=`).
    pub fn state_summary(&self) -> Vec<(String, engine::State)> {
        let mut v: Vec<(String, engine::State)> = self
            .insts
            .iter()
            .flatten()
            .map(|x| (x.cfg.name.clone(), x.engine.state()))
            .collect();
        v.sort();
        v
    }

    /// Live instances.
    pub fn ids(&self) -> Vec<InstId> {
        (0..self.insts.len())
            .filter(|&i| self.insts[i].is_some())
            .map(InstId)
            .collect()
    }

    /// An instance's configuration.
    pub fn instance_config(&self, id: InstId) -> Option<&InstanceConfig> {
        self.inst(id).map(|x| &x.cfg)
    }

    /// An instance's state machine (read-only).
    pub fn engine(&self, id: InstId) -> Option<&Instance> {
        self.inst(id).map(|x| &x.engine)
    }

    /// Whether a script is healthy now.
    pub fn script_healthy(&self, name: &str) -> bool {
        self.track.script_healthy(name)
    }

    /// Is the tracked process up (see [`TrackState::process_up`])?
    pub fn process_up(&self, name: &str) -> bool {
        self.track.process_up(name)
    }

    // ---- internals ----

    fn inst(&self, id: InstId) -> Option<&Inst> {
        self.insts.get(id.0).and_then(|o| o.as_ref())
    }

    fn inst_mut(&mut self, id: InstId) -> Option<&mut Inst> {
        self.insts.get_mut(id.0).and_then(|o| o.as_mut())
    }

    fn fact(&mut self, f: Fact) {
        self.out.push_back(Effect::Fact(f));
    }

    /// Routers heard advertising as master (disagreeing ones included), us included.
    fn masters_observed(&self, inst: &Inst, now: Instant) -> usize {
        let heard = inst
            .peers
            .masters(now)
            .iter()
            .filter(|(a, _)| Some(*a) != inst.src)
            .count();
        heard + usize::from(inst.engine.state() == engine::State::Master)
    }

    /// Asks for a lookup of `name` unless one is already pending.
    fn lookup(&mut self, name: &str) {
        if !self.pending.insert(name.to_owned()) {
            return;
        }
        let exclude = self
            .insts
            .iter()
            .flatten()
            .filter(|x| x.cfg.interface == name)
            .flat_map(|x| x.addrs.iter().copied())
            .collect();
        self.out.push_back(Effect::Lookup {
            ifname: name.to_owned(),
            exclude,
        });
    }

    fn add_instance(&mut self, cfg: InstanceConfig, now: Instant) {
        let slot = self
            .insts
            .iter()
            .position(|x| x.is_none())
            .unwrap_or(self.insts.len());
        if slot == self.insts.len() {
            self.insts.push(None);
        }
        let id = InstId(slot);
        let placeholder = match cfg.family {
            Family::Ipv4 => IpAddr::from([0, 0, 0, 0]),
            Family::Ipv6 => IpAddr::from([0u16; 8]),
        };
        let addrs: Vec<IpAddr> = vmac::vips(&cfg).iter().map(|v| v.addr).collect();
        let vmac_state = cfg.vmac.as_ref().map(|v| VmacState {
            name: v.name.clone(),
            mac: vmac::mac(cfg.family, cfg.vrid),
            asked: None,
            failed: false,
            iface: None,
        });
        let lookups: Vec<String> = std::iter::once(cfg.interface.clone())
            .chain(cfg.track_interfaces.iter().map(|t| t.name.clone()))
            .chain(extras::other_devs(&cfg))
            .filter(|n| !self.ifaces.contains_key(n))
            .collect();
        self.by_name.insert(cfg.name.clone(), id);
        self.insts[slot] = Some(Inst {
            engine: Instance::new(engine_params(&cfg), placeholder),
            auth: cfg.auth_pass.as_ref().map(|p| vrrp::auth_data(p)),
            advertised: addrs.len().min(vrrp::MAX_ADDRESSES),
            addrs,
            cfg,
            port: None,
            iface: None,
            src: None,
            link_ok: false,
            healthy: false,
            own_healthy: false,
            started: false,
            scheduled: None,
            peers: PeerTable::default(),
            mismatch_logged: HashSet::new(),
            filtered_any: false,
            stopping: false,
            vmac: vmac_state,
            adverts: advert::AdvertCache::default(),
        });
        self.fact(Fact::InstanceAdded { inst: id });
        if self
            .inst(id)
            .is_some_and(|x| self.drained.contains(&x.cfg.name))
        {
            // Drained before a reload restarted it: it stays drained.
            self.input(id, now, Input::Drain(true));
            self.fact(Fact::Drained {
                inst: id,
                drained: true,
                by: "reload (still drained)".into(),
            });
        }
        for n in lookups {
            self.lookup(&n);
        }
    }

    /// Whether an instance holds addresses it gave mastership of.
    fn holding(&self, id: InstId) -> bool {
        self.inst(id).is_some_and(|x| x.engine.holding())
    }

    /// After an input or timeout: reports a hold that ended, and forgets a stopping
    /// instance once released.
    fn after_hold(&mut self, id: InstId, was_holding: bool, heard: bool) {
        let Some(inst) = self.inst(id) else { return };
        let (holding, stopping) = (inst.engine.holding(), inst.stopping);
        if was_holding != holding {
            let name = inst.cfg.name.clone();
            self.fact(Fact::Hold {
                inst: id,
                name,
                released: !holding,
                taken_over: !holding && heard,
            });
        }
        if stopping && !holding {
            self.forget(id);
            self.close_if_stopped();
        }
    }

    fn close_if_stopped(&mut self) {
        if self.stopped() {
            for i in 0..self.ports.len() {
                self.close_port(PortId(i));
            }
            // The static items go last, once (keepalived removes them on exit too).
            let statics = extras::static_items(&self.config.statics);
            if !self.statics_removed && !statics.is_empty() {
                self.statics_removed = true;
                self.out.push_back(Effect::Uninstall {
                    inst: None,
                    items: extras::removal_order(statics),
                });
            }
        }
    }

    /// Resigns an instance (priority 0 when master) and forgets it; with `hold`, a master
    /// keeps its addresses until the new master is heard (the instance is forgotten then),
    /// without, they go at once.
    fn remove_instance(&mut self, id: InstId, now: Instant, hold: bool) {
        if self.inst(id).is_none_or(|x| x.stopping) {
            return;
        }
        self.input(id, now, Input::Shutdown);
        if self.holding(id) {
            if hold {
                let mut name = String::new();
                if let Some(inst) = self.inst_mut(id) {
                    inst.stopping = true;
                    name = inst.cfg.name.clone();
                }
                self.fact(Fact::Hold {
                    inst: id,
                    name,
                    released: false,
                    taken_over: false,
                });
                return;
            }
            let mut actions = std::mem::take(&mut self.actions);
            if let Some(inst) = self.inst_mut(id) {
                inst.engine.release_now(&mut actions);
            }
            self.execute(id, &mut actions);
            self.actions = actions;
        }
        self.forget(id);
    }

    /// Forgets an instance: its name, its port registration, its series.
    fn forget(&mut self, id: InstId) {
        let Some(inst) = self.insts.get_mut(id.0).and_then(|o| o.take()) else {
            return;
        };
        self.by_name.remove(&inst.cfg.name);
        if let Some(spec) = inst.vmac.as_ref().and_then(|v| v.asked.clone()) {
            self.pending.remove(&spec.name);
            self.out.push_back(Effect::DeleteVmac {
                inst: id,
                vmac: spec,
            });
        }
        if let Some(p) = inst.port {
            self.unregister(p, inst.cfg.vrid, id);
            if self
                .ports
                .get(p.0)
                .and_then(|o| o.as_ref())
                .is_some_and(|x| x.by_vrid.is_empty())
            {
                self.close_port(p);
            }
        }
        self.fact(Fact::InstanceRemoved {
            inst: id,
            name: inst.cfg.name,
        });
    }

    /// Attaches an instance to what is known of its interface: source address, port,
    /// advertised addresses; then re-folds its health.
    fn attach(&mut self, id: InstId, now: Instant, info: Option<&IfaceInfo>) {
        let Some(inst) = self.inst(id) else { return };
        let (family, vrid, version) = (inst.cfg.family, inst.cfg.vrid, inst.cfg.version);
        let src = info.and_then(|f| {
            inst.cfg.unicast_src.or(match family {
                Family::Ipv4 => f.ipv4_primary.map(IpAddr::V4),
                Family::Ipv6 => f.ipv6_link_local.map(IpAddr::V6),
            })
        });
        if let (Some(f), Some(s)) = (info, src) {
            self.ensure_vmac(id, f, s);
        }
        let Some(inst) = self.inst(id) else { return };
        let vmac_up = inst
            .vmac
            .as_ref()
            .is_none_or(|v| v.iface.as_ref().is_some_and(|f| f.up));
        let port_iface = info.and_then(|_| inst.port_iface(info)).cloned();
        let port = port_iface.map(|f| self.port_for(&f, family));
        let link_up = info.is_some_and(|f| f.up) && vmac_up;
        if info.is_none() || (link_up && src.is_none()) {
            self.retry_at.get_or_insert(now + RETRY);
            if link_up && src.is_none() {
                self.fact(Fact::NoSourceAddress { inst: id });
            }
        }
        if let Some(p) = port {
            self.register(p, vrid, id);
        }
        let old_port = self.inst(id).and_then(|x| x.port);
        if let (Some(old), Some(p)) = (old_port, port)
            && old != p
        {
            // Interface re-created: the old port's table must forget us.
            self.unregister(old, vrid, id);
        }
        let fits = info.map(|f| vrrp::max_addresses(version, family == Family::Ipv6, f.mtu));
        let mut note = None;
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        inst.port = port.or(inst.port);
        if let Some(f) = info {
            inst.iface = Some(f.clone());
        }
        if let Some(fits) = fits {
            let advertised = inst.addrs.len().min(fits);
            if advertised != inst.advertised && advertised < inst.addrs.len() {
                note = Some(Fact::AddressesNotAdvertised {
                    inst: id,
                    advertised,
                    total: inst.addrs.len(),
                    mtu: info.map_or(0, |f| f.mtu),
                });
            }
            inst.advertised = advertised;
        }
        if let Some(s) = src
            && inst.src != Some(s)
        {
            inst.src = Some(s);
            inst.engine
                .handle(now, Input::PrimaryAddress(s), &mut Vec::new());
        }
        inst.link_ok =
            link_up && inst.src.is_some() && inst.port.is_some() && src.is_some() && port.is_some();
        if let Some(f) = note {
            self.fact(f);
        }
        // Before reassessing, which may make the instance master and add its addresses.
        if let Some(p) = port {
            self.refresh_solicited(p);
        }
        self.reassess(id, now);
    }

    /// Folds link state, tracked interfaces, scripts and files into the instance's health
    /// and effective priority, and feeds the engine what changed.
    fn reassess(&mut self, id: InstId, now: Instant) {
        let Some(inst) = self.inst(id).filter(|x| !x.stopping) else {
            return;
        };
        let h = health::fold(&inst.cfg, &self.track, inst.link_ok, |n| {
            self.ifaces
                .get(n)
                .and_then(|x| x.as_ref())
                .is_some_and(|f| f.up)
        });
        // Nothing is decided before its interfaces have been looked up once.
        let waiting = std::iter::once(&inst.cfg.interface)
            .chain(inst.cfg.track_interfaces.iter().map(|t| &t.name))
            .chain(inst.vmac.as_ref().map(|v| &v.name))
            .any(|n| self.pending.contains(n));
        if !inst.started && waiting {
            return;
        }
        for (name, up) in h.interfaces {
            self.fact(Fact::TrackInterface { inst: id, name, up });
        }
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        inst.own_healthy = h.healthy;
        let healthy = h.healthy && self.group_healthy(id);
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        let (was_started, was_healthy) = (inst.started, inst.healthy);
        let old_prio = inst.engine.priority();
        inst.started = true;
        inst.healthy = healthy;
        if h.priority != old_prio && inst.cfg.priority != 255 {
            self.fact(Fact::Priority {
                inst: id,
                from: old_prio,
                to: h.priority,
            });
            self.input(id, now, Input::Priority(h.priority));
        }
        if !was_started {
            self.input(id, now, Input::Start { healthy });
        } else if was_healthy && !healthy {
            self.input(id, now, Input::Fault);
        } else if !was_healthy && healthy {
            self.input(id, now, Input::FaultCleared);
        }
    }

    /// Feeds one input to an instance's engine and carries out what it asks.
    fn input(&mut self, id: InstId, now: Instant, input: Input) {
        let was_holding = self.holding(id);
        let mut actions = std::mem::take(&mut self.actions);
        if let Some(inst) = self.inst_mut(id) {
            inst.engine.handle(now, input, &mut actions);
        }
        self.execute(id, &mut actions);
        self.actions = actions;
        self.schedule(id);
        if !matches!(input, Input::Shutdown) {
            self.after_hold(id, was_holding, matches!(input, Input::Advert(_)));
        }
        self.sync_step(now);
    }

    /// After an input: the instance's heap entry is kept when it is no later than the
    /// engine's new deadline (it is moved when it reaches the top), replaced when the deadline
    /// came earlier, and dropped when there is none.
    fn schedule(&mut self, id: InstId) {
        let Some(inst) = self.inst(id) else {
            return;
        };
        let due = inst.engine.poll_timeout();
        match (inst.scheduled, due) {
            (Some(entry), Some(due)) if entry <= due => {}
            _ => self.arm(id, due),
        }
    }

    /// Puts the instance's entry at `at` (None: no entry).
    fn arm(&mut self, id: InstId, at: Option<Instant>) {
        let Some(inst) = self.inst_mut(id) else {
            return;
        };
        inst.scheduled = at;
        if let Some(t) = at {
            self.heap.push(Reverse((t, id.0)));
        }
    }

    /// Gauges of every instance and a read-back of the virtual addresses per interface.
    fn observe_tick(&mut self, now: Instant) {
        let mut by_iface: BTreeMap<u32, Vec<(InstId, Vec<IpAddr>)>> = BTreeMap::new();
        let mut facts = Vec::new();
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            facts.push(Fact::Gauges {
                inst: id,
                masters_observed: self.masters_observed(inst, now),
            });
            if let Some(ifc) = inst.addr_iface() {
                // Addresses with another `dev` are read back on their device, below.
                let own: Vec<IpAddr> = vmac::iface_vips(&inst.cfg).iter().map(|v| v.addr).collect();
                by_iface.entry(ifc.index).or_default().push((id, own));
            }
            // The addresses on other devices and the excluded ones, on their device.
            let mut extra: BTreeMap<u32, Vec<IpAddr>> = BTreeMap::new();
            for (dev, v) in extras::extra_addresses(&inst.cfg) {
                if let Some(Some(f)) = self.ifaces.get(dev) {
                    extra.entry(f.index).or_default().push(v.addr);
                }
            }
            for (ifindex, addrs) in extra {
                by_iface.entry(ifindex).or_default().push((id, addrs));
            }
        }
        for f in facts {
            self.fact(f);
        }
        for (ifindex, insts) in by_iface {
            self.out.push_back(Effect::ReadBack { ifindex, insts });
        }
    }
}

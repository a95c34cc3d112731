//! Harness bodies shared by the cargo-fuzz targets (`fuzz/`), the corpus replay test
//! (`tests/fuzz_corpus.rs`) and the election model checker (`tests/model_check.rs`).
//!
//! Each `fn(&[u8])` here is one fuzz target: it must never panic on any input, and it panics
//! (with a message naming the broken rule) when a property of the code under test does not
//! hold. [`World`] is a LAN of real [`Router`] cores with an explicit wire (messages in flight
//! can be delivered in any order, or lost), a virtual clock, and invariant checks after every
//! step; the core driver and the model checker both run it. See docs/reliability.md.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::{self, Config};
use crate::engine::{State, Timer};
use crate::net::IfaceInfo;
use crate::packet::vrrp::{self, AdvertSpec};
use crate::packet::{ChecksumForm, Family, Version};
use crate::router::{Effect, Packet, PortId, Router};
use crate::track::TrackEvent;

// ---------------------------------------------------------------------------------------
// Decoders

/// Splits a fuzz input into the IP header's source and destination and the VRRP message:
/// `data[0]` even: IPv4 (4 + 4 address bytes follow), odd: IPv6 (16 + 16).
fn advert_input(data: &[u8]) -> Option<(IpAddr, IpAddr, &[u8])> {
    let (&sel, rest) = data.split_first()?;
    if sel & 1 == 0 {
        let a: [u8; 4] = rest.get(..4)?.try_into().ok()?;
        let b: [u8; 4] = rest.get(4..8)?.try_into().ok()?;
        Some((IpAddr::from(a), IpAddr::from(b), &rest[8..]))
    } else {
        let a: [u8; 16] = rest.get(..16)?.try_into().ok()?;
        let b: [u8; 16] = rest.get(16..32)?.try_into().ok()?;
        Some((IpAddr::from(a), IpAddr::from(b), &rest[32..]))
    }
}

/// The advert decoder (v2, v3, IPv4, IPv6): the IP addresses, then the VRRP message (see
/// `advert_input`). Properties: decoding never panics; an accepted advert re-encodes to the
/// same bytes (when its fields are ones the encoder writes) and decodes again to the same
/// advert in the same checksum form; what `encode` writes from any spec decodes to that spec.
pub fn advert(data: &[u8]) {
    let Some((src, dst, msg)) = advert_input(data) else {
        return;
    };
    if let Ok((a, form)) = vrrp::decode(msg, src, dst) {
        // RFC 9568 5.2.5 asks v3 for at least one address; v2 sets no minimum (keepalived
        // 2.2.7 sends 0 for an instance without addresses; the instance decides).
        assert!(
            a.count() >= 1 || a.version == Version::V2,
            "accepted a v3 advert without addresses"
        );
        assert_eq!(a.addresses().len(), usize::from(msg[3]), "address count");
        assert!(a.interval > 0 && a.interval <= 0x0fff, "interval range");
        assert_eq!(
            a.family,
            if src.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            }
        );
        let mut out = Vec::new();
        vrrp::reencode(&a, src, dst, form, &mut out);
        let (b, form2) = vrrp::decode(&out, src, dst).expect("a re-encoded advert decodes");
        assert_eq!(form2, form, "checksum form after re-encoding");
        assert_eq!(
            (b.version, b.vrid, b.priority, b.interval, b.reserved),
            (a.version, a.vrid, a.priority, a.interval, a.reserved)
        );
        assert!(
            b.addresses().eq(a.addresses()),
            "addresses after re-encoding"
        );
        assert_eq!(b.trailer, a.trailer, "trailer after re-encoding");
        // Exact bytes where the encoder can express every field: v2 auth type 0 with zero
        // auth data, or type 1.
        let exact = a.version == Version::V3
            || a.auth_type == 1
            || (a.auth_type == 0 && *a.auth_data.expose() == [0; 8]);
        if exact {
            // 0x0000 and 0xffff are the same ones'-complement checksum (both verify); the
            // encoder writes 0x0000 (found by the fuzzer: not a bug, kept as a regression).
            let mut want = msg.to_vec();
            if want[6..8] == [0xff, 0xff] && out[6..8] == [0, 0] {
                want[6..8].fill(0);
            }
            assert_eq!(out, want, "re-encoding is byte for byte");
        }
    }
    // The other direction: a spec built from the bytes encodes to an advert that decodes
    // to it.
    if msg.len() >= 6 {
        let version = if msg[0] & 1 == 0 || src.is_ipv6() {
            Version::V3
        } else {
            Version::V2
        };
        let addrs: Vec<IpAddr> = msg[5..]
            .chunks_exact(if src.is_ipv4() { 4 } else { 16 })
            .take(300)
            .map(|c| {
                if src.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                } else {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
            .collect();
        let interval = match version {
            Version::V2 => u16::from(msg[3]).max(1),
            Version::V3 => (u16::from_be_bytes([msg[3], msg[4]]) & 0x0fff).max(1),
        };
        let auth = (version == Version::V2 && msg[0] & 2 != 0).then(|| {
            let mut d = [0u8; 8];
            d[..2].copy_from_slice(&msg[1..3]);
            d
        });
        let spec = AdvertSpec {
            version,
            vrid: msg[1],
            priority: msg[2],
            interval,
            auth: auth.map(crate::security::Secret::new),
            addresses: &addrs,
        };
        let form = if msg[0] & 4 == 0 {
            ChecksumForm::PseudoHeader
        } else {
            ChecksumForm::MessageOnly
        };
        let mut out = Vec::new();
        vrrp::encode(&spec, src, dst, form, &mut out);
        if addrs.is_empty() && version == Version::V3 {
            assert_eq!(
                vrrp::decode(&out, src, dst).map(|_| ()),
                Err(vrrp::DropReason::AddressCount)
            );
            return;
        }
        let (a, _) = vrrp::decode(&out, src, dst).expect("what encode writes decodes");
        let n = addrs.len().min(vrrp::MAX_ADDRESSES);
        assert_eq!(
            out.len(),
            vrrp::advert_len(version, src.is_ipv6(), addrs.len())
        );
        let (back, back_addrs) = a.spec();
        assert_eq!(
            (
                back.version,
                back.vrid,
                back.priority,
                back.interval,
                back.auth
            ),
            (
                spec.version,
                spec.vrid,
                spec.priority,
                spec.interval,
                spec.auth
            )
        );
        assert_eq!(back_addrs, addrs[..n], "addresses round trip");
    }
}

// ---------------------------------------------------------------------------------------
// Configuration and keepalived import

/// The YAML loader and validator. Properties: no panic; an accepted configuration has
/// instances whose fields respect the documented ranges, and starts a [`Router`] that
/// shuts down cleanly.
pub fn config_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match config::parse_str(text, "fuzz.yaml") {
        Ok(loaded) => {
            assert!(loaded.warnings.iter().all(|d| d.warning));
            for (name, i) in &loaded.config.instances {
                assert_eq!(name, &i.name);
                assert!(i.vrid >= 1, "vrid {}", i.vrid);
                assert!(i.priority >= 1, "priority {}", i.priority);
                assert!(!i.virtual_ipaddress.is_empty(), "no address");
            }
            let t0 = Instant::now();
            let mut r = Router::new(loaded.config, t0);
            while r.poll_effect().is_some() {}
            r.handle_shutdown(t0);
            while r.poll_effect().is_some() {}
            assert!(r.ids().is_empty(), "instances left after shutdown");
        }
        Err(diags) => {
            assert!(
                diags.iter().any(|d| !d.warning),
                "rejected without an error"
            );
            for d in &diags {
                assert!(!d.message.is_empty(), "empty diagnostic");
            }
        }
    }
}

/// The keepalived.conf lexer and importer. Properties: no panic; a translation handed out
/// is a valid vipd configuration (the importer promises it); the lexer's lines are
/// non-empty. Inputs with `include` are lexed but not imported (they would read files).
pub fn keepalived(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = match crate::import::lexer::tokenize(text, 0, "fuzz.conf") {
        Ok(l) => l,
        Err(e) => {
            assert!(!e.message.is_empty());
            return;
        }
    };
    assert!(
        lines.iter().all(|l| !l.words.is_empty()),
        "empty line token"
    );
    if lines
        .iter()
        .any(|l| !l.words[0].quoted && l.words[0].text == "include")
    {
        return;
    }
    if let Ok(t) = crate::import::import_str(text, Path::new("/nonexistent/fuzz.conf"))
        && let Err(d) = config::parse_str(&t.yaml, "translation.yaml")
    {
        panic!("translation does not validate: {d:?}\n{}", t.yaml);
    }
}

/// The HTTP request path: the bytes are one client's side of a connection, served by the
/// same hyper settings and handler as the endpoint (in memory, no socket). Properties: no
/// panic; whatever comes back is a sequence of HTTP/1.1 responses.
pub fn http(data: &[u8]) {
    let out = crate::observe::fuzz_exchange(data);
    if !out.is_empty() {
        assert!(
            out.starts_with(b"HTTP/1."),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
    }
}

// ---------------------------------------------------------------------------------------
// The world: real router cores on a LAN with an explicit wire

/// The virtual address every world node backs up.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 51);
/// Most messages in flight at once (the oldest is lost beyond it).
pub const WIRE_CAP: usize = 4;

/// An advert in flight.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Msg {
    pub from: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub priority: u8,
    pub bytes: std::sync::Arc<[u8]>,
}

/// One host of the world.
#[derive(Clone, Debug)]
pub struct Node {
    pub router: Router,
    pub iface: IfaceInfo,
    /// The configurations this node can be reloaded to (index 0 is the one it starts with).
    pub configs: Vec<Config>,
    pub config: usize,
    /// The link is down: nothing is sent or received.
    pub cut: bool,
    /// `handle_shutdown` was called.
    pub shut: bool,
    /// Addresses the kernel holds for this node (added by the core, not yet removed).
    pub held: BTreeSet<IpAddr>,
    /// Since when the node holds addresses without being master (make-before-break: a
    /// resigning master keeps them until the new master is heard, within its hold bound).
    pub hold_since: Option<Instant>,
}

impl Node {
    /// Shut down and released: the process has exited.
    pub fn gone(&self) -> bool {
        self.shut && self.router.stopped()
    }
}

/// A LAN of router cores. Effects are carried out at once; adverts wait on `wire` until a
/// step delivers or loses them (or [`World::lossless`] is on: then they are delivered as
/// soon as they are sent).
#[derive(Clone, Debug)]
pub struct World {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub wire: Vec<Msg>,
    pub lossless: bool,
}

/// A broken invariant, with what was seen.
pub type Violation = String;

/// One thing that can happen in the world.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Deliver message `i` of the wire to every other node whose link is up.
    Deliver(usize),
    /// Lose message `i`.
    Lose(usize),
    /// Advance the clock to the next deadline of any node and handle it.
    Tick,
    /// Link of a node down (false) or up (true).
    Link(usize, bool),
    /// Reload a node with its configuration `c`.
    Reload(usize, usize),
    /// Graceful shutdown of a node.
    Shutdown(usize),
    /// A check script's result on a node.
    Track(usize, bool),
    /// Someone deletes the VIP by hand on a node (`ip addr del`).
    DeleteVip(usize),
}

/// The interface facts of world host `i` (10.99.0.11 + i).
pub fn world_iface(i: usize) -> IfaceInfo {
    let last = 11 + i as u8;
    IfaceInfo {
        index: 2,
        name: "eth0".to_owned(),
        mac: [2, 0, 0, 0, 0, last],
        up: true,
        ipv4_primary: Some(Ipv4Addr::new(10, 99, 0, last)),
        ipv6_link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(last))),
        mtu: 1500,
        ipv6_forwarding: false,
    }
}

/// A one-instance configuration (VRID 51, VIP 10.99.0.51, a check script `chk` of weight
/// -60 tracked): `version` 2 or 3, advert interval 1 s.
pub fn world_yaml(version: u8, priority: u8, preempt: bool) -> String {
    format!(
        "scripts:\n  chk: {{command: [/bin/true], weight: -60}}\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    version: {version}\n    priority: {priority}\n    preempt: {preempt}\n    advert_interval: 1s\n    track_scripts: [chk]\n    virtual_ipaddress: [10.99.0.51/24]\n"
    )
}

fn parse(yaml: &str) -> Config {
    match config::parse_str(yaml, "world.yaml") {
        Ok(l) => l.config,
        Err(d) => panic!("world configuration rejected: {d:?}"),
    }
}

impl World {
    /// A world of hosts, each with its list of configurations (the first is used at start).
    pub fn new(configs: Vec<Vec<Config>>) -> World {
        let t0 = Instant::now();
        let mut w = World {
            t0,
            now: t0,
            nodes: Vec::new(),
            wire: Vec::new(),
            lossless: false,
        };
        for (i, cs) in configs.into_iter().enumerate() {
            w.nodes.push(Node {
                router: Router::new(cs[0].clone(), t0),
                iface: world_iface(i),
                configs: cs,
                config: 0,
                cut: false,
                shut: false,
                hold_since: None,
                held: BTreeSet::new(),
            });
        }
        w
    }

    /// Hosts from YAML texts: one list of alternatives per host.
    pub fn from_yaml(yaml: &[Vec<String>]) -> World {
        World::new(
            yaml.iter()
                .map(|alts| alts.iter().map(|y| parse(y)).collect())
                .collect(),
        )
    }

    /// Carries out every queued effect; then checks the invariants.
    pub fn settle(&mut self) -> Result<(), Violation> {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                while let Some(e) = self.nodes[i].router.poll_effect() {
                    any = true;
                    self.exec(i, e)?;
                }
            }
            if !any {
                break;
            }
        }
        self.check()
    }

    fn exec(&mut self, i: usize, e: Effect) -> Result<(), Violation> {
        let now = self.now;
        match e {
            Effect::Lookup { ifname, .. } => {
                let n = &mut self.nodes[i];
                let answer = if ifname == n.iface.name {
                    let mut f = n.iface.clone();
                    f.up = !n.cut;
                    Ok(f)
                } else {
                    Err(format!("interface {ifname} not found"))
                };
                n.router.handle_iface(now, &ifname, answer);
            }
            Effect::Send {
                src,
                dst,
                priority,
                bytes,
                ..
            } => {
                if self.nodes[i].shut && priority != 0 {
                    return Err(format!("node {i} sent priority {priority} after shutdown"));
                }
                if self.nodes[i].cut {
                    return Ok(());
                }
                let m = Msg {
                    from: i,
                    src,
                    dst,
                    priority,
                    bytes,
                };
                if self.lossless {
                    self.deliver_msg(&m);
                } else {
                    if self.wire.len() >= WIRE_CAP {
                        self.wire.remove(0);
                    }
                    self.wire.push(m);
                }
            }
            Effect::AddAddresses { vips, .. } => {
                let n = &mut self.nodes[i];
                for v in vips {
                    if !n.held.insert(v.addr) {
                        return Err(format!("node {i} added {} twice", v.addr));
                    }
                }
            }
            Effect::RemoveAddresses { vips, .. } => {
                for v in vips {
                    self.nodes[i].held.remove(&v.addr);
                }
            }
            Effect::Barrier { inst } => {
                // A zero-latency kernel: the addresses and the announcement are done.
                self.nodes[i].router.handle_announced(now, inst);
            }
            _ => {}
        }
        Ok(())
    }

    fn deliver_msg(&mut self, m: &Msg) {
        let now = self.now;
        for j in 0..self.nodes.len() {
            let n = &mut self.nodes[j];
            if j == m.from || n.cut || n.gone() {
                continue;
            }
            let to_me = crate::router::receive::is_vrrp_group(m.dst)
                || n.iface.ipv4_primary.map(IpAddr::V4) == Some(m.dst)
                || n.iface.ipv6_link_local.map(IpAddr::V6) == Some(m.dst);
            if !to_me {
                continue;
            }
            n.router.handle_packet(
                now,
                Packet {
                    port: PortId(0),
                    src: m.src,
                    dst: m.dst,
                    ttl: 255,
                    bytes: &m.bytes,
                },
            );
        }
    }

    /// The invariants that hold after every step.
    pub fn check(&mut self) -> Result<(), Violation> {
        let now = self.now;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            // A node that has shut down and released has exited: its clock no longer runs.
            let gone = n.gone();
            if let Some(t) = n.router.poll_timeout().filter(|_| !gone)
                && t < now
            {
                return Err(format!("node {i}: timer {:?} in the past", now - t));
            }
            let engines: Vec<_> = n
                .router
                .ids()
                .iter()
                .filter_map(|&id| n.router.engine(id))
                .collect();
            let states: Vec<State> = engines.iter().map(|e| e.state()).collect();
            let master = states.contains(&State::Master);
            if !master && !n.held.is_empty() {
                // Only a resigning master may keep its addresses, and only within its bound.
                let bound = engines
                    .iter()
                    .filter(|e| e.holding())
                    .map(|e| e.hold_bound())
                    .max();
                let Some(bound) = bound else {
                    return Err(format!(
                        "node {i} holds {:?} in {states:?} (not master, not releasing)",
                        n.held
                    ));
                };
                let since = *n.hold_since.get_or_insert(now);
                if now - since > bound + Duration::from_millis(1) {
                    return Err(format!(
                        "node {i} holds {:?} in {states:?} for {:?}, beyond its hold bound {bound:?}",
                        n.held,
                        now - since
                    ));
                }
            } else {
                n.hold_since = None;
            }
            if master && n.held.is_empty() && !n.cut {
                return Err(format!("node {i} is master without its address"));
            }
            if gone && (!n.held.is_empty() || !n.router.ids().is_empty()) {
                return Err(format!(
                    "node {i} after shutdown: holds {:?}, instances {:?}",
                    n.held,
                    n.router.ids()
                ));
            }
        }
        Ok(())
    }

    /// The state of node `i`'s instance (Stop once shut down).
    pub fn state(&self, i: usize) -> State {
        let r = &self.nodes[i].router;
        r.ids()
            .first()
            .and_then(|&id| r.engine(id))
            .map_or(State::Stop, |e| e.state())
    }

    /// Nodes in Master.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.state(i) == State::Master)
            .collect()
    }

    /// The earliest deadline of any node.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.nodes
            .iter_mut()
            .filter(|n| !n.gone())
            .filter_map(|n| n.router.poll_timeout())
            .min()
    }

    /// Advances to `t` and handles every node's deadlines up to it; afterwards no deadline
    /// may be at or before `t`.
    pub fn advance(&mut self, t: Instant) -> Result<(), Violation> {
        self.now = self.now.max(t);
        let now = self.now;
        for n in &mut self.nodes {
            if !n.gone() {
                n.router.handle_timeout(now);
            }
        }
        self.settle()?;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if n.gone() {
                continue;
            }
            if let Some(t) = n.router.poll_timeout()
                && t <= now
            {
                return Err(format!("node {i}: deadline not after handle_timeout"));
            }
        }
        Ok(())
    }

    /// Runs deadline by deadline until `end`.
    pub fn run_until(&mut self, end: Instant) -> Result<(), Violation> {
        let mut guard = 0u32;
        while let Some(t) = self.next_deadline().filter(|&t| t <= end) {
            self.advance(t)?;
            guard += 1;
            if guard > 100_000 {
                return Err("more than 100000 deadlines: a timer loop".into());
            }
        }
        self.now = self.now.max(end);
        self.settle()
    }

    /// Applies one step (steps naming something that does not exist do nothing).
    pub fn step(&mut self, s: &Step) -> Result<(), Violation> {
        let now = self.now;
        match *s {
            Step::Deliver(i) if i < self.wire.len() => {
                let m = self.wire.remove(i);
                self.deliver_msg(&m);
            }
            Step::Lose(i) if i < self.wire.len() => {
                self.wire.remove(i);
            }
            Step::Tick => {
                if let Some(t) = self.next_deadline() {
                    return self.advance(t);
                }
            }
            Step::Link(i, up) if i < self.nodes.len() && !self.nodes[i].shut => {
                let n = &mut self.nodes[i];
                n.cut = !up;
                n.router.handle_link(now, "eth0", up);
            }
            Step::Reload(i, c) if i < self.nodes.len() && !self.nodes[i].shut => {
                let n = &mut self.nodes[i];
                if let Some(cfg) = n.configs.get(c) {
                    n.config = c;
                    n.router.handle_reload(now, cfg.clone());
                }
            }
            Step::Shutdown(i) if i < self.nodes.len() && !self.nodes[i].shut => {
                self.nodes[i].router.handle_shutdown(now);
                self.nodes[i].shut = true;
            }
            Step::Track(i, healthy) if i < self.nodes.len() && !self.nodes[i].shut => {
                let ev = TrackEvent::Script {
                    name: "chk".into(),
                    healthy,
                };
                self.nodes[i].router.handle_track(now, &ev);
            }
            Step::DeleteVip(i) if i < self.nodes.len() && !self.nodes[i].shut => {
                let addr = IpAddr::V4(VIP);
                if self.nodes[i].held.remove(&addr) {
                    let index = self.nodes[i].iface.index;
                    self.nodes[i].router.handle_address(now, index, addr, false);
                }
            }
            _ => {}
        }
        self.settle()
    }

    /// The longest Master_Down_Interval of any live instance.
    pub fn max_master_down(&self) -> Duration {
        self.nodes
            .iter()
            .filter(|n| !n.shut)
            .flat_map(|n| {
                n.router
                    .ids()
                    .into_iter()
                    .filter_map(|id| n.router.engine(id).map(|e| e.master_down_interval()))
            })
            .max()
            .unwrap_or_default()
    }

    /// Heals the network (every link up, every script healthy, the wire emptied, nothing
    /// lost any more), lets one Master_Down_Interval (plus an advert interval for the
    /// adverts in flight to matter) pass and checks that exactly one live node is master.
    pub fn heal_and_check(&mut self) -> Result<(), Violation> {
        self.lossless = true;
        self.wire.clear();
        for i in 0..self.nodes.len() {
            if self.nodes[i].shut {
                continue;
            }
            if self.nodes[i].cut {
                self.step(&Step::Link(i, true))?;
            }
            self.step(&Step::Track(i, true))?;
        }
        let wait = self.max_master_down() + Duration::from_millis(1);
        let end = self.now + wait;
        self.run_until(end)?;
        let live = self.nodes.iter().filter(|n| !n.shut).count();
        let masters = self.masters();
        if live > 0 && masters.len() != 1 {
            return Err(format!(
                "{} after healing and {wait:?}: masters {masters:?} of {live} live nodes",
                self.describe()
            ));
        }
        Ok(())
    }

    /// A priority-0 advert delivered to backups that follow its sender (and speak its VRRP
    /// version) leads to a master within the shortest Skew_Time among them (run lossless
    /// from here). Returns how many followers the property was checked on.
    pub fn deliver_checking_resign(&mut self, i: usize) -> Result<usize, Violation> {
        let Some(m) = self.wire.get(i).cloned() else {
            return Ok(0);
        };
        // The advert's VRRP version (the high nibble of its first byte). A router of the
        // other version drops it (a reload that changes the version resigns with the old
        // version's advert), so only routers of the same version must follow it.
        let version = m.bytes.first().map(|b| b >> 4);
        let followers: Vec<(usize, Duration)> = if m.priority == 0 {
            (0..self.nodes.len())
                .filter(|&j| j != m.from && !self.nodes[j].cut && !self.nodes[j].shut)
                .filter_map(|j| {
                    let r = &self.nodes[j].router;
                    let id = *r.ids().first()?;
                    let e = r.engine(id)?;
                    (e.state() == State::Backup
                        && e.master().map(|x| x.0) == Some(m.src)
                        && version == Some(e.params().version.number()))
                    .then(|| (j, e.skew_time()))
                })
                .collect()
        } else {
            Vec::new()
        };
        self.step(&Step::Deliver(i))?;
        let Some(skew) = followers.iter().map(|f| f.1).min() else {
            return Ok(0);
        };
        for &(j, _) in &followers {
            let r = &self.nodes[j].router;
            let Some(e) = r.ids().first().and_then(|&id| r.engine(id)) else {
                continue;
            };
            if e.state() == State::Backup {
                let at = e.timers().get(Timer::MasterDown);
                if at.is_none_or(|at| at > self.now + e.skew_time()) {
                    return Err(format!(
                        "node {j} heard priority 0 from its master; master-down timer {:?} beyond skew {:?}",
                        at.map(|a| a - self.now),
                        e.skew_time()
                    ));
                }
            }
        }
        let mut w = self.clone();
        w.lossless = true;
        w.wire.clear();
        let end = w.now + skew + Duration::from_millis(1);
        w.run_until(end)?;
        if w.masters().is_empty() {
            return Err(format!(
                "no takeover within skew {skew:?} after priority 0 from node {}: {}",
                m.from,
                w.describe()
            ));
        }
        Ok(followers.len())
    }

    /// A canonical digest of the world: per node its instance's state, priorities, master,
    /// deadlines relative to now, held addresses, link, configuration; and the messages in
    /// flight (as a multiset).
    pub fn digest(&self) -> u64 {
        let mut h = DefaultHasher::new();
        for n in &self.nodes {
            (n.cut, n.shut, n.config, &n.held).hash(&mut h);
            for id in n.router.ids() {
                if let Some(e) = n.router.engine(id) {
                    (
                        e.state() as u8,
                        e.priority(),
                        e.master(),
                        e.master_adver_interval(),
                    )
                        .hash(&mut h);
                    for t in [
                        Timer::Adver,
                        Timer::MasterDown,
                        Timer::GarpDelay,
                        Timer::GarpRefresh,
                    ] {
                        e.timers()
                            .get(t)
                            .map(|at| at.saturating_duration_since(self.now))
                            .hash(&mut h);
                    }
                }
            }
        }
        let mut wire: Vec<&Msg> = self.wire.iter().collect();
        wire.sort_by(|a, b| (a.from, a.priority, &a.bytes).cmp(&(b.from, b.priority, &b.bytes)));
        wire.hash(&mut h);
        h.finish()
    }

    /// One line: each node's state and priority, the wire.
    pub fn describe(&self) -> String {
        let mut s = format!("t={:?}", self.now - self.t0);
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let prio = n
                .router
                .ids()
                .first()
                .and_then(|&id| n.router.engine(id))
                .map(|e| e.priority());
            s += &format!(
                " n{i}={:?}/{prio:?}{}{}",
                self.state(i),
                if n.cut { "/cut" } else { "" },
                if n.shut { "/shut" } else { "" }
            );
        }
        s += &format!(
            " wire={:?}",
            self.wire
                .iter()
                .map(|m| (m.from, m.priority))
                .collect::<Vec<_>>()
        );
        s
    }
}

/// The model checker's (and the core driver's) world: three routers on VRID 51, priorities
/// 200, 150 and 100, preempting, each reloadable to a second configuration that lowers its
/// priority by 120 (so the order of the election changes).
pub fn three_routers(version: u8) -> World {
    let prios = [200u8, 150, 100];
    World::from_yaml(
        &prios
            .iter()
            .map(|&p| {
                vec![
                    world_yaml(version, p, true),
                    world_yaml(version, p.saturating_sub(120).max(1), true),
                ]
            })
            .collect::<Vec<_>>(),
    )
}

// ---------------------------------------------------------------------------------------
// The core driver

/// Arbitrary sequences of inputs to three router cores, invariants checked after each step
/// and, at the end, the election after healing. `data[0]` picks the world (v2 or v3,
/// preempt or not); then each byte is one step.
/// The configurations of the `core` target's world picked by `sel` (bit 0: VRRPv2, bit 1: no
/// preemption): per node (priorities 200, 150, 100) its start configuration and the three
/// reload targets (lower priority, the other VRRP version, 255). Parsed once per process and
/// cloned per input: parsing twelve YAML files took nearly all of an input's time.
fn core_configs(sel: u8) -> Vec<Vec<Config>> {
    static WORLDS: std::sync::OnceLock<Vec<Vec<Vec<Config>>>> = std::sync::OnceLock::new();
    let worlds = WORLDS.get_or_init(|| {
        (0..4u8)
            .map(|sel| {
                let version = if sel & 1 == 0 { 3 } else { 2 };
                let preempt = sel & 2 == 0;
                [200u8, 150, 100]
                    .iter()
                    .map(|&p| {
                        [
                            world_yaml(version, p, preempt),
                            world_yaml(version, p.saturating_sub(120).max(1), preempt),
                            world_yaml(if version == 2 { 3 } else { 2 }, p, preempt),
                            world_yaml(version, 255, preempt),
                        ]
                        .iter()
                        .map(|y| parse(y))
                        .collect()
                    })
                    .collect()
            })
            .collect()
    });
    worlds[usize::from(sel & 3)].clone()
}

pub fn core(data: &[u8]) {
    let Some((&sel, steps)) = data.split_first() else {
        return;
    };
    let mut w = World::new(core_configs(sel));
    let run = |w: &mut World| -> Result<(), Violation> {
        w.settle()?;
        for &b in steps.iter().take(256) {
            let node = usize::from(b >> 5) % 3;
            let arg = usize::from(b >> 5);
            match b & 0x1f {
                0..=7 => w.step(&Step::Tick)?,
                8..=10 => _ = w.deliver_checking_resign(arg % WIRE_CAP)?,
                11 => w.step(&Step::Lose(arg % WIRE_CAP))?,
                12 => w.step(&Step::Link(node, false))?,
                13 => w.step(&Step::Link(node, true))?,
                14 => w.step(&Step::Reload(node, usize::from(b >> 7)))?,
                15 => w.step(&Step::Reload(node, 2 + usize::from(b >> 7)))?,
                16 => w.step(&Step::Track(node, false))?,
                17 => w.step(&Step::Track(node, true))?,
                18 => w.step(&Step::DeleteVip(node))?,
                19 if b >> 5 == 7 => w.step(&Step::Shutdown(node))?,
                20 => {
                    // Time passes with nothing on the wire: the adverts of these seconds are lost.
                    let end = w.now + Duration::from_millis(100 * u64::from(b >> 5) + 100);
                    while let Some(t) = w.next_deadline().filter(|&t| t <= end) {
                        w.advance(t)?;
                    }
                    w.now = end;
                    w.settle()?;
                }
                _ => {
                    // Deliver everything in flight, in order.
                    while !w.wire.is_empty() {
                        _ = w.deliver_checking_resign(0)?;
                    }
                }
            }
        }
        // All reloads back to a same-version configuration, so the election is among
        // agreeing routers.
        for i in 0..w.nodes.len() {
            if !w.nodes[i].shut && w.nodes[i].config >= 2 {
                w.step(&Step::Reload(i, 0))?;
            }
        }
        w.heal_and_check()
    };
    if let Err(v) = run(&mut w) {
        panic!("core invariant broken: {v}\n{}", w.describe());
    }
}

/// Counts of an exploration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Explored {
    /// Distinct states (by [`World::digest`]).
    pub states: usize,
    /// Steps applied (transitions).
    pub transitions: usize,
    /// States whose heal check ran.
    pub healed: usize,
    pub max_depth: usize,
}

/// Bounds of an exploration.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Steps from the start.
    pub depth: usize,
    /// Faults (losses, link changes, reloads, shutdowns, script failures) on one path.
    pub faults: usize,
}

/// Every interleaving of the steps of `start` up to `bounds` (breadth first, each distinct
/// state once); every state reached is checked with the step invariants, deliveries of
/// priority 0 with the Skew_Time property, and every state with the heal property.
pub fn explore(start: World, bounds: Bounds) -> Result<Explored, (Violation, Vec<Step>)> {
    let mut seen: HashMap<u64, ()> = HashMap::new();
    let mut stats = Explored::default();
    let mut frontier: Vec<(World, Vec<Step>, usize)> = vec![(start, Vec::new(), 0)];
    seen.insert(frontier[0].0.digest(), ());
    let n = frontier[0].0.nodes.len();
    for depth in 0..=bounds.depth {
        let mut next = Vec::new();
        for (w, path, faults) in frontier {
            stats.states += 1;
            stats.max_depth = depth;
            let mut healed = w.clone();
            healed
                .heal_and_check()
                .map_err(|v| (format!("heal: {v}"), path.clone()))?;
            stats.healed += 1;
            if depth == bounds.depth {
                continue;
            }
            let mut steps: Vec<(Step, bool)> = vec![(Step::Tick, false)];
            for i in 0..w.wire.len() {
                steps.push((Step::Deliver(i), false));
                steps.push((Step::Lose(i), true));
            }
            for i in 0..n {
                let node = &w.nodes[i];
                if node.shut {
                    continue;
                }
                steps.push((Step::Link(i, node.cut), true));
                steps.push((Step::Reload(i, 1 - node.config.min(1)), true));
                steps.push((Step::Shutdown(i), true));
            }
            for (s, fault) in steps {
                if fault && faults >= bounds.faults {
                    continue;
                }
                let mut w2 = w.clone();
                stats.transitions += 1;
                let r = match s {
                    Step::Deliver(i) => w2.deliver_checking_resign(i).map(drop),
                    _ => w2.step(&s),
                };
                let mut p2 = path.clone();
                p2.push(s.clone());
                if let Err(v) = r {
                    return Err((v, p2));
                }
                if seen.insert(w2.digest(), ()).is_none() {
                    next.push((w2, p2, faults + usize::from(fault)));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Ok(stats)
}

//! A virtual LAN of router cores for tests: every advert one node sends is delivered to the
//! others at once, lookups are answered from a table, and a virtual clock jumps from
//! deadline to deadline. Whole elections run in microseconds, no sockets, no root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::config::parse_str;
use crate::packet::{ChecksumForm, Version, vrrp};

/// One observable thing a node did, at a time since the start.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub at: Duration,
    pub node: String,
    /// A short summary: `send prio=100 dst=224.0.0.18`, `add`, `remove`,
    /// `announce count=5 router=false`, `transition BACKUP -> MASTER`, `priority 100 -> 80`,
    /// `notify MASTER`, `lookup eth0`, `open`, `close`, `drop reason=ttl`.
    pub what: String,
    pub effect: Effect,
}

pub struct Node {
    pub name: String,
    pub router: Router,
    /// What lookups of each interface answer.
    pub ifaces: HashMap<String, IfaceInfo>,
    /// TTL this node's adverts arrive with elsewhere.
    pub ttl: u8,
    /// The link is cut: nothing is sent or received.
    pub cut: bool,
}

pub struct Net {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub events: Vec<Event>,
    /// (node, interface) links that are cut (the node's other interfaces still pass).
    pub cut_ifaces: HashSet<(usize, String)>,
    /// Creating a macvlan (`use_vmac`) fails on these nodes.
    pub vmac_fails: Vec<usize>,
}

/// The interface facts of a test host.
pub fn iface(name: &str, v4: Ipv4Addr, index: u32) -> IfaceInfo {
    let last = v4.octets()[3];
    IfaceInfo {
        index,
        name: name.to_owned(),
        mac: [2, 0, 0, 0, 0, last],
        up: true,
        ipv4_primary: Some(v4),
        ipv6_link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(last))),
        mtu: 1500,
        ipv6_forwarding: false,
    }
}

/// A configuration from YAML (panics on errors: test input).
pub fn config(yaml: &str) -> Config {
    match parse_str(yaml, "test.yaml") {
        Ok(l) => l.config,
        Err(d) => panic!("{d:?}"),
    }
}

/// `route 10.99.1.0/24 table 254, rule to table 100` (the conformance files match on it).
fn describe(items: &[crate::router::extras::Item]) -> String {
    items
        .iter()
        .map(|i| i.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary(e: &Effect) -> Option<String> {
    Some(match e {
        Effect::Send {
            priority,
            dst,
            bytes,
            ..
        } => {
            let n = bytes.get(3).copied().unwrap_or(0);
            format!("send prio={priority} dst={dst} count={n}")
        }
        Effect::AddAddresses { .. } => "add".into(),
        Effect::RemoveAddresses { .. } => "remove".into(),
        Effect::Install { items, .. } => format!("install {}", describe(items)),
        Effect::Uninstall { items, .. } => format!("uninstall {}", describe(items)),
        Effect::Announce {
            count,
            router,
            interval,
            iface,
            addrs,
            ..
        } => {
            let a: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            let pace = if interval.is_zero() {
                String::new()
            } else {
                format!(" interval={interval:?}")
            };
            format!(
                "announce count={count} router={router}{pace} on {} {}",
                iface.name,
                a.join(",")
            )
        }
        Effect::Notify { state, .. } => format!("notify {}", state.upper()),
        Effect::NotifyGroup { group, state, .. } => {
            format!("group notify {group} {}", state.upper())
        }
        Effect::Fact(Fact::SyncGroup { group, from, to }) => {
            format!("group {group} {from} -> {to}")
        }
        Effect::Fact(Fact::SyncGroupRemoved { group }) => format!("group removed {group}"),
        Effect::Fact(Fact::NoSourceAddress { .. }) => "no source address".into(),
        Effect::Lookup { ifname, .. } => format!("lookup {ifname}"),
        Effect::ReadBack { ifindex, .. } => format!("read back {ifindex}"),
        Effect::Fact(Fact::AddressRestored { addr, .. }) => format!("restored {addr}"),
        Effect::OpenPort { .. } => "open".into(),
        Effect::SetVridFilter { vrids, .. } => format!("filter {vrids:?}"),
        Effect::JoinSolicited { addrs, .. } => {
            let groups: Vec<String> = addrs.iter().map(|(i, a)| format!("{i}/{a}")).collect();
            format!("join-solicited [{}]", groups.join(", "))
        }
        Effect::ClosePort { .. } => "close".into(),
        Effect::Scripts { stop, start } => format!("scripts stop={stop:?} start={start:?}"),
        Effect::Barrier { .. } => "barrier".into(),
        Effect::EnsureVmac { vmac, .. } => format!("vmac create {}", vmac.name),
        Effect::DeleteVmac { vmac, .. } => format!("vmac delete {}", vmac.name),
        Effect::Fact(Fact::Drained { drained, .. }) => format!("drained={drained}"),
        Effect::Fact(Fact::Hold {
            released,
            taken_over,
            ..
        }) => format!("hold released={released} taken_over={taken_over}"),
        Effect::Fact(Fact::Transition { from, to, .. }) => format!("transition {from} -> {to}"),
        Effect::Fact(Fact::Priority { from, to, .. }) => format!("priority {from} -> {to}"),
        Effect::Fact(Fact::Dropped { reason, .. }) => format!("drop reason={reason}"),
        Effect::Fact(Fact::Received { priority, .. }) => format!("received prio={priority}"),
        Effect::Fact(Fact::PeerDisagrees { reason, .. }) => format!("disagrees reason={reason}"),
        Effect::Fact(Fact::FirstAddressNotLinkLocal { .. }) => "first not link-local".into(),
        Effect::Fact(Fact::AddressesNotAdvertised {
            advertised, total, ..
        }) => format!("not advertised {advertised}/{total}"),
        _ => return None,
    })
}

impl Net {
    pub fn new() -> Net {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            nodes: Vec::new(),
            events: Vec::new(),
            cut_ifaces: HashSet::new(),
            vmac_fails: Vec::new(),
        }
    }

    /// Adds a host with one interface `eth0` at `v4`, running `yaml`.
    pub fn node(&mut self, name: &str, v4: [u8; 4], yaml: &str) -> usize {
        self.node_with(name, v4, yaml, |_| {})
    }

    /// The same, with `eth0`'s facts adjusted by `adjust` (MTU, forwarding).
    pub fn node_with(
        &mut self,
        name: &str,
        v4: [u8; 4],
        yaml: &str,
        adjust: impl FnOnce(&mut IfaceInfo),
    ) -> usize {
        let v4 = Ipv4Addr::from(v4);
        let mut eth0 = iface("eth0", v4, 2);
        adjust(&mut eth0);
        let mut ifaces = HashMap::new();
        ifaces.insert("eth0".to_owned(), eth0);
        self.nodes.push(Node {
            name: name.to_owned(),
            router: Router::new(config(yaml), self.now),
            ifaces,
            ttl: 255,
            cut: false,
        });
        let i = self.nodes.len() - 1;
        self.deliver();
        i
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Carries out every queued effect of every node until all queues are empty.
    pub fn deliver(&mut self) {
        loop {
            let mut any = false;
            for i in 0..self.nodes.len() {
                while let Some(e) = self.nodes[i].router.poll_effect() {
                    any = true;
                    self.exec(i, e);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn exec(&mut self, i: usize, e: Effect) {
        let now = self.now;
        if let Some(what) = summary(&e) {
            self.events.push(Event {
                at: self.elapsed(),
                node: self.nodes[i].name.clone(),
                what,
                effect: e.clone(),
            });
        }
        match e {
            Effect::Lookup { ifname, .. } => {
                let n = &mut self.nodes[i];
                let answer = n
                    .ifaces
                    .get(&ifname)
                    .cloned()
                    .map(|mut f| {
                        f.up &= !n.cut;
                        f
                    })
                    .ok_or_else(|| format!("interface {ifname} not found"));
                n.router.handle_iface(now, &ifname, answer);
            }
            Effect::EnsureVmac { vmac, .. } => {
                let fails = self.vmac_fails.contains(&i);
                let n = &mut self.nodes[i];
                let answer = match n.ifaces.get(&vmac.base) {
                    Some(base) if !fails => {
                        // A new macvlan gets a new index each time.
                        let index = 100 + n.ifaces.len() as u32 + u32::from(vmac.mac[5]);
                        let f = IfaceInfo {
                            index,
                            name: vmac.name.clone(),
                            mac: vmac.mac,
                            up: base.up,
                            ipv4_primary: None,
                            ipv6_link_local: vmac.source,
                            mtu: base.mtu,
                            ipv6_forwarding: false,
                        };
                        n.ifaces.insert(vmac.name.clone(), f.clone());
                        Ok(f)
                    }
                    _ => Err(format!("cannot create {}", vmac.name)),
                };
                n.router.handle_iface(now, &vmac.name, answer);
            }
            Effect::DeleteVmac { vmac, .. } => {
                self.nodes[i].ifaces.remove(&vmac.name);
            }
            Effect::Barrier { inst } => {
                // A zero-latency kernel: the addresses and announcement are done already.
                self.nodes[i].router.handle_announced(now, inst);
            }
            Effect::Send {
                port,
                src,
                dst,
                bytes,
                ..
            } => {
                // The LAN is the sending port's interface (by name): the receiver gets it on
                // its own port of that interface and family.
                let key = self.nodes[i]
                    .router
                    .ports
                    .get(port.0)
                    .and_then(|p| p.as_ref())
                    .map(|p| (p.iface.clone(), p.family));
                let cut_ifaces = &self.cut_ifaces;
                let cut = |k: usize, n: &Node| {
                    n.cut
                        || key
                            .as_ref()
                            .is_some_and(|(f, _)| cut_ifaces.contains(&(k, f.clone())))
                };
                if cut(i, &self.nodes[i]) {
                    return;
                }
                let ttl = self.nodes[i].ttl;
                for j in 0..self.nodes.len() {
                    if j == i || cut(j, &self.nodes[j]) {
                        continue;
                    }
                    let to_port = match &key {
                        Some(k) => match self.nodes[j].router.port_by_key.get(k) {
                            Some(p) => *p,
                            None => continue,
                        },
                        None => PortId(0),
                    };
                    // Unicast goes to its addressee only.
                    if !receive::is_vrrp_group(dst)
                        && !self.nodes[j].ifaces.values().any(|f| {
                            f.ipv4_primary.map(IpAddr::V4) == Some(dst)
                                || f.ipv6_link_local.map(IpAddr::V6) == Some(dst)
                        })
                    {
                        continue;
                    }
                    self.nodes[j].router.handle_packet(
                        now,
                        Packet {
                            port: to_port,
                            src,
                            dst,
                            ttl,
                            bytes: &bytes,
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// Advances the clock deadline by deadline until `until` (since the start).
    pub fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            self.deliver();
            let next = self
                .nodes
                .iter_mut()
                .filter_map(|n| n.router.poll_timeout())
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for n in &mut self.nodes {
                        n.router.handle_timeout(self.now);
                    }
                }
                _ => {
                    self.now = end;
                    self.deliver();
                    return;
                }
            }
        }
    }

    /// Runs `f` on node `i`'s router at the current time, then delivers.
    pub fn with(&mut self, i: usize, f: impl FnOnce(&mut Router, Instant)) {
        let now = self.now;
        f(&mut self.nodes[i].router, now);
        self.deliver();
    }

    /// Cuts or restores node `i`'s link (the kernel reports it down; nothing passes).
    pub fn link(&mut self, i: usize, up: bool) {
        self.nodes[i].cut = !up;
        for f in self.nodes[i].ifaces.values_mut() {
            f.up = up;
        }
        let now = self.now;
        self.nodes[i].router.handle_link(now, "eth0", up);
        self.deliver();
    }

    /// Adds a host with interfaces `eth0`, `eth1`, ... at the given addresses (one LAN per
    /// interface name), running `yaml`.
    pub fn node_multi(&mut self, name: &str, v4s: &[[u8; 4]], yaml: &str) -> usize {
        let mut ifaces = HashMap::new();
        for (k, v4) in v4s.iter().enumerate() {
            let ifname = format!("eth{k}");
            let f = iface(&ifname, Ipv4Addr::from(*v4), 2 + k as u32);
            ifaces.insert(ifname, f);
        }
        self.nodes.push(Node {
            name: name.to_owned(),
            router: Router::new(config(yaml), self.now),
            ifaces,
            ttl: 255,
            cut: false,
        });
        let i = self.nodes.len() - 1;
        self.deliver();
        i
    }

    /// Cuts or restores one interface's link on node `i` (the kernel reports it).
    pub fn link_iface(&mut self, i: usize, ifname: &str, up: bool) {
        if up {
            self.cut_ifaces.remove(&(i, ifname.to_owned()));
        } else {
            self.cut_ifaces.insert((i, ifname.to_owned()));
        }
        if let Some(f) = self.nodes[i].ifaces.get_mut(ifname) {
            f.up = up;
        }
        let now = self.now;
        self.nodes[i].router.handle_link(now, ifname, up);
        self.deliver();
    }

    /// The state of node `i`'s instance `name`.
    pub fn state_of(&self, i: usize, name: &str) -> engine::State {
        let r = &self.nodes[i].router;
        r.by_name
            .get(name)
            .and_then(|&id| r.engine(id))
            .map_or(engine::State::Init, |e| e.state())
    }

    /// Events of `node` whose summary starts with `prefix`, after `from`.
    pub fn find(&self, node: &str, prefix: &str, from: Duration) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.node == node && e.at >= from && e.what.starts_with(prefix))
            .collect()
    }

    /// The time of the first such event.
    pub fn first(&self, node: &str, prefix: &str, from: Duration) -> Option<Duration> {
        self.find(node, prefix, from).first().map(|e| e.at)
    }

    /// The state of node `i`'s first instance.
    pub fn state(&self, i: usize) -> engine::State {
        let r = &self.nodes[i].router;
        r.ids()
            .first()
            .and_then(|&id| r.engine(id))
            .map_or(engine::State::Init, |e| e.state())
    }
}

/// An advert (no authentication) from `src` as bytes, for hand-made packets.
pub fn advert(
    version: Version,
    vrid: u8,
    priority: u8,
    interval: u16,
    addrs: &[IpAddr],
    src: IpAddr,
    dst: IpAddr,
) -> Vec<u8> {
    let spec = vrrp::AdvertSpec {
        version,
        vrid,
        priority,
        interval,
        auth: None,
        addresses: addrs,
    };
    let mut b = Vec::new();
    vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
    b
}

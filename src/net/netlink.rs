//! Route netlink: interface facts, address add/remove/list, link state events.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::{StreamExt, TryStreamExt};
use netlink_packet_route::address::AddressScope;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol, RouteScope,
    RouteType as NlRouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{AddressMessageBuilder, Handle, LinkMacVlan, LinkUnspec, MulticastGroup};
use tokio::sync::mpsc;

use crate::config::{Route, RouteType, Rule, Vip};

use super::{IfaceInfo, LinkEvent, NetError, NetEvent, fmt_prefix, is_ipv6_link_local};

/// Receive buffer for the link-event socket, so bursts of events do not overrun it.
const EVENT_RCVBUF: usize = 1 << 20;

/// A route netlink connection. Cheap to clone (all clones share one socket).
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Netlink")
    }
}

/// Fails (instead of panicking) when called outside a tokio runtime.
fn runtime() -> io::Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current()
        .map_err(|e| io::Error::other(format!("netlink needs a tokio runtime: {e}")))
}

/// rtnetlink's error as an io::Error (the errno for kernel NACKs).
fn nl_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.code.is_some() => m.to_io(),
        other => io::Error::other(other),
    }
}

fn nl_err(op: &'static str, target: impl Into<String>, e: rtnetlink::Error) -> NetError {
    NetError::Netlink {
        op,
        target: target.into(),
        source: nl_io(e),
    }
}

impl Netlink {
    /// Opens a route netlink connection (spawns its driver on the current tokio runtime).
    pub fn new() -> io::Result<Netlink> {
        let rt = runtime()?;
        let (conn, handle, _unsolicited) = rtnetlink::new_connection()?;
        rt.spawn(conn);
        Ok(Netlink { handle })
    }

    /// Interface by name: index, mac, up, primary IPv4 (first non-secondary IPv4 address that
    /// is not one of `exclude`), IPv6 link-local (fe80::/10, not tentative), MTU, and whether
    /// it forwards IPv6 (from the sysctl file).
    pub async fn iface(&self, name: &str, exclude: &[IpAddr]) -> Result<IfaceInfo, NetError> {
        let link = self
            .handle
            .link()
            .get()
            .match_name(name)
            .execute()
            .try_next()
            .await
            .map_err(|e| match nl_io(e) {
                e if e.raw_os_error() == Some(libc::ENODEV) => {
                    NetError::NoSuchInterface(name.to_string())
                }
                source => NetError::Netlink {
                    op: "get link",
                    target: name.to_string(),
                    source,
                },
            })?
            .ok_or_else(|| NetError::NoSuchInterface(name.to_string()))?;
        let (index, link_name, up) = link_facts(&link);
        let mac = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(b) if b.len() == 6 => {
                    let mut m = [0u8; 6];
                    m.copy_from_slice(b);
                    Some(m)
                }
                _ => None,
            })
            .unwrap_or([0; 6]);
        let mtu = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(0);

        let msgs = self.address_messages(index).await?;
        let ipv4_primary = msgs.iter().find_map(|m| match address_of(m) {
            Some(IpAddr::V4(a))
                if !flags_of(m).contains(AddressFlags::Secondary)
                    && !exclude.contains(&IpAddr::V4(a)) =>
            {
                Some(a)
            }
            _ => None,
        });
        let ipv6_link_local = msgs.iter().find_map(|m| match address_of(m) {
            Some(IpAddr::V6(a))
                if is_ipv6_link_local(&a)
                    && !flags_of(m)
                        .intersects(AddressFlags::Tentative | AddressFlags::Dadfailed) =>
            {
                Some(a)
            }
            _ => None,
        });
        let name = if link_name.is_empty() {
            name.to_string()
        } else {
            link_name
        };
        Ok(IfaceInfo {
            index,
            ipv6_forwarding: ipv6_forwarding(&name),
            name,
            mac,
            up,
            ipv4_primary,
            ipv6_link_local,
            mtu,
        })
    }

    /// Adds `addr/prefix_len` to `ifindex`; IPv6 with IFA_F_NODAD (usable at once, no DAD).
    /// Already present (EEXIST) is success.
    pub async fn add_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetError> {
        let mut req = self.handle.address().add(ifindex, addr, prefix_len);
        if addr.is_ipv6() {
            let msg = req.message_mut();
            msg.header.flags |= AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        match req.execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "add address",
                target: format!("{} on ifindex {ifindex}", fmt_prefix(addr, prefix_len)),
                source,
            }),
        }
    }

    /// Removes `addr/prefix_len` from `ifindex`; not present (or interface gone) is success.
    pub async fn del_address(
        &self,
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), NetError> {
        let msg = address_message(ifindex, addr, prefix_len);
        match self
            .handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(nl_io)
        {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL | libc::ENOENT | libc::ESRCH | libc::ENODEV)
                ) =>
            {
                Ok(())
            }
            Err(source) => Err(NetError::Netlink {
                op: "delete address",
                target: format!("{} on ifindex {ifindex}", fmt_prefix(addr, prefix_len)),
                source,
            }),
        }
    }

    /// The link called `name`, if there is one.
    async fn link_by_name(&self, name: &str) -> Result<Option<LinkMessage>, NetError> {
        match self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await
            .map_err(nl_io)
        {
            Ok(l) => Ok(l),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(source) => Err(NetError::Netlink {
                op: "get link",
                target: name.to_string(),
                source,
            }),
        }
    }

    /// Creates the macvlan `name` on `base_index` with `mac`, in private mode (keepalived's
    /// mode: frames from the LAN whose source is our own virtual MAC, i.e. the other
    /// router's adverts, are handed to the macvlan only). A macvlan already called `name` (a
    /// crash's leftover, its addresses with it) is deleted first; any other kind of link of
    /// that name is refused, never deleted. It is left down; returns its index.
    pub async fn create_macvlan(
        &self,
        name: &str,
        base_index: u32,
        mac: [u8; 6],
    ) -> Result<u32, NetError> {
        let err = |op, source| NetError::Netlink {
            op,
            target: name.to_string(),
            source,
        };
        if let Some(old) = self.link_by_name(name).await? {
            if !is_macvlan(&old) {
                return Err(err(
                    "create macvlan",
                    io::Error::other("a link of that name exists and is not a macvlan"),
                ));
            }
            self.handle
                .link()
                .del(old.header.index)
                .execute()
                .await
                .map_err(|e| err("delete leftover macvlan", nl_io(e)))?;
        }
        let msg = LinkMacVlan::new(name, base_index, MacVlanMode::Private)
            .address(mac.to_vec())
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| err("create macvlan", nl_io(e)))?;
        let link = self
            .link_by_name(name)
            .await?
            .ok_or_else(|| NetError::NoSuchInterface(name.to_string()))?;
        Ok(link.header.index)
    }

    /// Sets a link up.
    pub async fn link_up(&self, index: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| nl_err("set link up", format!("ifindex {index}"), e))
    }

    /// Deletes the macvlan `name`; already gone is success, and a link of that name that
    /// is not a macvlan is left alone (an error).
    pub async fn delete_macvlan(&self, name: &str) -> Result<(), NetError> {
        let Some(link) = self.link_by_name(name).await? else {
            return Ok(());
        };
        if !is_macvlan(&link) {
            return Err(NetError::Netlink {
                op: "delete macvlan",
                target: name.to_string(),
                source: io::Error::other("not a macvlan: left alone"),
            });
        }
        match self
            .handle
            .link()
            .del(link.header.index)
            .execute()
            .await
            .map_err(nl_io)
        {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "delete macvlan",
                target: name.to_string(),
                source,
            }),
        }
    }

    /// Addresses currently on `ifindex`, as (address, prefix length), in kernel order.
    pub async fn addresses(&self, ifindex: u32) -> Result<Vec<(IpAddr, u8)>, NetError> {
        Ok(self
            .address_messages(ifindex)
            .await?
            .iter()
            .filter_map(|m| address_of(m).map(|a| (a, m.header.prefix_len)))
            .collect())
    }

    async fn address_messages(&self, ifindex: u32) -> Result<Vec<AddressMessage>, NetError> {
        self.handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err("list addresses", format!("of ifindex {ifindex}"), e))
    }
}

/// Routes and rules (`virtual_routes`, `virtual_rules`, `static_*`) and addresses with
/// per-address options.
impl Netlink {
    /// The index of the interface called `name`.
    pub async fn link_index(&self, name: &str) -> Result<u32, NetError> {
        let link = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await
            .map_err(|e| match nl_io(e) {
                e if e.raw_os_error() == Some(libc::ENODEV) => {
                    NetError::NoSuchInterface(name.to_string())
                }
                source => NetError::Netlink {
                    op: "get link",
                    target: name.to_string(),
                    source,
                },
            })?
            .ok_or_else(|| NetError::NoSuchInterface(name.to_string()))?;
        Ok(link.header.index)
    }

    /// Adds a virtual address with its options (`scope`, `label`, `brd`) to `ifindex`; IPv6
    /// without DAD. Already present (EEXIST) is success.
    pub async fn add_vip(&self, ifindex: u32, v: &Vip) -> Result<(), NetError> {
        let mut req = self.handle.address().add(ifindex, v.addr, v.prefix_len);
        let msg = req.message_mut();
        // IFA_FLAGS carries every flag (the header's byte has no room for NOPREFIXROUTE).
        let mut flags = AddressFlags::empty();
        if v.addr.is_ipv6() {
            msg.header.flags |= AddressHeaderFlags::Nodad;
            flags |= AddressFlags::Nodad;
        }
        if v.noprefixroute {
            flags |= AddressFlags::Noprefixroute;
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        if let Some(sc) = v.scope {
            msg.header.scope = AddressScope::from(sc.number());
        }
        if let Some(l) = &v.label {
            msg.attributes.push(AddressAttribute::Label(l.clone()));
        }
        if let Some(b) = v.brd {
            msg.attributes
                .retain(|a| !matches!(a, AddressAttribute::Broadcast(_)));
            msg.attributes.push(AddressAttribute::Broadcast(b));
        }
        match req.execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "add address",
                target: format!("{} on ifindex {ifindex}", fmt_prefix(v.addr, v.prefix_len)),
                source,
            }),
        }
    }

    /// Adds a route (its `dev` resolved to `oif`). Already present (EEXIST) is success.
    pub async fn add_route(&self, r: &Route, oif: Option<u32>) -> Result<(), NetError> {
        let msg = route_message(r, oif);
        match self.handle.route().add(msg).execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "add route",
                target: fmt_prefix(r.to.0, r.to.1),
                source,
            }),
        }
    }

    /// Removes exactly that route (same table, protocol, type, gateway, device); not present
    /// is success.
    pub async fn del_route(&self, r: &Route, oif: Option<u32>) -> Result<(), NetError> {
        let msg = route_message(r, oif);
        match self.handle.route().del(msg).execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ESRCH | libc::ENOENT | libc::ENODEV)
                ) =>
            {
                Ok(())
            }
            Err(source) => Err(NetError::Netlink {
                op: "delete route",
                target: fmt_prefix(r.to.0, r.to.1),
                source,
            }),
        }
    }

    /// Adds a policy rule. Already present (EEXIST) is success.
    pub async fn add_rule(&self, r: &Rule) -> Result<(), NetError> {
        let mut req = self.handle.rule().add();
        *req.message_mut() = rule_message(r);
        match req.execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "add rule",
                target: format!("to table {}", r.table),
                source,
            }),
        }
    }

    /// Removes a rule matching every field given; not present is success.
    pub async fn del_rule(&self, r: &Rule) -> Result<(), NetError> {
        let msg = rule_message(r);
        match self.handle.rule().del(msg).execute().await.map_err(nl_io) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH)) => Ok(()),
            Err(source) => Err(NetError::Netlink {
                op: "delete rule",
                target: format!("to table {}", r.table),
                source,
            }),
        }
    }
}

fn family_nl(a: IpAddr) -> AddressFamily {
    match a {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// Table 254 (main) when none is given; tables above 255 go in RTA_TABLE only.
fn table_fields(table: Option<u32>) -> (u8, u32) {
    let t = table.unwrap_or(254);
    (u8::try_from(t).unwrap_or(252), t)
}

/// The RTM_NEWROUTE / RTM_DELROUTE message of a configured route.
fn route_message(r: &Route, oif: Option<u32>) -> RouteMessage {
    let mut m = RouteMessage::default();
    let (to, len) = r.to;
    m.header.address_family = family_nl(to);
    m.header.destination_prefix_length = len;
    let (t8, t32) = table_fields(r.table);
    m.header.table = t8;
    m.attributes.push(RouteAttribute::Table(t32));
    m.header.protocol = RouteProtocol::from(r.protocol());
    m.header.kind = match r.kind {
        RouteType::Unicast => NlRouteType::Unicast,
        RouteType::Blackhole => NlRouteType::BlackHole,
        RouteType::Unreachable => NlRouteType::Unreachable,
        RouteType::Prohibit => NlRouteType::Prohibit,
    };
    // `ip route`'s default: link scope for a unicast route without a gateway, else global.
    let scope =
        r.scope
            .map(|s| s.number())
            .unwrap_or(if r.kind == RouteType::Unicast && r.via.is_none() {
                253
            } else {
                0
            });
    m.header.scope = RouteScope::from(scope);
    if len > 0 {
        m.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(to)));
    }
    match (r.via, r.or) {
        // keepalived's `via A or B`: one nexthop via each, on the route's device.
        (Some(a), Some(b)) => {
            let hop = |g: IpAddr| {
                let mut h = RouteNextHop::default();
                h.interface_index = oif.unwrap_or(0);
                h.attributes
                    .push(RouteAttribute::Gateway(RouteAddress::from(g)));
                h
            };
            m.attributes
                .push(RouteAttribute::MultiPath(vec![hop(a), hop(b)]));
        }
        (Some(g), None) => {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        _ => {}
    }
    if let (Some(i), None) = (oif, r.or) {
        m.attributes.push(RouteAttribute::Oif(i));
    }
    if let Some(s) = r.src {
        m.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(s)));
    }
    if let Some(p) = r.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    m
}

/// The RTM_NEWRULE / RTM_DELRULE message of a configured rule.
fn rule_message(r: &Rule) -> RuleMessage {
    let mut m = RuleMessage::default();
    m.header.family = match r.family {
        crate::config::Family::Ipv4 => AddressFamily::Inet,
        crate::config::Family::Ipv6 => AddressFamily::Inet6,
    };
    m.header.action = RuleAction::ToTable;
    let (t8, t32) = table_fields(Some(r.table));
    m.header.table = t8;
    m.attributes.push(RuleAttribute::Table(t32));
    if let Some((a, l)) = r.from {
        m.header.src_len = l;
        m.attributes.push(RuleAttribute::Source(a));
    }
    if let Some((a, l)) = r.to {
        m.header.dst_len = l;
        m.attributes.push(RuleAttribute::Destination(a));
    }
    if let Some(p) = r.priority {
        m.attributes.push(RuleAttribute::Priority(p));
    }
    if let Some(i) = &r.iif {
        m.attributes.push(RuleAttribute::Iifname(i.clone()));
    }
    if let Some(o) = &r.oif {
        m.attributes.push(RuleAttribute::Oifname(o.clone()));
    }
    if let Some((mark, mask)) = r.fwmark {
        m.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(k) = mask {
            m.attributes.push(RuleAttribute::FwMask(k));
        }
    }
    m.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(r.protocol())));
    m
}

/// Whether a link is a macvlan (IFLA_INFO_KIND "macvlan").
fn is_macvlan(link: &LinkMessage) -> bool {
    link.attributes.iter().any(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos
            .iter()
            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::MacVlan))),
        _ => false,
    })
}

/// Reads a per-interface sysctl, e.g. `sysctl("ipv4", "eth0", "arp_ignore")` (of the
/// caller's network namespace).
pub fn sysctl(family: &str, ifname: &str, key: &str) -> io::Result<String> {
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
        return Err(io::Error::other(format!("bad interface name `{ifname}`")));
    }
    std::fs::read_to_string(format!("/proc/sys/net/{family}/conf/{ifname}/{key}"))
        .map(|v| v.trim().to_string())
}

/// Writes a per-interface sysctl.
pub fn set_sysctl(family: &str, ifname: &str, key: &str, value: &str) -> io::Result<()> {
    sysctl(family, ifname, key)?;
    std::fs::write(format!("/proc/sys/net/{family}/conf/{ifname}/{key}"), value)
}

/// The message that names `addr/prefix_len` on `ifindex` (for deletion).
fn address_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    match addr {
        IpAddr::V4(a) => AddressMessageBuilder::<Ipv4Addr>::new()
            .index(ifindex)
            .address(a, prefix_len)
            .build(),
        IpAddr::V6(a) => AddressMessageBuilder::<Ipv6Addr>::new()
            .index(ifindex)
            .address(a, prefix_len)
            .build(),
    }
}

/// The interface's own address of an RTM_NEWADDR: IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer
/// on point-to-point links), IFA_ADDRESS for IPv6.
fn address_of(m: &AddressMessage) -> Option<IpAddr> {
    let find = |local: bool| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(x) if local => Some(*x),
            AddressAttribute::Address(x) if !local => Some(*x),
            _ => None,
        })
    };
    match m.header.family {
        AddressFamily::Inet => find(true).or_else(|| find(false)),
        AddressFamily::Inet6 => find(false).or_else(|| find(true)),
        _ => None,
    }
}

/// IFA_FLAGS when present (it supersedes the 8-bit header flags), else the header flags.
fn flags_of(m: &AddressMessage) -> AddressFlags {
    m.attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(m.header.flags.bits())))
}

/// Whether `/proc/sys/net/ipv6/conf/<ifname>/forwarding` (of the caller's network namespace)
/// reads `1`. False when it cannot be read (no IPv6, odd name).
pub fn ipv6_forwarding(ifname: &str) -> bool {
    if ifname.is_empty() || ifname.contains('/') || ifname == "." || ifname == ".." {
        return false;
    }
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{ifname}/forwarding"))
        .is_ok_and(|v| v.trim() == "1")
}

/// (index, name, up) of a link message.
fn link_facts(link: &LinkMessage) -> (u32, String, bool) {
    let name = link
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let f = link.header.flags;
    let up = f.contains(LinkFlags::Up) && f.contains(LinkFlags::LowerUp);
    (link.header.index, name, up)
}

/// Subscribes to link and IPv4/IPv6 address events; yields an event for every
/// RTM_NEWLINK/RTM_DELLINK (up = IFF_UP && IFF_LOWER_UP; a deleted link is down) and every
/// RTM_NEWADDR/RTM_DELADDR. If the kernel reports that events were lost (socket overrun), the
/// current state of every link is re-sent. Spawns its tasks on the current tokio runtime; they
/// end when the receiver is dropped.
pub fn net_events() -> io::Result<mpsc::UnboundedReceiver<NetEvent>> {
    let rt = runtime()?;
    let (mut conn, handle, mut messages) = rtnetlink::new_connection()?;
    let sock = conn.socket_mut().socket_mut();
    // Larger buffer first (best effort), then join RTNLGRP_LINK and the address groups.
    let _ = sock.set_rx_buf_sz(EVENT_RCVBUF);
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ]
    .iter()
    .fold(0u32, |g, m| g | 1u32 << (*m as u32 - 1));
    sock.bind(&rtnetlink::sys::SocketAddr::new(0, groups))?;
    let driver = rt.spawn(conn);

    let (tx, rx) = mpsc::unbounded_channel();
    rt.spawn(async move {
        loop {
            let next = tokio::select! {
                _ = tx.closed() => break,
                m = messages.next() => m,
            };
            let Some((msg, _)) = next else {
                tracing::warn!("netlink link-event socket closed");
                break;
            };
            match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                    let (index, name, up) = link_facts(&link);
                    let _ = tx.send(NetEvent::Link(LinkEvent { index, name, up }));
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) => {
                    let (index, name, _) = link_facts(&link);
                    let _ = tx.send(NetEvent::Link(LinkEvent {
                        index,
                        name,
                        up: false,
                    }));
                }
                NetlinkPayload::InnerMessage(
                    ref a @ (RouteNetlinkMessage::NewAddress(ref m)
                    | RouteNetlinkMessage::DelAddress(ref m)),
                ) => {
                    let present = matches!(a, RouteNetlinkMessage::NewAddress(_));
                    if let Some(addr) = address_of(m) {
                        let _ = tx.send(NetEvent::Address {
                            index: m.header.index,
                            addr,
                            present,
                        });
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    tracing::warn!("netlink link events overrun; re-reading all links");
                    let mut links = handle.link().get().execute();
                    loop {
                        match links.try_next().await {
                            Ok(Some(link)) => {
                                let (index, name, up) = link_facts(&link);
                                let _ = tx.send(NetEvent::Link(LinkEvent { index, name, up }));
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!("re-reading links after overrun: {e}");
                                break;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        driver.abort();
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6_msg(addr: &str, flags: Option<AddressFlags>, hdr: AddressHeaderFlags) -> AddressMessage {
        let mut m = address_message(1, addr.parse().unwrap(), 64);
        m.header.flags = hdr;
        if let Some(f) = flags {
            m.attributes.push(AddressAttribute::Flags(f));
        }
        m
    }

    #[test]
    fn flags_prefer_attribute() {
        let m = v6_msg(
            "fe80::1",
            Some(AddressFlags::Tentative),
            AddressHeaderFlags::empty(),
        );
        assert!(flags_of(&m).contains(AddressFlags::Tentative));
        let m = v6_msg("fe80::1", None, AddressHeaderFlags::Tentative);
        assert!(flags_of(&m).contains(AddressFlags::Tentative));
        let m = v6_msg(
            "fe80::1",
            Some(AddressFlags::Permanent),
            AddressHeaderFlags::empty(),
        );
        assert!(!flags_of(&m).contains(AddressFlags::Tentative));
    }

    #[test]
    fn forwarding_of_odd_names_is_false() {
        for n in ["", ".", "..", "a/b", "../all", "no-such-iface-xyz"] {
            assert!(!ipv6_forwarding(n), "{n:?}");
        }
    }

    #[test]
    fn address_of_uses_local_for_v4() {
        let mut m = address_message(1, "10.99.0.1".parse().unwrap(), 24);
        assert_eq!(address_of(&m), Some("10.99.0.1".parse().unwrap()));
        // Point-to-point: IFA_ADDRESS is the peer.
        m.attributes
            .retain(|a| !matches!(a, AddressAttribute::Address(_)));
        m.attributes
            .insert(0, AddressAttribute::Address("10.99.0.2".parse().unwrap()));
        assert_eq!(address_of(&m), Some("10.99.0.1".parse().unwrap()));
        let m = address_message(1, "fd00:99::1".parse().unwrap(), 64);
        assert_eq!(address_of(&m), Some("fd00:99::1".parse().unwrap()));
    }
}

//! Addresses: `virtual_ipaddress` (which decides the instance's family), `unicast_peers` and
//! `unicast_src`.

use std::net::IpAddr;

use super::super::model::{Family, Vip};
use super::super::node::Node;
use super::common::{Ctx, ip, string};

pub(super) fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// Parse "addr" or "addr/len" and reject addresses that cannot be virtual.
pub(super) fn vip(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vip> {
    let s = string(cx, v, what)?;
    let s = s.trim();
    let (addr_s, len_s) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(addr) = addr_s.parse::<IpAddr>() else {
        cx.err(
            v,
            format!("{what}: `{s}` is not an IP address (expected `addr` or `addr/len`)"),
        );
        return None;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = match len_s {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                cx.err(
                    v,
                    format!("{what}: prefix length `/{l}` of `{s}` is not in 1..{max}"),
                );
                return None;
            }
        },
    };
    let bad = if addr.is_unspecified() {
        Some("the unspecified address")
    } else if addr.is_multicast() {
        Some("a multicast address")
    } else if addr.is_loopback() {
        Some("a loopback address")
    } else if matches!(addr, IpAddr::V4(a) if a.is_broadcast()) {
        Some("the broadcast address")
    } else {
        None
    };
    if let Some(b) = bad {
        cx.err(
            v,
            format!("{what}: `{addr}` is {b} and cannot be a virtual address"),
        );
        return None;
    }
    Some(Vip { addr, prefix_len })
}

/// An address used as a unicast peer or source.
pub(super) fn unicast_addr(cx: &mut Ctx, v: &Node, what: &str) -> Option<IpAddr> {
    let a = ip(cx, v, what)?;
    if a.is_unspecified() || a.is_multicast() {
        cx.err(v, format!("{what}: `{a}` is not a unicast address"));
        return None;
    }
    Some(a)
}

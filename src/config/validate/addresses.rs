//! Addresses: `virtual_ipaddress` (which decides the instance's family), `unicast_peers` and
//! `unicast_src`.

use std::net::IpAddr;

use std::collections::BTreeMap;

use super::super::model::{Family, TtlRange, Version, Vip};
use super::super::node::{Kind, Node};
use super::common::{Ctx, fields, int_in, ip, list, string};

pub(super) fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// Parse "addr" or "addr/len", or the mapping form `{address, dev, scope, label, brd}`, and
/// reject addresses that cannot be virtual.
pub(super) fn vip(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vip> {
    if matches!(v.kind, Kind::Map(_)) {
        return super::routes::vip_mapping(cx, v, what);
    }
    plain_vip(cx, v, what)
}

/// "addr" or "addr/len".
pub(super) fn plain_vip(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vip> {
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
    Some(Vip::new(addr, prefix_len))
}

/// An address used as a unicast peer or source.
fn unicast_addr(cx: &mut Ctx, v: &Node, what: &str) -> Option<IpAddr> {
    let a = ip(cx, v, what)?;
    if a.is_unspecified() || a.is_multicast() {
        cx.err(v, format!("{what}: `{a}` is not a unicast address"));
        return None;
    }
    Some(a)
}

/// An instance's virtual addresses and where each was written.
pub(super) struct Vips<'a> {
    /// The valid addresses, in the order written.
    pub(super) addrs: Vec<Vip>,
    /// Each valid address and its node, for the cross-instance checks.
    pub(super) sites: Vec<(IpAddr, &'a Node)>,
    /// The family of the first valid address: the instance's.
    pub(super) family: Option<Family>,
    /// False when the key is missing, or the list or one of its entries is invalid.
    pub(super) ok: bool,
}

/// Why VRRPv3 needs at least one address (the message of the error).
pub(super) const V3_NEEDS_AN_ADDRESS: &str = "with version 3 at least one address is required \
     (RFC 9568 5.2.5: the address count is at least 1; keepalived 2.2.7 refuses such an instance \
     too, \"No VIP specified; at least one is required\"). An instance without addresses (notify \
     hooks move an elastic IP) is VRRPv2 over IPv4: add `version: 2`";

/// `virtual_ipaddress` (`v`: its value, None when missing): a list of one family that fits in
/// an advert of `version`. Missing or empty is an instance without addresses, which is VRRPv2
/// (IPv4) only, as in keepalived 2.2.7; `key` (the instance's name) is blamed for a missing key.
pub(super) fn virtual_ipaddress<'a>(
    cx: &mut Ctx,
    v: Option<&'a Node>,
    key: &Node,
    what: &str,
    version: Option<Version>,
) -> Vips<'a> {
    let mut out = Vips {
        addrs: Vec::new(),
        sites: Vec::new(),
        family: None,
        ok: true,
    };
    let empty_list = v.is_some_and(|v| matches!(&v.kind, Kind::Seq(s) if s.is_empty()));
    if v.is_none() || empty_list {
        if version == Some(Version::V3) {
            cx.err(v.unwrap_or(key), format!("{what}: {V3_NEEDS_AN_ADDRESS}"));
            out.ok = false;
        }
        // No address: the family is IPv4, as keepalived defaults it.
        out.family = Some(Family::Ipv4);
        return out;
    }
    let Some(v) = v else {
        return out;
    };
    let items = list(cx, v, what);
    if !matches!(v.kind, Kind::Seq(_)) || items.is_empty() {
        out.ok = false;
    }
    for item in items {
        let Some(ip) = vip(cx, item, what) else {
            out.ok = false;
            continue;
        };
        let fam = family_of(ip.addr);
        match out.family {
            None => out.family = Some(fam),
            Some(first) if first != fam => {
                cx.err(
                    item,
                    format!(
                        "{what}: {} is {} but the first address is {}; use one instance per family",
                        ip.addr,
                        fam.as_str(),
                        first.as_str()
                    ),
                );
                out.ok = false;
                continue;
            }
            Some(_) => {}
        }
        if out.addrs.iter().any(|o| o.addr == ip.addr) {
            cx.err(item, format!("{what}: {} is listed twice", ip.addr));
            out.ok = false;
            continue;
        }
        out.sites.push((ip.addr, item));
        out.addrs.push(ip);
    }
    advert_checks(cx, &out, what, version);
    out
}

/// The count of addresses in an advert is one byte.
const MAX_ADDRESSES: usize = 255;
/// The MTU the advert size is checked against: standard Ethernet.
const STANDARD_MTU: usize = 1500;
/// The VRRP header before the addresses.
const VRRP_HEADER: usize = 8;
/// VRRPv2's authentication data after the addresses (always sent, zeros without a password).
const V2_AUTH_DATA: usize = 8;

/// What the addresses do to the advert that carries them: at most 255 (an error); more than fit
/// a 1500-byte packet, or (IPv6) a first address that is not link-local (warnings).
fn advert_checks(cx: &mut Ctx, vips: &Vips, what: &str, version: Option<Version>) {
    let (Some(family), Some(&(first, first_node))) = (vips.family, vips.sites.first()) else {
        return;
    };
    let n = vips.addrs.len();
    if n > MAX_ADDRESSES {
        cx.err(
            vips.sites[MAX_ADDRESSES].1,
            format!(
                "{what}: at most {MAX_ADDRESSES} addresses fit in a VRRP advert (the count is one \
                 byte); found {n}"
            ),
        );
    }
    let (ip_header, per_address, name) = match family {
        Family::Ipv4 => (20, 4, "IPv4"),
        Family::Ipv6 => (40, 16, "IPv6"),
    };
    let (auth, auth_shown) = if version == Some(Version::V2) {
        (V2_AUTH_DATA, format!(" + authentication {V2_AUTH_DATA}"))
    } else {
        (0, String::new())
    };
    let fixed = ip_header + VRRP_HEADER + auth;
    let fit = (STANDARD_MTU - fixed) / per_address;
    if n > fit {
        cx.warn(
            vips.sites[fit].1,
            format!(
                "{what}: an advert with all {n} addresses is {} bytes, more than a standard \
                 {STANDARD_MTU}-byte MTU, where {fit} fit ({name} header {ip_header} + VRRP \
                 {VRRP_HEADER}{auth_shown} + {per_address} per address); addresses beyond what \
                 fits the interface MTU are added but not advertised",
                fixed + n * per_address
            ),
        );
    }
    if let IpAddr::V6(a) = first
        && a.segments()[0] & 0xffc0 != 0xfe80
    {
        cx.warn(
            first_node,
            format!(
                "{what}: the first address {a} is not link-local (fe80::/10); RFC 9568 5.2.9 \
                 (erratum 8300): the first address of an IPv6 advert should be the instance's \
                 link-local virtual address; vipd still accepts adverts whose first address is \
                 not (keepalived sends them)"
            ),
        );
    }
}

/// The unicast peers and the TTL ranges of those that have one.
pub(super) type Peers = (Vec<IpAddr>, BTreeMap<IpAddr, TtlRange>);

const PEER_KEYS: &[&str] = &["address", "min_ttl", "max_ttl"];

/// One `unicast_peers` entry: an address, or `{address, min_ttl, max_ttl}` (0..255 each,
/// defaults 0 and 255, keepalived's `unicast_peer { A min_ttl N max_ttl M }`).
fn peer<'a>(
    cx: &mut Ctx,
    item: &'a Node,
    what: &str,
) -> Option<(&'a Node, IpAddr, Option<TtlRange>)> {
    if !matches!(item.kind, Kind::Map(_)) {
        return unicast_addr(cx, item, what).map(|a| (item, a, None));
    }
    let f = fields(cx, item, item, PEER_KEYS, what)?;
    let an = f.required(cx, "address")?;
    let a = unicast_addr(cx, an, &format!("{what}: address"));
    let ttl = |cx: &mut Ctx, k: &str, d: u8| {
        f.optional(cx, k, Some(d), |cx, _, v| {
            int_in(cx, v, &format!("{what}: {k}"), 0, 255)
                .and_then(|n| u8::try_from(n).ok())
                .map(Some)
        })
        .flatten()
    };
    let has_range = f.value("min_ttl").is_some() || f.value("max_ttl").is_some();
    let (min, max) = (ttl(cx, "min_ttl", 0), ttl(cx, "max_ttl", 255));
    let (a, min, max) = (a?, min?, max?);
    if min > max {
        cx.err(
            f.value("min_ttl").unwrap_or(item),
            format!(
                "{what}: {a}: min_ttl {min} is above max_ttl {max}: every advert of this peer would be dropped"
            ),
        );
        return None;
    }
    Some((an, a, has_range.then_some(TtlRange { min, max })))
}

/// `unicast_peers`: distinct unicast addresses of the instance's family, each optionally with
/// a TTL range. None after an error.
pub(super) fn unicast_peers(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    family: Option<Family>,
    vips: &[Vip],
) -> Option<Peers> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out = Vec::new();
    let mut ttls = BTreeMap::new();
    for item in items {
        let Some((item, a, range)) = peer(cx, item, what) else {
            ok = false;
            continue;
        };
        if let Some(fam) = family
            && family_of(a) != fam
        {
            cx.err(
                item,
                format!(
                    "{what}: {a} is not {} like the virtual addresses",
                    fam.as_str()
                ),
            );
            ok = false;
            continue;
        }
        if out.contains(&a) {
            cx.err(item, format!("{what}: {a} is listed twice"));
            ok = false;
            continue;
        }
        if vips.iter().any(|v| v.addr == a) {
            cx.warn(
                item,
                format!("{what}: {a} is one of this instance's own virtual addresses"),
            );
        }
        out.push(a);
        if let Some(r) = range {
            ttls.insert(a, r);
        }
    }
    ok.then_some((out, ttls))
}

/// `unicast_src`: a unicast address of the instance's family that is not one of its `vips`.
pub(super) fn unicast_src(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    family: Option<Family>,
    vips: &[Vip],
) -> Option<IpAddr> {
    let a = unicast_addr(cx, v, what)?;
    if vips.iter().any(|v| v.addr == a) {
        cx.err(
            v,
            format!(
                "{what}: {a} is one of this instance's virtual addresses; the advert source must \
                 be an address of this node that stays on it (a backup does not hold the virtual \
                 addresses, and two routers would send from the same address)"
            ),
        );
        return None;
    }
    match family {
        Some(fam) if family_of(a) != fam => {
            cx.err(
                v,
                format!(
                    "{what}: {a} is not {} like the virtual addresses",
                    fam.as_str()
                ),
            );
            None
        }
        _ => Some(a),
    }
}

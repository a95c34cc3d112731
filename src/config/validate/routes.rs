//! What moves with the master besides the advertised addresses, and what is installed at
//! start: the mapping form of an address (`dev`, `scope`, `label`, `brd`),
//! `virtual_ipaddress_excluded`, `virtual_routes`, `virtual_rules`, `static_ipaddress`,
//! `static_routes`, `static_rules`, and `accept_mode`.

use std::net::IpAddr;

use super::super::model::{Family, Route, RouteType, Rule, Scope, Statics, Vip};
use super::super::node::{Kind, Node};
use super::addresses::{family_of, plain_vip, vip};
use super::common::{Ctx, Fields, boolean, fields, int_in, ip, list, string};
use super::instance::interface_name;

const VIP_KEYS: &[&str] = &["address", "dev", "scope", "label", "brd", "noprefixroute"];
const ROUTE_KEYS: &[&str] = &[
    "to", "type", "via", "or", "dev", "src", "table", "metric", "scope", "proto",
];
const RULE_KEYS: &[&str] = &[
    "from", "to", "table", "priority", "iif", "oif", "fwmark", "proto", "family",
];

/// IFNAMSIZ - 1: the longest label the kernel keeps.
const MAX_LABEL: usize = 15;

fn scope(cx: &mut Ctx, v: &Node, what: &str) -> Option<Scope> {
    let s = string(cx, v, what)?;
    let s = s.trim();
    Scope::parse(s).or_else(|| {
        cx.err(
            v,
            format!("{what}: `{s}` is not a scope (global, site, link, host or nowhere)"),
        );
        None
    })
}

/// The mapping form of a virtual address: `{address: 10.0.0.1/24, dev: eth1, scope: link,
/// label: eth1:1, brd: 10.0.0.255}`.
pub(super) fn vip_mapping(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vip> {
    let f = fields(cx, v, v, VIP_KEYS, what)?;
    let a = f.required(cx, "address")?;
    let mut out = plain_vip(cx, a, what)?;
    let mut ok = true;
    if let Some(d) = f.value("dev") {
        out.dev = interface_name(cx, d, &format!("{what}: dev"));
        ok &= out.dev.is_some();
    }
    if let Some(s) = f.value("scope") {
        out.scope = scope(cx, s, &format!("{what}: scope"));
        ok &= out.scope.is_some();
    }
    if let Some(l) = f.value("label") {
        out.label = label(cx, l, what, &out);
        ok &= out.label.is_some();
    }
    if let Some(b) = f.value("brd") {
        match (ip(cx, b, &format!("{what}: brd")), out.addr) {
            (Some(IpAddr::V4(brd)), IpAddr::V4(_)) => out.brd = Some(brd),
            (Some(_), _) => {
                cx.err(
                    b,
                    format!("{what}: brd: a broadcast address is IPv4 only, for an IPv4 address"),
                );
                ok = false;
            }
            (None, _) => ok = false,
        }
    }
    if let Some(n) = f.value("noprefixroute") {
        match boolean(cx, n, &format!("{what}: noprefixroute")) {
            Some(b) => out.noprefixroute = b,
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `label`: IPv4 only, at most 15 bytes; when `dev` is given it must start with it (the
/// kernel's rule; [`labels_on`] checks the instance's interface otherwise).
fn label(cx: &mut Ctx, l: &Node, what: &str, a: &Vip) -> Option<String> {
    let s = string(cx, l, &format!("{what}: label"))?;
    let problem = if !a.addr.is_ipv4() {
        Some("labels are IPv4 only".to_owned())
    } else if s.is_empty() || s.len() > MAX_LABEL {
        Some(format!("`{s}` must be 1..{MAX_LABEL} bytes long"))
    } else if let Some(d) = &a.dev
        && !s.starts_with(d.as_str())
    {
        Some(format!(
            "`{s}` must start with the device name `{d}` (e.g. `{d}:1`)"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => {
            cx.err(l, format!("{what}: label: {p}"));
            None
        }
        None => Some(s),
    }
}

/// Labels of addresses without `dev` must start with the instance's interface name.
pub(super) fn labels_on(cx: &mut Ctx, sites: &[(&Vip, &Node)], interface: &str, what: &str) {
    for (v, node) in sites {
        if let (None, Some(l)) = (&v.dev, &v.label)
            && !l.starts_with(interface)
        {
            cx.err(
                node,
                format!(
                    "{what}: label `{l}` of {} must start with the interface name `{interface}` \
                     (e.g. `{interface}:1`), or give the address its own `dev`",
                    v.addr
                ),
            );
        }
    }
}

/// `virtual_ipaddress_excluded`: addresses of any family, not listed twice nor in `vips`.
pub(super) fn excluded<'a>(
    cx: &mut Ctx,
    v: &'a Node,
    what: &str,
    vips: &[Vip],
) -> Option<Vec<(Vip, &'a Node)>> {
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<(Vip, &Node)> = Vec::new();
    for item in list(cx, v, what) {
        let Some(a) = vip(cx, item, what) else {
            ok = false;
            continue;
        };
        if out.iter().any(|(o, _)| o.addr == a.addr) {
            cx.err(item, format!("{what}: {} is listed twice", a.addr));
            ok = false;
        } else if vips.iter().any(|o| o.addr == a.addr) {
            cx.err(
                item,
                format!(
                    "{what}: {} is also in virtual_ipaddress; list it in one of them",
                    a.addr
                ),
            );
            ok = false;
        } else {
            out.push((a, item));
        }
    }
    ok.then_some(out)
}

/// `addr/len` (len optional: a host route) with no bits set past the prefix.
fn prefix(cx: &mut Ctx, v: &Node, what: &str) -> Option<(IpAddr, u8)> {
    let s = string(cx, v, what)?;
    let s = s.trim();
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let Ok(addr) = a.parse::<IpAddr>() else {
        cx.err(
            v,
            format!("{what}: `{s}` is not an address or prefix (e.g. `10.0.0.0/24`)"),
        );
        return None;
    };
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let len = if l.is_empty() {
        max
    } else {
        match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                cx.err(
                    v,
                    format!("{what}: prefix length `/{l}` of `{s}` is not in 0..{max}"),
                );
                return None;
            }
        }
    };
    let keep = u32::from(len);
    let width = u32::from(max);
    let value = match addr {
        IpAddr::V4(x) => u128::from(u32::from(x)),
        IpAddr::V6(x) => u128::from(x),
    };
    let host_bits = if keep >= width {
        0
    } else if keep == 0 {
        value
    } else {
        value & ((1u128 << (width - keep)) - 1)
    };
    if host_bits != 0 {
        cx.err(
            v,
            format!("{what}: `{s}` has bits set past its prefix length (the kernel refuses it)"),
        );
        return None;
    }
    Some((addr, len))
}

/// `table`: 1..=4294967295 except 255 (`local`, the kernel's own).
fn table(cx: &mut Ctx, v: &Node, what: &str) -> Option<u32> {
    let t = int_in(cx, v, what, 1, i128::from(u32::MAX)).and_then(|n| u32::try_from(n).ok())?;
    if t == 255 {
        cx.err(
            v,
            format!("{what}: 255 is the kernel's `local` table; use another table"),
        );
        return None;
    }
    Some(t)
}

/// `proto`: a number 1..255 or `boot`, `static`, `keepalived`.
fn proto(cx: &mut Ctx, v: &Node, what: &str) -> Option<u8> {
    match v.as_text().as_deref().map(str::trim) {
        Some("boot") => Some(3),
        Some("static") => Some(4),
        Some("keepalived") => Some(18),
        _ => int_in(cx, v, what, 1, 255).and_then(|n| u8::try_from(n).ok()),
    }
}

fn same_family(cx: &mut Ctx, v: &Node, what: &str, a: IpAddr, fam: Family) -> bool {
    if family_of(a) != fam {
        cx.err(
            v,
            format!("{what}: {a} is not {} like the destination", fam.as_str()),
        );
        return false;
    }
    true
}

/// One route (mapping form).
fn route(cx: &mut Ctx, v: &Node, what: &str) -> Option<Route> {
    let f = fields(cx, v, v, ROUTE_KEYS, what)?;
    let at = |k: &str| format!("{what}: {k}");
    let to = f.required(cx, "to").and_then(|n| prefix(cx, n, &at("to")));
    let kind = f.optional(cx, "type", RouteType::Unicast, |cx, _, n| {
        match n.as_text().as_deref().map(str::trim) {
            Some("unicast") => Some(RouteType::Unicast),
            Some("blackhole") => Some(RouteType::Blackhole),
            Some("unreachable") => Some(RouteType::Unreachable),
            Some("prohibit") => Some(RouteType::Prohibit),
            _ => {
                cx.err(
                    n,
                    format!(
                        "{}: expected unicast, blackhole, unreachable or prohibit",
                        at("type")
                    ),
                );
                None
            }
        }
    });
    let fam = to.map(|(a, _)| family_of(a));
    let addr_of = |cx: &mut Ctx, k: &str| -> Option<Option<IpAddr>> {
        match f.value(k) {
            None => Some(None),
            Some(n) => {
                let a = ip(cx, n, &at(k))?;
                match fam {
                    Some(fm) if !same_family(cx, n, &at(k), a, fm) => None,
                    _ => Some(Some(a)),
                }
            }
        }
    };
    let via = addr_of(cx, "via");
    let or = addr_of(cx, "or");
    let src = addr_of(cx, "src");
    let dev = f.optional(cx, "dev", None, |cx, _, n| {
        interface_name(cx, n, &at("dev")).map(Some)
    });
    let table = f.optional(cx, "table", None, |cx, _, n| {
        table(cx, n, &at("table")).map(Some)
    });
    let metric = f.optional(cx, "metric", None, |cx, _, n| {
        int_in(cx, n, &at("metric"), 0, i128::from(u32::MAX))
            .and_then(|m| u32::try_from(m).ok())
            .map(Some)
    });
    let scope = f.optional(cx, "scope", None, |cx, _, n| {
        scope(cx, n, &at("scope")).map(Some)
    });
    let proto = f.optional(cx, "proto", None, |cx, _, n| {
        proto(cx, n, &at("proto")).map(Some)
    });
    let r = Route {
        to: to?,
        kind: kind?,
        via: via?,
        or: or?,
        dev: dev?,
        src: src?,
        table: table?,
        metric: metric?,
        scope: scope?,
        proto: proto?,
    };
    if r.kind == RouteType::Unicast && r.via.is_none() && r.dev.is_none() {
        cx.err(
            v,
            format!("{what}: a unicast route needs `via` or `dev` (or a `type` such as blackhole)"),
        );
        return None;
    }
    if r.or.is_some() && (r.via.is_none() || r.or == r.via) {
        cx.err(
            v,
            format!("{what}: `or` is a second gateway beside `via` (keepalived's `via A or B`), another address"),
        );
        return None;
    }
    if r.kind != RouteType::Unicast && (r.via.is_some() || r.dev.is_some()) {
        cx.err(
            v,
            format!("{what}: a {} route has no `via` or `dev`", r.kind.as_str()),
        );
        return None;
    }
    Some(r)
}

/// `fwmark`: `N` or `N/MASK` (decimal or 0x hex).
fn fwmark(cx: &mut Ctx, v: &Node, what: &str) -> Option<(u32, Option<u32>)> {
    if let Kind::Int(_) = v.kind {
        return int_in(cx, v, what, 0, i128::from(u32::MAX))
            .and_then(|n| u32::try_from(n).ok())
            .map(|n| (n, None));
    }
    let s = string(cx, v, what)?;
    let num = |t: &str| match t.trim().strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.trim().parse::<u32>().ok(),
    };
    let parsed = match s.split_once('/') {
        Some((m, k)) => num(m).zip(num(k)).map(|(m, k)| (m, Some(k))),
        None => num(&s).map(|m| (m, None)),
    };
    parsed.or_else(|| {
        cx.err(
            v,
            format!("{what}: `{s}` is not a mark (`N` or `N/MASK`, decimal or 0x hex)"),
        );
        None
    })
}

/// One rule (mapping form).
fn rule(cx: &mut Ctx, v: &Node, what: &str) -> Option<Rule> {
    let f = fields(cx, v, v, RULE_KEYS, what)?;
    let at = |k: &str| format!("{what}: {k}");
    let from = f.optional(cx, "from", None, |cx, _, n| {
        prefix(cx, n, &at("from")).map(Some)
    });
    let to = f.optional(cx, "to", None, |cx, _, n| {
        prefix(cx, n, &at("to")).map(Some)
    });
    let family = f.optional(cx, "family", None, |cx, _, n| {
        match n.as_text().as_deref().map(str::trim) {
            Some("ipv4") => Some(Some(Family::Ipv4)),
            Some("ipv6") => Some(Some(Family::Ipv6)),
            _ => {
                cx.err(n, format!("{}: expected ipv4 or ipv6", at("family")));
                None
            }
        }
    });
    let table = f
        .required(cx, "table")
        .and_then(|n| table(cx, n, &at("table")));
    let priority = f.optional(cx, "priority", None, |cx, _, n| {
        int_in(cx, n, &at("priority"), 1, i128::from(u32::MAX))
            .and_then(|m| u32::try_from(m).ok())
            .map(Some)
    });
    let iface = |cx: &mut Ctx, f: &Fields, k: &str| {
        f.optional(cx, k, None, |cx, _, n| {
            interface_name(cx, n, &at(k)).map(Some)
        })
    };
    let iif = iface(cx, &f, "iif");
    let oif = iface(cx, &f, "oif");
    let fwmark = f.optional(cx, "fwmark", None, |cx, _, n| {
        fwmark(cx, n, &at("fwmark")).map(Some)
    });
    let proto = f.optional(cx, "proto", None, |cx, _, n| {
        proto(cx, n, &at("proto")).map(Some)
    });
    let (from, to, family) = (from?, to?, family?);
    let fams: Vec<Family> = [from, to]
        .iter()
        .flatten()
        .map(|(a, _)| family_of(*a))
        .chain(family)
        .collect();
    if fams.windows(2).any(|w| w[0] != w[1]) {
        cx.err(
            v,
            format!("{what}: `from`, `to` and `family` must be of one family"),
        );
        return None;
    }
    Some(Rule {
        family: fams.first().copied().unwrap_or(Family::Ipv4),
        from,
        to,
        table: table?,
        priority: priority?,
        iif: iif?,
        oif: oif?,
        fwmark: fwmark?,
        proto: proto?,
    })
}

/// A list of routes or rules; None after any error.
fn items<T>(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    one: fn(&mut Ctx, &Node, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out = Vec::new();
    for (i, item) in list(cx, v, what).iter().enumerate() {
        match one(cx, item, &format!("{what}[{i}]")) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `virtual_routes`.
pub(super) fn routes(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<Route>> {
    items(cx, v, what, route)
}

/// `virtual_rules`.
pub(super) fn rules(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<Rule>> {
    items(cx, v, what, rule)
}

/// `accept_mode`: true is what vipd does (and keepalived without `vrrp_strict`); false is
/// refused with the reason.
pub(super) fn accept_mode(cx: &mut Ctx, v: &Node, what: &str) -> Option<()> {
    match boolean(cx, v, what)? {
        true => Some(()),
        false => {
            cx.err(
                v,
                format!(
                    "{what}: `false` is not supported: a vipd master that is not the address \
                     owner always accepts packets sent to its virtual addresses (RFC 9568 6.1 \
                     Accept_Mode true, keepalived's `accept`, its default without \
                     `vrrp_strict`). keepalived's `no_accept` installs firewall rules that drop \
                     that traffic; vipd installs no firewall rules: drop it in your own \
                     nftables rules if you need that, and remove this key"
                ),
            );
            None
        }
    }
}

/// The top-level `static_ipaddress` (each with a `dev`), `static_routes`, `static_rules`.
pub(super) fn statics(cx: &mut Ctx, f: &Fields) -> Option<Statics> {
    let addresses = f.optional(cx, "static_ipaddress", Vec::new(), |cx, _, v| {
        let what = "static_ipaddress";
        let mut ok = matches!(v.kind, Kind::Seq(_));
        let mut out: Vec<Vip> = Vec::new();
        for item in list(cx, v, what) {
            let Some(a) = vip(cx, item, what) else {
                ok = false;
                continue;
            };
            if a.dev.is_none() {
                cx.err(
                    item,
                    format!(
                        "{what}: {} needs a `dev` (the mapping form: `{{address: {}/{}, dev: eth0}}`)",
                        a.addr, a.addr, a.prefix_len
                    ),
                );
                ok = false;
            } else if out.iter().any(|o| o.addr == a.addr && o.dev == a.dev) {
                cx.err(item, format!("{what}: {} is listed twice", a.addr));
                ok = false;
            } else {
                out.push(a);
            }
        }
        ok.then_some(out)
    });
    let routes = f.optional(cx, "static_routes", Vec::new(), |cx, _, v| {
        routes(cx, v, "static_routes")
    });
    let rules = f.optional(cx, "static_rules", Vec::new(), |cx, _, v| {
        rules(cx, v, "static_rules")
    });
    Some(Statics {
        addresses: addresses?,
        routes: routes?,
        rules: rules?,
    })
}

/// An instance's `virtual_ipaddress_excluded`, `virtual_routes`, `virtual_rules` and
/// `accept_mode`, and the labels of its addresses checked against its `interface`.
#[allow(clippy::type_complexity)]
pub(super) fn instance_extras(
    cx: &mut Ctx,
    f: &Fields,
    what: &str,
    vips: &[Vip],
    vip_sites: &[(IpAddr, &Node)],
    interface: Option<&str>,
) -> (Option<Vec<Vip>>, Option<Vec<Route>>, Option<Vec<Rule>>) {
    let field = |k: &str| format!("{what}: {k}");
    let excluded = f.optional(cx, "virtual_ipaddress_excluded", Vec::new(), |cx, _, v| {
        excluded(cx, v, &field("virtual_ipaddress_excluded"), vips)
    });
    if let Some(ifname) = interface {
        let mut sites: Vec<(&Vip, &Node)> = vips
            .iter()
            .filter_map(|v| {
                vip_sites
                    .iter()
                    .find(|(a, _)| *a == v.addr)
                    .map(|(_, n)| (v, *n))
            })
            .collect();
        if let Some(ex) = &excluded {
            sites.extend(ex.iter().map(|(v, n)| (v, *n)));
        }
        labels_on(cx, &sites, ifname, what);
    }
    let routes = f.optional(cx, "virtual_routes", Vec::new(), |cx, _, v| {
        routes(cx, v, &field("virtual_routes"))
    });
    let rules = f.optional(cx, "virtual_rules", Vec::new(), |cx, _, v| {
        rules(cx, v, &field("virtual_rules"))
    });
    let _ = f.optional(cx, "accept_mode", (), |cx, _, v| {
        accept_mode(cx, v, &field("accept_mode"))
    });
    (
        excluded.map(|e| e.into_iter().map(|(v, _)| v).collect()),
        routes,
        rules,
    )
}

#[cfg(test)]
mod tests {
    use crate::config::{RouteType, Scope, parse_str, to_yaml};

    const HEAD: &str = "instances:\n  V:\n    interface: eth0\n    vrid: 1\n";

    fn errors(body: &str) -> String {
        match parse_str(&format!("{HEAD}{body}"), "t") {
            Ok(l) => panic!("accepted: {:?}", l.config),
            Err(d) => d
                .iter()
                .filter(|d| !d.warning)
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn the_mapping_form_carries_dev_scope_label_and_brd_and_reads_back_from_yaml() {
        let text = format!(
            "{HEAD}    virtual_ipaddress:\n      - 10.99.0.1/24\n      - {{address: 10.99.1.1/24, dev: eth1, scope: link, label: \"eth1:a\", brd: 10.99.1.255}}\n\
             \x20   virtual_ipaddress_excluded: [fd00:99::9/64, {{address: 10.99.2.1/24, label: \"eth0:x\"}}]\n\
             \x20   virtual_routes:\n      - {{to: 0.0.0.0/0, via: 10.99.0.254, table: 100, metric: 10, proto: static}}\n      - {{to: 10.99.4.0/24, type: unreachable}}\n\
             \x20   virtual_rules: [{{to: 10.99.5.0/24, table: 100, priority: 7, fwmark: \"0x10/0xff\", iif: eth0}}]\n\
             \x20   accept_mode: true\n\
             static_ipaddress: [{{address: 10.99.6.1/24, dev: eth2}}]\n\
             static_rules: [{{family: ipv6, table: 200}}]\n"
        );
        let c = parse_str(&text, "t").unwrap().config;
        let v = &c.instances["V"];
        let a = &v.virtual_ipaddress[1];
        assert_eq!(
            (
                a.dev.as_deref(),
                a.scope,
                a.label.as_deref(),
                a.brd.map(|b| b.to_string())
            ),
            (
                Some("eth1"),
                Some(Scope::Link),
                Some("eth1:a"),
                Some("10.99.1.255".into())
            )
        );
        assert!(v.virtual_ipaddress[0].is_plain());
        assert_eq!(v.virtual_ipaddress_excluded.len(), 2);
        assert_eq!(v.virtual_routes[0].protocol(), 4);
        assert_eq!(v.virtual_routes[1].kind, RouteType::Unreachable);
        assert_eq!(
            v.virtual_routes[1].protocol(),
            18,
            "keepalived's number by default"
        );
        assert_eq!(v.virtual_rules[0].fwmark, Some((0x10, Some(0xff))));
        assert_eq!(c.statics.addresses[0].dev.as_deref(), Some("eth2"));
        assert_eq!(c.statics.rules[0].family, crate::config::Family::Ipv6);
        let again = parse_str(&to_yaml(&c), "again").unwrap().config;
        assert_eq!(again, c, "{}", to_yaml(&c));
    }

    #[test]
    fn bad_options_routes_and_rules_are_refused_with_the_reason() {
        for (body, says) in [
            (
                "    virtual_ipaddress: [{address: 10.99.0.1/24, label: \"eth1:a\"}]\n",
                "must start with the interface name `eth0`",
            ),
            (
                "    virtual_ipaddress: [{address: 10.99.0.1/24, dev: eth1, label: \"eth0:a\"}]\n",
                "must start with the device name `eth1`",
            ),
            (
                "    virtual_ipaddress: [{address: fd00:99::1/64, brd: 10.99.0.255}]\n",
                "broadcast address is IPv4 only",
            ),
            (
                "    virtual_ipaddress: [{address: 10.99.0.1/24, scope: planet}]\n",
                "`planet` is not a scope",
            ),
            ("    virtual_ipaddress: [{dev: eth1}]\n", "`address`"),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_ipaddress_excluded: [10.99.0.1/24]\n",
                "also in virtual_ipaddress",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_routes: [{to: 10.99.3.0/24}]\n",
                "needs `via` or `dev`",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_routes: [{to: 10.99.3.1/24, dev: eth0}]\n",
                "bits set past its prefix length",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_routes: [{to: 10.99.3.0/24, type: blackhole, via: 10.99.0.2}]\n",
                "a blackhole route has no `via` or `dev`",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_routes: [{to: 10.99.3.0/24, via: \"fd00:99::1\"}]\n",
                "is not ipv4 like the destination",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_routes: [{to: 10.99.3.0/24, dev: eth0, table: 255}]\n",
                "`local` table",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_rules: [{from: 10.99.3.0/24}]\n",
                "`table`",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\n    virtual_rules: [{from: 10.99.3.0/24, to: \"fd00:99::/64\", table: 5}]\n",
                "must be of one family",
            ),
            (
                "    virtual_ipaddress: [10.99.0.1/24]\nstatic_ipaddress: [10.99.6.1/24]\n",
                "needs a `dev`",
            ),
        ] {
            let e = errors(body);
            assert!(e.contains(says), "{body}: `{says}` not in {e}");
        }
    }

    #[test]
    fn accept_mode_false_is_refused_never_ignored() {
        let e = errors("    virtual_ipaddress: [10.99.0.1/24]\n    accept_mode: false\n");
        for says in [
            "not supported",
            "RFC 9568 6.1",
            "no_accept",
            "installs no firewall rules",
        ] {
            assert!(e.contains(says), "`{says}` in {e}");
        }
    }
}

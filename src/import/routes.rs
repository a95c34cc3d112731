//! keepalived's per-address options (`dev`, `scope`, `label`, `brd`, `noprefixroute`),
//! `virtual_ipaddress_excluded`, `virtual_routes`, `virtual_rules`, `accept` / `no_accept`,
//! and the top-level `static_ipaddress`, `static_routes`, `static_rules`, translated into
//! vipd's model. Called from `translate.rs` at a few places.

use std::net::IpAddr;

use crate::config::{Family, Route, RouteType, Rule, Scope, Statics, Vip, to_yaml};

use super::lexer::Stmt;
use super::translate::Cx;

/// Address options vipd keeps (and `noprefixroute`, a flag); the others are listed as not translated (the address is).
const KEPT: &[&str] = &["dev", "scope", "label", "brd", "broadcast"];

/// The text of a translated address: `addr/len` and the options vipd keeps, as
/// `addr/len dev X scope S label L brd B` (read back by [`vip_from_text`]). Options that
/// vipd does not have are listed at `st` under `keyword` (the address is still translated).
pub(super) fn address_text(
    cx: &mut Cx,
    st: &Stmt,
    keyword: &str,
    text: &str,
    opts: &[(String, Vec<String>)],
) -> String {
    let mut out = text.to_owned();
    let v4 = !text.contains(':');
    for (k, v) in opts {
        let val = v.first().cloned().unwrap_or_default();
        let ok = match k.as_str() {
            "dev" => !val.is_empty(),
            "scope" => scope(&val).is_some(),
            "label" => v4 && !val.is_empty() && val.len() <= 15,
            "brd" | "broadcast" => v4 && val.parse::<std::net::Ipv4Addr>().is_ok(),
            _ => false,
        };
        if ok && KEPT.contains(&k.as_str()) {
            let key = if k == "broadcast" { "brd" } else { k.as_str() };
            out.push_str(&format!(" {key} {val}"));
            continue;
        }
        if k == "noprefixroute" {
            if !out.contains(" noprefixroute ") {
                out.push_str(" noprefixroute yes");
            }
            continue;
        }
        if matches!(k.as_str(), "nodad" | "-nodad") && !v4 {
            cx.note(
                st,
                &format!("{keyword} {text} {k}"),
                "vipd adds every IPv6 virtual address without duplicate address detection",
            );
            continue;
        }
        let advice = match k.as_str() {
            "no_track" => {
                "vipd does not leave an address alone when it is deleted by hand (a master puts it back); the address is translated".to_owned()
            }
            "scope" | "label" | "brd" | "broadcast" => format!(
                "`{k} {val}` is not valid for this address; the address is translated without it"
            ),
            _ => format!("vipd has no per-address `{k}`; the address is translated without it"),
        };
        cx.skip(st, &format!("{keyword} {text} {k}"), advice);
    }
    out
}

/// keepalived's scope names and numbers.
fn scope(s: &str) -> Option<Scope> {
    match s {
        "0" => Some(Scope::Global),
        "200" => Some(Scope::Site),
        "253" => Some(Scope::Link),
        "254" => Some(Scope::Host),
        "255" => Some(Scope::Nowhere),
        _ => Scope::parse(s),
    }
}

/// Reads an [`address_text`] back; `dev` equal to the instance's `interface` is dropped.
pub(super) fn vip_from_text(t: &str, interface: &str) -> Option<Vip> {
    let mut w = t.split_whitespace();
    let (a, l) = w.next()?.split_once('/')?;
    let mut v = Vip::new(a.parse().ok()?, l.parse().ok()?);
    while let (Some(k), Some(val)) = (w.next(), w.next()) {
        match k {
            "dev" if val != interface => v.dev = Some(val.to_owned()),
            "scope" => v.scope = scope(val).filter(|s| *s != Scope::Global),
            "label" => v.label = Some(val.to_owned()),
            "brd" => v.brd = val.parse().ok(),
            "noprefixroute" => v.noprefixroute = true,
            _ => {}
        }
    }
    // The kernel wants a label to start with its device's name; keepalived passes it on.
    if let Some(lb) = &v.label
        && !lb.starts_with(v.dev.as_deref().unwrap_or(interface))
    {
        v.label = None;
    }
    Some(v)
}

/// What an instance moves besides its advertised addresses.
#[derive(Default)]
pub(super) struct Extras {
    pub excluded: Vec<Vip>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

impl Extras {
    /// Handles `virtual_ipaddress_excluded`, `virtual_routes`, `virtual_rules`, `accept` and
    /// `no_accept` inside a vrrp_instance; false for any other keyword.
    pub(super) fn block(&mut self, cx: &mut Cx, b: &Stmt) -> bool {
        match b.keyword.text.as_str() {
            "virtual_ipaddress_excluded" => {
                for st in lines(b) {
                    if let Some(v) = address(cx, st, "virtual_ipaddress_excluded") {
                        self.excluded.push(v);
                    }
                }
            }
            "virtual_routes" => {
                for st in lines(b) {
                    if let Some(r) = route(cx, st, "virtual_routes") {
                        self.routes.push(r);
                    }
                }
            }
            "virtual_rules" => {
                for st in lines(b) {
                    if let Some(r) = rule(cx, st, "virtual_rules") {
                        self.rules.push(r);
                    }
                }
            }
            // vipd's master always accepts traffic to its addresses (`accept_mode: true`).
            "accept" => cx.note(
                b,
                "accept",
                "vipd's masters always accept packets to their virtual addresses (accept mode), as keepalived does without vrrp_strict",
            ),
            "no_accept" => cx.skip(
                b,
                "no_accept",
                "vipd has no accept mode off (keepalived installs nftables/iptables rules that drop traffic to the virtual addresses of a master that is not the owner; vipd installs no firewall rules and `vipd check` refuses `accept_mode: false`): add such a drop rule yourself if you rely on it",
            ),
            _ => return false,
        }
        true
    }
}

/// Each line of a block (the keyword is the first word).
fn lines(b: &Stmt) -> &[Stmt] {
    b.block.as_deref().unwrap_or_default()
}

fn words(st: &Stmt) -> Vec<String> {
    std::iter::once(&st.keyword)
        .chain(&st.args)
        .map(|w| w.text.clone())
        .collect()
}

/// `ADDR[/LEN] [options]`: one address line of an address block.
fn address(cx: &mut Cx, st: &Stmt, keyword: &str) -> Option<Vip> {
    let w = words(st);
    let head = w[0].clone();
    let Some((addr, len)) = prefix(&head, true) else {
        cx.skip(
            st,
            &format!("{keyword} {head}"),
            "not an address; list each address",
        );
        return None;
    };
    let text = format!("{addr}/{len}");
    let mut opts = Vec::new();
    let mut i = 1;
    while i < w.len() {
        let k = w[i].clone();
        let takes = !matches!(
            k.as_str(),
            "home" | "nodad" | "-nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin" | "no_track"
        );
        let v: Vec<String> = if takes {
            w.get(i + 1).cloned().into_iter().collect()
        } else {
            vec![]
        };
        i += 1 + v.len();
        opts.push((k, v));
    }
    let t = address_text(cx, st, keyword, &text, &opts);
    vip_from_text(&t, "")
}

/// `addr[/len]`; `host`: without a length, a host prefix. `default` is 0.0.0.0/0.
fn prefix(s: &str, host: bool) -> Option<(IpAddr, u8)> {
    if s == "default" {
        return Some((IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
    }
    let (a, l) = s.split_once('/').unwrap_or((s, ""));
    let a: IpAddr = a.parse().ok()?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    let l = if l.is_empty() && host {
        max
    } else {
        l.parse().ok()?
    };
    (l <= max).then_some((a, l))
}

/// keepalived's table names, or a number (1..=u32::MAX, not `local`).
fn table(s: &str) -> Option<u32> {
    match s {
        "main" => Some(254),
        "default" => Some(253),
        _ => s.parse().ok().filter(|t| *t != 0 && *t != 255),
    }
}

/// iproute2's protocol names vipd knows, or a number.
fn proto(s: &str) -> Option<u8> {
    match s {
        "boot" => Some(3),
        "static" => Some(4),
        "keepalived" => Some(18),
        _ => s.parse().ok().filter(|p| *p != 0),
    }
}

/// One `virtual_routes` / `static_routes` line: `[src IP] [to] PREFIX | TYPE PREFIX`, then
/// `via|gw IP`, `dev`, `table`, `metric|priority|preference`, `scope`, `proto|protocol`,
/// `src`, `inet6`, `no_track`. Anything else leaves the route out (listed).
fn route(cx: &mut Cx, st: &Stmt, keyword: &str) -> Option<Route> {
    let w = words(st);
    let line = w.join(" ");
    let bad = |cx: &mut Cx, why: String| {
        cx.skip(st, &format!("{keyword} {line}"), why);
        None
    };
    let mut r = Route {
        to: (IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0),
        kind: RouteType::Unicast,
        via: None,
        or: None,
        dev: None,
        src: None,
        table: None,
        metric: None,
        scope: None,
        proto: None,
    };
    let mut to = None;
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let val = w.get(i + 1).map(String::as_str).unwrap_or("");
        let mut step = 2;
        match k {
            "to" => to = prefix(val, true),
            "blackhole" | "unreachable" | "prohibit" => {
                r.kind = match k {
                    "blackhole" => RouteType::Blackhole,
                    "unreachable" => RouteType::Unreachable,
                    _ => RouteType::Prohibit,
                };
                to = prefix(val, true);
            }
            "via" | "gw" => match val.parse() {
                Ok(a) => r.via = Some(a),
                Err(_) => return bad(cx, format!("`{k} {val}` is not an address")),
            },
            // keepalived 2.2.7: `via A or B` is a multipath route, a nexthop via A and one via
            // B (deprecated there in favour of `nexthop`); a second `or` is ignored.
            "or" if r.or.is_none() => match val.parse() {
                Ok(a) if r.via.is_some() => r.or = Some(a),
                Ok(_) => {
                    return bad(
                        cx,
                        "`or` without a `via` before it; fix the route".to_owned(),
                    );
                }
                Err(_) => return bad(cx, format!("`or {val}` is not an address")),
            },
            "or" => {}
            "src" => match val.parse() {
                Ok(a) => r.src = Some(a),
                Err(_) => return bad(cx, format!("`src {val}` is not an address")),
            },
            "dev" | "oif" => r.dev = Some(val.to_owned()),
            "table" => match table(val) {
                Some(t) => r.table = Some(t),
                None => return bad(cx, format!("table `{val}`: vipd takes a number (or main)")),
            },
            "metric" | "priority" | "preference" => match val.parse() {
                Ok(m) => r.metric = Some(m),
                Err(_) => return bad(cx, format!("`{k} {val}` is not a number")),
            },
            "scope" => match scope(val) {
                Some(s) => r.scope = Some(s),
                None => return bad(cx, format!("`scope {val}` is not a scope vipd knows")),
            },
            "proto" | "protocol" => match proto(val) {
                Some(p) => r.proto = Some(p),
                None => {
                    return bad(
                        cx,
                        format!(
                            "protocol `{val}`: vipd takes a number, boot, static or keepalived"
                        ),
                    );
                }
            },
            "inet6" | "no_track" => step = 1,
            "track_group" => {
                cx.skip(
                    st,
                    &format!("{keyword} track_group"),
                    "vipd has no track groups; the route is translated without it",
                );
            }
            _ if to.is_none() && prefix(k, true).is_some() => {
                to = prefix(k, true);
                step = 1;
            }
            _ => {
                return bad(
                    cx,
                    format!(
                        "vipd's routes take to, via, dev, src, table, metric, scope, proto and a type (blackhole, unreachable, prohibit), not `{k}`; the route is left out: add it from the notify hooks"
                    ),
                );
            }
        }
        i += step;
    }
    let Some(dst) = to else {
        return bad(cx, "no destination".to_owned());
    };
    r.to = dst;
    if r.kind == RouteType::Unicast && r.via.is_none() && r.dev.is_none() {
        return bad(cx, "a route needs `via` or `dev` in vipd".to_owned());
    }
    if r.kind != RouteType::Unicast {
        r.dev = None;
    }
    let fam = dst.0.is_ipv4();
    if r.via.is_some_and(|a| a.is_ipv4() != fam) || r.src.is_some_and(|a| a.is_ipv4() != fam) {
        return bad(cx, "mixes IPv4 and IPv6".to_owned());
    }
    Some(r)
}

/// One `virtual_rules` / `static_rules` line: `from`, `to`, `table`, `priority|preference|
/// pref`, `iif`, `oif`, `fwmark`, `protocol`, `inet6`, `no_track`. Anything else leaves the
/// rule out (listed).
fn rule(cx: &mut Cx, st: &Stmt, keyword: &str) -> Option<Rule> {
    let w = words(st);
    let line = w.join(" ");
    let bad = |cx: &mut Cx, why: String| {
        cx.skip(st, &format!("{keyword} {line}"), why);
        None
    };
    let mut r = Rule {
        family: Family::Ipv4,
        from: None,
        to: None,
        table: 0,
        priority: None,
        iif: None,
        oif: None,
        fwmark: None,
        proto: None,
    };
    let mut inet6 = false;
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let val = w.get(i + 1).map(String::as_str).unwrap_or("");
        let mut step = 2;
        match k {
            "from" | "to" => match prefix(val, true) {
                Some(p) if k == "from" => r.from = Some(p),
                Some(p) => r.to = Some(p),
                None => return bad(cx, format!("`{k} {val}` is not a prefix")),
            },
            "table" | "lookup" => match table(val) {
                Some(t) => r.table = t,
                None => return bad(cx, format!("table `{val}`: vipd takes a number (or main)")),
            },
            "priority" | "preference" | "pref" => match val.parse() {
                Ok(p) => r.priority = Some(p),
                Err(_) => return bad(cx, format!("`{k} {val}` is not a number")),
            },
            "iif" => r.iif = Some(val.to_owned()),
            "oif" => r.oif = Some(val.to_owned()),
            "fwmark" => {
                let num = |t: &str| match t.strip_prefix("0x") {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => t.parse().ok(),
                };
                let m = match val.split_once('/') {
                    Some((a, b)) => num(a).zip(num(b)).map(|(a, b)| (a, Some(b))),
                    None => num(val).map(|a| (a, None)),
                };
                match m {
                    Some(m) => r.fwmark = Some(m),
                    None => return bad(cx, format!("`fwmark {val}` is not a mark")),
                }
            }
            "protocol" | "proto" => match proto(val) {
                Some(p) => r.proto = Some(p),
                None => return bad(cx, format!("protocol `{val}`: vipd takes a number")),
            },
            "inet6" => {
                inet6 = true;
                step = 1;
            }
            "no_track" => step = 1,
            "track_group" => {
                cx.skip(
                    st,
                    &format!("{keyword} track_group"),
                    "vipd has no track groups; the rule is translated without it",
                );
            }
            _ => {
                return bad(
                    cx,
                    format!(
                        "vipd's rules take from, to, table, priority, iif, oif, fwmark and protocol, not `{k}`; the rule is left out: add it from the notify hooks"
                    ),
                );
            }
        }
        i += step;
    }
    if r.table == 0 {
        return bad(cx, "vipd's rules need a `table` to look up".to_owned());
    }
    let fams: Vec<bool> = [r.from, r.to]
        .iter()
        .flatten()
        .map(|(a, _)| a.is_ipv6())
        .collect();
    if fams.windows(2).any(|x| x[0] != x[1]) {
        return bad(cx, "mixes IPv4 and IPv6".to_owned());
    }
    if fams.first().copied().unwrap_or(inet6) {
        r.family = Family::Ipv6;
    }
    Some(r)
}

/// Handles a top-level `static_ipaddress`, `static_routes` or `static_rules` block; false
/// for any other keyword.
pub(super) fn statics(cx: &mut Cx, st: &Stmt, out: &mut Statics) -> bool {
    let kw = st.keyword.text.as_str();
    match kw {
        "static_ipaddress" => {
            for l in lines(st) {
                match address(cx, l, kw) {
                    Some(v) if v.dev.is_some() => out.addresses.push(v),
                    Some(v) => cx.skip(
                        l,
                        &format!("{kw} {}", v.addr),
                        "has no `dev`: keepalived puts it on its default interface, vipd needs the device named",
                    ),
                    None => {}
                }
            }
        }
        "static_routes" => out
            .routes
            .extend(lines(st).iter().filter_map(|l| route(cx, l, kw))),
        "static_rules" => out
            .rules
            .extend(lines(st).iter().filter_map(|l| rule(cx, l, kw))),
        _ => return false,
    }
    true
}

/// The top-level YAML of the static items (empty when there are none).
pub(super) fn statics_yaml(s: &Statics) -> String {
    let mut y = String::new();
    for (k, text, empty) in [
        (
            "static_ipaddress",
            to_yaml(&s.addresses),
            s.addresses.is_empty(),
        ),
        ("static_routes", to_yaml(&s.routes), s.routes.is_empty()),
        ("static_rules", to_yaml(&s.rules), s.rules.is_empty()),
    ] {
        if !empty {
            y.push_str(&format!("\n{k}:\n"));
            for l in text.lines() {
                y.push_str(&format!("  {l}\n"));
            }
        }
    }
    y
}

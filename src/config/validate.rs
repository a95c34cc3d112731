//! Node tree -> [`Config`], collecting every error with its position.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::duration::{format_duration, parse_duration};
use super::model::{
    Config, Family, Garp, InstanceConfig, LogFormat, Notify, Otlp, ScriptConfig, TrackFile,
    TrackInterface, TrackScript, V3Checksum, Version, Vip,
};
use super::node::{Kind, Node, Pos};
use super::{Diagnostic, default_router_id};

const TOP_KEYS: &[&str] = &["router_id", "listen", "log", "otlp", "scripts", "instances"];
const SCRIPT_KEYS: &[&str] = &[
    "command",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
];
const TRACK_FILE_KEYS: &[&str] = &["path", "weight"];
const NOTIFY_KEYS: &[&str] = &["master", "backup", "fault", "stop", "any"];
const INSTANCE_KEYS: &[&str] = &[
    "interface",
    "vrid",
    "priority",
    "version",
    "advert_interval",
    "preempt",
    "preempt_delay",
    "authentication",
    "virtual_ipaddress",
    "unicast_peers",
    "unicast_src",
    "track_interfaces",
    "track_scripts",
    "track_files",
    "notify",
    "garp",
    "v3_checksum",
];
const AUTH_KEYS: &[&str] = &["type", "password"];
const TRACK_KEYS: &[&str] = &["name", "weight"];
const GARP_KEYS: &[&str] = &["delay", "repeat", "refresh"];

const DEFAULT_LISTEN: &str = "0.0.0.0:9797";
/// IFNAMSIZ - 1.
const MAX_IFNAME: usize = 15;

struct Ctx<'p> {
    path: &'p str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn push(&mut self, pos: Pos, message: String, warning: bool) {
        self.diags.push(Diagnostic {
            path: self.path.to_owned(),
            line: pos.line,
            column: pos.column,
            message,
            warning,
        });
    }
    fn err(&mut self, node: &Node, message: impl Into<String>) {
        self.push(node.pos, message.into(), false);
    }
    fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.push(node.pos, message.into(), true);
    }
}

/// The entries of a mapping whose keys were all known; `owner` is the node to blame
/// for a missing key (the key that introduced this mapping, or the root).
struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    owner: &'a Node,
    what: String,
}

impl<'a> Fields<'a> {
    /// Key and value for `name`; an explicit null counts as absent.
    fn get(&self, name: &str) -> Option<(&'a Node, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _, v)| *k == name && v.kind != Kind::Null)
            .map(|(_, k, v)| (*k, *v))
    }
    fn value(&self, name: &str) -> Option<&'a Node> {
        self.get(name).map(|(_, v)| v)
    }
    fn required(&self, cx: &mut Ctx, name: &str) -> Option<&'a Node> {
        let v = self.value(name);
        if v.is_none() {
            cx.err(
                self.owner,
                format!("{}: missing required key `{name}`", self.what),
            );
        }
        v
    }
}

fn expected_list(allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check `node` is a mapping with only `allowed` string keys.
fn fields<'a>(
    cx: &mut Ctx,
    node: &'a Node,
    owner: &'a Node,
    allowed: &[&str],
    what: &str,
) -> Option<Fields<'a>> {
    let Kind::Map(entries) = &node.kind else {
        cx.err(
            node,
            format!("{what}: expected a mapping, found {}", node.describe()),
        );
        return None;
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        match &k.kind {
            Kind::Str(name) if allowed.contains(&name.as_str()) => out.push((name.as_str(), k, v)),
            _ => {
                let shown = k.as_text().unwrap_or_else(|| k.describe().to_owned());
                cx.err(
                    k,
                    format!(
                        "unknown key `{shown}` in {what}, expected one of {}",
                        expected_list(allowed)
                    ),
                );
            }
        }
    }
    Some(Fields {
        entries: out,
        owner,
        what: what.to_owned(),
    })
}

fn string(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
    let s = v.as_text();
    if s.is_none() {
        cx.err(
            v,
            format!("{what}: expected a string, found {}", v.describe()),
        );
    }
    s
}

fn int_in(cx: &mut Ctx, v: &Node, what: &str, lo: i128, hi: i128) -> Option<i128> {
    let n = match &v.kind {
        Kind::Int(n) => *n,
        Kind::Str(s) if s.trim().parse::<i128>().is_ok() => s.trim().parse::<i128>().ok()?,
        _ => {
            let found = match &v.kind {
                Kind::Str(s) => format!("`{s}`"),
                _ => v.describe().to_owned(),
            };
            cx.err(v, format!("{what}: expected an integer, found {found}"));
            return None;
        }
    };
    if n < lo || n > hi {
        cx.err(v, format!("{what}: {n} is out of range {lo}..{hi}"));
        return None;
    }
    Some(n)
}

fn boolean(cx: &mut Ctx, v: &Node, what: &str) -> Option<bool> {
    match v.kind {
        Kind::Bool(b) => Some(b),
        _ => {
            cx.err(
                v,
                format!("{what}: expected true or false, found {}", v.describe()),
            );
            None
        }
    }
}

fn duration(cx: &mut Ctx, v: &Node, what: &str) -> Option<Duration> {
    let parsed = match &v.kind {
        Kind::Int(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("duration {n} must not be negative")),
        Kind::Str(s) => parse_duration(s),
        Kind::Float(f) => Err(format!(
            "duration {f} needs a unit, e.g. `{f}s` (a bare number is whole seconds)"
        )),
        _ => Err(format!(
            "expected a duration like `1s`, found {}",
            v.describe()
        )),
    };
    match parsed {
        Ok(d) => Some(d),
        Err(e) => {
            cx.err(v, format!("{what}: {e}"));
            None
        }
    }
}

fn duration_max(cx: &mut Ctx, v: &Node, what: &str, max: Duration) -> Option<Duration> {
    let d = duration(cx, v, what)?;
    if d > max {
        cx.err(
            v,
            format!(
                "{what}: {} is out of range 0s..{}",
                format_duration(d),
                format_duration(max)
            ),
        );
        return None;
    }
    Some(d)
}

fn ip(cx: &mut Ctx, v: &Node, what: &str) -> Option<IpAddr> {
    let s = string(cx, v, what)?;
    match s.trim().parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            cx.err(v, format!("{what}: `{s}` is not an IP address"));
            None
        }
    }
}

fn list<'a>(cx: &mut Ctx, v: &'a Node, what: &str) -> &'a [Node] {
    match &v.kind {
        Kind::Seq(items) => items,
        _ => {
            cx.err(
                v,
                format!("{what}: expected a list, found {}", v.describe()),
            );
            &[]
        }
    }
}

fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

fn interface_name(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
    let name = string(cx, v, what)?;
    let problem = if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > MAX_IFNAME {
        Some(format!(
            "`{name}` is {} bytes long, the limit is {MAX_IFNAME}",
            name.len()
        ))
    } else if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        Some(format!("`{name}` is not a valid interface name"))
    } else {
        None
    };
    match problem {
        Some(p) => {
            cx.err(v, format!("{what}: {p}"));
            None
        }
        None => Some(name),
    }
}

/// Parse "addr" or "addr/len" and reject addresses that cannot be virtual.
fn vip(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vip> {
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
fn unicast_addr(cx: &mut Ctx, v: &Node, what: &str) -> Option<IpAddr> {
    let a = ip(cx, v, what)?;
    if a.is_unspecified() || a.is_multicast() {
        cx.err(v, format!("{what}: `{a}` is not a unicast address"));
        return None;
    }
    Some(a)
}

/// Where an instance's values came from, for the cross-instance checks.
struct Sites<'a> {
    name: String,
    vrid: Option<(u8, &'a Node)>,
    interface: Option<String>,
    family: Option<Family>,
    vips: Vec<(IpAddr, &'a Node)>,
}

pub(crate) fn validate(root: &Node, path: &str) -> (Option<Config>, Vec<Diagnostic>) {
    let mut cx = Ctx {
        path,
        diags: Vec::new(),
    };
    let config = top(&mut cx, root);
    if config.is_none() && !cx.diags.iter().any(|d| !d.warning) {
        cx.err(root, "invalid configuration");
    }
    (config, cx.diags)
}

fn top(cx: &mut Ctx, root: &Node) -> Option<Config> {
    if root.kind == Kind::Null {
        cx.err(root, "the configuration is empty: `instances` is required");
        return None;
    }
    let f = fields(cx, root, root, TOP_KEYS, "top level")?;

    let router_id = match f.value("router_id") {
        None => Some(default_router_id()),
        Some(v) => match string(cx, v, "router_id") {
            Some(s) if s.trim().is_empty() => {
                cx.err(v, "router_id: must not be empty");
                None
            }
            other => other,
        },
    };

    let listen = match f.value("listen") {
        None => DEFAULT_LISTEN.parse::<SocketAddr>().ok(),
        Some(v) => string(cx, v, "listen").and_then(|s| match s.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.err(
                    v,
                    format!("listen: `{s}` is not an address:port (e.g. `0.0.0.0:9797`)"),
                );
                None
            }
        }),
    };

    let log_format = match f.value("log") {
        None => Some(LogFormat::Text),
        Some(v) => fields(cx, v, v, &["format"], "log").and_then(|lf| match lf.value("format") {
            None => Some(LogFormat::Text),
            Some(fv) => match fv.as_text().as_deref() {
                Some("text") => Some(LogFormat::Text),
                Some("json") => Some(LogFormat::Json),
                _ => {
                    let shown = fv.as_text().unwrap_or_else(|| fv.describe().to_owned());
                    cx.err(
                        fv,
                        format!("log.format: expected `text` or `json`, found `{shown}`"),
                    );
                    None
                }
            },
        }),
    };

    let otlp = match f.value("otlp") {
        None => Some(None),
        Some(v) => fields(
            cx,
            v,
            f.get("otlp").map_or(v, |(k, _)| k),
            &["endpoint"],
            "otlp",
        )
        .and_then(|of| {
            let ev = of.required(cx, "endpoint")?;
            let s = string(cx, ev, "otlp.endpoint")?;
            match crate::telemetry::parse_endpoint(&s) {
                Ok(endpoint) => {
                    if crate::telemetry::is_grpc_port(&endpoint) {
                        cx.warn(
                            ev,
                            format!(
                                "otlp.endpoint: `{endpoint}`: 4317 is the OTLP/gRPC port; vipd exports OTLP over HTTP (protobuf), which collectors receive on 4318"
                            ),
                        );
                    }
                    Some(Some(Otlp { endpoint }))
                }
                Err(m) => {
                    cx.err(ev, format!("otlp.endpoint: {m}"));
                    None
                }
            }
        }),
    };

    let scripts = match f.value("scripts") {
        None => ScriptIndex {
            names: BTreeMap::new(),
            valid: Some(BTreeMap::new()),
        },
        Some(v) => scripts(cx, v),
    };
    let instances = instances(cx, &f, &scripts);
    Some(Config {
        router_id: router_id?,
        listen: listen?,
        log_format: log_format?,
        otlp: otlp?,
        scripts: scripts.valid?,
        instances: instances?,
    })
}

fn instances(
    cx: &mut Ctx,
    f: &Fields,
    scripts: &ScriptIndex,
) -> Option<BTreeMap<String, InstanceConfig>> {
    let (key, v) = match f.get("instances") {
        Some(kv) => kv,
        None => {
            f.required(cx, "instances");
            return None;
        }
    };
    let Kind::Map(entries) = &v.kind else {
        cx.err(
            v,
            format!(
                "instances: expected a mapping of name -> instance, found {}",
                v.describe()
            ),
        );
        return None;
    };
    if entries.is_empty() {
        cx.err(key, "instances: at least one instance is required");
        return None;
    }

    let mut ok = true;
    let mut out = BTreeMap::new();
    let mut sites: Vec<Sites> = Vec::new();
    for (k, body) in entries {
        let name = match k.as_text() {
            Some(n)
                if !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) =>
            {
                n
            }
            Some(n) => {
                cx.err(
                    k,
                    format!("instance name `{n}` must be non-empty and use only A-Z a-z 0-9 _ . -"),
                );
                ok = false;
                continue;
            }
            None => {
                cx.err(
                    k,
                    format!("instance name: expected a string, found {}", k.describe()),
                );
                ok = false;
                continue;
            }
        };
        let (inst, site) = instance(cx, &name, k, body, scripts);
        if let Some(site) = site {
            cross_check(cx, &sites, &site);
            sites.push(site);
        }
        match inst {
            Some(i) => {
                out.insert(name, i);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Rules (a) and (f): blame the later instance.
fn cross_check(cx: &mut Ctx, earlier: &[Sites], s: &Sites) {
    if let (Some((vrid, vnode)), Some(ifname), Some(fam)) = (s.vrid, &s.interface, s.family)
        && let Some(o) = earlier.iter().find(|o| {
            o.vrid.map(|(n, _)| n) == Some(vrid)
                && o.interface.as_deref() == Some(ifname.as_str())
                && o.family == Some(fam)
        })
    {
        cx.err(
            vnode,
            format!(
                "instance `{}`: vrid {vrid} on {ifname} ({}) is already used by instance `{}`",
                s.name,
                fam.as_str(),
                o.name
            ),
        );
    }
    for (addr, node) in &s.vips {
        if let Some(o) = earlier
            .iter()
            .find(|o| o.vips.iter().any(|(a, _)| a == addr))
        {
            cx.err(
                node,
                format!(
                    "instance `{}`: virtual address {addr} is already in instance `{}`",
                    s.name, o.name
                ),
            );
        }
    }
}

fn instance<'a>(
    cx: &mut Ctx,
    name: &str,
    key: &'a Node,
    body: &'a Node,
    scripts: &ScriptIndex,
) -> (Option<InstanceConfig>, Option<Sites<'a>>) {
    let what = format!("instance `{name}`");
    let Some(f) = fields(cx, body, key, INSTANCE_KEYS, &what) else {
        return (None, None);
    };
    let errors_before = cx.diags.iter().filter(|d| !d.warning).count();
    let field = |k: &str| format!("{what}: {k}");

    let interface = f
        .required(cx, "interface")
        .and_then(|v| interface_name(cx, v, &field("interface")));
    let vrid_node = f.required(cx, "vrid");
    let vrid = vrid_node
        .and_then(|v| int_in(cx, v, &field("vrid"), 1, 255))
        .and_then(|n| u8::try_from(n).ok());
    let priority_node = f.value("priority");
    let priority = match priority_node {
        None => Some(100u8),
        Some(v) => int_in(cx, v, &field("priority"), 1, 255).and_then(|n| u8::try_from(n).ok()),
    };
    let version_node = f.value("version");
    let version = match version_node {
        None => Some(Version::V3),
        Some(v) => match &v.kind {
            Kind::Int(2) => Some(Version::V2),
            Kind::Int(3) => Some(Version::V3),
            Kind::Str(s) if s.trim() == "2" => Some(Version::V2),
            Kind::Str(s) if s.trim() == "3" => Some(Version::V3),
            _ => {
                let shown = v.as_text().unwrap_or_else(|| v.describe().to_owned());
                cx.err(
                    v,
                    format!("{}: must be 2 or 3, found {shown}", field("version")),
                );
                None
            }
        },
    };

    // Virtual addresses and the family they define.
    let mut vips: Vec<Vip> = Vec::new();
    let mut vip_sites: Vec<(IpAddr, &Node)> = Vec::new();
    let mut family: Option<Family> = None;
    let mut vips_ok = true;
    if let Some(v) = f.required(cx, "virtual_ipaddress") {
        let items = list(cx, v, &field("virtual_ipaddress"));
        if items.is_empty() && matches!(v.kind, Kind::Seq(_)) {
            cx.err(
                v,
                format!(
                    "{}: at least one address is required",
                    field("virtual_ipaddress")
                ),
            );
        }
        if !matches!(v.kind, Kind::Seq(_)) || items.is_empty() {
            vips_ok = false;
        }
        for item in items {
            let Some(ip) = vip(cx, item, &field("virtual_ipaddress")) else {
                vips_ok = false;
                continue;
            };
            let fam = family_of(ip.addr);
            match family {
                None => family = Some(fam),
                Some(first) if first != fam => {
                    cx.err(
                        item,
                        format!(
                            "{}: {} is {} but the first address is {}; use one instance per family",
                            field("virtual_ipaddress"),
                            ip.addr,
                            fam.as_str(),
                            first.as_str()
                        ),
                    );
                    vips_ok = false;
                    continue;
                }
                Some(_) => {}
            }
            if vips.iter().any(|o| o.addr == ip.addr) {
                cx.err(
                    item,
                    format!(
                        "{}: {} is listed twice",
                        field("virtual_ipaddress"),
                        ip.addr
                    ),
                );
                vips_ok = false;
                continue;
            }
            vips.push(ip);
            vip_sites.push((ip.addr, item));
        }
    } else {
        vips_ok = false;
    }

    // (b) IPv6 needs VRRPv3.
    if let (Some(Version::V2), Some(Family::Ipv6), Some(vn)) = (version, family, version_node) {
        cx.err(
            vn,
            format!(
                "{}: IPv6 requires version 3 (VRRPv2 is IPv4 only)",
                field("version")
            ),
        );
    }

    let advert_interval = match f.value("advert_interval") {
        None => Some(Duration::from_secs(1)),
        Some(v) => duration(cx, v, &field("advert_interval")).and_then(|d| {
            let problem = match version {
                Some(Version::V2) => {
                    if d.subsec_nanos() != 0 || d.as_secs() == 0 || d.as_secs() > 255 {
                        Some("with version 2 it must be whole seconds in 1s..255s")
                    } else {
                        None
                    }
                }
                Some(Version::V3) => {
                    let cs = d.as_millis() / 10;
                    if !d.as_nanos().is_multiple_of(10_000_000) || cs == 0 || cs > 4095 {
                        Some("with version 3 it must be a multiple of 10ms in 10ms..40.95s")
                    } else {
                        None
                    }
                }
                None => None,
            };
            match problem {
                Some(p) => {
                    cx.err(
                        v,
                        format!(
                            "{}: {} is invalid: {p}",
                            field("advert_interval"),
                            format_duration(d)
                        ),
                    );
                    None
                }
                None => Some(d),
            }
        }),
    };

    let preempt_node = f.value("preempt");
    let preempt = match preempt_node {
        None => Some(true),
        Some(v) => boolean(cx, v, &field("preempt")),
    };
    let preempt_delay = match f.value("preempt_delay") {
        None => Some(Duration::ZERO),
        Some(v) => duration_max(cx, v, &field("preempt_delay"), Duration::from_secs(1000)),
    };
    if let (Some(255), Some(false), Some(pn)) = (priority, preempt, preempt_node) {
        cx.warn(
            pn,
            format!(
                "{}: priority 255 is the address owner, which always preempts; `preempt: false` has no effect",
                field("preempt")
            ),
        );
    }

    let auth_pass = match f.get("authentication") {
        None => Some(None),
        Some((ak, av)) => authentication(cx, &what, ak, av, version),
    };

    // Unicast.
    let mut unicast_peers = Vec::new();
    let mut peers_ok = true;
    if let Some(v) = f.value("unicast_peers") {
        let items = list(cx, v, &field("unicast_peers"));
        if !matches!(v.kind, Kind::Seq(_)) {
            peers_ok = false;
        }
        for item in items {
            let Some(a) = unicast_addr(cx, item, &field("unicast_peers")) else {
                peers_ok = false;
                continue;
            };
            if let Some(fam) = family
                && family_of(a) != fam
            {
                cx.err(
                    item,
                    format!(
                        "{}: {a} is not {} like the virtual addresses",
                        field("unicast_peers"),
                        fam.as_str()
                    ),
                );
                peers_ok = false;
                continue;
            }
            if unicast_peers.contains(&a) {
                cx.err(
                    item,
                    format!("{}: {a} is listed twice", field("unicast_peers")),
                );
                peers_ok = false;
                continue;
            }
            if vips.iter().any(|v| v.addr == a) {
                cx.warn(
                    item,
                    format!(
                        "{}: {a} is one of this instance's own virtual addresses",
                        field("unicast_peers")
                    ),
                );
            }
            unicast_peers.push(a);
        }
    }
    let unicast_src = match f.value("unicast_src") {
        None => Some(None),
        Some(v) => unicast_addr(cx, v, &field("unicast_src")).and_then(|a| match family {
            Some(fam) if family_of(a) != fam => {
                cx.err(
                    v,
                    format!(
                        "{}: {a} is not {} like the virtual addresses",
                        field("unicast_src"),
                        fam.as_str()
                    ),
                );
                None
            }
            _ => Some(Some(a)),
        }),
    };

    let track_interfaces = match f.value("track_interfaces") {
        None => Some(Vec::new()),
        Some(v) => tracks(cx, v, &field("track_interfaces")),
    };
    let track_scripts = match f.value("track_scripts") {
        None => Some(Vec::new()),
        Some(v) => track_scripts(cx, v, &field("track_scripts"), scripts),
    };
    let track_files = match f.value("track_files") {
        None => Some(Vec::new()),
        Some(v) => track_files(cx, v, &field("track_files")),
    };
    let notify = match f.get("notify") {
        None => Some(Notify::default()),
        Some((nk, nv)) => notify(cx, nk, nv, &field("notify")),
    };
    if let (Some(p), Some(pn), Some(ti), Some(ts), Some(tf)) = (
        priority,
        priority_node,
        &track_interfaces,
        &track_scripts,
        &track_files,
    ) {
        weight_check(cx, &what, pn, p, ti, ts, tf);
    }
    let garp = match f.get("garp") {
        None => Some(Garp::default()),
        Some((gk, gv)) => garp(cx, gk, gv, &field("garp")),
    };
    let v3_checksum = match f.value("v3_checksum") {
        None => Some(V3Checksum::PseudoHeader),
        Some(v) => match v.as_text().as_deref() {
            Some("pseudo-header") => Some(V3Checksum::PseudoHeader),
            Some("rfc9568") => Some(V3Checksum::Rfc9568),
            _ => {
                let shown = v.as_text().unwrap_or_else(|| v.describe().to_owned());
                cx.err(
                    v,
                    format!(
                        "{}: expected `pseudo-header` or `rfc9568`, found `{shown}`",
                        field("v3_checksum")
                    ),
                );
                None
            }
        },
    };

    let site = Sites {
        name: name.to_owned(),
        vrid: vrid.zip(vrid_node),
        interface: interface.clone(),
        family,
        vips: vip_sites,
    };
    let errors_after = cx.diags.iter().filter(|d| !d.warning).count();
    let inst = (|| {
        if errors_after != errors_before || !vips_ok || !peers_ok {
            return None;
        }
        Some(InstanceConfig {
            name: name.to_owned(),
            interface: interface?,
            vrid: vrid?,
            priority: priority?,
            version: version?,
            family: family?,
            advert_interval: advert_interval?,
            preempt: preempt?,
            preempt_delay: preempt_delay?,
            auth_pass: auth_pass?,
            virtual_ipaddress: vips,
            unicast_peers,
            unicast_src: unicast_src?,
            track_interfaces: track_interfaces?,
            track_scripts: track_scripts?,
            track_files: track_files?,
            notify: notify?,
            garp: garp?,
            v3_checksum: v3_checksum?,
        })
    })();
    (inst, Some(site))
}

/// `Some(None)` = no authentication; `None` = error reported.
fn authentication(
    cx: &mut Ctx,
    inst: &str,
    key: &Node,
    v: &Node,
    version: Option<Version>,
) -> Option<Option<String>> {
    let what = format!("{inst}: authentication");
    if version == Some(Version::V3) {
        cx.err(
            key,
            format!("{what}: not supported with version 3 (RFC 5798 removed it); remove it or set `version: 2`"),
        );
        return None;
    }
    let f = fields(cx, v, key, AUTH_KEYS, &what)?;
    let kind = f
        .required(cx, "type")
        .and_then(|t| match t.as_text().as_deref() {
            Some("pass") => Some(true),
            Some("none") => Some(false),
            _ => {
                let shown = t.as_text().unwrap_or_else(|| t.describe().to_owned());
                cx.err(
                    t,
                    format!("{what}: type: expected `pass` or `none`, found `{shown}`"),
                );
                None
            }
        })?;
    if !kind {
        if let Some((pk, _)) = f.get("password") {
            cx.err(
                pk,
                format!("{what}: password is not used with `type: none`"),
            );
            return None;
        }
        return Some(None);
    }
    let pv = f.required(cx, "password")?;
    let pw = string(cx, pv, &format!("{what}: password"))?;
    if pw.is_empty() || pw.len() > 8 {
        cx.err(
            pv,
            format!("{what}: password must be 1 to 8 bytes, it is {}", pw.len()),
        );
        return None;
    }
    Some(Some(pw))
}

/// One entry of a tracking list: either a plain name or `{name, weight}` (weight -253..253).
/// Returns the node to point errors at, the name and the optional weight; None after
/// reporting what was wrong.
fn name_and_weight<'a>(
    cx: &mut Ctx,
    item: &'a Node,
    keys: &[&str],
    what: &str,
    name_of: fn(&mut Ctx, &Node, &str) -> Option<String>,
) -> Option<(&'a Node, String, Option<i32>)> {
    if !matches!(item.kind, Kind::Map(_)) {
        return name_of(cx, item, what).map(|n| (item, n, None));
    }
    let f = fields(cx, item, item, keys, what)?;
    let nn = f.required(cx, "name")?;
    let name = name_of(cx, nn, &format!("{what}: name"));
    let weight = match f.value("weight") {
        None => Some(None),
        Some(w) => int_in(cx, w, &format!("{what}: weight"), -253, 253)
            .and_then(|n| i32::try_from(n).ok())
            .map(Some),
    };
    Some((nn, name?, weight?))
}

fn tracks(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackInterface>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackInterface> = Vec::new();
    for item in items {
        let Some((name_node, name, weight)) =
            name_and_weight(cx, item, TRACK_KEYS, what, interface_name)
        else {
            ok = false;
            continue;
        };
        let t = TrackInterface { name, weight };
        if out.iter().any(|o| o.name == t.name) {
            cx.err(name_node, format!("{what}: `{}` is listed twice", t.name));
            ok = false;
            continue;
        }
        out.push(t);
    }
    ok.then_some(out)
}

fn garp(cx: &mut Ctx, key: &Node, v: &Node, what: &str) -> Option<Garp> {
    let f = fields(cx, v, key, GARP_KEYS, what)?;
    let d = Garp::default();
    let delay = match f.value("delay") {
        None => Some(d.delay),
        Some(n) => duration(cx, n, &format!("{what}: delay")),
    };
    let repeat = match f.value("repeat") {
        None => Some(d.repeat),
        Some(n) => {
            int_in(cx, n, &format!("{what}: repeat"), 1, 100).and_then(|n| u32::try_from(n).ok())
        }
    };
    let refresh = match f.value("refresh") {
        None => Some(d.refresh),
        Some(n) => duration(cx, n, &format!("{what}: refresh")),
    };
    Some(Garp {
        delay: delay?,
        repeat: repeat?,
        refresh: refresh?,
    })
}

/// The default priority of a router; the weight check assumes backups use it.
const DEFAULT_PRIORITY: i32 = 100;

/// Warn when tracking weights cannot move the address (see docs/configuration.md).
fn weight_check(
    cx: &mut Ctx,
    what: &str,
    priority_node: &Node,
    priority: u8,
    interfaces: &[TrackInterface],
    scripts: &[TrackScript],
    files: &[TrackFile],
) {
    let weights: Vec<i32> = interfaces
        .iter()
        .filter_map(|t| t.weight)
        .chain(scripts.iter().map(|t| t.weight))
        .filter(|w| *w != 0)
        .collect();
    let file_weighted = files.iter().any(|t| t.weight != 0);
    if weights.is_empty() && !file_weighted {
        return;
    }
    if priority == 255 {
        cx.warn(
            priority_node,
            format!(
                "{what}: priority 255 (address owner) is never changed by tracking; \
                 the tracking weights have no effect"
            ),
        );
        return;
    }
    // A tracked file can move the priority by up to 254 either way: no static bound.
    if file_weighted {
        return;
    }
    let p = i32::from(priority);
    let lowest = (p + weights.iter().filter(|w| **w < 0).sum::<i32>()).clamp(1, 254);
    if p > DEFAULT_PRIORITY && lowest >= DEFAULT_PRIORITY {
        cx.warn(
            priority_node,
            format!(
                "{what}: priority {p} stays at {lowest} or more even when every weighted track \
                 fails, so a backup at the default priority {DEFAULT_PRIORITY} would never take \
                 over; use larger negative weights or check the backups' priority"
            ),
        );
    }
}

/// Scripts as seen by instances: every name defined (even if invalid, so a broken script
/// does not also cause "unknown script" errors) and the valid ones.
#[derive(Default)]
struct ScriptIndex {
    /// Name -> weight, None when the script itself had errors.
    names: BTreeMap<String, Option<i32>>,
    /// All scripts, or None if any had an error.
    valid: Option<BTreeMap<String, ScriptConfig>>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn scripts(cx: &mut Ctx, v: &Node) -> ScriptIndex {
    let mut index = ScriptIndex::default();
    let Kind::Map(entries) = &v.kind else {
        cx.err(
            v,
            format!(
                "scripts: expected a mapping of name -> script, found {}",
                v.describe()
            ),
        );
        return index;
    };
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, body) in entries {
        let name = match k.as_text() {
            Some(n) if valid_name(&n) => n,
            Some(n) => {
                cx.err(
                    k,
                    format!("script name `{n}` must be non-empty and use only A-Z a-z 0-9 _ . -"),
                );
                ok = false;
                continue;
            }
            None => {
                cx.err(
                    k,
                    format!("script name: expected a string, found {}", k.describe()),
                );
                ok = false;
                continue;
            }
        };
        let s = script(cx, &name, k, body);
        index
            .names
            .insert(name.clone(), s.as_ref().map(|s| s.weight));
        match s {
            Some(s) => {
                out.insert(name, s);
            }
            None => ok = false,
        }
    }
    index.valid = ok.then_some(out);
    index
}

fn script(cx: &mut Ctx, name: &str, key: &Node, body: &Node) -> Option<ScriptConfig> {
    let what = format!("script `{name}`");
    let f = fields(cx, body, key, SCRIPT_KEYS, &what)?;
    let field = |k: &str| format!("{what}: {k}");
    let errors_before = cx.diags.iter().filter(|d| !d.warning).count();

    let command_node = f.required(cx, "command");
    let command = command_node.and_then(|v| argv(cx, v, &field("command")));
    let interval = match f.value("interval") {
        None => Some(Duration::from_secs(1)),
        Some(v) => positive_duration(cx, v, &field("interval")),
    };
    let timeout = match f.value("timeout") {
        None => interval,
        Some(v) => positive_duration(cx, v, &field("timeout")),
    };
    let weight = match f.value("weight") {
        None => Some(0),
        Some(v) => int_in(cx, v, &field("weight"), -253, 253).and_then(|n| i32::try_from(n).ok()),
    };
    let rise = match f.value("rise") {
        None => Some(1),
        Some(v) => int_in(cx, v, &field("rise"), 1, 1000).and_then(|n| u32::try_from(n).ok()),
    };
    let fall = match f.value("fall") {
        None => Some(1),
        Some(v) => int_in(cx, v, &field("fall"), 1, 1000).and_then(|n| u32::try_from(n).ok()),
    };
    let user_node = f.value("user");
    let user = match user_node {
        None => Some(None),
        Some(v) => match string(cx, v, &field("user")) {
            Some(u) if u.trim().is_empty() => {
                cx.err(v, format!("{}: must not be empty", field("user")));
                None
            }
            Some(u) => Some(Some(u)),
            None => None,
        },
    };
    let init_fail = match f.value("init_fail") {
        None => Some(false),
        Some(v) => boolean(cx, v, &field("init_fail")),
    };

    // Warnings about the host, not the file: `vipd check` shows them.
    let mut runs_as_root = true;
    if let (Some(Some(u)), Some(un)) = (&user, user_node) {
        match nix::unistd::User::from_name(u) {
            Ok(Some(pw)) => runs_as_root = pw.uid.is_root(),
            Ok(None) => {
                cx.warn(un, format!("{}: no user `{u}` on this host", field("user")));
                runs_as_root = false;
            }
            Err(_) => runs_as_root = false,
        }
    }
    if let (Some(cmd), Some(cn)) = (&command, command_node) {
        command_warnings(cx, first_item(cn), &field("command"), &cmd[0], runs_as_root);
    }

    let errors_after = cx.diags.iter().filter(|d| !d.warning).count();
    if errors_after != errors_before {
        return None;
    }
    Some(ScriptConfig {
        command: command?,
        interval: interval?,
        timeout: timeout?,
        weight: weight?,
        rise: rise?,
        fall: fall?,
        user: user?,
        init_fail: init_fail?,
    })
}

fn positive_duration(cx: &mut Ctx, v: &Node, what: &str) -> Option<Duration> {
    let d = duration(cx, v, what)?;
    if d.is_zero() {
        cx.err(v, format!("{what}: must be more than 0s"));
        return None;
    }
    Some(d)
}

/// The first element of a list node (where a command's program is), else the node itself.
fn first_item(v: &Node) -> &Node {
    match &v.kind {
        Kind::Seq(items) if !items.is_empty() => &items[0],
        _ => v,
    }
}

/// An argv list: at least one string, the program not empty.
fn argv(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<String>> {
    let Kind::Seq(items) = &v.kind else {
        cx.err(
            v,
            format!(
                "{what}: expected a list (argv, run without a shell), e.g. [\"/path/to/check\", \"arg\"], found {}",
                v.describe()
            ),
        );
        return None;
    };
    if items.is_empty() {
        cx.err(v, format!("{what}: must name a program"));
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match string(cx, item, what) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    if ok && out[0].trim().is_empty() {
        cx.err(&items[0], format!("{what}: the program must not be empty"));
        return None;
    }
    ok.then_some(out)
}

/// Warn about a program that cannot run, or that vipd would refuse to run as root.
fn command_warnings(cx: &mut Ctx, node: &Node, what: &str, program: &str, as_root: bool) {
    match crate::security::resolve_program(program) {
        Err(e) => cx.warn(node, format!("{what}: {e}")),
        Ok(path) => {
            if as_root && let Some(why) = crate::security::insecure(&path) {
                cx.warn(
                    node,
                    format!(
                        "{what}: {why}; vipd refuses to run it as root: make it and its \
                         directories writable by root only, or set a non-root `user`"
                    ),
                );
            }
        }
    }
}

fn track_scripts(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    scripts: &ScriptIndex,
) -> Option<Vec<TrackScript>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackScript> = Vec::new();
    for item in items {
        let Some((name_node, name, weight)) = name_and_weight(cx, item, TRACK_KEYS, what, string)
        else {
            ok = false;
            continue;
        };
        let Some(default_weight) = scripts.names.get(&name) else {
            let known = if scripts.names.is_empty() {
                "no scripts are defined under the top-level `scripts:`".to_owned()
            } else {
                format!(
                    "defined scripts: {}",
                    expected_list(&scripts.names.keys().map(String::as_str).collect::<Vec<_>>())
                )
            };
            cx.err(
                name_node,
                format!("{what}: unknown script `{name}`; {known}"),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|o| o.name == name) {
            cx.err(name_node, format!("{what}: `{name}` is listed twice"));
            ok = false;
            continue;
        }
        // A script with errors has no weight; its own error already fails the config.
        match weight.or(*default_weight) {
            Some(weight) => out.push(TrackScript { name, weight }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn track_files(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackFile>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackFile> = Vec::new();
    for item in items {
        let (path_node, path, weight) = match &item.kind {
            Kind::Map(_) => {
                let Some(f) = fields(cx, item, item, TRACK_FILE_KEYS, what) else {
                    ok = false;
                    continue;
                };
                let Some(pn) = f.required(cx, "path") else {
                    ok = false;
                    continue;
                };
                let path = string(cx, pn, &format!("{what}: path"));
                let weight = match f.value("weight") {
                    None => Some(1),
                    Some(w) => int_in(cx, w, &format!("{what}: weight"), -254, 254)
                        .and_then(|n| i32::try_from(n).ok()),
                };
                match (path, weight) {
                    (Some(p), Some(w)) => (pn, p, w),
                    _ => {
                        ok = false;
                        continue;
                    }
                }
            }
            _ => match string(cx, item, what) {
                Some(p) => (item, p, 1),
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            cx.err(
                path_node,
                format!("{what}: `{}` must be an absolute path", path.display()),
            );
            ok = false;
            continue;
        }
        if out.iter().any(|o| o.path == path) {
            cx.err(
                path_node,
                format!("{what}: `{}` is listed twice", path.display()),
            );
            ok = false;
            continue;
        }
        out.push(TrackFile { path, weight });
    }
    ok.then_some(out)
}

fn notify(cx: &mut Ctx, key: &Node, v: &Node, what: &str) -> Option<Notify> {
    let f = fields(cx, v, key, NOTIFY_KEYS, what)?;
    let mut ok = true;
    let mut hook = |cx: &mut Ctx, k: &str| -> Option<Vec<String>> {
        let node = f.value(k)?;
        let w = format!("{what}: {k}");
        let a = argv(cx, node, &w);
        match &a {
            Some(a) => command_warnings(cx, first_item(node), &w, &a[0], true),
            None => ok = false,
        }
        a
    };
    let n = Notify {
        master: hook(cx, "master"),
        backup: hook(cx, "backup"),
        fault: hook(cx, "fault"),
        stop: hook(cx, "stop"),
        any: hook(cx, "any"),
    };
    ok.then_some(n)
}

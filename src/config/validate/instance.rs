//! One instance: `interface`, `vrid`, `priority`, `version`, `advert_interval`, `preempt`,
//! `garp`, `v3_checksum`, and the other sections put together.

use std::time::Duration;

use super::super::duration::format_duration;
use super::super::model::{ChecksumForm, Family, Garp, InstanceConfig, Notify, Version, Vmac};
use super::super::node::{Kind, Node};
use super::Sites;
use super::addresses::{unicast_peers, unicast_src, virtual_ipaddress};
use super::auth::authentication;
use super::common::{Ctx, boolean, duration, duration_max, fields, int_in, string};
use super::scripts::{ScriptIndex, notify};
use super::tracking::{
    ProcessIndex, track_files, track_processes, track_scripts, tracks, weight_check,
};

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
    "check_unicast_src",
    "track_interfaces",
    "track_scripts",
    "track_files",
    "track_processes",
    "notify",
    "garp",
    "v3_checksum",
    "group",
    "virtual_ipaddress_excluded",
    "virtual_routes",
    "virtual_rules",
    "accept_mode",
    "use_vmac",
    "vmac_xmit_base",
    "vmac_link_local",
];

const GARP_KEYS: &[&str] = &["delay", "repeat", "refresh", "interval"];

/// Longest `garp.interval`: keepalived takes any (it logs "very large" from 1 s), vipd up to
/// 10 s (a burst of 5 is then 40 s long).
const GARP_MAX_INTERVAL: Duration = Duration::from_secs(10);

/// Longest `group` label value: short enough for dashboards and series size.
const MAX_GROUP: usize = 64;

/// `group`: 1..=64 bytes of ASCII letters, digits and `.` `_` `-` `:` `/` (an address or a
/// prefix fits; spaces, commas, quotes and control characters do not).
fn group_label(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
    let g = string(cx, v, what)?;
    let bad = g
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/')));
    let problem = if g.is_empty() {
        Some("must not be empty".to_owned())
    } else if g.len() > MAX_GROUP {
        Some(format!(
            "is {} bytes long, the limit is {MAX_GROUP}",
            g.len()
        ))
    } else {
        bad.map(|c| {
            format!(
                "`{}` is not allowed (letters, digits and . _ - : / only)",
                c.escape_default()
            )
        })
    };
    match problem {
        Some(p) => {
            cx.err(v, format!("{what}: {p}"));
            None
        }
        None => Some(g),
    }
}

/// IFNAMSIZ - 1.
const MAX_IFNAME: usize = 15;

pub(super) fn interface_name(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
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

pub(super) fn instance<'a>(
    cx: &mut Ctx,
    name: &str,
    key: &'a Node,
    body: &'a Node,
    scripts: &ScriptIndex,
    processes: &ProcessIndex,
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
    let priority = f.optional(cx, "priority", 100u8, |cx, _, v| {
        int_in(cx, v, &field("priority"), 1, 255).and_then(|n| u8::try_from(n).ok())
    });
    let version_node = f.value("version");
    let version = f.optional(cx, "version", Version::V3, |cx, _, v| match &v.kind {
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
    });

    let vips_node = f.value("virtual_ipaddress");
    let vips = virtual_ipaddress(cx, vips_node, key, &field("virtual_ipaddress"), version);
    let family = vips.family;

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

    let advert_interval = f.optional(cx, "advert_interval", Duration::from_secs(1), |cx, _, v| {
        duration(cx, v, &field("advert_interval")).and_then(|d| {
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
        })
    });

    let preempt_node = f.value("preempt");
    let preempt = f.optional(cx, "preempt", true, |cx, _, v| {
        boolean(cx, v, &field("preempt"))
    });
    let preempt_delay = f.optional(cx, "preempt_delay", Duration::ZERO, |cx, _, v| {
        duration_max(cx, v, &field("preempt_delay"), Duration::from_secs(1000))
    });
    if let (Some(255), Some(false), Some(pn)) = (priority, preempt, preempt_node) {
        cx.warn(
            pn,
            format!(
                "{}: priority 255 is the address owner, which always preempts; `preempt: false` has no effect",
                field("preempt")
            ),
        );
    }

    let auth_pass = f.optional(cx, "authentication", None, |cx, ak, av| {
        authentication(cx, &what, ak, av, version)
    });

    let peers = f.optional(cx, "unicast_peers", Default::default(), |cx, _, v| {
        unicast_peers(cx, v, &field("unicast_peers"), family, &vips.addrs)
    });
    let (unicast_peers, unicast_peer_ttl) = match peers {
        Some((p, t)) => (Some(p), Some(t)),
        None => (None, None),
    };
    let unicast_src = f.optional(cx, "unicast_src", None, |cx, _, v| {
        unicast_src(cx, v, &field("unicast_src"), family, &vips.addrs).map(Some)
    });

    let check_unicast_src_node = f.value("check_unicast_src");
    let check_unicast_src = f.optional(cx, "check_unicast_src", false, |cx, _, v| {
        boolean(cx, v, &field("check_unicast_src"))
    });
    if let (Some(true), Some(n), Some(p)) =
        (check_unicast_src, check_unicast_src_node, &unicast_peers)
        && p.is_empty()
    {
        cx.err(
            n,
            format!(
                "{}: needs `unicast_peers` (it drops unicast adverts whose source is not one of them)",
                field("check_unicast_src")
            ),
        );
    }
    // keepalived 2.2.7: a peer's `min_ttl` / `max_ttl` turns the source check on (the TTL
    // is checked for a source that is a peer).
    let has_ttl = unicast_peer_ttl.as_ref().is_some_and(|t| !t.is_empty());
    if let (Some(false), Some(n), true) = (check_unicast_src, check_unicast_src_node, has_ttl) {
        cx.err(
            n,
            format!(
                "{}: cannot be false with a unicast peer's `min_ttl` / `max_ttl`, which checks the source (as keepalived does); leave it out",
                field("check_unicast_src")
            ),
        );
    }
    let check_unicast_src = check_unicast_src.map(|c| c || has_ttl);

    let track_interfaces = f.optional(cx, "track_interfaces", Vec::new(), |cx, _, v| {
        tracks(cx, v, &field("track_interfaces"))
    });
    let track_scripts = f.optional(cx, "track_scripts", Vec::new(), |cx, _, v| {
        track_scripts(cx, v, &field("track_scripts"), scripts)
    });
    let track_files = f.optional(cx, "track_files", Vec::new(), |cx, _, v| {
        track_files(cx, v, &field("track_files"))
    });
    let track_processes = f.optional(cx, "track_processes", Vec::new(), |cx, _, v| {
        track_processes(cx, v, &field("track_processes"), processes)
    });
    let notify = f.optional(cx, "notify", Notify::default(), |cx, nk, nv| {
        notify(cx, nk, nv, &field("notify"))
    });
    if let (Some(p), Some(pn), Some(ti), Some(ts), Some(tp), Some(tf)) = (
        priority,
        priority_node,
        &track_interfaces,
        &track_scripts,
        &track_processes,
        &track_files,
    ) {
        weight_check(cx, &what, pn, p, ti, ts, tp, tf);
    }
    let garp = f.optional(cx, "garp", Garp::default(), |cx, gk, gv| {
        garp(cx, gk, gv, &field("garp"))
    });
    let v3_checksum = f.optional(
        cx,
        "v3_checksum",
        ChecksumForm::PseudoHeader,
        |cx, _, v| match v.as_text().as_deref() {
            Some("pseudo-header") => Some(ChecksumForm::PseudoHeader),
            Some("rfc9568") => Some(ChecksumForm::MessageOnly),
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
    );

    let group = f.optional(cx, "group", None, |cx, _, v| {
        group_label(cx, v, &field("group")).map(Some)
    });

    let (excluded, virtual_routes, virtual_rules) = super::routes::instance_extras(
        cx,
        &f,
        &what,
        &vips.addrs,
        vips.sites.as_slice(),
        interface.as_deref(),
    );
    let vmac = vmac(cx, &f, &field, vrid, unicast_peers.as_ref());

    let site = Sites {
        vmac: vmac
            .as_ref()
            .and_then(|(v, n)| v.as_ref().zip(*n).map(|(v, n)| (v.name.clone(), n))),
        name: name.to_owned(),
        vrid: vrid.zip(vrid_node),
        interface: interface.clone(),
        family,
        vips: vips.sites,
    };
    let errors_after = cx.diags.iter().filter(|d| !d.warning).count();
    let inst = (|| {
        if errors_after != errors_before || !vips.ok {
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
            auth_pass: auth_pass?.map(crate::security::Secret::from),
            virtual_ipaddress: vips.addrs,
            virtual_ipaddress_excluded: excluded?,
            virtual_routes: virtual_routes?,
            virtual_rules: virtual_rules?,
            unicast_peers: unicast_peers?,
            unicast_peer_ttl: unicast_peer_ttl?,
            unicast_src: unicast_src?,
            check_unicast_src: check_unicast_src?,
            track_interfaces: track_interfaces?,
            track_scripts: track_scripts?,
            track_files: track_files?,
            track_processes: track_processes?,
            notify: notify?,
            garp: garp?,
            v3_checksum: v3_checksum?,
            group: group?,
            vmac: vmac?.0,
        })
    })();
    (inst, Some(site))
}

/// keepalived's default macvlan name, `vrrp.<vrid>`.
pub(super) fn default_vmac_name(vrid: u8) -> String {
    format!("vrrp.{vrid}")
}

/// `use_vmac: true | false | <ifname>` and `vmac_xmit_base: bool`; with the node that named
/// the macvlan (for the cross-instance name check) and whether the name was defaulted.
#[allow(clippy::type_complexity)]
fn vmac<'a>(
    cx: &mut Ctx,
    f: &super::common::Fields<'a>,
    field: &dyn Fn(&str) -> String,
    vrid: Option<u8>,
    unicast_peers: Option<&Vec<std::net::IpAddr>>,
) -> Option<(Option<Vmac>, Option<&'a Node>)> {
    let node = f.value("use_vmac");
    let name = f.optional(cx, "use_vmac", None, |cx, _, v| match &v.kind {
        Kind::Bool(true) => Some(Some(None)),
        Kind::Bool(false) => Some(None),
        _ => interface_name(cx, v, &field("use_vmac")).map(|n| Some(Some(n))),
    });
    let xmit_base = f.optional(cx, "vmac_xmit_base", false, |cx, _, v| {
        boolean(cx, v, &field("vmac_xmit_base"))
    });
    let link_local = f.optional(cx, "vmac_link_local", true, |cx, _, v| {
        boolean(cx, v, &field("vmac_link_local"))
    });
    let (name, xmit_base, link_local) = (name?, xmit_base?, link_local?);
    for key in ["vmac_xmit_base", "vmac_link_local"] {
        if let (None, Some(n)) = (&name, f.value(key)) {
            cx.warn(
                n,
                format!("{}: has no effect without `use_vmac`", field(key)),
            );
        }
    }
    let Some(name) = name else {
        return Some((None, node));
    };
    let node = node?;
    if unicast_peers.is_some_and(|p| !p.is_empty()) {
        cx.err(
            node,
            format!(
                "{}: not supported with `unicast_peers` (the macvlan has no route to a \
                 unicast peer; the virtual MAC only matters on a shared segment)",
                field("use_vmac")
            ),
        );
        return None;
    }
    let name = name.or_else(|| vrid.map(default_vmac_name))?;
    Some((
        Some(Vmac {
            name,
            xmit_base,
            link_local,
        }),
        Some(node),
    ))
}

/// keepalived's `garp_master_delay` bound: whole seconds up to `UINT_MAX / TIMER_HZ`.
const GARP_MAX_DELAY: Duration = Duration::from_secs(4294);
/// The shortest `garp.refresh` that is not `0s` (off): keepalived's `garp_master_refresh` is in
/// whole seconds, so 1 s is the shortest it can express.
const GARP_MIN_REFRESH: Duration = Duration::from_secs(1);
/// More announcements per second per address than this on average (refresh bursts) is warned.
const GARP_RATE_WARN: f64 = 10.0;

/// `1`, `2.5`, `1250000`: a rate for a message.
fn rate(r: f64) -> String {
    if r >= 100.0 || r.fract() == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// `garp`: bounds that keep a master from flooding its segment (see docs/configuration.md):
/// `delay` 0s..4294s, `repeat` 1..100, `refresh` `0s` or at least 1s (errors), and a warning
/// when the refresh bursts average more than 10 announcements per second per address.
fn garp(cx: &mut Ctx, key: &Node, v: &Node, what: &str) -> Option<Garp> {
    let f = fields(cx, v, key, GARP_KEYS, what)?;
    let d = Garp::default();
    let delay = f.optional(cx, "delay", d.delay, |cx, _, n| {
        duration_max(cx, n, &format!("{what}: delay"), GARP_MAX_DELAY)
    });
    let repeat = f.optional(cx, "repeat", d.repeat, |cx, _, n| {
        int_in(cx, n, &format!("{what}: repeat"), 1, 100).and_then(|n| u32::try_from(n).ok())
    });
    let refresh = f.optional(cx, "refresh", d.refresh, |cx, _, n| {
        let r = duration(cx, n, &format!("{what}: refresh"))?;
        if !r.is_zero() && r < GARP_MIN_REFRESH {
            let per_burst = repeat.unwrap_or(d.repeat);
            let (shown, min) = (format_duration(r), format_duration(GARP_MIN_REFRESH));
            cx.err(
                n,
                format!(
                    "{what}: refresh: {shown} is below {min}: a burst of {per_burst} every \
                     {shown} is {} announcements per second per address, a flood on the segment; \
                     use `0s` (off) or at least {min} (keepalived's garp_master_refresh is whole \
                     seconds)",
                    rate(f64::from(per_burst) / r.as_secs_f64()),
                ),
            );
            return None;
        }
        Some(r)
    });
    if let (Some(rep), Some(r), Some(rn)) = (repeat, refresh, f.value("refresh"))
        && !r.is_zero()
    {
        let per_second = f64::from(rep) / r.as_secs_f64();
        if per_second > GARP_RATE_WARN {
            cx.warn(
                rn,
                format!(
                    "{what}: refresh: a burst of {rep} every {} is {} announcements per second \
                     per address on average while master (more than {}); switches and hosts \
                     rarely need more than a few: raise `refresh` or lower `repeat`",
                    format_duration(r),
                    rate(per_second),
                    rate(GARP_RATE_WARN),
                ),
            );
        }
    }
    let interval = f.optional(cx, "interval", d.interval, |cx, _, n| {
        duration_max(cx, n, &format!("{what}: interval"), GARP_MAX_INTERVAL)
    });
    if let (Some(i), Some(n)) = (interval, f.value("interval"))
        && i >= Duration::from_secs(1)
    {
        cx.warn(
            n,
            format!(
                "{what}: interval: {} between announcements is very large (keepalived logs the same); a burst of {} takes {}",
                format_duration(i),
                repeat.unwrap_or(d.repeat),
                format_duration(i * repeat.unwrap_or(d.repeat).saturating_sub(1))
            ),
        );
    }
    Some(Garp {
        delay: delay?,
        repeat: repeat?,
        refresh: refresh?,
        interval: interval?,
    })
}

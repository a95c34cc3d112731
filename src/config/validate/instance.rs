//! One instance: `interface`, `vrid`, `priority`, `version`, `advert_interval`, `preempt`,
//! `garp`, `v3_checksum`, and the other sections put together.

use std::time::Duration;

use super::super::duration::format_duration;
use super::super::model::{ChecksumForm, Family, Garp, InstanceConfig, Notify, Version};
use super::super::node::{Kind, Node};
use super::Sites;
use super::addresses::{unicast_peers, unicast_src, virtual_ipaddress};
use super::auth::authentication;
use super::common::{Ctx, boolean, duration, duration_max, fields, int_in, string};
use super::scripts::{ScriptIndex, notify};
use super::tracking::{track_files, track_scripts, tracks, weight_check};

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

const GARP_KEYS: &[&str] = &["delay", "repeat", "refresh"];

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

    let vips_node = f.required(cx, "virtual_ipaddress");
    let vips = virtual_ipaddress(cx, vips_node, &field("virtual_ipaddress"), version);
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

    let unicast_peers = f.optional(cx, "unicast_peers", Vec::new(), |cx, _, v| {
        unicast_peers(cx, v, &field("unicast_peers"), family, &vips.addrs)
    });
    let unicast_src = f.optional(cx, "unicast_src", None, |cx, _, v| {
        unicast_src(cx, v, &field("unicast_src"), family).map(Some)
    });

    let track_interfaces = f.optional(cx, "track_interfaces", Vec::new(), |cx, _, v| {
        tracks(cx, v, &field("track_interfaces"))
    });
    let track_scripts = f.optional(cx, "track_scripts", Vec::new(), |cx, _, v| {
        track_scripts(cx, v, &field("track_scripts"), scripts)
    });
    let track_files = f.optional(cx, "track_files", Vec::new(), |cx, _, v| {
        track_files(cx, v, &field("track_files"))
    });
    let notify = f.optional(cx, "notify", Notify::default(), |cx, nk, nv| {
        notify(cx, nk, nv, &field("notify"))
    });
    if let (Some(p), Some(pn), Some(ti), Some(ts), Some(tf)) = (
        priority,
        priority_node,
        &track_interfaces,
        &track_scripts,
        &track_files,
    ) {
        weight_check(cx, &what, pn, p, ti, ts, tf);
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

    let site = Sites {
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
            auth_pass: auth_pass?,
            virtual_ipaddress: vips.addrs,
            unicast_peers: unicast_peers?,
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

fn garp(cx: &mut Ctx, key: &Node, v: &Node, what: &str) -> Option<Garp> {
    let f = fields(cx, v, key, GARP_KEYS, what)?;
    let d = Garp::default();
    let delay = f.optional(cx, "delay", d.delay, |cx, _, n| {
        duration(cx, n, &format!("{what}: delay"))
    });
    let repeat = f.optional(cx, "repeat", d.repeat, |cx, _, n| {
        int_in(cx, n, &format!("{what}: repeat"), 1, 100).and_then(|n| u32::try_from(n).ok())
    });
    let refresh = f.optional(cx, "refresh", d.refresh, |cx, _, n| {
        duration(cx, n, &format!("{what}: refresh"))
    });
    Some(Garp {
        delay: delay?,
        repeat: repeat?,
        refresh: refresh?,
    })
}

//! Node tree -> [`Config`], collecting every error with its position.
//!
//! This module checks the top level and what spans instances; each concern has its own module:
//! [`instance`] (one instance's own keys), [`addresses`], [`tracking`], [`scripts`] (check scripts
//! and notify hooks) and [`auth`]. [`common`] holds what they share.

mod addresses;
mod auth;
mod common;
mod instance;
mod routes;
mod scripts;
mod sync_groups;
mod tracking;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::lint::Program;
use super::model::{Config, Family, InstanceConfig, LogFormat, Otlp};
use super::node::{Kind, Node};
use super::{Diagnostic, default_router_id};
use common::{Ctx, Fields, fields, string};
use scripts::ScriptIndex;
use tracking::ProcessIndex;

const TOP_KEYS: &[&str] = &[
    "router_id",
    "listen",
    "log",
    "otlp",
    "scripts",
    "processes",
    "instances",
    "sync_groups",
    "static_ipaddress",
    "static_routes",
    "static_rules",
];

const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9797);

/// Where an instance's values came from, for the cross-instance checks.
struct Sites<'a> {
    name: String,
    vrid: Option<(u8, &'a Node)>,
    interface: Option<String>,
    family: Option<Family>,
    vips: Vec<(IpAddr, &'a Node)>,
    /// The macvlan name (`use_vmac`) and where it was asked for.
    vmac: Option<(String, &'a Node)>,
}

/// What validation makes of a document.
pub(crate) struct Validated {
    /// None when there is an error.
    pub config: Option<Config>,
    /// Errors and warnings, in the order found.
    pub diags: Vec<Diagnostic>,
    /// Every program the document names (even in an invalid one), for the lint pass.
    pub programs: Vec<Program>,
}

pub(crate) fn validate(root: &Node, path: &str) -> Validated {
    let mut cx = Ctx {
        path,
        diags: Vec::new(),
        programs: Vec::new(),
    };
    let config = top(&mut cx, root);
    if config.is_none() && !cx.diags.iter().any(|d| !d.warning) {
        cx.err(root, "invalid configuration");
    }
    Validated {
        config,
        diags: cx.diags,
        programs: cx.programs,
    }
}

fn top(cx: &mut Ctx, root: &Node) -> Option<Config> {
    if root.kind == Kind::Null {
        cx.err(root, "the configuration is empty: `instances` is required");
        return None;
    }
    let f = fields(cx, root, root, TOP_KEYS, "top level")?;

    let router_id = f.optional(
        cx,
        "router_id",
        default_router_id(),
        |cx, _, v| match string(cx, v, "router_id") {
            Some(s) if s.trim().is_empty() => {
                cx.err(v, "router_id: must not be empty");
                None
            }
            other => other,
        },
    );

    let listen = f.optional(cx, "listen", DEFAULT_LISTEN, |cx, _, v| {
        string(cx, v, "listen").and_then(|s| match s.trim().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                cx.err(
                    v,
                    format!("listen: `{s}` is not an address:port (e.g. `0.0.0.0:9797`)"),
                );
                None
            }
        })
    });

    let log_format = f.optional(cx, "log", LogFormat::Text, |cx, _, v| {
        fields(cx, v, v, &["format"], "log").and_then(|lf| {
            lf.optional(cx, "format", LogFormat::Text, |cx, _, fv| {
                match fv.as_text().as_deref() {
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
                }
            })
        })
    });

    let otlp = f.optional(cx, "otlp", None, |cx, k, v| fields(
            cx,
            v,
            k,
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
        }));

    // Never None: problems in `scripts` are recorded in the index (the default is invalid).
    let scripts = f
        .optional(cx, "scripts", ScriptIndex::empty(), |cx, _, v| {
            Some(scripts::scripts(cx, v))
        })
        .unwrap_or_default();
    let processes = f
        .optional(cx, "processes", ProcessIndex::empty(), |cx, _, v| {
            Some(tracking::processes(cx, v))
        })
        .unwrap_or_default();
    let mut instances = instances(cx, &f, &scripts, &processes);
    let known = sync_groups::instance_names(f.value("instances"));
    let sync_groups = f.optional(cx, "sync_groups", BTreeMap::new(), |cx, _, v| {
        sync_groups::sync_groups(cx, v, &known)
    });
    if let (Some(groups), Some(insts), Some(v)) =
        (&sync_groups, &mut instances, f.value("sync_groups"))
    {
        sync_groups::zero_member_weights(cx, v, groups, insts);
    }
    let statics = routes::statics(cx, &f);
    Some(Config {
        router_id: router_id?,
        listen: listen?,
        log_format: log_format?,
        otlp: otlp?,
        scripts: scripts.valid?,
        processes: processes.valid?,
        instances: instances?,
        sync_groups: sync_groups?,
        statics: statics?,
    })
}

fn instances(
    cx: &mut Ctx,
    f: &Fields,
    scripts: &ScriptIndex,
    processes: &ProcessIndex,
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
        let (inst, site) = instance::instance(cx, &name, k, body, scripts, processes);
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
    if let Some((vmac, node)) = &s.vmac {
        let clash = earlier.iter().find_map(|o| {
            if o.vmac.as_ref().is_some_and(|(n, _)| n == vmac) {
                Some(format!("is also the macvlan of instance `{}`", o.name))
            } else if o.interface.as_deref() == Some(vmac.as_str()) {
                Some(format!("is the interface of instance `{}`", o.name))
            } else {
                None
            }
        });
        let own = (s.interface.as_deref() == Some(vmac.as_str()))
            .then(|| "is the instance's own interface".to_owned());
        if let Some(why) = own.or(clash) {
            cx.err(
                node,
                format!(
                    "instance `{}`: use_vmac: `{vmac}` {why}; each instance needs its own \
                     macvlan (name it, e.g. `use_vmac: vrrp6.{}`)",
                    s.name,
                    s.vrid.map_or(0, |(v, _)| v)
                ),
            );
        }
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

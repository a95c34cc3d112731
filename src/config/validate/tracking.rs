//! `track_interfaces`, `track_scripts`, `track_files`, the top-level `processes` with
//! `track_processes`, and the check of their weights against the priority.

use std::path::PathBuf;
use std::time::Duration;

use super::super::model::{ProcessConfig, TrackFile, TrackInterface, TrackProcess, TrackScript};
use super::super::node::{Kind, Node};
use super::common::{Ctx, boolean, duration_max, expected_list, fields, int_in, list, string};
use super::instance::interface_name;
use super::scripts::ScriptIndex;
use crate::track::procs::COMM_MAX;
use crate::track::{ParamMatch, ProcessMatch};

const TRACK_FILE_KEYS: &[&str] = &["path", "weight", "reverse"];

const TRACK_KEYS: &[&str] = &["name", "weight", "reverse"];

/// One entry of a tracking list: its name, and the weight and `reverse` it sets itself.
struct Entry<'a> {
    /// Where errors about the name point.
    node: &'a Node,
    name: String,
    weight: Option<i32>,
    reverse: Option<bool>,
}

/// One entry of a tracking list: either a plain name or `{name, weight, reverse}` (weight
/// -253..253); None after reporting what was wrong.
fn name_and_weight<'a>(
    cx: &mut Ctx,
    item: &'a Node,
    keys: &[&str],
    what: &str,
    name_of: fn(&mut Ctx, &Node, &str) -> Option<String>,
) -> Option<Entry<'a>> {
    if !matches!(item.kind, Kind::Map(_)) {
        return name_of(cx, item, what).map(|name| Entry {
            node: item,
            name,
            weight: None,
            reverse: None,
        });
    }
    let f = fields(cx, item, item, keys, what)?;
    let nn = f.required(cx, "name")?;
    let name = name_of(cx, nn, &format!("{what}: name"));
    let weight = f.optional(cx, "weight", None, |cx, _, w| {
        int_in(cx, w, &format!("{what}: weight"), -253, 253)
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
    });
    let reverse = f.optional(cx, "reverse", None, |cx, _, v| {
        boolean(cx, v, &format!("{what}: reverse")).map(Some)
    });
    Some(Entry {
        node: nn,
        name: name?,
        weight: weight?,
        reverse: reverse?,
    })
}

pub(super) fn tracks(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackInterface>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackInterface> = Vec::new();
    for item in items {
        let Some(Entry {
            node: name_node,
            name,
            weight,
            reverse,
        }) = name_and_weight(cx, item, TRACK_KEYS, what, interface_name)
        else {
            ok = false;
            continue;
        };
        let t = TrackInterface {
            name,
            weight,
            reverse: reverse.unwrap_or(false),
        };
        if out.iter().any(|o| o.name == t.name) {
            cx.err(name_node, format!("{what}: `{}` is listed twice", t.name));
            ok = false;
            continue;
        }
        out.push(t);
    }
    ok.then_some(out)
}

/// The default priority of a router; the weight check assumes backups use it.
const DEFAULT_PRIORITY: i32 = 100;

/// Warn when tracking weights cannot move the address (see docs/configuration.md).
///
/// vipd sees only this node's file, so the check assumes what the usual setup has: the backups
/// run at the default priority 100 with the same tracked objects and weights. The address moves
/// when this node, everything weighted failing (priority + the negative weights), is below a
/// backup with everything healthy (100 + the positive weights): with master 101, backup 100 and
/// `weight: 2` on both, the failing master (101) loses to the healthy backup (102). An equal
/// priority does not preempt, so equality is a warning too.
#[allow(clippy::too_many_arguments)] // one slice per kind of tracked object
pub(super) fn weight_check(
    cx: &mut Ctx,
    what: &str,
    priority_node: &Node,
    priority: u8,
    interfaces: &[TrackInterface],
    scripts: &[TrackScript],
    processes: &[TrackProcess],
    files: &[TrackFile],
) {
    // A reversed weight moves the priority the other way (`reverse` negates it).
    let signed = |w: i32, reverse: bool| if reverse { -w } else { w };
    let weights: Vec<i32> = interfaces
        .iter()
        .filter_map(|t| t.weight.map(|w| signed(w, t.reverse)))
        .chain(scripts.iter().map(|t| signed(t.weight, t.reverse)))
        .chain(processes.iter().map(|t| signed(t.weight, t.reverse)))
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
    if p <= DEFAULT_PRIORITY {
        return;
    }
    let negative: i32 = weights.iter().filter(|w| **w < 0).sum();
    let positive: i32 = weights.iter().filter(|w| **w > 0).sum();
    // This node with every weighted track failed, a default backup with every one healthy.
    let lowest = (p + negative).clamp(1, 254);
    let backup_highest = (DEFAULT_PRIORITY + positive).clamp(1, 254);
    if lowest < backup_highest {
        return;
    }
    let backup = if positive == 0 {
        format!("a backup at the default priority {DEFAULT_PRIORITY}")
    } else {
        format!(
            "a backup at the default priority {DEFAULT_PRIORITY}, at most {backup_highest} \
             with the same positive weights healthy,"
        )
    };
    cx.warn(
        priority_node,
        format!(
            "{what}: priority {p} stays at {lowest} or more even when every weighted track \
             fails, so {backup} would never take over (an equal priority does not preempt); \
             the sizes of the weights must add up to more than {p} - {DEFAULT_PRIORITY} = {}: \
             use larger weights or check the backups' priority",
            p - DEFAULT_PRIORITY
        ),
    );
}

pub(super) fn track_scripts(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    scripts: &ScriptIndex,
) -> Option<Vec<TrackScript>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackScript> = Vec::new();
    for item in items {
        let Some(Entry {
            node: name_node,
            name,
            weight,
            reverse,
        }) = name_and_weight(cx, item, TRACK_KEYS, what, string)
        else {
            ok = false;
            continue;
        };
        let Some(defaults) = scripts.names.get(&name) else {
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
        match *defaults {
            Some((w, r)) => out.push(TrackScript {
                name,
                weight: weight.unwrap_or(w),
                reverse: reverse.unwrap_or(r),
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub(super) fn track_files(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackFile>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackFile> = Vec::new();
    for item in items {
        let (path_node, path, weight, reverse) = match &item.kind {
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
                let weight = f.optional(cx, "weight", 1, |cx, _, w| {
                    int_in(cx, w, &format!("{what}: weight"), -254, 254)
                        .and_then(|n| i32::try_from(n).ok())
                });
                let reverse = f.optional(cx, "reverse", false, |cx, _, v| {
                    boolean(cx, v, &format!("{what}: reverse"))
                });
                match (path, weight, reverse) {
                    (Some(p), Some(w), Some(r)) => (pn, p, w, r),
                    _ => {
                        ok = false;
                        continue;
                    }
                }
            }
            _ => match string(cx, item, what) {
                Some(p) => (item, p, 1, false),
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
        out.push(TrackFile {
            path,
            weight,
            reverse,
        });
    }
    ok.then_some(out)
}

const PROCESS_KEYS: &[&str] = &[
    "name",
    "args",
    "param_match",
    "full_command",
    "quorum",
    "quorum_max",
    "weight",
    "delay",
    "fork_delay",
    "terminate_delay",
    "reverse",
];

/// keepalived's bound on the process delays.
const PROCESS_DELAY_MAX: Duration = Duration::from_secs(3600);

/// Processes as seen by instances.
pub(super) type ProcessIndex = super::scripts::Named<ProcessConfig>;

/// The top-level `processes:` map (keepalived `vrrp_track_process` blocks).
pub(super) fn processes(cx: &mut Ctx, v: &Node) -> ProcessIndex {
    super::scripts::named(
        cx,
        v,
        ("processes", "process"),
        |p| (p.weight, p.reverse),
        process,
    )
}

fn process(cx: &mut Ctx, name: &str, key: &Node, body: &Node) -> Option<ProcessConfig> {
    let what = format!("process `{name}`");
    let f = fields(cx, body, key, PROCESS_KEYS, &what)?;
    let field = |k: &str| format!("{what}: {k}");
    let errors_before = cx.diags.iter().filter(|d| !d.warning).count();

    let name_node = f.required(cx, "name");
    let pname = name_node.and_then(|v| match string(cx, v, &field("name")) {
        Some(s) if s.is_empty() => {
            cx.err(v, format!("{}: must not be empty", field("name")));
            None
        }
        other => other,
    });
    let args = f.optional(cx, "args", Vec::new(), |cx, _, v| match &v.kind {
        Kind::Seq(items) => {
            let mut out = Vec::new();
            for i in items {
                out.push(string(cx, i, &field("args"))?);
            }
            Some(out)
        }
        _ => {
            string(cx, v, &field("args")).map(|s| s.split_whitespace().map(str::to_owned).collect())
        }
    });
    let param_match = f.optional(cx, "param_match", None, |cx, _, v| {
        match v.as_text().as_deref() {
            Some("exact") => Some(Some(ParamMatch::Exact)),
            Some("partial") => Some(Some(ParamMatch::Partial)),
            Some("initial") => Some(Some(ParamMatch::Initial)),
            _ => {
                let shown = v.as_text().unwrap_or_else(|| v.describe().to_owned());
                cx.err(
                    v,
                    format!(
                        "{}: expected `exact`, `partial` or `initial`, found `{shown}`",
                        field("param_match")
                    ),
                );
                None
            }
        }
    });
    let full_command = f.optional(cx, "full_command", false, |cx, _, v| {
        boolean(cx, v, &field("full_command"))
    });
    let quorum_node = f.value("quorum");
    let quorum = f.optional(cx, "quorum", 1u32, |cx, _, v| {
        match int_in(cx, v, &field("quorum"), 0, 65535) {
            Some(0) => {
                cx.err(
                    v,
                    format!(
                        "{}: must be at least 1 (for a process that must not run, use `quorum_max: 0`)",
                        field("quorum")
                    ),
                );
                None
            }
            n => n.and_then(|n| u32::try_from(n).ok()),
        }
    });
    let quorum_max = f.optional(cx, "quorum_max", u32::MAX, |cx, _, v| {
        let n = u32::try_from(int_in(cx, v, &field("quorum_max"), 0, 65535)?).ok()?;
        match quorum {
            Some(q) if n == 0 && quorum_node.is_some() => {
                cx.err(
                    v,
                    format!(
                        "{}: 0 (the process must not run) cannot go with `quorum: {q}`; leave `quorum` out",
                        field("quorum_max")
                    ),
                );
                None
            }
            Some(q) if n != 0 && n < q => {
                cx.err(
                    v,
                    format!("{}: {n} is less than `quorum` ({q})", field("quorum_max")),
                );
                None
            }
            _ => Some(n),
        }
    });
    let weight = f.optional(cx, "weight", 0, |cx, _, v| {
        int_in(cx, v, &field("weight"), -253, 253).and_then(|n| i32::try_from(n).ok())
    });
    let reverse = f.optional(cx, "reverse", false, |cx, _, v| {
        boolean(cx, v, &field("reverse"))
    });
    let delay = f.optional(cx, "delay", Duration::ZERO, |cx, _, v| {
        duration_max(cx, v, &field("delay"), PROCESS_DELAY_MAX)
    });
    let fork_delay = f.optional(cx, "fork_delay", delay, |cx, _, v| {
        duration_max(cx, v, &field("fork_delay"), PROCESS_DELAY_MAX).map(Some)
    });
    let terminate_delay = f.optional(cx, "terminate_delay", delay, |cx, _, v| {
        duration_max(cx, v, &field("terminate_delay"), PROCESS_DELAY_MAX).map(Some)
    });

    let errors_after = cx.diags.iter().filter(|d| !d.warning).count();
    if errors_after != errors_before {
        return None;
    }
    let (pname, name_node, args, param_match, full_command) =
        (pname?, name_node?, args?, param_match?, full_command?);
    // keepalived: parameters (or `param_match`) compare the whole command line.
    let params = match (args.is_empty(), param_match) {
        (true, None) => None,
        (false, None) => Some((args, ParamMatch::Exact)),
        (_, Some(how)) => Some((args, how)),
    };
    let matcher = ProcessMatch {
        full_command: full_command || params.is_some(),
        name: pname,
        params,
    };
    if !matcher.needs_cmdline() {
        if matcher.name.len() > COMM_MAX {
            let first: String = matcher.name.chars().take(COMM_MAX).collect();
            cx.err(
                name_node,
                format!(
                    "{}: `{}` is {} bytes but the kernel keeps only the first {COMM_MAX} of a process name (comm), so it would never match: use `{first}`, or `full_command: true` to compare argv[0]",
                    field("name"),
                    matcher.name,
                    matcher.name.len()
                ),
            );
            return None;
        }
        if matcher.name.contains('/') {
            let base = matcher.name.rsplit('/').next().unwrap_or_default();
            cx.warn(
                name_node,
                format!(
                    "{}: `{}` contains `/`, but a process name (comm) is the program's file name only: use `{base}`, or `full_command: true` to compare argv[0]",
                    field("name"),
                    matcher.name
                ),
            );
        }
    }
    let quorum_max = quorum_max?;
    Some(ProcessConfig {
        matcher,
        quorum: if quorum_max == 0 { 0 } else { quorum? },
        quorum_max,
        weight: weight?,
        fork_delay: fork_delay??,
        terminate_delay: terminate_delay??,
        reverse: reverse?,
    })
}

pub(super) fn track_processes(
    cx: &mut Ctx,
    v: &Node,
    what: &str,
    processes: &ProcessIndex,
) -> Option<Vec<TrackProcess>> {
    let items = list(cx, v, what);
    let mut ok = matches!(v.kind, Kind::Seq(_));
    let mut out: Vec<TrackProcess> = Vec::new();
    for item in items {
        let Some(Entry {
            node: name_node,
            name,
            weight,
            reverse,
        }) = name_and_weight(cx, item, TRACK_KEYS, what, string)
        else {
            ok = false;
            continue;
        };
        let Some(defaults) = processes.names.get(&name) else {
            let known = if processes.names.is_empty() {
                "no processes are defined under the top-level `processes:`".to_owned()
            } else {
                format!(
                    "defined processes: {}",
                    expected_list(
                        &processes
                            .names
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                    )
                )
            };
            cx.err(
                name_node,
                format!("{what}: unknown process `{name}`; {known}"),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|o| o.name == name) {
            cx.err(name_node, format!("{what}: `{name}` is listed twice"));
            ok = false;
            continue;
        }
        match *defaults {
            Some((w, r)) => out.push(TrackProcess {
                name,
                weight: weight.unwrap_or(w),
                reverse: reverse.unwrap_or(r),
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

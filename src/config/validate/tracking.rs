//! `track_interfaces`, `track_scripts`, `track_files` and the check of their weights against
//! the priority.

use std::path::PathBuf;

use super::super::model::{TrackFile, TrackInterface, TrackScript};
use super::super::node::{Kind, Node};
use super::common::{Ctx, expected_list, fields, int_in, list, string};
use super::instance::interface_name;
use super::scripts::ScriptIndex;

const TRACK_FILE_KEYS: &[&str] = &["path", "weight"];

const TRACK_KEYS: &[&str] = &["name", "weight"];

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
    let weight = f.optional(cx, "weight", None, |cx, _, w| {
        int_in(cx, w, &format!("{what}: weight"), -253, 253)
            .and_then(|n| i32::try_from(n).ok())
            .map(Some)
    });
    Some((nn, name?, weight?))
}

pub(super) fn tracks(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackInterface>> {
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
pub(super) fn weight_check(
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

pub(super) fn track_files(cx: &mut Ctx, v: &Node, what: &str) -> Option<Vec<TrackFile>> {
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
                let weight = f.optional(cx, "weight", 1, |cx, _, w| {
                    int_in(cx, w, &format!("{what}: weight"), -254, 254)
                        .and_then(|n| i32::try_from(n).ok())
                });
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

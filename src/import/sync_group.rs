//! `vrrp_sync_group` blocks -> `sync_groups:` (a child module of `translate`, so it shares
//! its context and helpers). keepalived 2.2.7's rules at load time are kept: a member that is
//! not a translated instance is left out (keepalived ignores unknown names), an instance in a
//! second group is left out of it, and a group left with fewer than two members is not
//! written (keepalived removes it); each is a note.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Cx, Stmt, command_argv, hook_run_as, indent, sanitize, to_yaml};
use crate::config::{Notify, SyncGroupConfig};

/// The `sync_groups:` section for `groups` (the top-level `vrrp_sync_group` statements, in
/// file order), given the translated instances as (keepalived name, vipd name). Empty when
/// no group is written.
pub(super) fn sync_groups(cx: &mut Cx, groups: &[Stmt], instances: &[(String, String)]) -> String {
    let by_ka: BTreeMap<&str, &str> = instances
        .iter()
        .map(|(k, y)| (k.as_str(), y.as_str()))
        .collect();
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let mut used: Vec<String> = Vec::new();
    let mut out = String::new();
    for st in groups {
        let Some(name) = st.args.first() else {
            cx.skip(st, "vrrp_sync_group", "needs a name");
            continue;
        };
        let kwname = format!("vrrp_sync_group {}", name.text);
        let mut yname = sanitize(&name.text);
        while used.contains(&yname) {
            yname.push('_');
        }
        let mut members: Vec<String> = Vec::new();
        let mut notify = Notify::default();
        let mut tracking_weight = false;
        let mut comments = Vec::new();
        if yname != name.text {
            comments.push(format!("keepalived name: {}", name.text));
        }
        for b in st.block.iter().flatten() {
            let kw = b.keyword.text.as_str();
            match kw {
                "group" => {
                    for m in b.block.iter().flatten() {
                        // Names may also follow each other on one line.
                        for w in std::iter::once(&m.keyword).chain(&m.args) {
                            let Some(y) = by_ka.get(w.text.as_str()) else {
                                cx.note(
                                    m,
                                    &format!("{kwname} {}", w.text),
                                    "no translated vrrp_instance has this name: left out of the group (keepalived ignores unknown members too)",
                                );
                                continue;
                            };
                            if let Some(other) = claimed.get(*y) {
                                cx.note(
                                    m,
                                    &format!("{kwname} {}", w.text),
                                    format!(
                                        "already in vrrp_sync_group {other}: left out (keepalived keeps an instance in its first group)"
                                    ),
                                );
                                continue;
                            }
                            if !members.iter().any(|x| x == y) {
                                members.push((*y).to_owned());
                            }
                        }
                    }
                }
                "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                    let (cmd, rest) = b.args.split_at(b.args.len().min(1));
                    if let Some(argv) = command_argv(cx, b, cmd) {
                        let (slot, key) = match kw {
                            "notify_master" => (&mut notify.master, "master"),
                            "notify_backup" => (&mut notify.backup, "backup"),
                            "notify_fault" => (&mut notify.fault, "fault"),
                            "notify_stop" => (&mut notify.stop, "stop"),
                            _ => (&mut notify.any, "any"),
                        };
                        *slot = Some(argv);
                        match hook_run_as(cx, b, kw, rest) {
                            Some(r) => notify.run_as.insert(key.to_owned(), r),
                            None => notify.run_as.remove(key),
                        };
                    }
                }
                "sync_group_tracking_weight" => tracking_weight = true,
                "global_tracking" => {
                    tracking_weight = true;
                    cx.note(
                        b,
                        kw,
                        "deprecated in keepalived; translated as `tracking_weight: true` (the members keep their tracking weights)",
                    );
                }
                "smtp_alert" => cx.note(
                    b,
                    kw,
                    "ignored: vipd sends no e-mail; alert on vrrp_sync_group_state (docs/runbook.md) or mail from the group's notify hooks",
                ),
                "track_interface" | "track_script" | "track_file" | "track_process"
                | "track_bfd" => cx.skip(
                    b,
                    kw,
                    "vipd tracks per instance: give every member of the group this tracking (weight 0, so a failure is a Fault of the whole group)",
                ),
                _ => cx.unknown(b, "vrrp_sync_group"),
            }
        }
        if members.len() < 2 {
            cx.note(
                st,
                &kwname,
                format!(
                    "has {} translated member(s): keepalived removes a group of fewer than two, so it is not written",
                    members.len()
                ),
            );
            continue;
        }
        for m in &members {
            claimed.insert(m.clone(), name.text.clone());
        }
        used.push(yname.clone());
        let g = SyncGroupConfig {
            name: yname.clone(),
            instances: members,
            notify,
            tracking_weight,
        };
        let _ = writeln!(out, "  {yname}:  # vrrp_sync_group ({})", cx.at(st));
        for c in &comments {
            let _ = writeln!(out, "    # {c}");
        }
        out.push_str(&indent(&to_yaml(&g), 4));
    }
    if out.is_empty() {
        return out;
    }
    format!("\nsync_groups:\n{out}")
}

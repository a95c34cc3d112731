//! The top-level `sync_groups` section (keepalived's `vrrp_sync_group`): instances that change
//! state together. Checked against the instances: every member exists and is in one group only.
//! Without `tracking_weight` the members' tracking weights are set to 0 (a failure is a Fault
//! of the whole group), as keepalived 2.2.7 does, with a warning for each weight dropped.

use std::collections::{BTreeMap, BTreeSet};

use super::super::model::{InstanceConfig, Notify, SyncGroupConfig};
use super::super::node::{Kind, Node};
use super::common::{Ctx, boolean, fields, list, string};
use super::scripts::notify;

const GROUP_KEYS: &[&str] = &["instances", "notify", "tracking_weight"];

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The names written under `instances:` (also when some instance is invalid, so a broken
/// instance does not also make its group's reference "unknown").
pub(super) fn instance_names(instances: Option<&Node>) -> BTreeSet<String> {
    match instances.map(|v| &v.kind) {
        Some(Kind::Map(entries)) => entries.iter().filter_map(|(k, _)| k.as_text()).collect(),
        _ => BTreeSet::new(),
    }
}

/// `sync_groups:`. None when something is wrong (every problem reported).
pub(super) fn sync_groups(
    cx: &mut Ctx,
    v: &Node,
    known: &BTreeSet<String>,
) -> Option<BTreeMap<String, SyncGroupConfig>> {
    let Kind::Map(entries) = &v.kind else {
        cx.err(
            v,
            format!(
                "sync_groups: expected a mapping of name -> sync group, found {}",
                v.describe()
            ),
        );
        return None;
    };
    let mut ok = true;
    let mut out = BTreeMap::new();
    // Instance -> the group that claimed it first.
    let mut member_of: BTreeMap<String, String> = BTreeMap::new();
    for (k, body) in entries {
        let name = match k.as_text() {
            Some(n) if valid_name(&n) => n,
            Some(n) => {
                cx.err(
                    k,
                    format!(
                        "sync group name `{n}` must be non-empty and use only A-Z a-z 0-9 _ . -"
                    ),
                );
                ok = false;
                continue;
            }
            None => {
                cx.err(
                    k,
                    format!("sync group name: expected a string, found {}", k.describe()),
                );
                ok = false;
                continue;
            }
        };
        match group(cx, &name, k, body, known, &mut member_of) {
            Some(g) => {
                out.insert(name, g);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn group(
    cx: &mut Ctx,
    name: &str,
    key: &Node,
    body: &Node,
    known: &BTreeSet<String>,
    member_of: &mut BTreeMap<String, String>,
) -> Option<SyncGroupConfig> {
    let what = format!("sync group `{name}`");
    let f = fields(cx, body, key, GROUP_KEYS, &what)?;
    let mut ok = true;
    let mut members = Vec::new();
    if let Some(lv) = f.required(cx, "instances") {
        let items = list(cx, lv, &format!("{what}: instances"));
        if matches!(lv.kind, Kind::Seq(_)) && items.is_empty() {
            cx.err(lv, format!("{what}: instances: name at least one instance"));
            ok = false;
        }
        for item in items {
            let Some(m) = string(cx, item, &format!("{what}: instances")) else {
                ok = false;
                continue;
            };
            if members.contains(&m) {
                cx.err(item, format!("{what}: instance `{m}` is listed twice"));
                ok = false;
            } else if !known.contains(&m) {
                let list: Vec<&str> = known.iter().map(String::as_str).collect();
                cx.err(
                    item,
                    format!(
                        "{what}: no instance named `{m}` (configured: {})",
                        list.join(", ")
                    ),
                );
                ok = false;
            } else if let Some(other) = member_of.get(&m) {
                cx.err(
                    item,
                    format!(
                        "{what}: instance `{m}` is already in sync group `{other}` (an instance belongs to one group at most)"
                    ),
                );
                ok = false;
            } else {
                member_of.insert(m.clone(), name.to_owned());
            }
            members.push(m);
        }
        if ok && members.len() == 1 {
            cx.warn(
                lv,
                format!(
                    "{what} has only one instance: keepalived 2.2.7 removes such a group, and vipd ignores it too (its notify hooks never run)"
                ),
            );
        }
    } else {
        ok = false;
    }
    let hooks = f.optional(cx, "notify", Notify::default(), |cx, nk, nv| {
        notify(cx, nk, nv, &format!("{what}: notify"))
    });
    let tracking_weight = f.optional(cx, "tracking_weight", false, |cx, _, v| {
        boolean(cx, v, &format!("{what}: tracking_weight"))
    });
    let (Some(notify), Some(tracking_weight)) = (hooks, tracking_weight) else {
        return None;
    };
    ok.then(|| SyncGroupConfig {
        name: name.to_owned(),
        instances: members,
        notify,
        tracking_weight,
    })
}

/// keepalived 2.2.7: in a sync group (of two or more) without `sync_group_tracking_weight`,
/// the members' tracking weights are set to 0, so that every member has the same priority
/// picture and a failure puts the whole group in Fault. Warns once per weight dropped, at the
/// group (the instances' nodes are not kept).
pub(super) fn zero_member_weights(
    cx: &mut Ctx,
    v: &Node,
    groups: &BTreeMap<String, SyncGroupConfig>,
    instances: &mut BTreeMap<String, InstanceConfig>,
) {
    let Kind::Map(entries) = &v.kind else { return };
    for (k, _) in entries {
        let Some(g) = k.as_text().and_then(|n| groups.get(&n)) else {
            continue;
        };
        if g.tracking_weight || g.instances.len() < 2 {
            continue;
        }
        for m in &g.instances {
            let Some(inst) = instances.get_mut(m) else {
                continue;
            };
            let mut dropped = Vec::new();
            for t in &mut inst.track_interfaces {
                if let Some(w) = t.weight.take() {
                    // keepalived keeps `reverse` with the weight 0: a Fault while it is up.
                    let rev = if t.reverse {
                        ", reversed: Fault while up"
                    } else {
                        ""
                    };
                    dropped.push(format!("track_interfaces `{}` (weight {w}{rev})", t.name));
                }
            }
            // A reversed weighted script, process or file is left out, as keepalived 2.2.7
            // leaves out every weighted one ("ignoring tracked script ... due to SYNC
            // group"): weight 0 reversed would mean a Fault while it succeeds.
            let mut left_out = Vec::new();
            inst.track_scripts.retain(|t| {
                let keep = !(t.reverse && t.weight != 0);
                if !keep {
                    left_out.push(format!("track_scripts `{}`", t.name));
                }
                keep
            });
            inst.track_processes.retain(|t| {
                let keep = !(t.reverse && t.weight != 0);
                if !keep {
                    left_out.push(format!("track_processes `{}`", t.name));
                }
                keep
            });
            inst.track_files.retain(|t| {
                let keep = !(t.reverse && t.weight != 0);
                if !keep {
                    left_out.push(format!("track_files `{}`", t.path.display()));
                }
                keep
            });
            if !left_out.is_empty() {
                cx.warn(
                    k,
                    format!(
                        "sync group `{}`: instance `{m}`: weighted `reverse` tracking ignored in a sync group, as keepalived 2.2.7 ignores weighted tracking there (set `tracking_weight: true` to keep it): {}",
                        g.name,
                        left_out.join(", ")
                    ),
                );
            }
            for t in &mut inst.track_scripts {
                if t.weight != 0 {
                    dropped.push(format!("track_scripts `{}` (weight {})", t.name, t.weight));
                    t.weight = 0;
                }
            }
            for t in &mut inst.track_processes {
                if t.weight != 0 {
                    dropped.push(format!(
                        "track_processes `{}` (weight {})",
                        t.name, t.weight
                    ));
                    t.weight = 0;
                }
            }
            for t in &mut inst.track_files {
                if t.weight != 0 {
                    dropped.push(format!(
                        "track_files `{}` (weight {})",
                        t.path.display(),
                        t.weight
                    ));
                    t.weight = 0;
                }
            }
            if !dropped.is_empty() {
                cx.warn(
                    k,
                    format!(
                        "sync group `{}`: instance `{m}`: weights ignored in a sync group, a failure is a Fault of the group (keepalived 2.2.7 does the same; set `tracking_weight: true` to keep them): {}",
                        g.name,
                        dropped.join(", ")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Diagnostic, parse_str};

    const TWO: &str = "instances:
  OUT:
    interface: eth0
    vrid: 1
    virtual_ipaddress: [10.99.1.1/24]
  IN:
    interface: eth1
    vrid: 2
    virtual_ipaddress: [10.99.2.1/24]
    track_interfaces: [{name: eth2, weight: -20}]
";

    fn diags(groups: &str) -> Vec<Diagnostic> {
        match parse_str(&format!("{TWO}sync_groups:\n{groups}"), "t.yaml") {
            Ok(l) => l.warnings,
            Err(d) => d,
        }
    }

    fn has(d: &[Diagnostic], line: usize, column: usize, warning: bool, text: &str) {
        assert!(
            d.iter().any(|x| x.line == line
                && x.column == column
                && x.warning == warning
                && x.message.contains(text)),
            "no {line}:{column} `{text}` in {d:#?}"
        );
    }

    #[test]
    fn a_valid_group_reads_back_with_its_hooks_and_zeroed_weights() {
        let yaml = format!(
            "{TWO}sync_groups:\n  GW:\n    instances: [OUT, IN]\n    notify: {{master: [/bin/m, x], any: [/bin/a]}}\n"
        );
        let l = parse_str(&yaml, "t.yaml").unwrap();
        let g = &l.config.sync_groups["GW"];
        assert_eq!(g.instances, ["OUT", "IN"]);
        assert_eq!(
            g.notify.master.as_deref(),
            Some(&["/bin/m".into(), "x".into()][..])
        );
        assert!(!g.tracking_weight);
        // keepalived sets member weights to 0: the tracked interface now means Fault.
        assert_eq!(l.config.instances["IN"].track_interfaces[0].weight, None);
        has(
            &l.warnings,
            12,
            3,
            true,
            "instance `IN`: weights ignored in a sync group",
        );
        // The model prints back to the same configuration.
        let again = parse_str(&crate::config::to_yaml(&l.config), "t.yaml").unwrap();
        assert_eq!(again.config, l.config);
    }

    #[test]
    fn tracking_weight_keeps_the_weights() {
        let yaml = format!(
            "{TWO}sync_groups:\n  GW:\n    instances: [OUT, IN]\n    tracking_weight: true\n"
        );
        let l = parse_str(&yaml, "t.yaml").unwrap();
        assert_eq!(
            l.config.instances["IN"].track_interfaces[0].weight,
            Some(-20)
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let again = parse_str(&crate::config::to_yaml(&l.config), "t.yaml").unwrap();
        assert_eq!(again.config, l.config);
    }

    #[test]
    fn errors_have_their_line_and_column() {
        let d = diags("  GW:\n    instances: [OUT, NOPE]\n");
        has(
            &d,
            13,
            22,
            false,
            "sync group `GW`: no instance named `NOPE` (configured: IN, OUT)",
        );
        let d = diags("  A:\n    instances: [OUT, IN]\n  B:\n    instances: [IN, OUT]\n");
        has(
            &d,
            15,
            17,
            false,
            "instance `IN` is already in sync group `A`",
        );
        has(
            &d,
            15,
            21,
            false,
            "instance `OUT` is already in sync group `A`",
        );
        let d = diags("  GW:\n    instances: [OUT, OUT]\n");
        has(&d, 13, 22, false, "`OUT` is listed twice");
        let d = diags("  GW:\n    instances: []\n");
        has(&d, 13, 16, false, "name at least one instance");
        let d = diags("  GW:\n    notify: {master: [/bin/m]}\n");
        has(
            &d,
            12,
            3,
            false,
            "sync group `GW`: missing required key `instances`",
        );
        let d = diags("  GW:\n    instances: [OUT, IN]\n    notfy: {}\n");
        has(&d, 14, 5, false, "unknown key `notfy` in sync group `GW`");
        let d = diags("  GW:\n    instances: [OUT, IN]\n    notify: {master: /bin/m}\n");
        has(&d, 14, 22, false, "expected a list (argv");
        let d = diags("  \"G W\":\n    instances: [OUT, IN]\n");
        has(&d, 12, 3, false, "sync group name `G W` must be non-empty");
        let d = diags("  - GW\n");
        has(
            &d,
            12,
            3,
            false,
            "sync_groups: expected a mapping of name -> sync group",
        );
    }

    #[test]
    fn a_group_of_one_is_a_warning_as_keepalived_removes_it() {
        let d = diags("  GW:\n    instances: [OUT]\n");
        has(
            &d,
            13,
            16,
            true,
            "has only one instance: keepalived 2.2.7 removes such a group",
        );
        assert!(d.iter().all(|x| x.warning), "{d:?}");
    }

    /// keepalived 2.2.7 in a sync group without tracking weight: a reversed tracked interface
    /// keeps `reverse` with weight 0 (a Fault while up); a weighted reversed script, process
    /// or file is ignored (weight 0 reversed would be a Fault while it succeeds).
    #[test]
    fn reversed_tracking_in_a_group() {
        let yaml = "scripts:
  up: { command: [\"true\"], weight: 20, reverse: true }
  vital: { command: [\"true\"] }
instances:
  OUT:
    interface: eth0
    vrid: 1
    virtual_ipaddress: [10.99.1.1/24]
  IN:
    interface: eth1
    vrid: 2
    virtual_ipaddress: [10.99.2.1/24]
    track_interfaces: [{name: eth2, weight: -20, reverse: true}]
    track_scripts: [up, {name: vital, reverse: true}]
    track_files: [{path: /run/x, weight: 3, reverse: true}]
sync_groups:
  GW:
    instances: [OUT, IN]
";
        let l = parse_str(yaml, "t.yaml").unwrap();
        let i = &l.config.instances["IN"];
        let t = &i.track_interfaces[0];
        assert_eq!((t.weight, t.reverse), (None, true));
        // `vital` has weight 0 already: kept, reversed.
        let s: Vec<(&str, i32, bool)> = i
            .track_scripts
            .iter()
            .map(|t| (t.name.as_str(), t.weight, t.reverse))
            .collect();
        assert_eq!(s, [("vital", 0, true)]);
        assert!(i.track_files.is_empty());
        assert!(
            l.warnings.iter().any(|w| w
                .message
                .contains("weighted `reverse` tracking ignored in a sync group")
                && w.message.contains("track_scripts `up`")
                && w.message.contains("track_files `/run/x`")),
            "{:#?}",
            l.warnings
        );
        assert!(
            l.warnings
                .iter()
                .any(|w| w.message.contains("weight -20, reversed: Fault while up")),
            "{:#?}",
            l.warnings
        );
    }
}

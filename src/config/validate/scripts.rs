//! The top-level `scripts` section (check scripts) and the programs instances run: `notify`
//! hooks. Both are argv lists run without a shell.

use std::collections::BTreeMap;
use std::time::Duration;

use super::super::lint::{Program, Written};
use super::super::model::{Notify, RunAs, ScriptConfig};
use super::super::node::{Kind, Node};
use super::common::{Ctx, boolean, duration, fields, int_in, string};

const SCRIPT_KEYS: &[&str] = &[
    "command",
    "interval",
    "timeout",
    "weight",
    "rise",
    "fall",
    "user",
    "init_fail",
    "reverse",
];

const NOTIFY_KEYS: &[&str] = &["master", "backup", "fault", "stop", "any"];

/// Named definitions as instances see them (`scripts:`, `processes:`): every name defined
/// (even if invalid, so a broken definition does not also cause "unknown" errors) with its
/// weight and `reverse` (None when it had errors), and the valid ones (None if any had an error).
pub(super) struct Named<T> {
    pub(super) names: BTreeMap<String, Option<(i32, bool)>>,
    pub(super) valid: Option<BTreeMap<String, T>>,
}

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named {
            names: BTreeMap::new(),
            valid: None,
        }
    }
}

impl<T> Named<T> {
    /// No definitions at all (the section is absent): nothing invalid either.
    pub(super) fn empty() -> Self {
        Named {
            names: BTreeMap::new(),
            valid: Some(BTreeMap::new()),
        }
    }
}

/// Scripts as seen by instances.
pub(super) type ScriptIndex = Named<ScriptConfig>;

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A top-level map of `kind` definitions by name (`section:`), each read by `one`.
pub(super) fn named<T>(
    cx: &mut Ctx,
    v: &Node,
    (section, kind): (&str, &str),
    weight: fn(&T) -> (i32, bool),
    mut one: impl FnMut(&mut Ctx, &str, &Node, &Node) -> Option<T>,
) -> Named<T> {
    let mut index = Named::default();
    let Kind::Map(entries) = &v.kind else {
        cx.err(
            v,
            format!(
                "{section}: expected a mapping of name -> {kind}, found {}",
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
                    format!("{kind} name `{n}` must be non-empty and use only A-Z a-z 0-9 _ . -"),
                );
                ok = false;
                continue;
            }
            None => {
                cx.err(
                    k,
                    format!("{kind} name: expected a string, found {}", k.describe()),
                );
                ok = false;
                continue;
            }
        };
        let d = one(cx, &name, k, body);
        index.names.insert(name.clone(), d.as_ref().map(weight));
        match d {
            Some(d) => {
                out.insert(name, d);
            }
            None => ok = false,
        }
    }
    index.valid = ok.then_some(out);
    index
}

pub(super) fn scripts(cx: &mut Ctx, v: &Node) -> ScriptIndex {
    named(
        cx,
        v,
        ("scripts", "script"),
        |s| (s.weight, s.reverse),
        script,
    )
}

fn script(cx: &mut Ctx, name: &str, key: &Node, body: &Node) -> Option<ScriptConfig> {
    let what = format!("script `{name}`");
    let f = fields(cx, body, key, SCRIPT_KEYS, &what)?;
    let field = |k: &str| format!("{what}: {k}");
    let errors_before = cx.diags.iter().filter(|d| !d.warning).count();

    let command_node = f.required(cx, "command");
    let command = command_node.and_then(|v| argv(cx, v, &field("command")));
    let interval = f.optional(cx, "interval", Duration::from_secs(1), |cx, _, v| {
        positive_duration(cx, v, &field("interval"))
    });
    // Absent: the interval (None when that is invalid).
    let timeout = f
        .optional(cx, "timeout", interval, |cx, _, v| {
            positive_duration(cx, v, &field("timeout")).map(Some)
        })
        .flatten();
    let weight = f.optional(cx, "weight", 0, |cx, _, v| {
        int_in(cx, v, &field("weight"), -253, 253).and_then(|n| i32::try_from(n).ok())
    });
    let rise = f.optional(cx, "rise", 1, |cx, _, v| {
        int_in(cx, v, &field("rise"), 1, 1000).and_then(|n| u32::try_from(n).ok())
    });
    let fall = f.optional(cx, "fall", 1, |cx, _, v| {
        int_in(cx, v, &field("fall"), 1, 1000).and_then(|n| u32::try_from(n).ok())
    });
    let user_node = f.value("user");
    let user = f.optional(cx, "user", None, |cx, _, v| {
        match string(cx, v, &field("user")) {
            Some(u) if u.trim().is_empty() => {
                cx.err(v, format!("{}: must not be empty", field("user")));
                None
            }
            other => other.map(Some),
        }
    });
    let init_fail = f.optional(cx, "init_fail", false, |cx, _, v| {
        boolean(cx, v, &field("init_fail"))
    });
    let reverse = f.optional(cx, "reverse", false, |cx, _, v| {
        boolean(cx, v, &field("reverse"))
    });

    // Whether the program and the user exist on this host is for the lint pass.
    let program = command
        .as_ref()
        .zip(command_node)
        .map(|(cmd, cn)| written(first_item(cn), &cmd[0]));
    let run_as = match (&user, user_node) {
        (Some(Some(u)), Some(un)) => Some((field("user"), written(un, u))),
        _ => None,
    };
    if program.is_some() || run_as.is_some() {
        cx.programs.push(Program {
            what: field("command"),
            program,
            user: run_as,
        });
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
        reverse: reverse?,
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

/// `value`, written at `node`, for the lint pass.
fn written(node: &Node, value: &str) -> Written<String> {
    Written {
        value: value.to_owned(),
        line: node.pos.line,
        column: node.pos.column,
    }
}

const HOOK_KEYS: &[&str] = &["command", "user", "group"];

/// A user or group name: a non-empty string.
fn account(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
    match string(cx, v, what) {
        Some(u) if u.trim().is_empty() => {
            cx.err(v, format!("{what}: must not be empty"));
            None
        }
        other => other,
    }
}

/// One hook: an argv list, or `{command, user, group}` (keepalived's `notify_x "cmd" user
/// [group]`). The user is checked on this host by the lint pass, as a script's `user`.
fn hook(cx: &mut Ctx, node: &Node, w: &str) -> Option<(Vec<String>, Option<RunAs>)> {
    if !matches!(node.kind, Kind::Map(_)) {
        let a = argv(cx, node, w)?;
        cx.programs.push(Program {
            what: w.to_owned(),
            program: Some(written(first_item(node), &a[0])),
            user: None,
        });
        return Some((a, None));
    }
    let f = fields(cx, node, node, HOOK_KEYS, w)?;
    let cn = f.required(cx, "command");
    let a = cn.and_then(|cn| argv(cx, cn, &format!("{w}: command")));
    let un = f.value("user");
    let user = f.optional(cx, "user", None, |cx, _, v| {
        account(cx, v, &format!("{w}: user")).map(Some)
    });
    let group = f.optional(cx, "group", None, |cx, _, v| {
        account(cx, v, &format!("{w}: group")).map(Some)
    });
    let (a, user, group) = (a?, user?, group?);
    if group.is_some() && user.is_none() {
        cx.err(
            node,
            format!("{w}: `group` needs `user` (as keepalived's `notify_x CMD user [group]`)"),
        );
        return None;
    }
    cx.programs.push(Program {
        what: w.to_owned(),
        program: cn.map(|cn| written(first_item(cn), &a[0])),
        user: user
            .as_ref()
            .zip(un)
            .map(|(u, un)| (format!("{w}: user"), written(un, u))),
    });
    Some((a, user.map(|user| RunAs { user, group })))
}

pub(super) fn notify(cx: &mut Ctx, key: &Node, v: &Node, what: &str) -> Option<Notify> {
    let f = fields(cx, v, key, NOTIFY_KEYS, what)?;
    let mut ok = true;
    let mut run_as = BTreeMap::new();
    let mut one = |cx: &mut Ctx, k: &str| -> Option<Vec<String>> {
        let w = format!("{what}: {k}");
        let a = f.optional(cx, k, None, |cx, _, node| hook(cx, node, &w).map(Some));
        match a {
            Some(Some((argv, r))) => {
                if let Some(r) = r {
                    run_as.insert(k.to_owned(), r);
                }
                Some(argv)
            }
            Some(None) => None,
            None => {
                ok = false;
                None
            }
        }
    };
    let master = one(cx, "master");
    let backup = one(cx, "backup");
    let fault = one(cx, "fault");
    let stop = one(cx, "stop");
    let any = one(cx, "any");
    let n = Notify {
        master,
        backup,
        fault,
        stop,
        any,
        run_as,
    };
    ok.then_some(n)
}

//! What every part of validation shares: the diagnostics being collected, the keys of a
//! mapping, and the parsers of scalar values.

use std::net::IpAddr;
use std::time::Duration;

use super::super::Diagnostic;
use super::super::duration::{format_duration, parse_duration};
use super::super::lint::Program;
use super::super::node::{Kind, Node, Pos};

pub(super) struct Ctx<'p> {
    pub(super) path: &'p str,
    pub(super) diags: Vec<Diagnostic>,
    /// The programs the configuration runs, for the lint pass.
    pub(super) programs: Vec<Program>,
}

impl Ctx<'_> {
    pub(super) fn push(&mut self, pos: Pos, message: String, warning: bool) {
        self.diags.push(Diagnostic {
            path: self.path.to_owned(),
            line: pos.line,
            column: pos.column,
            message,
            warning,
        });
    }
    pub(super) fn err(&mut self, node: &Node, message: impl Into<String>) {
        self.push(node.pos, message.into(), false);
    }
    pub(super) fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.push(node.pos, message.into(), true);
    }
}

/// The entries of a mapping whose keys were all known; `owner` is the node to blame
/// for a missing key (the key that introduced this mapping, or the root).
pub(super) struct Fields<'a> {
    entries: Vec<(&'a str, &'a Node, &'a Node)>,
    owner: &'a Node,
    what: String,
}

impl<'a> Fields<'a> {
    /// Key and value for `name`; an explicit null counts as absent.
    pub(super) fn get(&self, name: &str) -> Option<(&'a Node, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _, v)| *k == name && v.kind != Kind::Null)
            .map(|(_, k, v)| (*k, *v))
    }
    pub(super) fn value(&self, name: &str) -> Option<&'a Node> {
        self.get(name).map(|(_, v)| v)
    }
    /// An optional key: `default` when it is absent (or null), else what `parse` makes of its
    /// key and value; None when `parse` reported what is wrong. Every optional key goes through
    /// here.
    pub(super) fn optional<T>(
        &self,
        cx: &mut Ctx,
        name: &str,
        default: T,
        parse: impl FnOnce(&mut Ctx, &'a Node, &'a Node) -> Option<T>,
    ) -> Option<T> {
        match self.get(name) {
            None => Some(default),
            Some((k, v)) => parse(cx, k, v),
        }
    }
    pub(super) fn required(&self, cx: &mut Ctx, name: &str) -> Option<&'a Node> {
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

pub(super) fn expected_list(allowed: &[&str]) -> String {
    allowed
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check `node` is a mapping with only `allowed` string keys.
pub(super) fn fields<'a>(
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

pub(super) fn string(cx: &mut Ctx, v: &Node, what: &str) -> Option<String> {
    let s = v.as_text();
    if s.is_none() {
        cx.err(
            v,
            format!("{what}: expected a string, found {}", v.describe()),
        );
    }
    s
}

pub(super) fn int_in(cx: &mut Ctx, v: &Node, what: &str, lo: i128, hi: i128) -> Option<i128> {
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

pub(super) fn boolean(cx: &mut Ctx, v: &Node, what: &str) -> Option<bool> {
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

pub(super) fn duration(cx: &mut Ctx, v: &Node, what: &str) -> Option<Duration> {
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

pub(super) fn duration_max(cx: &mut Ctx, v: &Node, what: &str, max: Duration) -> Option<Duration> {
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

pub(super) fn ip(cx: &mut Ctx, v: &Node, what: &str) -> Option<IpAddr> {
    let s = string(cx, v, what)?;
    match s.trim().parse::<IpAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            cx.err(v, format!("{what}: `{s}` is not an IP address"));
            None
        }
    }
}

pub(super) fn list<'a>(cx: &mut Ctx, v: &'a Node, what: &str) -> &'a [Node] {
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

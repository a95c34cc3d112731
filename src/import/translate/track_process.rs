//! `vrrp_track_process NAME { ... }` -> `processes.NAME`, keepalived 2.2.7's keywords and
//! their rules (vrrp_parser.c): `process PATH [PARAM...]` (parameters imply `full_command`
//! and exact matching), `param_match [initial|partial]`, `weight N [reverse]` (the first
//! non-zero one counts), `quorum`, `quorum_max` (0 means "must not run"), `delay`,
//! `terminate_delay`, `fork_delay`, `full_command`.

use std::time::Duration;

use super::{Cx, Stmt, int, resplit, sanitize, secs};
use crate::config::ProcessConfig;
use crate::track::procs::COMM_MAX;
use crate::track::{ParamMatch, ProcessMatch};

/// A translated `vrrp_track_process` block.
pub(super) struct TrackProc {
    pub yaml_name: String,
    pub st: Stmt,
    pub cfg: ProcessConfig,
    pub comments: Vec<String>,
    /// `weight N reverse`: the default of the instances' `track_process` items.
    pub reverse: bool,
}

const ARITY: &[(&str, usize)] = &[
    ("process", usize::MAX),
    ("param_match", usize::MAX),
    ("weight", usize::MAX),
    ("quorum", 1),
    ("quorum_max", 1),
    ("delay", 1),
    ("terminate_delay", 1),
    ("fork_delay", 1),
    ("full_command", 0),
];

/// One `vrrp_track_process` block; None (with a finding) when keepalived would drop it.
/// `taken`: YAML names already used in `processes:` (by process-only check scripts).
pub(super) fn vrrp_track_process(cx: &mut Cx, st: &Stmt, taken: &[String]) -> Option<TrackProc> {
    let Some(name) = st.args.first() else {
        cx.skip(st, "vrrp_track_process", "needs a name");
        return None;
    };
    let kwname = format!("vrrp_track_process {}", name.text);
    let mut yaml_name = sanitize(&name.text);
    let mut comments = Vec::new();
    while taken.contains(&yaml_name) {
        yaml_name.push_str("_process");
    }
    if yaml_name != name.text {
        comments.push(format!("keepalived name: {}", name.text));
    }
    let mut path: Option<(String, Vec<String>)> = None;
    let mut param_match: Option<ParamMatch> = None;
    let mut full_command = false;
    let mut weight = 0i64;
    let mut reverse = false;
    let mut quorum: u32 = 1;
    let mut quorum_max: u32 = u32::MAX;
    let mut fork_delay = Duration::ZERO;
    let mut terminate_delay = Duration::ZERO;
    for b in resplit(cx, st.block.as_deref().unwrap_or_default(), ARITY) {
        let kw = b.keyword.text.as_str();
        let words: Vec<String> = b.args.iter().map(|w| w.text.clone()).collect();
        let a = words.first().cloned().unwrap_or_default();
        match kw {
            "process" if path.is_some() => cx.note(
                &b,
                kw,
                "keepalived keeps the first `process` line (\"Process already set\"); this one is ignored",
            ),
            "process" => match words.split_first() {
                Some((p, params)) => {
                    if !params.is_empty() {
                        param_match.get_or_insert(ParamMatch::Exact);
                        full_command = true;
                    }
                    path = Some((p.clone(), params.to_vec()));
                }
                None => cx.skip(&b, kw, "needs a process name"),
            },
            "param_match" => match a.as_str() {
                "" => param_match = Some(ParamMatch::Exact),
                "initial" => param_match = Some(ParamMatch::Initial),
                "partial" => param_match = Some(ParamMatch::Partial),
                _ => {
                    cx.skip(&b, kw, format!("`{a}` is not initial or partial (keepalived ignores it)"));
                    continue;
                }
            },
            "full_command" => full_command = true,
            "weight" if weight != 0 => cx.note(
                &b,
                kw,
                "keepalived keeps the first non-zero weight (\"Weight already set\"); this one is ignored",
            ),
            "weight" => match int(&a) {
                Some(w) if (-254..=254).contains(&w) => {
                    match words.get(1).map(String::as_str) {
                        None => {}
                        Some("reverse") => reverse = true,
                        Some(o) => cx.skip(&b, kw, format!("`{o}` is not `reverse` (keepalived ignores it)")),
                    }
                    weight = w;
                    if w.abs() == 254 {
                        weight = w.signum() * 253;
                        cx.note(
                            &b,
                            kw,
                            format!("vipd's weights are -253..253; {w} is written as {weight}"),
                        );
                    }
                }
                _ => cx.skip(&b, kw, format!("`{a}`: keepalived takes -254..254 and ignores this")),
            },
            "quorum" => match int(&a) {
                Some(n) if (1..=65535).contains(&n) && n as u32 <= quorum_max => quorum = n as u32,
                Some(n) if (1..=65535).contains(&n) => cx.skip(
                    &b,
                    kw,
                    "greater than quorum_max: keepalived ignores it (\"Quorum is greater than quorum_max\")",
                ),
                _ => cx.skip(&b, kw, format!("`{a}`: keepalived takes 1..65535 and ignores this")),
            },
            "quorum_max" => match int(&a) {
                Some(n) if (0..=65535).contains(&n) => {
                    let n = n as u32;
                    if (n != 0 || quorum > 1) && n < quorum {
                        cx.skip(
                            &b,
                            kw,
                            "less than quorum: keepalived ignores it (\"quorum_max is less than quorum\")",
                        );
                        continue;
                    }
                    quorum_max = n;
                    if n == 0 {
                        quorum = 0;
                    }
                }
                _ => cx.skip(&b, kw, format!("`{a}`: keepalived takes 0..65535 and ignores this")),
            },
            "delay" | "terminate_delay" | "fork_delay" => match secs(&a) {
                Some((_, us)) if (1..=3_600_000_000).contains(&us) => {
                    let d = Duration::from_micros(us);
                    if kw != "fork_delay" {
                        terminate_delay = d;
                    }
                    if kw != "terminate_delay" {
                        fork_delay = d;
                    }
                }
                _ => cx.skip(
                    &b,
                    kw,
                    format!("`{a}`: keepalived takes 0.000001..3600 seconds and ignores this"),
                ),
            },
            _ => cx.unknown(&b, "vrrp_track_process"),
        }
    }
    let Some((process, params)) = path else {
        cx.skip(
            st,
            &kwname,
            "has no `process`: keepalived drops it (\"process name not specified\"), and so does the import",
        );
        return None;
    };
    if !full_command && (process.len() > COMM_MAX || process.contains('/')) {
        cx.skip(
            st,
            &kwname,
            format!(
                "`{process}` would be compared with the kernel's process name, which holds at most {COMM_MAX} bytes and no `/`, and vipd refuses a name that cannot match it; use the name `ps -o comm= -C ...` shows, or add `full_command` to match the command's first word (argv[0])"
            ),
        );
        return None;
    }
    let cfg = ProcessConfig {
        matcher: ProcessMatch {
            name: process,
            full_command,
            params: param_match.map(|m| (params, m)),
        },
        quorum,
        quorum_max,
        weight: weight as i32,
        fork_delay,
        terminate_delay,
        // The track_processes entries carry the resolved `reverse`.
        reverse: false,
    };
    Some(TrackProc {
        yaml_name,
        st: st.clone(),
        cfg,
        comments,
        reverse,
    })
}

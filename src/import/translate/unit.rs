//! keepalived's process settings (`vrrp_priority`, `vrrp_rt_priority`, `vrrp_no_swap`,
//! `vrrp_cpu_affinity`, `vrrp_rlimit_rttime`, `net_namespace`): keepalived applies them to
//! its own VRRP process; vipd gets the same from its systemd unit (packaging/vipd.service,
//! docs/systemd.md). They are translated into unit lines, written as a commented
//! `[Service]` drop-in at the top of the YAML, each with a note on stderr.

use std::fmt::Write as _;

use super::Cx;
use crate::import::lexer::Stmt;

/// Unit lines for one keepalived keyword.
pub(super) struct UnitLines {
    /// `file:line` of the keyword.
    pub at: String,
    /// The keyword as written (`vrrp_priority -20`).
    pub source: String,
    pub lines: Vec<String>,
}

/// Translates `s` when it is a process setting; false when it is not one.
pub(super) fn process_setting(cx: &mut Cx, s: &Stmt, out: &mut Vec<UnitLines>) -> bool {
    let kw = s.keyword.text.as_str();
    let args: Vec<&str> = s.args.iter().map(|a| a.text.as_str()).collect();
    let a = args.first().copied().unwrap_or("");
    let num = a.parse::<i64>().ok();
    let (lines, why): (Vec<String>, String) = match kw {
        "vrrp_priority" => match num {
            Some(n) if (-20..=19).contains(&n) => (
                vec![format!("Nice={n}")],
                format!("keepalived runs its VRRP process at nice {n}"),
            ),
            _ => {
                cx.skip(s, kw, format!("`{a}` is not a nice value in -20..19"));
                return true;
            }
        },
        "vrrp_rt_priority" => match num {
            Some(n) if (1..=99).contains(&n) => (
                vec![
                    "CPUSchedulingPolicy=rr".to_owned(),
                    format!("CPUSchedulingPriority={n}"),
                ],
                format!(
                    "keepalived runs its VRRP process SCHED_RR at priority {n}; the shipped unit already runs vipd's engine thread SCHED_RR at 10 (its other threads, scripts and hooks reset to normal scheduling)"
                ),
            ),
            _ => {
                cx.skip(s, kw, format!("`{a}` is not a real-time priority in 1..99"));
                return true;
            }
        },
        "vrrp_no_swap" => (
            vec!["MemorySwapMax=0".to_owned()],
            "keepalived locks its VRRP process in memory (mlockall) so that it is never swapped out; vipd does not lock memory itself, and MemorySwapMax=0 (cgroup v2) keeps the service's memory out of swap".to_owned(),
        ),
        "vrrp_cpu_affinity" if !args.is_empty() => (
            vec![format!("CPUAffinity={}", args.join(" "))],
            "keepalived pins its VRRP process to these CPUs".to_owned(),
        ),
        "vrrp_rlimit_rttime" | "vrrp_rlimit_rtime" => match num {
            Some(n) if n > 0 => (
                vec![format!("LimitRTTIME={n}")],
                format!(
                    "keepalived sets RLIMIT_RTTIME of its real-time VRRP process to {n} µs (systemd reads a bare number as µs)"
                ),
            ),
            _ => {
                cx.skip(s, kw, format!("`{a}` is not a number of microseconds"));
                return true;
            }
        },
        "net_namespace" if args.len() == 1 => (
            vec![format!("NetworkNamespacePath=/run/netns/{a}")],
            format!(
                "keepalived runs in the network namespace `{a}` (created with `ip netns add {a}`); systemd starts vipd in it"
            ),
        ),
        _ => return false,
    };
    let source = std::iter::once(kw)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    cx.note(
        s,
        kw,
        format!(
            "translated to the systemd unit: {} in a drop-in (`systemctl edit vipd`; the lines are in the YAML's header, see docs/systemd.md): {why}",
            lines
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    out.push(UnitLines {
        at: cx.at(s),
        source,
        lines,
    });
    true
}

/// The commented drop-in for the YAML header; empty when there is nothing to put in it.
pub(super) fn drop_in(all: &[UnitLines]) -> String {
    if all.is_empty() {
        return String::new();
    }
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Process settings: keepalived applies them to its VRRP process; vipd takes them from"
    );
    let _ = writeln!(
        y,
        "# its systemd unit. Put these lines in a drop-in (`systemctl edit vipd`, docs/systemd.md):"
    );
    let _ = writeln!(y, "#   [Service]");
    for u in all {
        for l in &u.lines {
            let _ = writeln!(y, "#   {l}    # {} ({})", u.source, u.at);
        }
    }
    y
}

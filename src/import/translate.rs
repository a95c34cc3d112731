//! keepalived statement tree -> vipd YAML text, with findings for what does not translate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use crate::config::{
    ChecksumForm, Family, Garp, InstanceConfig, Notify, ProcessConfig, RunAs, ScriptConfig,
    TrackFile as ModelTrackFile, TrackInterface, TrackProcess, TrackScript, TtlRange, Version,
    Vmac, parse_duration, to_yaml,
};

use super::Finding;
use super::lexer::{Source, Stmt, Word, shell_split};

mod track_process;
use track_process::{TrackProc, vrrp_track_process};
#[path = "sync_group.rs"]
mod sync_group;
mod unit;

/// What [`translate`] produced.
pub(crate) struct Output {
    /// None when there is no instance to write (see `empty_reason`).
    pub yaml: Option<String>,
    pub empty_reason: String,
    pub untranslated: Vec<Finding>,
    pub notes: Vec<Finding>,
}

const DOCS: &str = "docs/migrating-from-keepalived.md";

pub(super) struct Cx<'a> {
    files: &'a [String],
    untranslated: Vec<Finding>,
    notes: Vec<Finding>,
}

impl Cx<'_> {
    fn finding(&self, st: &Stmt, keyword: &str, message: String, note: bool) -> Finding {
        Finding {
            path: self.files[st.file].clone(),
            line: st.line,
            keyword: keyword.to_owned(),
            message,
            note,
        }
    }

    /// Records `keyword` at `st` as not translated, with what to do instead.
    pub(super) fn skip(&mut self, st: &Stmt, keyword: &str, advice: impl Into<String>) {
        let f = self.finding(st, keyword, advice.into(), false);
        self.untranslated.push(f);
    }

    pub(super) fn note(&mut self, st: &Stmt, keyword: &str, msg: impl Into<String>) {
        let f = self.finding(st, keyword, msg.into(), true);
        self.notes.push(f);
    }

    /// `file:line` of a statement, for YAML comments.
    fn at(&self, st: &Stmt) -> String {
        let f = &self.files[st.file];
        let short = f.rsplit('/').next().unwrap_or(f);
        format!("{short}:{}", st.line)
    }

    /// An unknown or unsupported keyword inside a block.
    fn unknown(&mut self, st: &Stmt, context: &str) {
        let kw = st.keyword.text.clone();
        let advice = advice_for(&kw).map(str::to_owned).unwrap_or_else(|| {
            format!("vipd has no equivalent for this {context} keyword; remove it or see {DOCS}")
        });
        self.skip(st, &kw, advice);
    }
}

/// What to do instead, for keywords people commonly have.
fn advice_for(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "virtual_server" | "virtual_server_group" | "real_server" => {
            "vipd does VRRP only, no LVS/IPVS; keep the load balancer configured with ipvsadm (or keepalived -C for the checkers) and only move the VRRP part to vipd"
        }
        "notification_email"
        | "notification_email_from"
        | "smtp_server"
        | "smtp_connect_timeout"
        | "smtp_alert"
        | "smtp_helo_name" => {
            "vipd sends no e-mail; alert on vipd's metrics (see alerts/) or send mail from notify hooks"
        }
        "track_bfd" | "bfd_instance" => {
            "vipd has no BFD support; track the path with a check script"
        }
        "lvs_id" | "lvs_sync_daemon" | "lvs_flush" | "lvs_timeouts" => {
            "vipd does no LVS; remove it"
        }
        "dont_track_primary" => {
            "vipd always follows the interface's state (down puts the instance in Fault); there is no switch"
        }
        "notify_master_rx_lower_pri" | "notify_deleted" => {
            "vipd has hooks only for master, backup, fault, stop and any; use notify.any and look at the state argument"
        }
        "garp_master_refresh_repeat" | "vrrp_garp_master_refresh_repeat" => {
            "vipd sends garp.repeat announcements per refresh burst; set garp.repeat"
        }
        _ => return None,
    })
}

/// What of keepalived's strict mode (`vrrp_strict`, `strict_mode`) vipd cannot do; what it
/// can is applied per instance, each with a note at its line.
const STRICT_NOT_TRANSLATED: &str = "partly translated. Applied to each strict instance as keepalived 2.2.7 does: no authentication, no preempt_delay, `state MASTER` only with priority 255, instances without addresses or with unicast peers left out (keepalived refuses them), IPv6 always VRRPv3 (vipd's rule anyway); each is a note at its line. Not translatable: accept mode off (keepalived adds nftables/iptables rules so that a master that is not the address owner drops traffic to the virtual addresses; vipd adds no firewall rules, so add a drop rule from the notify hooks if you rely on it) and `vrrp_lower_prio_no_advert` (vipd's master answers a lower-priority advert at once, as RFC 9568 says). Review, then remove it";

/// `vrrp_check_unicast_src`: vipd has the same switch per instance.
const CHECK_UNICAST_SRC_NOTE: &str = "translated as `check_unicast_src: true` on every instance with unicast peers (vipd, like keepalived 2.2.7, then drops a unicast advert whose source is not one of the instance's `unicast_peers`, counted as vrrp_adverts_dropped_total{reason=\"unicast_src\"}); multicast instances have nothing to check";

/// `vrrp_skip_check_adv_addr` / `skip_check_adv_addr`: vipd's behaviour already includes it.
const SKIP_CHECK_ADV_ADDR_NOTE: &str = "nothing to write: keepalived then skips the address-list check for adverts from the master it already follows (and still drops a new master's advert whose list differs); vipd never drops an advert over its address list (it counts it in vrrp_peer_config_mismatch_total{reason=\"address_list\"} and logs the list once per peer), so it accepts at least what keepalived accepts with this switch";

/// `vrrp_iptables [in [out]]`: names of keepalived's firewall chains.
const IPTABLES_NOTE: &str = "nothing to write: the switch names the iptables chains in which keepalived adds rules that drop traffic to the virtual addresses, which it does only for an instance without accept mode (vrrp_strict or no_accept); vipd's instances always accept that traffic (RFC 9568 Accept_Mode on) and vipd adds no firewall rules, so there is nothing to name (with vrrp_strict, see its own line)";

/// Seconds as keepalived writes them ("1", "0.5") -> a vipd duration ("1s", "500ms").
fn secs(w: &str) -> Option<(String, u64)> {
    let (int, frac) = w.split_once('.').unwrap_or((w, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 6 {
        return None;
    }
    let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f = frac.to_owned();
    while f.len() < 6 {
        f.push('0');
    }
    let us = int.checked_mul(1_000_000)? + f.parse::<u64>().ok()?;
    Some((fmt_us(us), us))
}

fn fmt_us(us: u64) -> String {
    if us.is_multiple_of(1_000_000) {
        format!("{}s", us / 1_000_000)
    } else if us.is_multiple_of(1000) {
        format!("{}ms", us / 1000)
    } else {
        format!("{us}us")
    }
}

/// keepalived 2.2.7's `advert_int`: how it reads the number and what interval it then runs.
///
/// `read_decimal_unsigned_strvec(.., TIMER_HZ / 100, 255 * TIMER_HZ, 6 digits)` keeps six
/// decimal places (rounding up when the seventh digit is 5 or more) and ignores a value
/// outside 0.01..255 s, leaving the default 1 s. `vrrp_complete_instance` then rounds to the
/// nearest second for VRRPv2 (halves up, 0 becomes 1 s) and, for VRRPv3, clamps to 40.95 s
/// or rounds to the nearest 10 ms. Returns the interval in microseconds and what was done
/// (empty when the value is used as written); None when the text is not a decimal number.
fn keepalived_advert_us(text: &str, v3: bool) -> Option<(u64, Vec<String>)> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut what = Vec::new();
    let (kept, round_up) = if frac.len() > 6 {
        what.push(format!(
            "keepalived reads 6 decimal places of `{text}` and rounds at the 7th"
        ));
        (&frac[..6], frac.as_bytes()[6] >= b'5')
    } else {
        (frac, false)
    };
    // Too large for keepalived's unsigned long: out of range, like any value above 255 s.
    let int_us = if int.is_empty() {
        Some(0)
    } else {
        int.parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1_000_000))
    };
    let parsed =
        int_us.map(|n| n + format!("{kept:0<6}").parse::<u64>().unwrap_or(0) + u64::from(round_up));
    let us = match parsed {
        Some(us) if (10_000..=255_000_000).contains(&us) => us,
        _ => {
            what.push(format!(
                "`{text}` is outside keepalived's 0.01..255 s: keepalived 2.2.7 ignores it (\"Advert interval not valid\") and runs its default 1 s; written as 1s"
            ));
            return Some((1_000_000, what));
        }
    };
    let shown = fmt_us(us);
    let out = if !v3 {
        if us.is_multiple_of(1_000_000) {
            us
        } else {
            let r = ((us + 500_000) / 1_000_000 * 1_000_000).max(1_000_000);
            what.push(format!(
                "VRRPv2 carries whole seconds: keepalived 2.2.7 rounds {shown} to the nearest second (halves up, at least 1 s) and runs {}; written as {}",
                fmt_us(r),
                fmt_us(r)
            ));
            r
        }
    } else if us >= 40_960_000 {
        what.push(format!(
            "VRRPv3 carries at most 40.95 s: keepalived 2.2.7 warns that {shown} is out of range and runs 40.95 s; written as 40950ms"
        ));
        40_950_000
    } else if !us.is_multiple_of(10_000) {
        let r = ((us + 5_000) / 10_000 * 10_000).max(10_000);
        if r >= 40_960_000 {
            // keepalived runs 40.96 s and puts 4096 & 0x0FFF = 0 in its adverts.
            what.push(format!(
                "NOT EXACT: keepalived 2.2.7 rounds {shown} up to 40.96 s, runs that, and advertises an interval of 0 (4096 centiseconds do not fit in 12 bits); vipd's maximum is 40.95 s, written as 40950ms. Write advert_int 40.95 in keepalived's configuration too"
            ));
            return Some((40_950_000, what));
        }
        what.push(format!(
            "VRRPv3 carries centiseconds: keepalived 2.2.7 rounds {shown} to the nearest 10 ms (halves up) and runs {}; written as {}",
            fmt_us(r),
            fmt_us(r)
        ));
        r
    } else {
        us
    };
    Some((out, what))
}

/// A YAML double-quoted string (JSON's form is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A name vipd accepts (`[A-Za-z0-9_.-]+`).
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".to_owned() } else { s }
}

/// keepalived reads a fixed number of words after most keywords and ignores the rest of the
/// line (so `authentication { auth_type PASS auth_pass 1111 }` has no password for it). The
/// translation does the same, and lists the ignored words.
fn resplit(cx: &mut Cx, stmts: &[Stmt], arity: &[(&str, usize)]) -> Vec<Stmt> {
    let mut out = Vec::new();
    for st in stmts {
        let mut st = st.clone();
        let n = arity
            .iter()
            .find(|(k, _)| !st.keyword.quoted && *k == st.keyword.text)
            .map(|(_, n)| *n);
        if let Some(n) = n
            && st.args.len() > n
        {
            let extra: Vec<String> = st.args.split_off(n).into_iter().map(|w| w.text).collect();
            cx.skip(
                &st,
                &st.keyword.text,
                format!(
                    "keepalived ignores `{}` after it (one keyword per line); put each keyword on its own line",
                    extra.join(" ")
                ),
            );
        }
        out.push(st);
    }
    out
}

/// One entry of a list block (`virtual_ipaddress`, `unicast_peer`, `track_*`): the head word
/// and its options. Entries may share a line (`{ 10.0.0.1 10.0.0.2 }`).
struct Item {
    st: Stmt,
    head: String,
    opts: Vec<(String, Vec<String>)>,
}

fn items(cx: &mut Cx, owner: &Stmt, opts: &[(&str, usize)]) -> Vec<Item> {
    let mut out = Vec::new();
    let body = owner.block.clone().unwrap_or_default();
    if owner.block.is_none() && !owner.args.is_empty() {
        cx.skip(
            owner,
            &owner.keyword.text,
            "expected a `{ ... }` block; keepalived ignores the words after this keyword",
        );
    }
    for st in &body {
        if st.block.is_some() {
            cx.skip(
                st,
                &st.keyword.text,
                format!("unexpected block inside `{}`", owner.keyword.text),
            );
            continue;
        }
        // One entry per line, as keepalived reads them: what follows the entry's options is
        // ignored by keepalived, and listed here.
        let words = &st.args;
        let mut item = Item {
            st: st.clone(),
            head: st.keyword.text.clone(),
            opts: Vec::new(),
        };
        let mut i = 0;
        while i < words.len() {
            let Some((k, n)) = opts
                .iter()
                .find(|(k, _)| !words[i].quoted && *k == words[i].text)
            else {
                break;
            };
            let args: Vec<String> = words[i + 1..]
                .iter()
                .take(*n)
                .map(|w| w.text.clone())
                .collect();
            i += 1 + args.len();
            item.opts.push(((*k).to_owned(), args));
        }
        if i < words.len() {
            let rest: Vec<&str> = words[i..].iter().map(|w| w.text.as_str()).collect();
            cx.skip(
                st,
                &format!("{} {}", owner.keyword.text, st.keyword.text),
                format!(
                    "keepalived ignores `{}` (one entry per line); put each entry on its own line",
                    rest.join(" ")
                ),
            );
        }
        out.push(item);
    }
    out
}

#[derive(Default)]
struct Globals {
    router_id: Option<(String, Stmt)>,
    script_user: Option<(String, Stmt)>,
    version: Option<u8>,
    garp_delay: Option<String>,
    garp_repeat: Option<u64>,
    garp_refresh: Option<String>,
    /// `vrrp_strict`: keepalived's strict RFC mode, applied to every instance.
    strict: Option<Stmt>,
    /// `vrrp_check_unicast_src`: every unicast instance checks its adverts' source.
    check_unicast_src: Option<Stmt>,
    /// Process settings, for the unit drop-in ([`unit`]).
    unit: Vec<unit::UnitLines>,
    /// `vrrp_garp_interval` / `vrrp_gna_interval` (µs): spacing of ARPs / NAs.
    garp_interval: Option<u64>,
    gna_interval: Option<u64>,
    /// `garp_group` blocks: (interfaces, garp_interval, gna_interval), overriding the above.
    garp_groups: Vec<(Vec<String>, Option<u64>, Option<u64>)>,
}

struct Script {
    yaml_name: String,
    st: Stmt,
    command: Option<Vec<String>>,
    /// What the block sets, in vipd's model ([`ScriptConfig`] once the command is known).
    interval: Option<Duration>,
    timeout: Option<Duration>,
    weight: i32,
    rise: u32,
    fall: u32,
    user: Option<String>,
    init_fail: bool,
    comments: Vec<String>,
    /// `weight N reverse`: the default of the track_script items that use it.
    reverse: bool,
    /// The process name, when the command only tests whether a process runs
    /// (`killall -0 X`, `pidof X`, ...): translated to `processes:` / `track_processes`.
    process: Option<String>,
}

impl Script {
    /// The tracked process this script becomes (see [`process_check`]): keepalived's
    /// rise/fall hysteresis becomes the delays of the same length, the weight is kept.
    fn process_config(&self) -> Option<ProcessConfig> {
        let name = self.process.as_ref()?;
        let interval = self.interval.unwrap_or(Duration::from_secs(1));
        Some(ProcessConfig {
            matcher: crate::track::ProcessMatch::name(name),
            quorum: 1,
            quorum_max: u32::MAX,
            weight: self.weight,
            fork_delay: interval * self.rise.saturating_sub(1),
            terminate_delay: interval * self.fall.saturating_sub(1),
            reverse: false,
        })
    }

    /// The script in vipd's model; None without a usable command. keepalived's timeout
    /// defaults to the interval, as vipd's does.
    fn config(&self) -> Option<ScriptConfig> {
        let interval = self.interval.unwrap_or(Duration::from_secs(1));
        Some(ScriptConfig {
            command: self.command.clone()?,
            interval,
            timeout: self.timeout.unwrap_or(interval),
            weight: self.weight,
            rise: self.rise,
            fall: self.fall,
            user: self.user.clone(),
            init_fail: self.init_fail,
            // The track_scripts entries carry the resolved `reverse` (see `tracking_block`).
            reverse: false,
        })
    }
}

/// `text` with every line indented by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut out = String::new();
    for l in text.lines() {
        let _ = writeln!(out, "{pad}{l}");
    }
    out
}

struct TrackFile {
    path: Option<String>,
    weight: Option<i64>,
    /// `weight N reverse`: the default of the track_file items that use it.
    reverse: bool,
}

fn int(w: &str) -> Option<i64> {
    w.parse().ok()
}

/// A script string (or words) as argv. A command using shell syntax is run by `/bin/sh -c`.
fn command_argv(cx: &mut Cx, st: &Stmt, words: &[Word]) -> Option<Vec<String>> {
    let text = if words.len() == 1 {
        words[0].text.clone()
    } else {
        words
            .iter()
            .map(|w| {
                if w.quoted {
                    format!("\"{}\"", w.text)
                } else {
                    w.text.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let kw = st.keyword.text.clone();
    if text.contains(['|', '&', ';', '<', '>', '$', '`', '(', ')', '*']) {
        cx.note(
            st,
            &kw,
            format!(
                "`{text}` uses shell syntax: translated as [\"/bin/sh\", \"-c\", ...] (keepalived 2.x runs it without a shell, splitting at spaces)"
            ),
        );
        return Some(vec!["/bin/sh".into(), "-c".into(), text]);
    }
    match shell_split(&text) {
        Some(v) if !v.is_empty() => Some(v),
        Some(_) => {
            cx.skip(st, &kw, "the command is empty; give a program");
            None
        }
        None => {
            cx.skip(
                st,
                &kw,
                format!("unbalanced quotes in `{text}`; fix the quoting"),
            );
            None
        }
    }
}

pub(crate) fn translate(src: &Source, top: &[Stmt]) -> Output {
    let mut cx = Cx {
        files: &src.files,
        untranslated: Vec::new(),
        notes: Vec::new(),
    };
    for (file, line, pat) in &src.empty_includes {
        cx.notes.push(Finding {
            path: src.files[*file].clone(),
            line: *line,
            keyword: "include".into(),
            message: format!("`{pat}` matches no file (keepalived ignores it too)"),
            note: true,
        });
    }

    // First pass: global_defs, vrrp_script, vrrp_track_file (instances may precede them).
    let mut g = Globals::default();
    let mut scripts: BTreeMap<String, Script> = BTreeMap::new();
    let mut track_files: BTreeMap<String, (Stmt, TrackFile, usize)> = BTreeMap::new();
    let mut proc_blocks: Vec<&Stmt> = Vec::new();
    for (idx, st) in top.iter().enumerate() {
        match st.keyword.text.as_str() {
            "global_defs" => global_defs(&mut cx, st, &mut g),
            "net_namespace" if !unit::process_setting(&mut cx, st, &mut g.unit) => {
                cx.skip(st, "net_namespace", "needs one name; fix it");
            }
            "net_namespace" => {}
            "vrrp_track_process" => proc_blocks.push(st),
            "garp_group" => garp_group(&mut cx, st, &mut g),
            "vrrp_script" => {
                if let Some(s) = vrrp_script(&mut cx, st, &scripts) {
                    let name = st.args[0].text.clone();
                    scripts.insert(name, s);
                }
            }
            "vrrp_track_file" => {
                let Some(name) = st.args.first() else {
                    cx.skip(st, "vrrp_track_file", "needs a name");
                    continue;
                };
                let tf = vrrp_track_file(&mut cx, st);
                track_files.insert(name.text.clone(), (st.clone(), tf, idx));
            }
            _ => {}
        }
    }
    // Tracked processes share `processes:` with the process-only check scripts.
    let mut taken: Vec<String> = scripts
        .values()
        .filter(|s| s.process.is_some())
        .map(|s| s.yaml_name.clone())
        .collect();
    let mut procs: BTreeMap<String, TrackProc> = BTreeMap::new();
    for st in proc_blocks {
        if let Some(p) = vrrp_track_process(&mut cx, st, &taken) {
            taken.push(p.yaml_name.clone());
            procs.insert(st.args[0].text.clone(), p);
        }
    }
    // Apply script_user to scripts without their own user.
    if let Some((u, _)) = &g.script_user {
        for s in scripts.values_mut() {
            if s.user.is_none() {
                s.user = Some(u.clone());
                s.comments
                    .push("user from global_defs script_user".to_owned());
            }
        }
    }

    let mut instances: Vec<(String, String)> = Vec::new();
    let mut statics = crate::config::Statics::default();
    let mut used_names: Vec<String> = Vec::new();
    let mut any_notify = false;
    // vrrp_sync_group blocks, and (keepalived name, vipd name) of every translated instance.
    let (mut sync_stmts, mut ka_names) = (Vec::new(), Vec::new());
    for (idx, st) in top.iter().enumerate() {
        match st.keyword.text.as_str() {
            "global_defs" | "vrrp_script" | "vrrp_track_file" | "vrrp_track_process"
            | "net_namespace" | "garp_group" => {}
            "vrrp_sync_group" => sync_stmts.push(st.clone()),
            "vrrp_instance" => {
                let defs = Defs {
                    g: &g,
                    scripts: &scripts,
                    track_files: &track_files,
                    procs: &procs,
                    my_idx: idx,
                };
                if let Some((name, text, notify)) =
                    vrrp_instance(&mut cx, st, &defs, &mut used_names)
                {
                    any_notify |= notify;
                    ka_names.push((st.args[0].text.clone(), name.clone()));
                    instances.push((name, text));
                }
            }
            _ if super::routes::statics(&mut cx, st, &mut statics) => {}
            kw => {
                let name = st
                    .args
                    .first()
                    .map(|a| format!("{kw} {}", a.text))
                    .unwrap_or_else(|| kw.to_owned());
                let advice = advice_for(kw).map(str::to_owned).unwrap_or_else(|| {
                    format!("not a keyword vipd knows at the top level; remove it or see {DOCS}")
                });
                cx.skip(st, &name, advice);
            }
        }
    }
    if let Some((u, st)) = g
        .script_user
        .as_ref()
        .filter(|(u, _)| any_notify && u != "root")
    {
        cx.note(
            st,
            "script_user",
            format!(
                "keepalived runs notify scripts as `{u}`; vipd runs notify hooks as its own user (check scripts get `user: {u}`)"
            ),
        );
    }

    // Unreferenced track files are not lost silently.
    for (name, (st, _, _)) in &track_files {
        let used = top.iter().any(|i| {
            i.keyword.text == "vrrp_instance"
                && i.block.iter().flatten().any(|s| {
                    s.keyword.text == "track_file"
                        && s.block.iter().flatten().any(|t| {
                            t.keyword.text == *name || t.args.iter().any(|a| a.text == *name)
                        })
                })
        });
        if !used {
            cx.note(
                st,
                &format!("vrrp_track_file {name}"),
                "not used by any vrrp_instance, so not translated (vipd's track_files live in the instance)",
            );
        }
    }

    let sync_yaml = sync_group::sync_groups(&mut cx, &sync_stmts, &ka_names);
    cx.untranslated
        .sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    if instances.is_empty() {
        let empty_reason = format!(
            "{}: no vrrp_instance could be translated, so there is no vipd configuration to write",
            src.files.first().cloned().unwrap_or_default()
        );
        return Output {
            yaml: None,
            empty_reason,
            untranslated: cx.untranslated,
            notes: cx.notes,
        };
    }

    let mut y = String::new();
    let main = src.files.first().cloned().unwrap_or_default();
    let _ = writeln!(y, "# vipd configuration translated from {main}");
    let _ = writeln!(
        y,
        "# by `vipd import-keepalived`. Check it with `vipd check -c FILE`; see {DOCS}."
    );
    if src.files.len() > 1 {
        let _ = writeln!(y, "# Included files: {}", src.files[1..].join(", "));
    }
    if cx.untranslated.is_empty() {
        let _ = writeln!(y, "# Everything was translated.");
    } else {
        let _ = writeln!(
            y,
            "# NOT TRANSLATED ({} item{}, also listed on stderr):",
            cx.untranslated.len(),
            if cx.untranslated.len() == 1 { "" } else { "s" }
        );
        for f in &cx.untranslated {
            let short = f.path.rsplit('/').next().unwrap_or(&f.path);
            let _ = writeln!(y, "#   {short}:{}: {}: {}", f.line, f.keyword, f.message);
        }
    }
    y.push_str(&unit::drop_in(&g.unit));
    y.push('\n');
    if let Some((id, st)) = &g.router_id {
        let _ = writeln!(y, "# global_defs router_id ({})", cx.at(st));
        let _ = writeln!(y, "router_id: {}", q(id));
    } else {
        let _ = writeln!(
            y,
            "# No router_id in global_defs: vipd uses the hostname, as keepalived does."
        );
    }
    y.push('\n');
    if scripts.values().all(|s| s.process.is_some()) {
        let _ = writeln!(y, "scripts: {{}}");
    } else {
        let _ = writeln!(y, "scripts:");
        for s in scripts.values().filter(|s| s.process.is_none()) {
            let Some(cfg) = s.config() else { continue };
            let _ = writeln!(y, "  {}:  # vrrp_script ({})", s.yaml_name, cx.at(&s.st));
            for c in &s.comments {
                let _ = writeln!(y, "    # {c}");
            }
            y.push_str(&indent(&to_yaml(&cfg), 4));
        }
    }
    if scripts.values().any(|s| s.process.is_some()) || !procs.is_empty() {
        y.push('\n');
        let _ = writeln!(y, "processes:");
        for p in procs.values() {
            let _ = writeln!(
                y,
                "  {}:  # vrrp_track_process ({})",
                p.yaml_name,
                cx.at(&p.st)
            );
            for c in &p.comments {
                let _ = writeln!(y, "    # {c}");
            }
            y.push_str(&indent(&to_yaml(&p.cfg), 4));
        }
        for s in scripts.values() {
            let Some(cfg) = s.process_config() else {
                continue;
            };
            let _ = writeln!(y, "  {}:  # vrrp_script ({})", s.yaml_name, cx.at(&s.st));
            for c in &s.comments {
                let _ = writeln!(y, "    # {c}");
            }
            y.push_str(&indent(&to_yaml(&cfg), 4));
        }
    }
    y.push('\n');
    let _ = writeln!(y, "instances:");
    for (_, text) in &instances {
        y.push_str(text);
    }
    y.push_str(&sync_yaml);
    y.push_str(&super::routes::statics_yaml(&statics));
    Output {
        yaml: Some(y),
        empty_reason: String::new(),
        untranslated: cx.untranslated,
        notes: cx.notes,
    }
}

const GLOBAL_ARITY: &[(&str, usize)] = &[
    ("router_id", 1),
    ("script_user", usize::MAX),
    ("enable_script_security", 0),
    ("vrrp_version", 1),
    ("vrrp_garp_master_delay", 1),
    ("vrrp_garp_master_repeat", 1),
    ("vrrp_garp_master_refresh", 1),
    ("vrrp_strict", 0),
    ("vrrp_check_unicast_src", 0),
    ("vrrp_skip_check_adv_addr", 0),
    ("vrrp_no_swap", 0),
    ("vrrp_priority", 1),
    ("vrrp_rt_priority", 1),
    ("vrrp_rlimit_rttime", 1),
    ("vrrp_rlimit_rtime", 1),
    ("vrrp_iptables", 2),
    ("vrrp_garp_interval", 1),
    ("vrrp_gna_interval", 1),
];

/// Longest announcement spacing vipd takes (`garp.interval`), in µs.
const MAX_GARP_INTERVAL_US: u64 = 10_000_000;

/// keepalived's `vrrp_garp_interval` / `vrrp_gna_interval` / `garp_group`'s `garp_interval`
/// and `gna_interval`: seconds with up to 6 decimals, at least 1 µs.
fn garp_interval(cx: &mut Cx, s: &Stmt, kw: &str) -> Option<u64> {
    let a = s.args.first().map(|w| w.text.clone()).unwrap_or_default();
    match secs(&a) {
        Some((_, us)) if (1..=MAX_GARP_INTERVAL_US).contains(&us) => Some(us),
        Some((_, 0)) => {
            cx.note(
                s,
                kw,
                format!(
                    "nothing to write: keepalived 2.2.7 refuses `{a}` (\"{kw} '{a}' is invalid\") and keeps its default, no spacing, which is vipd's default too"
                ),
            );
            None
        }
        None => {
            cx.skip(
                s,
                kw,
                format!("`{a}` is not a number of seconds; fix the value"),
            );
            None
        }
        Some(_) => {
            cx.skip(s, kw, format!("`{a}`: vipd's garp.interval is at most 10 s (a burst of 5 would take 40 s or more)"));
            None
        }
    }
}

fn global_defs(cx: &mut Cx, st: &Stmt, g: &mut Globals) {
    let body = resplit(cx, st.block.as_deref().unwrap_or_default(), GLOBAL_ARITY);
    for s in &body {
        let kw = s.keyword.text.as_str();
        let arg = s.args.first().map(|a| a.text.clone());
        match (kw, arg) {
            ("router_id", Some(a)) => g.router_id = Some((a, s.clone())),
            ("script_user", Some(a)) => {
                if s.args.len() > 1 {
                    cx.skip(
                        s,
                        "script_user",
                        "the group is not translated: vipd runs scripts with the user's primary group",
                    );
                }
                g.script_user = Some((a, s.clone()));
            }
            ("vrrp_strict", _) => {
                g.strict = Some(s.clone());
                cx.skip(s, kw, STRICT_NOT_TRANSLATED);
            }
            ("vrrp_check_unicast_src", _) => {
                g.check_unicast_src = Some(s.clone());
                cx.note(s, kw, CHECK_UNICAST_SRC_NOTE);
            }
            ("vrrp_skip_check_adv_addr", _) => cx.note(s, kw, SKIP_CHECK_ADV_ADDR_NOTE),
            ("vrrp_iptables", _) => cx.note(s, kw, IPTABLES_NOTE),
            ("vrrp_garp_interval" | "vrrp_gna_interval", Some(_)) => {
                let us = garp_interval(cx, s, kw);
                let v6 = kw == "vrrp_gna_interval";
                if us.is_some() {
                    let (fam, what) = if v6 { ("IPv6", "NAs") } else { ("IPv4", "ARPs") };
                    cx.note(
                        s,
                        kw,
                        format!(
                            "translated as `garp.interval` of every {fam} instance (unless a garp_group names its interface): the least time between two gratuitous {what} on an interface, whichever instance sends them, as keepalived spaces them"
                        ),
                    );
                }
                if v6 {
                    g.gna_interval = us;
                } else {
                    g.garp_interval = us;
                }
            }
            _ if unit::process_setting(cx, s, &mut g.unit) => {}
            ("enable_script_security", _) => cx.note(
                s,
                kw,
                "ignored: vipd always applies keepalived's script security rules to scripts and hooks run as root",
            ),
            ("vrrp_version", Some(a)) => match a.as_str() {
                "2" => g.version = Some(2),
                "3" => g.version = Some(3),
                _ => cx.skip(s, kw, format!("`{a}` is not 2 or 3; fix the value")),
            },
            ("vrrp_garp_master_delay", Some(a)) => match secs(&a) {
                Some((d, _)) => g.garp_delay = Some(d),
                None => cx.skip(s, kw, format!("`{a}` is not a number of seconds")),
            },
            ("vrrp_garp_master_repeat", Some(a)) => match int(&a) {
                Some(n) if (1..=100).contains(&n) => g.garp_repeat = Some(n as u64),
                _ => cx.skip(s, kw, format!("`{a}`: vipd's garp.repeat is 1..100")),
            },
            ("vrrp_garp_master_refresh", Some(a)) => match secs(&a) {
                Some((d, _)) => g.garp_refresh = Some(d),
                None => cx.skip(s, kw, format!("`{a}` is not a number of seconds")),
            },
            (
                "router_id" | "script_user" | "vrrp_version" | "vrrp_garp_master_delay"
                | "vrrp_garp_master_repeat" | "vrrp_garp_master_refresh" | "vrrp_garp_interval"
                | "vrrp_gna_interval",
                None,
            ) => cx.skip(s, kw, "needs a value"),
            _ => cx.unknown(s, "global_defs"),
        }
    }
}

const SCRIPT_ARITY: &[(&str, usize)] = &[
    ("script", usize::MAX),
    ("interval", 1),
    ("timeout", 1),
    ("weight", 2),
    ("rise", 1),
    ("fall", 1),
    ("user", usize::MAX),
    ("init_fail", 0),
];

fn vrrp_script(cx: &mut Cx, st: &Stmt, existing: &BTreeMap<String, Script>) -> Option<Script> {
    let Some(name) = st.args.first() else {
        cx.skip(st, "vrrp_script", "needs a name");
        return None;
    };
    let kwname = format!("vrrp_script {}", name.text);
    let mut yaml_name = sanitize(&name.text);
    while existing.values().any(|s| s.yaml_name == yaml_name) {
        yaml_name.push('_');
    }
    let mut s = Script {
        yaml_name,
        st: st.clone(),
        command: None,
        interval: None,
        timeout: None,
        weight: 0,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
        comments: Vec::new(),
        reverse: false,
        process: None,
    };
    if s.yaml_name != name.text {
        s.comments.push(format!("keepalived name: {}", name.text));
    }
    let body = resplit(cx, st.block.as_deref().unwrap_or_default(), SCRIPT_ARITY);
    for b in &body {
        let kw = b.keyword.text.as_str();
        let a = b.args.first().map(|w| w.text.clone()).unwrap_or_default();
        match kw {
            "script" if !b.args.is_empty() => s.command = command_argv(cx, b, &b.args),
            "interval" | "timeout" => match secs(&a) {
                Some((_, us)) if us > 0 => {
                    let d = Some(Duration::from_micros(us));
                    if kw == "interval" {
                        s.interval = d;
                    } else {
                        s.timeout = d;
                    }
                }
                _ => cx.skip(b, kw, format!("`{a}` is not a positive number of seconds")),
            },
            "weight" => {
                match int(&a) {
                    Some(w) if (-253..=253).contains(&w) => s.weight = w as i32,
                    _ => cx.skip(b, kw, format!("`{a}`: the weight must be -253..253")),
                }
                match b.args.get(1).map(|w| w.text.as_str()) {
                    None => {}
                    Some("reverse") => s.reverse = true,
                    Some(o) => cx.skip(
                        b,
                        "weight",
                        format!("`{o}` is not `reverse` (keepalived ignores it)"),
                    ),
                }
            }
            "rise" | "fall" => match int(&a) {
                Some(n) if (1..=1000).contains(&n) => {
                    if kw == "rise" {
                        s.rise = n as u32;
                    } else {
                        s.fall = n as u32;
                    }
                }
                _ => cx.skip(b, kw, format!("`{a}`: vipd accepts 1..1000")),
            },
            "user" if !b.args.is_empty() => {
                s.user = Some(a.clone());
                if b.args.len() > 1 {
                    cx.skip(
                        b,
                        "user (group)",
                        "vipd runs the script with the user's primary group; make that the group you need",
                    );
                }
            }
            "init_fail" => s.init_fail = true,
            _ => cx.unknown(b, "vrrp_script"),
        }
    }
    let Some(command) = &s.command else {
        cx.skip(
            st,
            &kwname,
            "no usable `script`; the script and the instances' references to it are left out",
        );
        return None;
    };
    if s.user.is_none()
        && let Some(p) = process_check(command)
    {
        cx.note(
            st,
            &kwname,
            format!(
                "`{}` only tests whether a process named {p} runs: translated to `processes: {{{}: {{name: {p}}}}}` and `track_processes`, which vipd watches through the kernel's process events (it also sees other users' processes under the systemd unit, where the command may not)",
                command.join(" "),
                s.yaml_name
            ),
        );
        s.process = Some(p);
    }
    Some(s)
}

/// The process name a check command tests, when it is nothing but a process test:
/// `killall -0 X`, `pidof [-s] [-x] X`, `pgrep [-x] X`, `ps -C X [--no-headers]`, run directly
/// or through `sh -c`, with output sent to /dev/null. None for anything else (pipelines, other
/// options, several names, a name the kernel cannot hold in a process name).
fn process_check(argv: &[String]) -> Option<String> {
    let base = |w: &str| w.rsplit('/').next().unwrap_or(w).to_owned();
    let words: Vec<String> = match argv {
        [sh, c, body] if matches!(base(sh).as_str(), "sh" | "bash" | "dash") && c == "-c" => {
            body.split_whitespace().map(str::to_owned).collect()
        }
        _ => argv.to_vec(),
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        match w {
            ">/dev/null" | "1>/dev/null" | "2>/dev/null" | "&>/dev/null" | "2>&1" => {}
            ">" | "1>" | "2>" | "&>" if words.get(i + 1).is_some_and(|n| n == "/dev/null") => {
                i += 1;
            }
            _ => kept.push(w),
        }
        i += 1;
    }
    if kept
        .iter()
        .any(|w| w.contains(|c: char| "|;&`$()<>*?[]\\'\"".contains(c)))
    {
        return None;
    }
    let (cmd, args) = kept.split_first()?;
    let name = match (base(cmd).as_str(), args) {
        ("killall", ["-0", n]) => *n,
        ("pidof", rest) | ("pgrep", rest) => {
            let allowed: &[&str] = if base(cmd) == "pidof" {
                &["-s", "-x"]
            } else {
                &["-x"]
            };
            let mut names = rest.iter().filter(|a| !allowed.contains(a));
            let n = names.next()?;
            if names.next().is_some() {
                return None;
            }
            n
        }
        ("ps", ["-C", n]) | ("ps", ["-C", n, "--no-header" | "--no-headers"]) => *n,
        ("ps", ["--no-header" | "--no-headers", "-C", n]) => *n,
        _ => return None,
    };
    // A process name (comm) is at most 15 bytes and never holds `/`.
    (!name.is_empty() && !name.starts_with('-') && !name.contains('/') && name.len() <= 15)
        .then(|| name.to_owned())
}

fn vrrp_track_file(cx: &mut Cx, st: &Stmt) -> TrackFile {
    let mut tf = TrackFile {
        path: None,
        weight: None,
        reverse: false,
    };
    let body = resplit(
        cx,
        st.block.as_deref().unwrap_or_default(),
        &[("file", 1), ("weight", 2), ("init_file", usize::MAX)],
    );
    for b in &body {
        let kw = b.keyword.text.as_str();
        let a = b.args.first().map(|w| w.text.clone()).unwrap_or_default();
        match kw {
            "file" if !a.is_empty() => tf.path = Some(a),
            "weight" => {
                match int(&a) {
                    Some(w) if (-254..=254).contains(&w) => tf.weight = Some(w),
                    _ => cx.skip(b, kw, format!("`{a}`: the weight must be -254..254")),
                }
                match b.args.get(1).map(|w| w.text.as_str()) {
                    None => {}
                    Some("reverse") => tf.reverse = true,
                    Some(o) => cx.skip(
                        b,
                        "weight",
                        format!("`{o}` is not `reverse` (keepalived ignores it)"),
                    ),
                }
            }
            "init_file" => cx.skip(
                b,
                kw,
                "vipd does not create the file; a missing file counts as 0, so create it at boot (e.g. systemd-tmpfiles) if you need another value",
            ),
            _ => cx.unknown(b, "vrrp_track_file"),
        }
    }
    tf
}

const INSTANCE_ARITY: &[(&str, usize)] = &[
    ("state", 1),
    ("interface", 1),
    ("virtual_router_id", 1),
    ("priority", 1),
    ("advert_int", 1),
    ("version", 1),
    ("nopreempt", 0),
    ("preempt", 0),
    ("preempt_delay", 1),
    ("unicast_src_ip", 1),
    ("mcast_src_ip", 1),
    ("garp_master_delay", 1),
    ("garp_master_repeat", 1),
    ("garp_master_refresh", 1),
    ("notify_master", usize::MAX),
    ("notify_backup", usize::MAX),
    ("notify_fault", usize::MAX),
    ("notify_stop", usize::MAX),
    ("notify", usize::MAX),
    ("authentication", 0),
    ("virtual_ipaddress", 0),
    ("unicast_peer", 0),
    ("track_script", 0),
    ("track_interface", 0),
    ("track_file", 0),
    ("track_process", 0),
    ("strict_mode", 1),
    ("use_vmac", 1),
    ("vmac_xmit_base", 0),
    ("check_unicast_src", 0),
    ("native_ipv6", 0),
];

/// What one `vrrp_instance` block says, read in one pass with keepalived's rules for repeated
/// and conflicting lines applied (the last `interface` wins, `preempt` clears `nopreempt`,
/// the first `state MASTER` counts, ...). [`read_instance`] fills it, the `instance_*`
/// functions check and complete it, [`vrrp_instance`] builds the model from it.
struct InstanceBody {
    /// The block's statements, multi-value lines split (see [`resplit`]).
    body: Vec<Stmt>,
    /// Comments for the YAML entry.
    comments: Vec<String>,
    interface: Option<String>,
    vrid: Option<i64>,
    /// What decides the election: priority (100 when not given), preempt, state.
    el: Election,
    version: Option<(u8, String)>,
    advert: Option<(String, Stmt)>,
    auth: Option<(Stmt, Option<String>, Option<String>)>,
    vips: Vec<(IpAddr, String, Stmt)>,
    peers: Vec<String>,
    /// `min_ttl` / `max_ttl` of the peers that give them.
    peer_ttl: BTreeMap<IpAddr, TtlRange>,
    src: Option<(IpAddr, Stmt)>,
    /// (name, weight, reverse, line).
    t_ifaces: Vec<(String, Option<i64>, bool, Stmt)>,
    t_scripts: Vec<TrackScript>,
    t_files: Vec<ModelTrackFile>,
    t_procs: Vec<TrackProcess>,
    /// `virtual_ipaddress_excluded`, `virtual_routes`, `virtual_rules` ([`super::routes`]).
    extras: super::routes::Extras,
    /// `use_vmac` / `vmac_xmit_base` lines.
    vmac: VmacSeen,
    /// (slot, argv): master, backup, fault, stop, any.
    notify: Vec<(&'static str, Vec<String>, Option<RunAs>)>,
    garp_delay: Option<String>,
    garp_repeat: Option<u64>,
    garp_refresh: Option<String>,
    /// keepalived's strict mode: the instance's `strict_mode`, else global `vrrp_strict`.
    strict: Option<Stmt>,
    /// `check_unicast_src` here, else global `vrrp_check_unicast_src`.
    check_unicast_src: Option<Stmt>,
    /// `native_ipv6`.
    native_ipv6: Option<Stmt>,
}

/// The definitions an instance block can refer to.
struct Defs<'a> {
    g: &'a Globals,
    scripts: &'a BTreeMap<String, Script>,
    track_files: &'a BTreeMap<String, (Stmt, TrackFile, usize)>,
    /// The `vrrp_track_process` blocks, by keepalived name.
    procs: &'a BTreeMap<String, TrackProc>,
    /// This instance's index among the instances (track_file references are per instance).
    my_idx: usize,
}

/// One `vrrp_instance` block: its YAML name, its text, and whether it has notify hooks.
/// None (with a finding) when keepalived would refuse it or vipd could not run it faithfully.
fn vrrp_instance(
    cx: &mut Cx,
    st: &Stmt,
    defs: &Defs,
    used: &mut Vec<String>,
) -> Option<(String, String, bool)> {
    let Some(name) = st.args.first() else {
        cx.skip(st, "vrrp_instance", "needs a name");
        return None;
    };
    let kwname = format!("vrrp_instance {}", name.text);
    let mut yname = sanitize(&name.text);
    while used.contains(&yname) {
        yname.push('_');
    }
    let mut ib = read_instance(cx, st, defs);
    if yname != name.text {
        ib.comments
            .insert(0, format!("keepalived name: {}", name.text));
    }
    let Some(interface) = ib.interface.clone() else {
        cx.skip(st, &kwname, "has no `interface`; the instance is left out");
        return None;
    };
    let Some(vrid) = ib.vrid else {
        cx.skip(
            st,
            &kwname,
            "has no valid `virtual_router_id`; the instance is left out",
        );
        return None;
    };
    if let Some(n) = ib.native_ipv6.take() {
        native_ipv6(cx, &n, &mut ib);
    }
    let (first_v6, vip_texts, ver, why) =
        instance_family_and_version(cx, st, &kwname, defs.g, &mut ib)?;
    let priority_given = ib.body.iter().any(|b| b.keyword.text == "priority");
    complete_election(
        cx,
        &name.text,
        ib.strict.as_ref(),
        priority_given,
        &mut ib.el,
    );
    instance_strict_mode(cx, st, &kwname, &mut ib, &vip_texts)?;
    ib.comments.push(format!(
        "version {ver}: {why}; always written because vipd's default is 3"
    ));
    let advert_interval = instance_advert_interval(cx, &mut ib, ver);
    let priority = ib.el.priority;
    let preempt = ib.el.preempt;
    let preempt_delay = ib.el.preempt_delay.take();
    if !preempt {
        ib.comments.push("preempt: false: nopreempt".to_owned());
    }
    if priority == 255 {
        ib.comments
            .push("priority 255: this router owns the addresses (master at once)".to_owned());
    }
    let auth_pass = ib
        .auth
        .take()
        .and_then(|(ast, ty, pass)| authentication(cx, &ast, ty, pass, ver));
    let unicast_src = ib
        .src
        .take()
        .and_then(|(s, sst)| advert_source(cx, s, &sst, first_v6));
    let track_interfaces = instance_track_interfaces(cx, &ib.t_ifaces, &interface);
    let inst_iface = interface.clone();
    let (track_scripts, mut track_processes) =
        split_process_checks(defs.scripts, std::mem::take(&mut ib.t_scripts));
    track_processes.append(&mut ib.t_procs);
    let inst = InstanceConfig {
        name: yname.clone(),
        group: None,
        interface,
        vrid: vrid as u8,
        priority: priority as u8,
        version: if ver == 3 { Version::V3 } else { Version::V2 },
        family: if first_v6 { Family::Ipv6 } else { Family::Ipv4 },
        advert_interval,
        preempt,
        preempt_delay: preempt_delay.map_or(Duration::ZERO, |(_, us, _)| Duration::from_micros(us)),
        auth_pass: auth_pass.map(crate::security::Secret::from),
        virtual_ipaddress: model_vips(&vip_texts, &inst_iface),
        virtual_ipaddress_excluded: std::mem::take(&mut ib.extras.excluded),
        virtual_routes: std::mem::take(&mut ib.extras.routes),
        virtual_rules: std::mem::take(&mut ib.extras.rules),
        unicast_peers: ib.peers.iter().filter_map(|p| p.parse().ok()).collect(),
        unicast_peer_ttl: ib.peer_ttl.clone(),
        unicast_src,
        // A peer's TTL range implies the source check (keepalived 2.2.7, and vipd's rule).
        check_unicast_src: check_unicast_src(cx, &ib) || !ib.peer_ttl.is_empty(),
        track_interfaces,
        track_scripts,
        track_files: std::mem::take(&mut ib.t_files),
        track_processes,
        notify: instance_hooks(&ib.notify),
        garp: Garp {
            interval: instance_garp_interval(defs.g, &inst_iface, first_v6),
            ..instance_garp(&ib)
        },
        v3_checksum: ChecksumForm::PseudoHeader,
        vmac: vmac(
            cx,
            std::mem::take(&mut ib.vmac),
            vrid as u8,
            !ib.peers.is_empty(),
        ),
    };
    used.push(yname.clone());
    let text = emit_instance(cx, st, &yname, &ib.comments, &inst);
    Some((yname, text, !ib.notify.is_empty()))
}

/// `native_ipv6`: keepalived 2.2.7 makes the instance IPv6 and VRRPv3, and refuses the
/// keyword after IPv4 addresses. vipd derives both from the addresses (IPv6 is always v3).
fn native_ipv6(cx: &mut Cx, n: &Stmt, ib: &mut InstanceBody) {
    let before_v4 = ib
        .vips
        .iter()
        .any(|(a, _, s)| a.is_ipv4() && s.line < n.line);
    if before_v4 {
        cx.note(
            n,
            "native_ipv6",
            "ignored, as keepalived 2.2.7 does (\"Cannot specify native_ipv6 with IPv4 addresses\"): the instance stays IPv4",
        );
    } else if ib.vips.is_empty() {
        // keepalived: IPv6 and VRRPv3 without addresses, which it then refuses.
        ib.version = Some((3, format!("native_ipv6 ({})", cx.at(n))));
        cx.note(
            n,
            "native_ipv6",
            "keepalived 2.2.7 makes this instance IPv6 and VRRPv3; without addresses it then refuses it (see the instance's line)",
        );
    } else {
        cx.note(
            n,
            "native_ipv6",
            "nothing to write: keepalived makes the instance IPv6 and VRRPv3; vipd derives IPv6 from the IPv6 virtual addresses and always runs IPv6 as VRRPv3",
        );
    }
}

/// `check_unicast_src` (or global `vrrp_check_unicast_src`): vipd's switch of the same name;
/// only a unicast instance has a source to check (keepalived tests it only then too).
fn check_unicast_src(cx: &mut Cx, ib: &InstanceBody) -> bool {
    let Some(st) = &ib.check_unicast_src else {
        return false;
    };
    if ib.peers.is_empty() {
        if st.keyword.text == "check_unicast_src" {
            cx.note(
                st,
                "check_unicast_src",
                "nothing to write: the instance has no unicast_peer, so there is no unicast source to check",
            );
        }
        return false;
    }
    true
}

/// Reads the statements of a `vrrp_instance` block into an [`InstanceBody`], with a finding
/// for each line that cannot be taken.
fn read_instance(cx: &mut Cx, st: &Stmt, defs: &Defs) -> InstanceBody {
    let g = defs.g;
    let mut ib = InstanceBody {
        body: resplit(cx, st.block.as_deref().unwrap_or_default(), INSTANCE_ARITY),
        comments: Vec::new(),
        interface: None,
        vrid: None,
        el: Election {
            priority: 100,
            preempt: true,
            nopreempt_at: None,
            preempt_delay: None,
            state_master: None,
            state_given: false,
        },
        version: None,
        advert: None,
        auth: None,
        vips: Vec::new(),
        peers: Vec::new(),
        peer_ttl: BTreeMap::new(),
        src: None,
        t_ifaces: Vec::new(),
        t_scripts: Vec::new(),
        t_files: Vec::new(),
        t_procs: Vec::new(),
        extras: super::routes::Extras::default(),
        vmac: VmacSeen::default(),
        notify: Vec::new(),
        garp_delay: g.garp_delay.clone(),
        garp_repeat: g.garp_repeat,
        garp_refresh: g.garp_refresh.clone(),
        strict: g.strict.clone(),
        check_unicast_src: g.check_unicast_src.clone(),
        native_ipv6: None,
    };
    let body = std::mem::take(&mut ib.body);
    for b in &body {
        let kw = b.keyword.text.as_str();
        let a = b.args.first().map(|w| w.text.clone()).unwrap_or_default();
        if vmac_keyword(b, &mut ib.vmac) {
            continue;
        }
        if kw == "strict_mode" {
            strict_mode_line(cx, b, &a, &mut ib.strict);
            continue;
        }
        // Optional values (`skip_check_adv_addr [on|off]`, `debug [0..4]`): notes either way.
        if kw == "skip_check_adv_addr" {
            cx.note(b, kw, SKIP_CHECK_ADV_ADDR_NOTE);
            continue;
        }
        if kw == "garp_interval" || kw == "gna_interval" {
            cx.note(
                b,
                kw,
                "nothing to write: keepalived 2.2.7 has no such vrrp_instance keyword (it is a garp_group one; global_defs has vrrp_garp_interval / vrrp_gna_interval) and ignores it as unknown",
            );
            continue;
        }
        if kw == "debug" {
            cx.note(
                b,
                kw,
                "nothing to write: keepalived 2.2.7 reads an instance's debug level (0..4) and does nothing with it; vipd's log level is global (`vipd run --log.level debug`)",
            );
            continue;
        }
        let needs_arg = INSTANCE_ARITY.iter().any(|(k, n)| *k == kw && *n > 0) && b.args.is_empty();
        if needs_arg {
            cx.skip(b, kw, "needs a value");
            continue;
        }
        match kw {
            "state" => state_line(cx, b, &a, &mut ib),
            "interface" => ib.interface = Some(a),
            "virtual_router_id" => match int(&a) {
                Some(n) if (1..=255).contains(&n) => ib.vrid = Some(n),
                _ => cx.skip(b, kw, format!("`{a}`: must be 1..255")),
            },
            "priority" => match int(&a) {
                Some(n) if (1..=255).contains(&n) => ib.el.priority = n,
                _ => cx.skip(b, kw, format!("`{a}`: must be 1..255; using 100")),
            },
            "version" => match a.as_str() {
                "2" => ib.version = Some((2, cx.at(b))),
                "3" => ib.version = Some((3, cx.at(b))),
                _ => cx.skip(b, kw, format!("`{a}` is not 2 or 3")),
            },
            "advert_int" => match keepalived_advert_us(&a, false) {
                Some(_) => ib.advert = Some((a.clone(), b.clone())),
                None => cx.skip(
                    b,
                    kw,
                    format!(
                        "`{a}` is not a number of seconds; keepalived's default 1 s is written (check what your keepalived logs for it)"
                    ),
                ),
            },
            "nopreempt" => {
                ib.el.preempt = false;
                ib.el.nopreempt_at = Some(b.clone());
            }
            "preempt" => {
                ib.el.preempt = true;
                ib.el.nopreempt_at = None;
            }
            "preempt_delay" => match secs(&a) {
                Some((d, us)) if us <= 1_000_000_000 => {
                    ib.el.preempt_delay = Some((d, us, b.clone()))
                }
                _ => cx.skip(b, kw, format!("`{a}`: must be 0..1000 seconds")),
            },
            "authentication" => ib.auth = Some(authentication_block(cx, b)),
            "virtual_ipaddress" => ib.vips.extend(virtual_ipaddress_block(cx, b)),
            "unicast_src_ip" | "mcast_src_ip" => source_line(cx, b, kw, &a, &mut ib.src),
            "unicast_peer" => {
                let peers = unicast_peer_block(cx, b, &mut ib.peer_ttl);
                ib.peers.extend(peers);
            }
            "track_script" | "track_interface" | "track_file" | "track_process" => {
                tracking_block(cx, b, defs, &mut ib)
            }
            "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" | "notify" => {
                notify_line(cx, b, kw, &mut ib.notify)
            }
            "garp_master_delay" => match secs(&a) {
                Some((d, _)) => ib.garp_delay = Some(d),
                None => cx.skip(b, kw, format!("`{a}` is not a number of seconds")),
            },
            "garp_master_repeat" => match int(&a) {
                Some(n) if (1..=100).contains(&n) => ib.garp_repeat = Some(n as u64),
                _ => cx.skip(b, kw, format!("`{a}`: vipd's garp.repeat is 1..100")),
            },
            "garp_master_refresh" => match secs(&a) {
                Some((d, _)) => ib.garp_refresh = Some(d),
                None => cx.skip(b, kw, format!("`{a}` is not a number of seconds")),
            },
            "check_unicast_src" => ib.check_unicast_src = Some(b.clone()),
            "native_ipv6" => ib.native_ipv6 = Some(b.clone()),
            _ if ib.extras.block(cx, b) => {}
            _ => cx.unknown(b, "vrrp_instance"),
        }
    }
    ib.body = body;
    ib
}

/// `strict_mode [on|off|...]`: alone it is on; keepalived's boolean words otherwise.
fn strict_mode_line(cx: &mut Cx, b: &Stmt, a: &str, strict: &mut Option<Stmt>) {
    let kw = b.keyword.text.as_str();
    match a.to_ascii_lowercase().as_str() {
        "" | "on" | "true" | "yes" => {
            *strict = Some(b.clone());
            cx.skip(b, kw, STRICT_NOT_TRANSLATED);
        }
        "off" | "false" | "no" => *strict = None,
        _ => cx.skip(
            b,
            kw,
            format!("`{a}` is not on/off/true/false/yes/no (keepalived ignores it)"),
        ),
    }
}

/// `state MASTER|BACKUP`: only a starting hint in vipd; the first MASTER line counts.
fn state_line(cx: &mut Cx, b: &Stmt, a: &str, ib: &mut InstanceBody) {
    ib.el.state_given = true;
    match a {
        "MASTER" | "BACKUP" => {
            if a == "MASTER" && ib.el.state_master.is_none() {
                ib.el.state_master = Some(b.clone());
            }
            ib.comments.push(format!(
                "keepalived `state {a}` ({}) is only a starting hint: vipd starts as backup and the priority elects the master{}",
                cx.at(b),
                if a == "MASTER" {
                    " (after Master_Down_Interval when no master is heard)"
                } else {
                    ""
                }
            ));
        }
        _ => cx.skip(
            b,
            "state",
            format!("`{a}` is not MASTER or BACKUP (keepalived uses BACKUP)"),
        ),
    }
}

/// `unicast_src_ip` / `mcast_src_ip`: keepalived 2.2.7 sets the one advert source
/// (vrrp->saddr) from both, the last wins; vipd's unicast_src is the source of its multicast
/// adverts too.
fn source_line(cx: &mut Cx, b: &Stmt, kw: &str, a: &str, src: &mut Option<(IpAddr, Stmt)>) {
    match a.parse::<IpAddr>() {
        Ok(ip) => {
            if let Some((old, ost)) = &*src
                && *old != ip
            {
                cx.note(
                    b,
                    kw,
                    format!(
                        "replaces {old} from {}: keepalived keeps one advert source address, the last one given",
                        cx.at(ost)
                    ),
                );
            }
            *src = Some((ip, b.clone()));
        }
        Err(_) => cx.skip(b, kw, format!("`{a}` is not an address")),
    }
}

/// `notify_x "cmd args" [user [group]]`; unquoted, the first word is the program. A later
/// line for the same slot replaces the earlier one.
fn notify_line(
    cx: &mut Cx,
    b: &Stmt,
    kw: &str,
    notify: &mut Vec<(&'static str, Vec<String>, Option<RunAs>)>,
) {
    let key = match kw {
        "notify_master" => "master",
        "notify_backup" => "backup",
        "notify_fault" => "fault",
        "notify_stop" => "stop",
        _ => "any",
    };
    let (cmd, rest) = b.args.split_at(1);
    if let Some(argv) = command_argv(cx, b, cmd) {
        let run_as = hook_run_as(cx, b, kw, rest);
        notify.retain(|(k, _, _)| *k != key);
        notify.push((key, argv, run_as));
    }
}

/// The words after a notify line's command: keepalived's `user [group]`, as vipd's
/// `{command, user, group}` form of the hook (run with that user's primary group without a
/// group, as keepalived does). More words are listed.
pub(super) fn hook_run_as(cx: &mut Cx, b: &Stmt, kw: &str, rest: &[Word]) -> Option<RunAs> {
    let (user, group) = match rest {
        [] => return None,
        [u] => (u, None),
        [u, g, more @ ..] => {
            if !more.is_empty() {
                let extra: Vec<&str> = more.iter().map(|w| w.text.as_str()).collect();
                cx.skip(
                    b,
                    &format!("{kw} (user)"),
                    format!(
                        "keepalived takes a user and a group after the command; `{}` is not translated",
                        extra.join(" ")
                    ),
                );
            }
            (u, Some(g.text.clone()))
        }
    };
    Some(RunAs {
        user: user.text.clone(),
        group,
    })
}

/// The family (the first address decides; keepalived moves the others to excluded), the
/// address texts, the version (the instance's, else global vrrp_version, else keepalived's
/// default 2; IPv6 makes it 3) and where it came from. None when keepalived would refuse the instance.
///
/// Without any address keepalived 2.2.7 runs the instance as VRRPv2 over IPv4 (the cloud
/// pattern: notify_master moves an elastic IP); vipd does the same. Addresses that were
/// written but could not be translated are another matter: the instance would elect and move
/// nothing.
fn instance_family_and_version(
    cx: &mut Cx,
    st: &Stmt,
    kwname: &str,
    g: &Globals,
    ib: &mut InstanceBody,
) -> Option<(bool, Vec<String>, u8, String)> {
    let written = ib.body.iter().any(|b| {
        b.keyword.text == "virtual_ipaddress" && b.block.as_ref().is_some_and(|v| !v.is_empty())
    });
    let no_vips = ib.vips.is_empty();
    if no_vips && written {
        cx.skip(
            st,
            kwname,
            "none of its virtual_ipaddress entries could be translated (listed at their lines); the instance is left out rather than run without addresses",
        );
        return None;
    }
    let (first_v6, vip_texts) = instance_addresses(cx, &ib.vips);
    let (mut ver, why) = match (&ib.version, g.version) {
        (Some((v, at)), _) => (*v, format!("version ({at})")),
        (None, Some(v)) => (v, "global_defs vrrp_version".to_owned()),
        (None, None) => (2, "keepalived's default: VRRPv2".to_owned()),
    };
    if no_vips {
        if ver == 3 {
            cx.skip(
                st,
                kwname,
                format!(
                    "has no virtual_ipaddress and is VRRPv3 ({why}): keepalived 2.2.7 refuses it (\"No VIP specified; at least one is required\"), and so does vipd (RFC 9568: an advert carries at least one address); the instance is left out. An instance without addresses must be VRRPv2 (`version 2`) on every router"
                ),
            );
            return None;
        }
        if ib.strict.is_some() {
            cx.skip(
                st,
                kwname,
                "has no virtual_ipaddress, which keepalived 2.2.7 refuses under vrrp_strict (\"No VIP specified; at least one is required\"); the instance is left out",
            );
            return None;
        }
        cx.note(
            st,
            kwname,
            "has no virtual_ipaddress: translated as an instance without addresses (VRRPv2, IPv4, adverts with an address count of 0, as keepalived 2.2.7 sends them); vipd elects and runs the notify hooks, and adds no address",
        );
        ib.comments.push(
            "no virtual_ipaddress (as in keepalived): VRRP elects the master, the notify hooks act"
                .to_owned(),
        );
    }
    if first_v6 && ver == 2 {
        ver = 3;
        cx.note(
            st,
            kwname,
            "IPv6 addresses: version 3 (keepalived also uses VRRPv3 for IPv6)",
        );
    }
    Some((first_v6, vip_texts, ver, why))
}

/// Strict mode's refusals and adjustments (keepalived 2.2.7 `vrrp_complete_instance`): no
/// unicast peers, no authentication, a link-local first IPv6 address. None when keepalived
/// would refuse the instance.
fn instance_strict_mode(
    cx: &mut Cx,
    st: &Stmt,
    kwname: &str,
    ib: &mut InstanceBody,
    vip_texts: &[String],
) -> Option<()> {
    let Some(sst) = ib.strict.clone() else {
        return Some(());
    };
    let at = cx.at(&sst);
    if !ib.peers.is_empty() {
        cx.skip(
            st,
            kwname,
            format!(
                "has unicast_peer in strict mode ({at}): keepalived 2.2.7 refuses the instance (\"Unicast peers are not supported in strict mode\") on a multicast interface; the instance is left out. Remove vrrp_strict / strict_mode, or the unicast peers, on every router"
            ),
        );
        return None;
    }
    if let Some((ast, _, _)) = ib.auth.take() {
        cx.note(
            &ast,
            "authentication",
            format!(
                "strict mode ({at}): keepalived 2.2.7 sends no authentication (\"Strict mode does not support authentication. Ignoring.\"); left out, as keepalived runs it"
            ),
        );
    }
    if let Some(first) = vip_texts.first()
        && let Some(Ok(IpAddr::V6(a))) = first.split('/').next().map(str::parse::<IpAddr>)
        && a.segments()[0] & 0xffc0 != 0xfe80
    {
        cx.note(
            st,
            kwname,
            format!(
                "strict mode ({at}): the first IPv6 address {first} is not link-local; keepalived 2.2.7 reports it (\"the first IPv6 VIP address must be link local\") and runs the instance, vipd warns in `vipd check` and runs it too"
            ),
        );
    }
    ib.comments.push(format!(
        "keepalived strict mode ({at}): applied as keepalived 2.2.7 does where vipd can (see the import's stderr)"
    ));
    Some(())
}

/// The advert interval keepalived 2.2.7 would run (`advert_int`, default 1 s), with a
/// finding where vipd's rounding differs.
fn instance_advert_interval(cx: &mut Cx, ib: &mut InstanceBody, ver: u8) -> Duration {
    match &ib.advert {
        None => {
            ib.comments
                .push("advert_interval: keepalived's default advert_int 1".to_owned());
            Duration::from_secs(1)
        }
        Some((text, ast)) => {
            let (us, what) =
                keepalived_advert_us(text, ver == 3).expect("checked when it was read");
            for w in what {
                match w.strip_prefix("NOT EXACT: ") {
                    Some(w) => cx.skip(ast, "advert_int", w),
                    None => cx.note(ast, "advert_int", w),
                }
            }
            Duration::from_micros(us)
        }
    }
}

/// `track_interface` entries, without the instance's own interface (keepalived ignores it
/// there; vipd always follows it).
fn instance_track_interfaces(
    cx: &mut Cx,
    t_ifaces: &[(String, Option<i64>, bool, Stmt)],
    interface: &str,
) -> Vec<TrackInterface> {
    t_ifaces
        .iter()
        .filter(|(name, _, _, tst)| {
            let own = *name == interface;
            if own {
                cx.note(
                    tst,
                    &format!("track_interface {name}"),
                    "left out: it is the instance's own interface, which keepalived ignores here and vipd always follows (down = Fault)",
                );
            }
            !own
        })
        .map(|(name, weight, reverse, _)| TrackInterface {
            name: name.clone(),
            weight: weight.map(|w| w as i32),
            reverse: *reverse,
        })
        .collect()
}

/// The notify lines as vipd's hooks.
fn instance_hooks(notify: &[(&'static str, Vec<String>, Option<RunAs>)]) -> Notify {
    let mut hooks = Notify::default();
    for (k, argv, run_as) in notify {
        if let Some(r) = run_as {
            hooks.run_as.insert((*k).to_owned(), r.clone());
        }
        let slot = match *k {
            "master" => &mut hooks.master,
            "backup" => &mut hooks.backup,
            "fault" => &mut hooks.fault,
            "stop" => &mut hooks.stop,
            _ => &mut hooks.any,
        };
        *slot = Some(argv.clone());
    }
    hooks
}

/// `garp_group { garp_interval S  gna_interval S  interface IF | interfaces { IF ... } }`:
/// keepalived's per-interface announcement spacing, overriding global_defs'.
fn garp_group(cx: &mut Cx, st: &Stmt, g: &mut Globals) {
    let (mut ifs, mut garp, mut gna) = (Vec::new(), None, None);
    for s in st.block.iter().flatten() {
        let kw = s.keyword.text.as_str();
        match kw {
            "garp_interval" if !s.args.is_empty() => garp = garp_interval(cx, s, kw),
            "gna_interval" if !s.args.is_empty() => gna = garp_interval(cx, s, kw),
            "interface" if s.args.len() == 1 => ifs.push(s.args[0].text.clone()),
            "interfaces" => ifs.extend(
                s.block
                    .iter()
                    .flatten()
                    .flat_map(|i| std::iter::once(&i.keyword).chain(&i.args))
                    .map(|w| w.text.clone()),
            ),
            _ => cx.unknown(s, "garp_group"),
        }
    }
    if ifs.is_empty() {
        cx.skip(
            st,
            "garp_group",
            "names no interface (keepalived refuses it too); its intervals are not applied",
        );
        return;
    }
    g.garp_groups.push((ifs, garp, gna));
}

/// The spacing of an instance's announcements on `interface`: its `garp_group`'s, else
/// global_defs' (ARP for IPv4, NA for IPv6), else none. keepalived spaces the messages of
/// the interface whichever instance sends them, as vipd does (`router::pace`).
fn instance_garp_interval(g: &Globals, interface: &str, v6: bool) -> Duration {
    let pick = |garp: Option<u64>, gna: Option<u64>| if v6 { gna } else { garp };
    let us = g
        .garp_groups
        .iter()
        .rev()
        .find(|(ifs, _, _)| ifs.iter().any(|i| i == interface))
        .map_or_else(
            || pick(g.garp_interval, g.gna_interval),
            |(_, a, n)| pick(*a, *n),
        );
    us.map_or(Duration::ZERO, Duration::from_micros)
}

/// The announcement schedule: the instance's `garp_master_*`, else global_defs', else
/// vipd's defaults (keepalived's).
fn instance_garp(ib: &InstanceBody) -> Garp {
    let d = Garp::default();
    let dur = |t: &Option<String>, default: Duration| {
        t.as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(default)
    };
    Garp {
        delay: dur(&ib.garp_delay, d.delay),
        repeat: ib.garp_repeat.map_or(d.repeat, |r| r as u32),
        refresh: dur(&ib.garp_refresh, d.refresh),
        interval: Duration::ZERO,
    }
}

/// References to scripts that became tracked processes go to `track_processes`; the
/// others stay `track_scripts`.
fn split_process_checks(
    scripts: &BTreeMap<String, Script>,
    t_scripts: Vec<TrackScript>,
) -> (Vec<TrackScript>, Vec<TrackProcess>) {
    let (procs, track_scripts): (Vec<_>, Vec<_>) = t_scripts.into_iter().partition(|t| {
        scripts
            .values()
            .any(|s| s.yaml_name == t.name && s.process.is_some())
    });
    let track_processes = procs
        .into_iter()
        .map(|t| TrackProcess {
            name: t.name,
            weight: t.weight,
            reverse: t.reverse,
        })
        .collect();
    (track_scripts, track_processes)
}

/// `addr/len [options]` texts as model addresses on `interface` (see
/// [`super::routes::vip_from_text`]).
fn model_vips(vip_texts: &[String], interface: &str) -> Vec<crate::config::Vip> {
    vip_texts
        .iter()
        .filter_map(|t| super::routes::vip_from_text(t, interface))
        .collect()
}

/// The instance's YAML entry: its key, the comments, the model's fields.
fn emit_instance(
    cx: &Cx,
    st: &Stmt,
    yname: &str,
    comments: &[String],
    inst: &InstanceConfig,
) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "  {yname}:  # vrrp_instance ({})", cx.at(st));
    for c in comments {
        let _ = writeln!(text, "    # {c}");
    }
    text.push_str(&indent(&to_yaml(inst), 4));
    text
}

/// The instance's addresses as vipd takes them: the family of the first (IPv6?), and the
/// `addr/len` texts of that family, each once; the other family and duplicates are listed.
fn instance_addresses(cx: &mut Cx, vips: &[(IpAddr, String, Stmt)]) -> (bool, Vec<String>) {
    let first_v6 = vips.first().is_some_and(|(a, _, _)| a.is_ipv6());
    let mut vip_texts = Vec::new();
    let mut seen: Vec<(IpAddr, &Stmt)> = Vec::new();
    let mut dups: Vec<(&Stmt, String, &Stmt)> = Vec::new();
    for (a, text, vst) in vips {
        // Findings name the address without its options.
        let t = text.split(' ').next().unwrap_or(text);
        if a.is_ipv6() != first_v6 {
            cx.skip(
                vst,
                &format!("virtual_ipaddress {t}"),
                "of the other address family than the instance's first address; vipd needs one instance per family: add an instance with its own vrid for it",
            );
        } else if let Some((_, first)) = seen.iter().find(|(s, _)| s == a) {
            dups.push((vst, t.to_owned(), first));
        } else {
            seen.push((*a, vst));
            vip_texts.push(text.clone());
        }
    }
    // keepalived 2.2.7 keeps a duplicate address (its own doc/samples/keepalived.conf.vrrp
    // has one) and advertises it twice; vipd refuses duplicates, so the translation keeps
    // one and says what that does to a group that still runs keepalived.
    let ka_count = vip_texts.len() + dups.len();
    for (vst, t, first) in &dups {
        cx.skip(
            vst,
            &format!("virtual_ipaddress {t}"),
            format!(
                "listed twice (first at {}): keepalived 2.2.7 keeps both and advertises {ka_count} addresses, vipd (which refuses duplicates) advertises each once, {}, so this line is dropped. vipd accepts adverts whose address count differs (it counts them in vrrp_peer_config_mismatch_total{{reason=\"address_list\"}} instead of dropping them), but keepalived running the original configuration drops vipd's adverts (\"received an unexpected ip number count\") and becomes master too: during a mixed migration, remove the duplicate from keepalived's configuration on every keepalived router first. (vipd cannot advertise an address twice, so there is no interop with the unchanged original.)",
                cx.at(first),
                vip_texts.len()
            ),
        );
    }
    (first_v6, vip_texts)
}

/// keepalived's `use_vmac [name]` and `vmac_xmit_base` lines of one instance.
#[derive(Default)]
struct VmacSeen {
    use_vmac: Option<(Option<String>, Stmt)>,
    xmit_base: Option<Stmt>,
}

/// Records a `use_vmac` / `vmac_xmit_base` line; false for any other keyword.
fn vmac_keyword(b: &Stmt, seen: &mut VmacSeen) -> bool {
    match b.keyword.text.as_str() {
        "use_vmac" => seen.use_vmac = Some((b.args.first().map(|w| w.text.clone()), b.clone())),
        "vmac_xmit_base" => seen.xmit_base = Some(b.clone()),
        _ => return false,
    }
    true
}

/// vipd's `use_vmac` / `vmac_xmit_base` for what the instance said: keepalived's default
/// name `vrrp.<vrid>`; `vmac_xmit_base` without `use_vmac` does nothing (keepalived ignores
/// it too); with unicast peers (which vipd's virtual MAC does not support) it is listed as
/// not translated.
fn vmac(cx: &mut Cx, seen: VmacSeen, vrid: u8, unicast: bool) -> Option<Vmac> {
    if let (None, Some(x)) = (&seen.use_vmac, &seen.xmit_base) {
        cx.note(
            x,
            "vmac_xmit_base",
            "without use_vmac: has no effect (keepalived ignores it too)",
        );
    }
    let (name, st) = seen.use_vmac?;
    if unicast {
        cx.skip(
            &st,
            "use_vmac",
            "vipd supports the virtual MAC on multicast instances only (the macvlan has no route to a unicast peer); the address moves with gratuitous ARP / unsolicited NA instead",
        );
        return None;
    }
    cx.note(
        &st,
        "use_vmac",
        "IPv6 adverts list the configured addresses only (`vmac_link_local: false`), as keepalived 2.2.7's do: a keepalived peer drops adverts whose address count differs from its own list, so the RFC 9568 link-local first would split a mixed pair",
    );
    Some(Vmac {
        name: name.unwrap_or_else(|| format!("vrrp.{vrid}")),
        xmit_base: seen.xmit_base.is_some(),
        link_local: false,
    })
}

/// What decides the election, as the instance block wrote it.
struct Election {
    priority: i64,
    preempt: bool,
    /// The `nopreempt` line while it is in force.
    nopreempt_at: Option<Stmt>,
    preempt_delay: Option<(String, u64, Stmt)>,
    /// The first `state MASTER` line.
    state_master: Option<Stmt>,
    state_given: bool,
}

/// keepalived 2.2.7's `vrrp_complete_instance()` on the election settings of instance
/// `name`: the priority derived from `state MASTER`, strict mode's rules, and `nopreempt` /
/// `preempt_delay` cleared where keepalived clears them, each with a note.
fn complete_election(
    cx: &mut Cx,
    name: &str,
    strict: Option<&Stmt>,
    priority_given: bool,
    el: &mut Election,
) {
    // keepalived 2.2.7 vrrp_complete_instance(): no priority + state MASTER = address owner;
    // then nopreempt and preempt_delay are cleared where they cannot work.
    if let Some(sst) = el.state_master.as_ref().filter(|_| !priority_given) {
        el.priority = 255;
        cx.note(
            sst,
            "state MASTER",
            "no `priority`: keepalived 2.2.7 derives it from the initial state and gives `state MASTER` priority 255 (address owner), not 100; written as priority: 255",
        );
    }
    // Strict mode (keepalived 2.2.7 vrrp_complete_instance): `state MASTER` only with
    // priority 255, else the router starts as backup; checked before nopreempt and
    // preempt_delay are cleared for an initial master, so they then stay.
    if let (Some(_), Some(sst)) = (strict, &el.state_master)
        && el.priority != 255
    {
        cx.note(
            sst,
            "state MASTER",
            format!(
                "strict mode: keepalived 2.2.7 refuses `state MASTER` below priority 255 (\"({}) State MASTER must match being address owner\") and starts as BACKUP, so nopreempt and preempt_delay keep working; translated that way",
                name
            ),
        );
        el.state_master = None;
    }
    if let Some(sst) = strict
        && let Some((_, _, dst)) = el.preempt_delay.take_if(|(_, us, _)| *us > 0)
    {
        cx.note(
            &dst,
            "preempt_delay",
            format!(
                "strict mode ({}): keepalived 2.2.7 resets it (\"preempt_delay is incompatible with strict mode - resetting\"); left out, as keepalived runs it",
                cx.at(sst)
            ),
        );
    }
    let initial_master = el.state_master.is_some() || (!el.state_given && el.priority == 255);
    if el.priority == 255
        && let Some(nst) = el.nopreempt_at.take()
    {
        el.preempt = true;
        cx.note(
            &nst,
            "nopreempt",
            "keepalived 2.2.7 clears it with priority 255 (\"nopreempt is incompatible with priority 255. resetting nopreempt\"): the address owner always preempts; left out",
        );
    }
    if initial_master {
        if let Some(nst) = el.nopreempt_at.take() {
            el.preempt = true;
            cx.note(
                &nst,
                "nopreempt",
                format!(
                    "keepalived 2.2.7 clears it with initial state MASTER (\"({}) Warning - nopreempt will not work with initial state MASTER - clearing\"), so that router preempts; left out (preempt stays on), as keepalived runs it",
                    name
                ),
            );
        }
        if let Some((_, _, dst)) = el.preempt_delay.take_if(|(_, us, _)| *us > 0) {
            cx.note(
                &dst,
                "preempt_delay",
                format!(
                    "keepalived 2.2.7 clears it with initial state MASTER (\"({}) Warning - preempt delay will not work with initial state MASTER - clearing\"); left out, as keepalived runs it",
                    name
                ),
            );
        }
    }
    let preempt = el.preempt;
    if let Some((_, _, dst)) = el.preempt_delay.take_if(|(_, us, _)| *us > 0 && !preempt) {
        cx.note(
            &dst,
            "preempt_delay",
            format!(
                "keepalived 2.2.7 resets it with nopreempt (\"({}) preempt_delay is incompatible with nopreempt mode - resetting\"); left out, as keepalived runs it",
                name
            ),
        );
    }
}

/// `unicast_peer { A [min_ttl N] [max_ttl N] ... }`: the peers' addresses, and into `ttl`
/// the range of those that give one (keepalived 2.2.7 then drops the peer's adverts arriving
/// with a TTL / hop limit outside it, and checks the source: vipd's `check_unicast_src`,
/// implied by the range).
fn unicast_peer_block(cx: &mut Cx, b: &Stmt, ttl: &mut BTreeMap<IpAddr, TtlRange>) -> Vec<String> {
    let mut out = Vec::new();
    for it in items(cx, b, &[("min_ttl", 1), ("max_ttl", 1)]) {
        let ip = match it.head.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                cx.skip(
                    &it.st,
                    &format!("unicast_peer {}", it.head),
                    "not an address",
                );
                continue;
            }
        };
        out.push(ip.to_string());
        let mut range: Option<TtlRange> = None;
        for (k, v) in &it.opts {
            let Some(n) = v.first().and_then(|w| w.parse::<u8>().ok()) else {
                cx.skip(
                    &it.st,
                    &format!("unicast_peer {} {k}", it.head),
                    "needs a TTL of 0..255 (keepalived ignores it)",
                );
                continue;
            };
            let r = range.get_or_insert(TtlRange { min: 0, max: 255 });
            if k == "min_ttl" {
                r.min = n;
            } else {
                r.max = n;
            }
        }
        match range {
            Some(r) if r.min > r.max => cx.skip(
                &it.st,
                &format!("unicast_peer {} min_ttl", it.head),
                format!(
                    "min_ttl {} is above max_ttl {}: keepalived drops every advert of this peer (\"all packets will be discarded\"), vipd refuses the range; the peer is translated without it, fix the range",
                    r.min, r.max
                ),
            ),
            Some(r) => {
                cx.note(
                    &it.st,
                    &format!("unicast_peer {} min_ttl/max_ttl", it.head),
                    format!(
                        "translated as `{{address: {ip}, min_ttl: {}, max_ttl: {}}}`: vipd drops this peer's adverts arriving with another TTL / hop limit (vrrp_adverts_dropped_total{{reason=\"unicast_ttl\"}}) and, as keepalived 2.2.7 does once a range is given, checks the instance's unicast sources (`check_unicast_src: true`)",
                        r.min, r.max
                    ),
                );
                ttl.insert(ip, r);
            }
            None => {}
        }
    }
    out
}

/// The instance's tracking blocks (`track_script`, `track_interface`, `track_file`): their
/// items in vipd's model, appended to `scripts_out`, `ifaces_out` (checked against the
/// instance's interface later) and `files_out`, with keepalived's `weight N reverse` (or
/// `noreverse`, overriding the definition's) as `reverse`.
#[allow(clippy::type_complexity)]
fn tracking_block(cx: &mut Cx, b: &Stmt, defs: &Defs, ib: &mut InstanceBody) {
    let (scripts, track_files, my_idx) = (defs.scripts, defs.track_files, defs.my_idx);
    let kw = b.keyword.text.as_str();
    for it in items(cx, b, &[("weight", 1), ("reverse", 0), ("noreverse", 0)]) {
        let mut weight = None;
        let mut reverse: Option<bool> = None;
        for (k, v) in &it.opts {
            let val = v.first().cloned().unwrap_or_default();
            match k.as_str() {
                "weight" => match int(&val) {
                    // keepalived 2.2.7 makes +/-254 +/-253 for scripts and
                    // interfaces (with a warning); files take 254.
                    Some(w) if w.abs() == 254 && kw != "track_file" => {
                        let w = w.signum() * 253;
                        cx.note(
                            &it.st,
                            &format!("{kw} {} weight", it.head),
                            format!(
                                "keepalived 2.2.7 makes a weight of +/-254 {w} (\"cannot be +/-254\"); written as {w}"
                            ),
                        );
                        weight = Some(w);
                    }
                    Some(w) if (-254..=254).contains(&w) => weight = Some(w),
                    _ => cx.skip(
                        &it.st,
                        &format!("{kw} {} weight", it.head),
                        format!("`{val}` is not a weight"),
                    ),
                },
                "reverse" => reverse = Some(true),
                _ => reverse = Some(false),
            }
        }
        // keepalived reads `reverse` / `noreverse` only as the word after `weight N`; an entry
        // with anything else there is ignored ("unknown track ... option"), and
        // `track_interface` has no `noreverse` (ignored, the entry kept).
        let first_is_weight = it.opts.first().is_some_and(|(k, _)| k == "weight");
        if !first_is_weight && reverse.is_some() {
            cx.skip(
                &it.st,
                &format!("{kw} {}", it.head),
                "keepalived ignores this entry: `reverse` / `noreverse` must follow `weight N`",
            );
            continue;
        }
        if kw == "track_interface" && reverse == Some(false) {
            cx.note(
                &it.st,
                &format!("{kw} {} noreverse", it.head),
                "keepalived 2.2.7 ignores `noreverse` on a tracked interface (it has no definition to override); translated without it",
            );
        }
        // keepalived: the item's `reverse` / `noreverse`, else the definition's.
        let inherited = match kw {
            "track_script" => scripts.get(&it.head).is_some_and(|s| s.reverse),
            "track_file" => track_files.get(&it.head).is_some_and(|t| t.1.reverse),
            "track_process" => defs.procs.get(&it.head).is_some_and(|p| p.reverse),
            _ => false,
        };
        let reverse = reverse.unwrap_or(inherited);
        match kw {
            "track_script" => {
                let Some(s) = scripts.get(&it.head) else {
                    cx.skip(
                        &it.st,
                        &format!("track_script {}", it.head),
                        "no usable vrrp_script of this name (keepalived ignores it too)",
                    );
                    continue;
                };
                ib.t_scripts.push(TrackScript {
                    name: s.yaml_name.clone(),
                    weight: weight.map_or(s.weight, |w| w as i32),
                    reverse,
                });
            }
            "track_interface" => {
                ib.t_ifaces
                    .push((it.head.clone(), weight, reverse, it.st.clone()))
            }
            "track_process" => {
                let Some(p) = defs.procs.get(&it.head) else {
                    cx.skip(
                        &it.st,
                        &format!("track_process {}", it.head),
                        "no usable vrrp_track_process of this name (keepalived ignores it too)",
                    );
                    continue;
                };
                ib.t_procs.push(TrackProcess {
                    name: p.yaml_name.clone(),
                    weight: weight.map_or(p.cfg.weight, |w| w as i32),
                    reverse,
                });
            }
            _ => {
                let Some((_, tf, tf_idx)) = track_files.get(&it.head) else {
                    cx.skip(
                        &it.st,
                        &format!("track_file {}", it.head),
                        "no vrrp_track_file of this name (keepalived ignores it too)",
                    );
                    continue;
                };
                if *tf_idx > my_idx {
                    cx.skip(
                        &it.st,
                        &format!("track_file {}", it.head),
                        "its vrrp_track_file comes after this instance, so keepalived ignores it; move the vrrp_track_file block above the instance",
                    );
                    continue;
                }
                let Some(path) = &tf.path else {
                    cx.skip(
                        &it.st,
                        &format!("track_file {}", it.head),
                        "its vrrp_track_file has no `file`",
                    );
                    continue;
                };
                let w = weight.or(tf.weight).unwrap_or(1);
                ib.t_files.push(ModelTrackFile {
                    path: path.into(),
                    weight: w as i32,
                    reverse,
                });
            }
        }
    }
}

/// `authentication { auth_type T  auth_pass P }`: the block, its type and its password (what
/// keepalived runs with them is [`authentication`]'s decision, once the version is known).
fn authentication_block(cx: &mut Cx, b: &Stmt) -> (Stmt, Option<String>, Option<String>) {
    let inner = resplit(
        cx,
        b.block.as_deref().unwrap_or_default(),
        &[("auth_type", 1), ("auth_pass", 1)],
    );
    let mut ty = None;
    let mut pass = None;
    for i in &inner {
        let v = i.args.first().map(|w| w.text.clone());
        match (i.keyword.text.as_str(), v) {
            ("auth_type", Some(v)) => ty = Some(v),
            ("auth_pass", Some(v)) => pass = Some(v),
            _ => cx.unknown(i, "authentication"),
        }
    }
    (b.clone(), ty, pass)
}

/// `virtual_ipaddress { ADDR[/LEN] [options] }`: the addresses that translate (address, text
/// with its options, line), findings for the options that do not. A `dev` is resolved against
/// the instance's interface once it is known ([`model_vips`]).
fn virtual_ipaddress_block(cx: &mut Cx, b: &Stmt) -> Vec<(IpAddr, String, Stmt)> {
    let mut out = Vec::new();
    let opts = [
        ("dev", 1),
        ("label", 1),
        ("scope", 1),
        ("brd", 1),
        ("broadcast", 1),
        ("preferred_lft", 1),
        ("valid_lft", 1),
        ("track_group", 1),
        ("no_track", 0),
        ("home", 0),
        ("nodad", 0),
        ("-nodad", 0),
        ("noprefixroute", 0),
        ("autojoin", 0),
    ];
    for it in items(cx, b, &opts) {
        let (addr_s, len) = match it.head.split_once('/') {
            Some((a, l)) => (a.to_owned(), Some(l.to_owned())),
            None => (it.head.clone(), None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            cx.skip(
                &it.st,
                &format!("virtual_ipaddress {}", it.head),
                "not an address (ranges and names are not supported); list each address",
            );
            continue;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len.as_deref().map(str::parse::<u8>) {
            None => max,
            Some(Ok(l)) if l <= max => l,
            _ => {
                cx.skip(
                    &it.st,
                    &format!("virtual_ipaddress {}", it.head),
                    "bad prefix length",
                );
                continue;
            }
        };
        // dev, scope, label, brd and noprefixroute are translated (routes.rs); the rest are
        // listed.
        let text = super::routes::address_text(
            cx,
            &it.st,
            "virtual_ipaddress",
            &format!("{addr}/{len}"),
            &it.opts,
        );
        out.push((addr, text, it.st.clone()));
    }
    out
}

/// `authentication { auth_type T  auth_pass P }` as keepalived 2.2.7 runs it with VRRP
/// version `ver`: the password vipd uses (None: no authentication), findings for the rest.
fn authentication(
    cx: &mut Cx,
    ast: &Stmt,
    ty: Option<String>,
    pass: Option<String>,
    ver: u8,
) -> Option<String> {
    let ty_u = ty.as_deref().map(str::to_ascii_uppercase);
    match (ty_u.as_deref(), pass) {
        (Some("PASS"), Some(p)) if ver == 2 => {
            let mut p = p;
            if p.len() > 8 {
                let mut cut = 8;
                while !p.is_char_boundary(cut) {
                    cut -= 1;
                }
                p.truncate(cut);
                cx.note(
                    ast,
                    "auth_pass",
                    "longer than 8 bytes: keepalived uses only the first 8, and so does the translation",
                );
            }
            return Some(p);
        }
        (Some("PASS" | "AH"), _) if ver == 3 => cx.note(
            ast,
            "authentication",
            "ignored: VRRPv3 has no authentication (keepalived ignores it with version 3 too)",
        ),
        (Some("AH"), _) => cx.skip(ast, "authentication auth_type AH", AH_ADVICE),
        (Some("PASS"), None) => cx.skip(ast, "authentication", "auth_type PASS without auth_pass"),
        (t, _) => cx.skip(
            ast,
            "authentication",
            format!("auth_type {} is not PASS or AH", t.unwrap_or("(missing)")),
        ),
    }
    None
}

/// Why `auth_type AH` stays refused (keepalived 2.2.7 still supports it for VRRPv2), and what
/// to do.
const AH_ADVICE: &str = "IPsec AH authentication was removed from VRRP by RFC 3768 (section 5.3.6 leaves authentication types 1 and 2 reserved; section 10: operational experience showed it did not add enough security to outweigh misconfigured secrets electing several masters), and RFC 9568 (VRRPv3) has no authentication at all, so vipd does not implement it. In a mixed pair a keepalived router with AH sends its adverts inside AH (IP protocol 51), which vipd never reads, and drops vipd's unauthenticated adverts, so both become master. Switch every keepalived router to no authentication (or auth_type PASS) first, one at a time, then replace them with vipd; the translation has no authentication";

/// `unicast_src_ip` / `mcast_src_ip`: the advert source, when it is of the instance's family.
fn advert_source(cx: &mut Cx, s: IpAddr, sst: &Stmt, v6: bool) -> Option<IpAddr> {
    if s.is_ipv6() != v6 {
        cx.skip(
            sst,
            &sst.keyword.text,
            format!(
                "{s} is not of the instance's address family; keepalived skips it too (\"src address MUST be of the same family\") and uses the interface's address, as vipd does without it"
            ),
        );
        return None;
    }
    if sst.keyword.text == "mcast_src_ip" {
        cx.note(
            sst,
            "mcast_src_ip",
            "written as unicast_src: vipd sends its adverts, multicast ones too, from unicast_src when it is set",
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::{keepalived_advert_us, process_check};

    /// (advert_int text, VRRPv3?) -> the interval keepalived 2.2.7 runs, in microseconds.
    fn us(text: &str, v3: bool) -> u64 {
        keepalived_advert_us(text, v3).unwrap().0
    }

    #[test]
    fn import_advert_int_v2_rounds_to_the_nearest_second_like_keepalived() {
        for (text, want) in [
            ("1", 1_000_000),
            ("1.2", 1_000_000),
            ("2.4", 2_000_000),
            ("2.5", 3_000_000),
            ("2.49", 2_000_000),
            ("0.5", 1_000_000),
            ("0.4", 1_000_000), // rounds to 0, which keepalived makes 1 s
            ("0.014", 1_000_000),
            ("254.6", 255_000_000),
            ("255", 255_000_000),
            (".5", 1_000_000),
            ("3.", 3_000_000),
        ] {
            assert_eq!(us(text, false), want, "advert_int {text} (v2)");
        }
        assert!(keepalived_advert_us("1.2", false).unwrap().1[0].contains("rounds"));
        assert!(keepalived_advert_us("2", false).unwrap().1.is_empty());
    }

    #[test]
    fn import_advert_int_v3_rounds_to_centiseconds_and_clamps_at_40_95_s() {
        for (text, want) in [
            ("0.014", 10_000),
            ("0.015", 20_000),
            ("0.01", 10_000),
            ("0.105", 110_000),
            ("0.2", 200_000),
            ("1.234", 1_230_000),
            ("40.95", 40_950_000),
            ("40.954", 40_950_000),
            ("40.955", 40_950_000), // keepalived: 40.96 s, advertised as 0; listed
            ("40.96", 40_950_000),
            ("100", 40_950_000),
            ("255", 40_950_000),
        ] {
            assert_eq!(us(text, true), want, "advert_int {text} (v3)");
        }
        assert!(keepalived_advert_us("100", true).unwrap().1[0].contains("40.95"));
        let odd = keepalived_advert_us("40.955", true).unwrap().1;
        assert!(odd[0].starts_with("NOT EXACT: "), "{odd:?}");
        assert!(keepalived_advert_us("0.2", true).unwrap().1.is_empty());
    }

    #[test]
    fn import_advert_int_outside_0_01_to_255_s_is_ignored_by_keepalived_so_1_s() {
        for text in [
            "0",
            "0.0",
            "0.009",
            "0.0099994",
            "255.000001",
            "256",
            "99999999999999999999",
        ] {
            for v3 in [false, true] {
                let (got, what) = keepalived_advert_us(text, v3).unwrap();
                assert_eq!(got, 1_000_000, "advert_int {text} (v3 {v3})");
                assert!(what.iter().any(|w| w.contains("ignores")), "{what:?}");
            }
        }
        // The 7th decimal place rounds the 6th, as keepalived reads it.
        assert_eq!(us("0.0099995", true), 10_000);
        assert_eq!(
            us("0.0149995", true),
            20_000,
            "0.015 after the first rounding"
        );
        for bad in ["", ".", "1s", "-1", "1.2.3", "1,5"] {
            assert!(keepalived_advert_us(bad, false).is_none(), "{bad}");
        }
    }

    #[test]
    fn only_pure_process_tests_become_tracked_processes() {
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (argv, want) in [
            (w(&["killall", "-0", "nginx"]), Some("nginx")),
            (w(&["/usr/bin/killall", "-0", "haproxy"]), Some("haproxy")),
            (w(&["pidof", "-s", "nginx"]), Some("nginx")),
            (w(&["pgrep", "-x", "nginx"]), Some("nginx")),
            (w(&["ps", "-C", "nginx", "--no-headers"]), Some("nginx")),
            (
                w(&["/bin/sh", "-c", "pidof nginx >/dev/null 2>&1"]),
                Some("nginx"),
            ),
            (
                w(&["sh", "-c", "killall -0 nginx > /dev/null"]),
                Some("nginx"),
            ),
            // A pipeline's status is wc's; other options, several names, long names, paths.
            (w(&["sh", "-c", "ps -C nginx --no-header | wc -l"]), None),
            (w(&["killall", "-9", "nginx"]), None),
            (w(&["killall", "nginx"]), None),
            (w(&["pidof", "nginx", "haproxy"]), None),
            (w(&["pgrep", "-f", "nginx: master"]), None),
            (w(&["pgrep", "-x", "a-very-long-daemon-name"]), None),
            (w(&["pidof", "/usr/sbin/nginx"]), None),
            (
                w(&["sh", "-c", "pidof nginx && curl -fs http://127.0.0.1/"]),
                None,
            ),
            (w(&["/etc/keepalived/check.sh"]), None),
        ] {
            assert_eq!(process_check(&argv).as_deref(), want, "{argv:?}");
        }
    }
}

//! Running one external program: no shell, its own process group, a timeout that kills the
//! whole group (and, for check scripts, whatever of the group is left when it exits), stderr captured (bounded) for the logs. Never blocks the runtime.

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::time::Instant;

use super::RunResult;

/// At most this much of a program's stderr is kept for the log.
const STDERR_CAP: usize = 2048;
/// After the program exits, how long to wait for its stderr to reach end-of-file (a background
/// child may keep it open).
const STDERR_GRACE: Duration = Duration::from_millis(100);

/// What to run.
pub(crate) struct Spec<'a> {
    pub argv: &'a [String],
    /// Variables on top of the clean environment ([`crate::security::script_env`]: PATH,
    /// LANG, LC_ALL, TZ from vipd's own); nothing else of vipd's environment is passed on.
    pub env: &'a [(&'static str, String)],
    /// uid and gid to switch to, if any.
    pub creds: Option<(u32, u32)>,
    pub timeout: Duration,
    /// When the program exits, kill what is left of its process group (background children
    /// of a check script, which would otherwise pile up at every run). Notify hooks keep
    /// theirs: a hook may start something on purpose.
    pub reap_group: bool,
}

/// How a run ended.
pub(crate) struct Finished {
    pub result: RunResult,
    /// Human-readable: "exit status 1", "timed out after 2s", "cannot start ...".
    pub detail: String,
    pub duration: Duration,
    /// The start of stderr, lossily decoded and trimmed.
    pub stderr: String,
}

/// Kills the process group when dropped while armed (timeout, or the task was aborted).
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => match Signal::try_from(s) {
            Ok(sig) => format!("killed by {sig}"),
            Err(_) => format!("killed by signal {s}"),
        },
        _ => status.to_string(),
    }
}

/// Run `spec` to completion or timeout.
pub(crate) async fn run(spec: &Spec<'_>) -> Finished {
    let start = Instant::now();
    let finish = |result, detail: String, stderr: String| Finished {
        result,
        detail,
        duration: start.elapsed(),
        stderr,
    };
    let Some(program) = spec.argv.first() else {
        return finish(RunResult::Error, "empty command".into(), String::new());
    };
    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..])
        .env_clear()
        .envs(crate::security::script_env(|k| std::env::var(k).ok()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in spec.env {
        cmd.env(k, v);
    }
    if let Some((uid, gid)) = spec.creds {
        cmd.uid(uid).gid(gid);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return finish(
                RunResult::Error,
                format!("cannot start `{program}`: {e}"),
                String::new(),
            );
        }
    };
    // With process_group(0) the child's pid is its process group id.
    let mut guard = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let mut stderr = child.stderr.take();
    let mut captured: Vec<u8> = Vec::new();
    // Large reads: a script printing megabytes to stderr is drained (and all but the first
    // STDERR_CAP bytes dropped) in few wake-ups of the runtime the engine shares.
    let mut chunk = vec![0u8; 64 * 1024];
    let mut deadline = start + spec.timeout;
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let mut timed_out = false;
    loop {
        tokio::select! {
            r = async {
                match stderr.as_mut() {
                    Some(s) => s.read(&mut chunk).await,
                    None => std::future::pending().await,
                }
            }, if stderr.is_some() => match r {
                Ok(0) | Err(_) => stderr = None,
                Ok(n) => {
                    let room = STDERR_CAP.saturating_sub(captured.len());
                    captured.extend_from_slice(&chunk[..n.min(room)]);
                }
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                if spec.reap_group {
                    // The group id stays taken (not reusable as a pid) while any member
                    // lives, so this reaches only the script's own leftovers.
                    guard.kill();
                } else {
                    guard.disarm();
                }
                deadline = Instant::now() + STDERR_GRACE;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if status.is_none() {
                    timed_out = true;
                    guard.kill();
                    status = Some(child.wait().await);
                }
                break;
            }
        }
        if status.is_some() && stderr.is_none() {
            break;
        }
    }
    let stderr_text = String::from_utf8_lossy(&captured).trim().to_owned();
    if timed_out {
        return finish(
            RunResult::Timeout,
            format!(
                "timed out after {}, process group killed",
                crate::config::format_duration(spec.timeout)
            ),
            stderr_text,
        );
    }
    match status {
        Some(Ok(s)) if s.success() => finish(RunResult::Success, describe(s), stderr_text),
        Some(Ok(s)) => finish(RunResult::Failure, describe(s), stderr_text),
        Some(Err(e)) => finish(
            RunResult::Error,
            format!("waiting for `{program}` failed: {e}"),
            stderr_text,
        ),
        None => finish(RunResult::Error, "no exit status".into(), stderr_text),
    }
}

/// Resolve `user` to (uid, gid), with `group` instead of the user's primary group when given
/// (a notify hook's `group`; only with a user), and, when the program would run as root,
/// apply the script security rule. Blocking (NSS, stat): call from `spawn_blocking`.
pub(crate) fn prepare_as(
    program: &str,
    user: Option<&str>,
    group: Option<&str>,
) -> Result<Option<(u32, u32)>, String> {
    let creds = match user {
        None => None,
        Some(name) => match super::lookup_user(name)? {
            Some(ids) => Some(ids),
            None => return Err(format!("no user `{name}`")),
        },
    };
    let creds = match (creds, group) {
        (Some((uid, _)), Some(g)) => match super::lookup_group(g)? {
            Some(gid) => Some((uid, gid)),
            None => return Err(format!("no group `{g}`")),
        },
        (c, _) => c,
    };
    let as_root = match creds {
        Some((uid, _)) => uid == 0,
        None => nix::unistd::geteuid().is_root(),
    };
    if as_root && nix::unistd::geteuid().is_root() {
        let path = crate::security::resolve_program(program)?;
        if let Some(why) = crate::security::insecure(&path) {
            return Err(format!(
                "refusing to run `{}` as root: {why} (make it writable by root only, or set a non-root `user`)",
                path.display()
            ));
        }
    }
    Ok(creds)
}

/// [`prepare_as`] with the user's primary group, off the runtime threads.
pub(crate) async fn prepare_async(
    program: String,
    user: Option<String>,
) -> Result<Option<(u32, u32)>, String> {
    prepare_as_async(program, user, None).await
}

/// [`prepare_as`] off the runtime threads.
pub(crate) async fn prepare_as_async(
    program: String,
    user: Option<String>,
    group: Option<String>,
) -> Result<Option<(u32, u32)>, String> {
    tokio::task::spawn_blocking(move || prepare_as(&program, user.as_deref(), group.as_deref()))
        .await
        .unwrap_or_else(|e| Err(format!("preparing failed: {e}")))
}

/// `CapEff` bits (linux/capability.h).
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

/// Why a process with these credentials (`euid`, `egid`, effective capability mask) cannot
/// start a program as `user` (`uid`, `gid`); None when it can: the same uid and gid need
/// nothing, another uid needs CAP_SETUID, another gid CAP_SETGID.
pub fn switch_problem(
    euid: u32,
    egid: u32,
    cap_eff: u64,
    user: &str,
    uid: u32,
    gid: u32,
) -> Option<String> {
    let need_uid = uid != euid && cap_eff & (1 << CAP_SETUID) == 0;
    let need_gid = gid != egid && cap_eff & (1 << CAP_SETGID) == 0;
    let caps = match (need_uid, need_gid) {
        (false, false) => return None,
        (true, true) => "CAP_SETUID and CAP_SETGID",
        (true, false) => "CAP_SETUID",
        (false, true) => "CAP_SETGID",
    };
    Some(format!(
        "cannot run as user `{user}` (uid {uid}, gid {gid}): vipd runs as uid {euid}, gid {egid} \
         without {caps}; remove `user` to run the script as vipd's own user (see docs/systemd.md \
         for the checks that work as user vipd), or grant {caps}"
    ))
}

/// [`switch_problem`] for this process now (its effective ids and `CapEff` from
/// /proc/self/status; an unreadable mask counts as no capabilities).
pub fn current_switch_problem(user: &str, uid: u32, gid: u32) -> Option<String> {
    let cap_eff = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    switch_problem(
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
        cap_eff,
        user,
        uid,
        gid,
    )
}

#[cfg(test)]
mod switch_tests {
    use super::*;

    #[test]
    fn switching_user_needs_setuid_and_setgid_unless_it_is_the_same() {
        // vipd (998:998) without capabilities: its own user is fine, root is not.
        assert_eq!(switch_problem(998, 998, 0, "vipd", 998, 998), None);
        let m = switch_problem(998, 998, 0, "root", 0, 0).unwrap();
        assert!(
            m.contains("cannot run as user `root` (uid 0, gid 0)"),
            "{m}"
        );
        assert!(m.contains("without CAP_SETUID and CAP_SETGID"), "{m}");
        // Only the group differs.
        let m = switch_problem(998, 998, 0, "x", 998, 5).unwrap();
        assert!(m.contains("without CAP_SETGID;"), "{m}");
        // With both capabilities (root, or granted) anything goes.
        let both = (1 << CAP_SETUID) | (1 << CAP_SETGID);
        assert_eq!(switch_problem(998, 998, both, "root", 0, 0), None);
        assert_eq!(switch_problem(0, 0, u64::MAX, "nobody", 65534, 65534), None);
        // Root without CAP_SETUID (e.g. a bounded root) is refused too.
        assert!(switch_problem(0, 0, 1 << CAP_SETGID, "nobody", 65534, 65534).is_some());
    }
}

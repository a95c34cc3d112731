//! Runtime tests with real processes (no root needed).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::{Instant, timeout};

use super::*;
use crate::config::{Notify, ScriptConfig};

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Replace a file atomically so a script never reads it half-written.
fn set_file(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn script(command: Vec<String>) -> ScriptConfig {
    ScriptConfig {
        command,
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        weight: -20,
        rise: 1,
        fall: 1,
        user: None,
        init_fail: false,
        reverse: false,
    }
}

async fn next(rx: &mut UnboundedReceiver<TrackEvent>) -> TrackEvent {
    timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no track event within 10s")
        .expect("channel closed")
}

/// Collect events until a `Script` event arrives; returns the runs seen before it and it.
async fn until_health(rx: &mut UnboundedReceiver<TrackEvent>) -> (Vec<RunResult>, bool) {
    let mut runs = Vec::new();
    loop {
        match next(rx).await {
            TrackEvent::Run { result, .. } => runs.push(result),
            TrackEvent::Script { healthy, .. } => return (runs, healthy),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn script_rise_fall() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let check = dir.path().join("check.sh");
    set_file(&state, "ok\n");
    write_exec(
        &check,
        &format!(
            "#!/bin/sh\n[ \"$(cat {})\" = ok ]\n",
            state.to_str().unwrap()
        ),
    );
    let mut cfg = script(vec![check.to_str().unwrap().to_owned()]);
    cfg.rise = 2;
    cfg.fall = 3;
    let scripts = BTreeMap::from([("chk".to_owned(), cfg)]);
    let (tx, mut rx) = unbounded_channel();
    let s = Scripts::spawn(&scripts, tx);
    assert_eq!(s.len(), 1);

    // Initial state first, then successful runs and no state change.
    assert_eq!(
        next(&mut rx).await,
        TrackEvent::Script {
            name: "chk".into(),
            healthy: true
        }
    );
    for _ in 0..2 {
        match next(&mut rx).await {
            TrackEvent::Run { name, result, .. } => {
                assert_eq!(name, "chk");
                assert_eq!(result, RunResult::Success);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    // Fails: healthy -> failed only after `fall` (3) consecutive failures.
    set_file(&state, "bad\n");
    let (runs, healthy) = until_health(&mut rx).await;
    assert!(!healthy);
    assert!(runs.len() >= 3, "{runs:?}");
    assert_eq!(runs[runs.len() - 3..], [RunResult::Failure; 3], "{runs:?}");

    // Recovers: failed -> healthy after `rise` (2) consecutive successes.
    set_file(&state, "ok\n");
    let (runs, healthy) = until_health(&mut rx).await;
    assert!(healthy);
    assert_eq!(runs[runs.len() - 2..], [RunResult::Success; 2], "{runs:?}");
    assert!(
        runs[..runs.len() - 2]
            .iter()
            .all(|r| *r == RunResult::Failure),
        "{runs:?}"
    );

    // Dropping the set stops the task: the channel closes.
    drop(s);
    let closed = timeout(Duration::from_secs(5), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "tasks still running after drop");
}

#[tokio::test]
async fn init_fail_and_start_errors() {
    let mut ok = script(vec!["true".into()]);
    ok.init_fail = true;
    ok.rise = 3;
    let missing = script(vec!["/nonexistent/vipd-check".into()]);
    let scripts = BTreeMap::from([("missing".to_owned(), missing), ("ok".to_owned(), ok)]);
    let (tx, mut rx) = unbounded_channel();
    let _s = Scripts::spawn(&scripts, tx);

    let mut ok_events = Vec::new();
    let mut missing_events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (ok_events.len() < 5 || missing_events.len() < 3) && Instant::now() < deadline {
        match next(&mut rx).await {
            TrackEvent::Script { name, healthy } if name == "ok" => ok_events.push(Some(healthy)),
            TrackEvent::Run { name, result, .. } if name == "ok" => {
                assert_eq!(result, RunResult::Success);
                ok_events.push(None);
            }
            TrackEvent::Script { healthy, .. } => missing_events.push(Ok(healthy)),
            TrackEvent::Run { result, .. } => missing_events.push(Err(result)),
            other => panic!("unexpected {other:?}"),
        }
    }
    // init_fail: failed at start, healthy after `rise` (3) successes.
    assert_eq!(
        ok_events[..5],
        [Some(false), None, None, None, Some(true)],
        "{ok_events:?}"
    );
    // A program that cannot start is an error and a failure.
    assert_eq!(
        missing_events[..3],
        [Ok(true), Err(RunResult::Error), Ok(false)],
        "{missing_events:?}"
    );
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name; Z = zombie (dead, not yet reaped).
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn read_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(t) = std::fs::read_to_string(path)
            && let Ok(p) = t.trim().parse()
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn hanging_script_is_killed_with_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let check = dir.path().join("hang.sh");
    write_exec(
        &check,
        &format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {d}/child.tmp && mv {d}/child.tmp {d}/child\n\
             echo $$ > {d}/leader.tmp && mv {d}/leader.tmp {d}/leader\nsleep 1000\n"
        ),
    );
    let mut cfg = script(vec![check.to_str().unwrap().to_owned()]);
    cfg.interval = Duration::from_secs(100);
    cfg.timeout = Duration::from_millis(500);
    let scripts = BTreeMap::from([("hang".to_owned(), cfg)]);
    let (tx, mut rx) = unbounded_channel();
    let _s = Scripts::spawn(&scripts, tx);
    assert!(matches!(
        next(&mut rx).await,
        TrackEvent::Script { healthy: true, .. }
    ));
    let leader = read_pid(&dir.path().join("leader")).await;
    let child = read_pid(&dir.path().join("child")).await;
    assert!(alive(leader) && alive(child));

    match next(&mut rx).await {
        TrackEvent::Run {
            result, duration, ..
        } => {
            assert_eq!(result, RunResult::Timeout);
            assert!(
                duration >= Duration::from_millis(500) && duration < Duration::from_secs(3),
                "{duration:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        next(&mut rx).await,
        TrackEvent::Script {
            name: "hang".into(),
            healthy: false
        }
    );
    // The whole group is gone, the background `sleep` included.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (alive(leader) || alive(child)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(leader), "script {leader} survived its timeout");
    assert!(
        !alive(child),
        "background child {child} survived its timeout"
    );
}

#[tokio::test]
async fn children_a_script_leaves_behind_are_killed_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let check = dir.path().join("leaves.sh");
    // Three background children, their pids written, then a successful exit at once.
    write_exec(
        &check,
        &format!(
            "#!/bin/sh\nfor i in 1 2 3; do sleep 1000 & echo $! >> {d}/kids.tmp; done\n\
             mv {d}/kids.tmp {d}/kids\nexit 0\n"
        ),
    );
    let mut cfg = script(vec![check.to_str().unwrap().to_owned()]);
    cfg.interval = Duration::from_secs(100);
    let scripts = BTreeMap::from([("leaves".to_owned(), cfg)]);
    let (tx, mut rx) = unbounded_channel();
    let _s = Scripts::spawn(&scripts, tx);
    assert!(matches!(
        next(&mut rx).await,
        TrackEvent::Script { healthy: true, .. }
    ));
    match next(&mut rx).await {
        TrackEvent::Run { result, .. } => assert_eq!(result, RunResult::Success),
        other => panic!("unexpected {other:?}"),
    }
    let kids: Vec<u32> = std::fs::read_to_string(dir.path().join("kids"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(kids.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(5);
    while kids.iter().any(|&k| alive(k)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left: Vec<u32> = kids.into_iter().filter(|&k| alive(k)).collect();
    assert!(left.is_empty(), "children outlived their script: {left:?}");
}

#[tokio::test]
async fn insecure_script_is_refused_as_root() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A non-sticky world-writable directory: anyone could replace the script.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let check = dir.path().join("check.sh");
    write_exec(&check, "#!/bin/sh\nexit 0\n");
    let scripts = BTreeMap::from([(
        "s".to_owned(),
        script(vec![check.to_str().unwrap().to_owned()]),
    )]);
    let (tx, mut rx) = unbounded_channel();
    let _s = Scripts::spawn(&scripts, tx);
    assert!(matches!(
        next(&mut rx).await,
        TrackEvent::Script { healthy: true, .. }
    ));
    assert!(matches!(
        next(&mut rx).await,
        TrackEvent::Run {
            result: RunResult::Error,
            ..
        }
    ));
    assert!(matches!(
        next(&mut rx).await,
        TrackEvent::Script { healthy: false, .. }
    ));
}

#[tokio::test]
async fn tracked_files_report_changes() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    set_file(&a, "5\n");
    let (tx, mut rx) = unbounded_channel();
    let _f = Files::spawn(vec![a.clone(), b.clone(), a.clone()], tx);
    let mut first = vec![next(&mut rx).await, next(&mut rx).await];
    first.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        first,
        vec![
            TrackEvent::File {
                path: a.clone(),
                value: Some(5)
            },
            TrackEvent::File {
                path: b.clone(),
                value: None
            },
        ]
    );
    set_file(&b, "-3");
    assert_eq!(
        next(&mut rx).await,
        TrackEvent::File {
            path: b.clone(),
            value: Some(-3)
        }
    );
    set_file(&a, "garbage");
    assert_eq!(
        next(&mut rx).await,
        TrackEvent::File {
            path: a.clone(),
            value: None
        }
    );
    // No change, no event.
    assert!(
        timeout(Duration::from_millis(1200), rx.recv())
            .await
            .is_err()
    );
}

#[test]
fn state_assessment() {
    let yaml = "\
scripts:
  up: { command: [\"true\"], weight: 10 }
  down: { command: [\"true\"], weight: -30 }
  vital: { command: [\"true\"], init_fail: true }
instances:
  VI_1:
    interface: eth0
    vrid: 1
    virtual_ipaddress: [10.0.0.1]
    track_scripts: [up, down, {name: vital, weight: -5}]
    track_files: [{path: /run/vipd/prio, weight: 2}, {path: /run/vipd/stop, weight: 0}]
";
    let cfg = crate::config::parse_str(yaml, "t").unwrap().config;
    let inst = &cfg.instances["VI_1"];
    let mut st = TrackState::new(&cfg.scripts);
    // vital starts failed (init_fail), files unknown (count as 0).
    assert_eq!(
        st.assess(inst),
        Assessment {
            fault: false,
            weights: vec![10, -5]
        }
    );
    assert!(st.apply(&TrackEvent::Script {
        name: "down".into(),
        healthy: false
    }));
    assert!(!st.apply(&TrackEvent::Script {
        name: "down".into(),
        healthy: false
    }));
    assert!(st.apply(&TrackEvent::File {
        path: "/run/vipd/prio".into(),
        value: Some(-4)
    }));
    let a = st.assess(inst);
    assert_eq!(a.weights, vec![10, -30, -5, -8]);
    assert_eq!(effective_priority(inst.priority, a.weights), 67);
    st.apply(&TrackEvent::File {
        path: "/run/vipd/stop".into(),
        value: Some(1),
    });
    assert!(st.assess(inst).fault);
    assert_eq!(
        tracked_files(cfg.instances.values()),
        vec![
            PathBuf::from("/run/vipd/prio"),
            PathBuf::from("/run/vipd/stop")
        ]
    );
}

fn hooks(hook: &Path) -> Notify {
    let h = hook.to_str().unwrap().to_owned();
    Notify {
        master: Some(vec![h.clone(), "master".into(), "slow".into()]),
        backup: Some(vec![h.clone(), "backup".into()]),
        fault: None,
        stop: Some(vec![h.clone(), "stop".into()]),
        any: Some(vec![h]),
        run_as: BTreeMap::new(),
    }
}

fn hook_script(dir: &Path, log: &Path) -> PathBuf {
    let hook = dir.join("hook.sh");
    write_exec(
        &hook,
        &format!(
            "#!/bin/sh\n[ \"$2\" = slow ] && sleep 0.2\n\
             echo \"$* | $VIPD_INSTANCE $VIPD_STATE $VIPD_PRIORITY $VIPD_VRID $VIPD_INTERFACE\" >> {}\n",
            log.to_str().unwrap()
        ),
    );
    hook
}

#[tokio::test]
async fn notify_runs_in_order_with_args_and_env() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let hook = hook_script(dir.path(), &log);
    let h = hooks(&hook);
    let n = Notifier::new();
    let t0 = std::time::Instant::now();
    n.notify("VI_1", "MASTER", 150, 51, "eth0", &h);
    n.notify("VI_1", "BACKUP", 90, 51, "eth0", &h);
    n.notify("VI_1", "MASTER", 150, 51, "eth0", &h);
    n.notify("VI_1", "FAULT", 150, 51, "eth0", &h);
    // Nothing configured: nothing runs.
    n.notify("VI_2", "MASTER", 100, 52, "eth1", &Notify::default());
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "notify must only enqueue"
    );
    n.finish(Duration::from_secs(10)).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "master slow | VI_1 MASTER 150 51 eth0",
            "INSTANCE VI_1 MASTER 150 | VI_1 MASTER 150 51 eth0",
            "backup | VI_1 BACKUP 90 51 eth0",
            "INSTANCE VI_1 BACKUP 90 | VI_1 BACKUP 90 51 eth0",
            "master slow | VI_1 MASTER 150 51 eth0",
            "INSTANCE VI_1 MASTER 150 | VI_1 MASTER 150 51 eth0",
            // No `fault` hook: only `any`.
            "INSTANCE VI_1 FAULT 150 | VI_1 FAULT 150 51 eth0",
        ]
    );
}

#[tokio::test]
async fn hanging_notify_hook_is_killed_and_the_queue_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let hook = hook_script(dir.path(), &log);
    let hang = dir.path().join("hang.sh");
    write_exec(&hang, "#!/bin/sh\nsleep 1000 &\nsleep 1000\n");
    let n = Notifier::with_timeout(Duration::from_millis(300));
    let hanging = Notify {
        master: Some(vec![hang.to_str().unwrap().to_owned()]),
        ..Notify::default()
    };
    let t0 = Instant::now();
    n.notify("VI_1", "MASTER", 150, 51, "eth0", &hanging);
    n.notify("VI_1", "STOP", 150, 51, "eth0", &hooks(&hook));
    n.finish(Duration::from_secs(10)).await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        vec![
            "stop | VI_1 STOP 150 51 eth0",
            "INSTANCE VI_1 STOP 150 | VI_1 STOP 150 51 eth0",
        ]
    );
}

/// `notify.<hook>: {command, user, group}` (keepalived's `notify_master "cmd" user [group]`):
/// the hook runs as that user, with its primary group or the group given, through the same
/// user switch as check scripts; instance and sync group hooks alike. Root only (switching
/// users needs it).
#[tokio::test]
async fn notify_hooks_run_as_their_user() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let other = nix::unistd::Group::from_name("daemon").unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // nobody must be able to write its answer there.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sh = |name: &str| {
        vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            format!("echo $(id -u) $(id -g) > {}/{name}", dir.path().display()),
        ]
    };
    let run_as = |user: &str, group: Option<&str>| crate::config::RunAs {
        user: user.into(),
        group: group.map(str::to_owned),
    };
    let h = Notify {
        master: Some(sh("master")),
        backup: Some(sh("backup")),
        run_as: BTreeMap::from([
            ("master".to_owned(), run_as("nobody", None)),
            ("backup".to_owned(), run_as("nobody", Some("daemon"))),
        ]),
        ..Notify::default()
    };
    let g = Notify {
        any: Some(sh("group")),
        run_as: BTreeMap::from([("any".to_owned(), run_as("nobody", None))]),
        ..Notify::default()
    };
    let unknown = Notify {
        fault: Some(sh("unknown")),
        run_as: BTreeMap::from([("fault".to_owned(), run_as("vipd-no-such-user", None))]),
        ..Notify::default()
    };
    let n = Notifier::new();
    n.notify("VI_1", "MASTER", 150, 51, "eth0", &h);
    n.notify("VI_1", "BACKUP", 100, 51, "eth0", &h);
    n.notify_group("GW", "MASTER", &g);
    n.notify("VI_2", "FAULT", 100, 52, "eth0", &unknown);
    n.finish(Duration::from_secs(10)).await;
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    let (uid, gid) = (nobody.uid.as_raw(), nobody.gid.as_raw());
    assert_eq!(read("master").trim(), format!("{uid} {gid}"));
    assert_eq!(
        read("backup").trim(),
        format!("{uid} {}", other.gid.as_raw()),
        "the group given"
    );
    assert_eq!(read("group").trim(), format!("{uid} {gid}"));
    // An unknown user: the hook is not run (logged), never run as vipd's own user.
    assert!(!dir.path().join("unknown").exists());
}

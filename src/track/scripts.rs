//! Check scripts: one task per script, each run bounded by its timeout.

use std::collections::BTreeMap;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use super::hysteresis::Hysteresis;
use super::process::{self, Spec};
use super::{RunResult, TrackEvent};
use crate::config::ScriptConfig;

/// The running check scripts, by name. Dropping it stops them; a script that is running at
/// that moment is killed with its process group.
pub struct Scripts {
    tasks: BTreeMap<String, JoinHandle<()>>,
    tx: UnboundedSender<TrackEvent>,
}

impl Scripts {
    /// Start one task per script on the current tokio runtime. Each task first sends
    /// [`TrackEvent::Script`] with the initial state (failed with `init_fail`, else healthy),
    /// then runs the script every `interval` (a run never overlaps the previous one), sends
    /// [`TrackEvent::Run`] after every run and [`TrackEvent::Script`] whenever the healthy state
    /// changes after rise/fall.
    pub fn spawn(
        scripts: &BTreeMap<String, ScriptConfig>,
        tx: UnboundedSender<TrackEvent>,
    ) -> Scripts {
        let mut s = Scripts {
            tasks: BTreeMap::new(),
            tx,
        };
        let names: Vec<String> = scripts.keys().cloned().collect();
        s.start(scripts, &names);
        s
    }

    /// Stops these scripts (reload: removed or changed); the others keep running.
    pub fn stop(&mut self, names: &[String]) {
        for n in names {
            if let Some(t) = self.tasks.remove(n) {
                t.abort();
            }
        }
    }

    /// Starts these scripts from `scripts` (reload: new or changed), replacing a running
    /// task of the same name.
    pub fn start(&mut self, scripts: &BTreeMap<String, ScriptConfig>, names: &[String]) {
        for n in names {
            if let Some(cfg) = scripts.get(n) {
                let task = tokio::spawn(script_task(n.clone(), cfg.clone(), self.tx.clone()));
                if let Some(old) = self.tasks.insert(n.clone(), task) {
                    old.abort();
                }
            }
        }
    }

    /// Number of scripts running.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        for t in self.tasks.values() {
            t.abort();
        }
    }
}

async fn script_task(name: String, cfg: ScriptConfig, tx: UnboundedSender<TrackEvent>) {
    let mut health = Hysteresis::new(cfg.rise, cfg.fall, !cfg.init_fail);
    if tx
        .send(TrackEvent::Script {
            name: name.clone(),
            healthy: health.healthy(),
        })
        .is_err()
    {
        return;
    }
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The last problem logged (result and detail), so a persisting problem is logged once.
    let mut last_problem: Option<(RunResult, String)> = None;
    loop {
        ticker.tick().await;
        let prepared = process::prepare_async(cfg.command[0].clone(), cfg.user.clone()).await;
        let (result, detail, duration, stderr) = match prepared {
            Err(e) => (
                RunResult::Error,
                e,
                std::time::Duration::ZERO,
                String::new(),
            ),
            Ok(Some((uid, gid)))
                if let Some(why) = process::current_switch_problem(
                    cfg.user.as_deref().unwrap_or_default(),
                    uid,
                    gid,
                ) =>
            {
                if tx
                    .send(TrackEvent::UserDenied {
                        name: name.clone(),
                        detail: why.clone(),
                    })
                    .is_err()
                {
                    return;
                }
                (
                    RunResult::Error,
                    why,
                    std::time::Duration::ZERO,
                    String::new(),
                )
            }
            Ok(creds) => {
                let f = process::run(&Spec {
                    argv: &cfg.command,
                    env: &[],
                    creds,
                    timeout: cfg.timeout,
                    reap_group: true,
                })
                .await;
                (f.result, f.detail, f.duration, f.stderr)
            }
        };
        if !stderr.is_empty() {
            debug!(script = %name, %stderr, "script stderr");
        }
        log_result(&name, result, &detail, &mut last_problem);
        let sent = tx.send(TrackEvent::Run {
            name: name.clone(),
            result,
            duration,
        });
        if sent.is_err() {
            return;
        }
        if let Some(healthy) = health.observe(result == RunResult::Success) {
            if healthy {
                info!(script = %name, "check script is healthy");
            } else {
                warn!(script = %name, last = %detail, "check script failed");
            }
            if tx
                .send(TrackEvent::Script {
                    name: name.clone(),
                    healthy,
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// Log a run's problem once per change (not every interval).
fn log_result(name: &str, result: RunResult, detail: &str, last: &mut Option<(RunResult, String)>) {
    if result == RunResult::Success {
        if last.take().is_some() {
            debug!(script = %name, "check script succeeds again");
        }
        return;
    }
    if last
        .as_ref()
        .is_some_and(|(r, d)| *r == result && d == detail)
    {
        return;
    }
    *last = Some((result, detail.to_owned()));
    match result {
        RunResult::Failure => info!(script = %name, %detail, "check script failed"),
        RunResult::Timeout => warn!(script = %name, %detail, "check script timed out"),
        RunResult::Error
            if detail.starts_with("refusing") || detail.starts_with("cannot run as user") =>
        {
            error!(script = %name, %detail, "check script not run")
        }
        _ => warn!(script = %name, %detail, "check script cannot run"),
    }
}

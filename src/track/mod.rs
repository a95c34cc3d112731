//! Health tracking that moves the address: check scripts, tracked files, weights, and the
//! notify hooks run on state changes.
//!
//! - [`Scripts`] and [`Files`] run as tokio tasks and report [`TrackEvent`]s on a channel;
//!   they never block adverts or timers (every external program runs with a timeout, in its
//!   own process group, killed as a group on timeout).
//! - [`TrackState`] folds the events into the current state and [`TrackState::assess`] turns
//!   it into what an instance needs: Fault or not, and the weights to apply. The arithmetic is
//!   pure ([`weight`]): keepalived's semantics.
//! - [`Notifier`] runs notify hooks in order per instance without blocking the caller.

mod files;
mod hysteresis;
mod notify;
mod proc_watch;
mod process;
pub mod procs;
mod scripts;
mod users;
pub mod weight;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

pub use files::{FILE_POLL, Files, parse_value};
pub use hysteresis::Hysteresis;
pub use notify::{NOTIFY_TIMEOUT, Notifier};
pub use proc_watch::{PROC_SCAN, ProcessWatcher, WatchPath};
pub use process::{current_switch_problem, switch_problem};
pub use procs::{ParamMatch, ProcessMatch};
pub use scripts::Scripts;
pub(crate) use users::{lookup_group, lookup_user};
pub use weight::{Applied, effective_priority, file_weight, interface_weight, script_weight};

use crate::config::{InstanceConfig, ScriptConfig};

/// How one run of a check script ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunResult {
    /// Exit status 0.
    Success,
    /// Non-zero exit status, or killed by a signal.
    Failure,
    /// Still running at the timeout; its process group was killed.
    Timeout,
    /// Could not be run: missing, not executable, unknown user, refused by script security.
    Error,
}

impl RunResult {
    /// Lower-case name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Failure => "failure",
            RunResult::Timeout => "timeout",
            RunResult::Error => "error",
        }
    }
}

/// What the tracking tasks report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackEvent {
    /// A script's healthy state: once at start (the initial state), then on every change.
    Script { name: String, healthy: bool },
    /// Every run of a script (for metrics).
    Run {
        name: String,
        result: RunResult,
        duration: Duration,
    },
    /// A tracked file's value: once after the first read, then on every change.
    /// None = missing, unreadable, empty or not an integer.
    File { path: PathBuf, value: Option<i64> },
    /// A tracked process: once at start, then whenever its count or up state changes.
    /// `running`: matching processes now; `up`: within the quorum, after the delays.
    Process {
        name: String,
        running: u32,
        up: bool,
    },
    /// A check script could not run as its `user:` (the daemon's credentials do not allow
    /// it); counted in `vrrp_script_user_errors_total`.
    UserDenied { name: String, detail: String },
}

/// The current state of every script and file, folded from [`TrackEvent`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackState {
    scripts: HashMap<String, bool>,
    files: HashMap<PathBuf, Option<i64>>,
    processes: HashMap<String, bool>,
}

/// What tracking (scripts and files) means for one instance now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// Some tracked object demands Fault.
    pub fault: bool,
    /// Weights to apply (pass to [`effective_priority`] with the interface weights).
    pub weights: Vec<i32>,
}

impl TrackState {
    /// Scripts start in their configured initial state (failed with `init_fail`) until their
    /// first event; files start unreadable (None, which counts as 0).
    pub fn new(scripts: &BTreeMap<String, ScriptConfig>) -> TrackState {
        TrackState {
            scripts: scripts
                .iter()
                .map(|(n, s)| (n.clone(), !s.init_fail))
                .collect(),
            files: HashMap::new(),
            processes: HashMap::new(),
        }
    }

    /// After a reload: scripts no longer configured are forgotten, `restarted` ones (new or
    /// changed) start again from their initial state, every other script keeps its health.
    pub fn reconcile(&mut self, scripts: &BTreeMap<String, ScriptConfig>, restarted: &[String]) {
        self.scripts.retain(|n, _| scripts.contains_key(n));
        for n in restarted {
            if let Some(s) = scripts.get(n) {
                self.scripts.insert(n.clone(), !s.init_fail);
            }
        }
    }

    /// Apply an event; true if a script's health or a file's value changed (re-assess then).
    pub fn apply(&mut self, ev: &TrackEvent) -> bool {
        match ev {
            TrackEvent::Script { name, healthy } => {
                self.scripts.insert(name.clone(), *healthy) != Some(*healthy)
            }
            TrackEvent::File { path, value } => {
                self.files.insert(path.clone(), *value) != Some(*value)
            }
            TrackEvent::Process { name, up, .. } => {
                self.processes.insert(name.clone(), *up) != Some(*up)
            }
            TrackEvent::Run { .. } | TrackEvent::UserDenied { .. } => false,
        }
    }

    /// Is the script healthy (unknown names count as failed)?
    pub fn script_healthy(&self, name: &str) -> bool {
        self.scripts.get(name).copied().unwrap_or(false)
    }

    /// Is the tracked process up? Until its watcher's first report it counts as up, as a
    /// script does before its first run (the first report comes at once, from a full scan).
    pub fn process_up(&self, name: &str) -> bool {
        self.processes.get(name).copied().unwrap_or(true)
    }

    /// After a reload: processes no longer configured, or changed, start again from their
    /// watcher's next first report.
    pub fn forget_processes(&mut self, keep: impl Fn(&str) -> bool) {
        self.processes.retain(|n, _| keep(n));
    }

    /// A tracked file's last value.
    pub fn file_value(&self, path: &std::path::Path) -> Option<i64> {
        self.files.get(path).copied().flatten()
    }

    /// Fault and weights from `inst.track_scripts`, `inst.track_processes` (weights as for
    /// scripts, up meaning healthy) and `inst.track_files` (not interfaces: the
    /// daemon knows the links; use [`interface_weight`] for them).
    pub fn assess(&self, inst: &InstanceConfig) -> Assessment {
        let applied = inst
            .track_scripts
            .iter()
            .map(|t| script_weight(t.weight, t.reverse, self.script_healthy(&t.name)))
            .chain(
                inst.track_processes
                    .iter()
                    .map(|t| script_weight(t.weight, t.reverse, self.process_up(&t.name))),
            )
            .chain(
                inst.track_files
                    .iter()
                    .map(|t| file_weight(t.weight, t.reverse, self.file_value(&t.path))),
            );
        let mut out = Assessment::default();
        for a in applied {
            match a {
                Applied::Fault => out.fault = true,
                Applied::Weight(w) => out.weights.push(w),
                Applied::None => {}
            }
        }
        out
    }
}

/// Every tracked file path of the instances, for [`Files::spawn`].
pub fn tracked_files<'a>(instances: impl IntoIterator<Item = &'a InstanceConfig>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = instances
        .into_iter()
        .flat_map(|i| i.track_files.iter().map(|t| t.path.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

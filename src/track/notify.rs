//! Notify hooks: run on state changes, in order per instance, never blocking the protocol.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::RunResult;
use super::process::{self, Spec};
use crate::config::Notify;

/// How long one hook may run before its process group is killed.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);

struct Job {
    /// `INSTANCE` or `GROUP` (a sync group: `instance` is the group's name).
    kind: &'static str,
    instance: String,
    state: String,
    priority: u8,
    vrid: u8,
    interface: String,
    hooks: Notify,
}

struct Queue {
    tx: UnboundedSender<Job>,
    task: JoinHandle<()>,
}

/// Runs notify hooks: one ordered queue (and task) per instance, so the hooks of one instance
/// never run concurrently and always in the order of the state changes; different instances
/// do not wait for each other.
///
/// Dropping the Notifier lets the queued hooks finish in the background; [`Notifier::finish`]
/// waits for them (use it at shutdown, after the STOP notifications).
pub struct Notifier {
    queues: Mutex<HashMap<String, Queue>>,
    /// Tasks of forgotten instances, still running their queued hooks (e.g. STOP).
    retired: Mutex<Vec<JoinHandle<()>>>,
    timeout: Duration,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier::new()
    }
}

impl Notifier {
    /// Hooks time out after [`NOTIFY_TIMEOUT`].
    pub fn new() -> Notifier {
        Notifier::with_timeout(NOTIFY_TIMEOUT)
    }

    pub fn with_timeout(timeout: Duration) -> Notifier {
        Notifier {
            queues: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            timeout,
        }
    }

    /// Queue the hooks for `instance` entering `state` (`MASTER`, `BACKUP`, `FAULT` or `STOP`):
    /// first the state's own hook (`hooks.master` ...), then `hooks.any` with
    /// `INSTANCE <instance> <STATE> <priority>` appended (keepalived's convention). Both get
    /// VIPD_INSTANCE, VIPD_STATE, VIPD_PRIORITY, VIPD_VRID and VIPD_INTERFACE in their
    /// environment. Returns at once; must be called within a tokio runtime.
    pub fn notify(
        &self,
        instance: &str,
        state: &str,
        priority: u8,
        vrid: u8,
        interface: &str,
        hooks: &Notify,
    ) {
        if hooks.is_empty() {
            return;
        }
        let job = Job {
            kind: "INSTANCE",
            instance: instance.to_owned(),
            state: state.to_ascii_uppercase(),
            priority,
            vrid,
            interface: interface.to_owned(),
            hooks: hooks.clone(),
        };
        self.queue(instance.to_owned(), job);
    }

    /// Queue the hooks for sync group `group` entering `state`: the state's own hook, then
    /// `hooks.any` with `GROUP <group> <STATE> 0` appended (keepalived 2.2.7 passes priority 0
    /// for a group). Both get VIPD_GROUP and VIPD_STATE. A group's hooks run in order on a
    /// queue of their own.
    pub fn notify_group(&self, group: &str, state: &str, hooks: &Notify) {
        if hooks.is_empty() {
            return;
        }
        let job = Job {
            kind: "GROUP",
            instance: group.to_owned(),
            state: state.to_ascii_uppercase(),
            priority: 0,
            vrid: 0,
            interface: String::new(),
            hooks: hooks.clone(),
        };
        // Instance names never contain `:`, so a group's queue is its own.
        self.queue(format!("group:{group}"), job);
    }

    fn queue(&self, key: String, job: Job) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let job = match queues.get(&key) {
            Some(q) => match q.tx.send(job) {
                Ok(()) => return,
                Err(e) => e.0,
            },
            None => job,
        };
        let (tx, mut rx) = unbounded_channel::<Job>();
        let timeout = self.timeout;
        let task = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                run_job(&job, timeout).await;
            }
        });
        // The receiver is alive: the task was just spawned.
        let _ = tx.send(job);
        queues.insert(key, Queue { tx, task });
    }

    /// Stop queueing for an instance that was removed; its queued hooks still run.
    pub fn forget(&self, instance: &str) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = queues.remove(instance) {
            // Dropping the sender ends the task once its queue is empty; keep the handle so
            // `finish` can wait for it.
            let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
            retired.retain(|h| !h.is_finished());
            retired.push(q.task);
        }
    }

    /// Wait (at most `limit`) for every queued hook to finish.
    pub async fn finish(self, limit: Duration) {
        let queues = self.queues.into_inner().unwrap_or_else(|p| p.into_inner());
        let retired = self.retired.into_inner().unwrap_or_else(|p| p.into_inner());
        let tasks: Vec<JoinHandle<()>> = queues
            .into_values()
            .map(|q| q.task)
            .chain(retired)
            .collect();
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(limit, all).await.is_err() {
            warn!("notify hooks still running at shutdown");
        }
    }
}

async fn run_job(job: &Job, timeout: Duration) {
    let specific = match job.state.as_str() {
        "MASTER" => job.hooks.master.as_ref(),
        "BACKUP" => job.hooks.backup.as_ref(),
        "FAULT" => job.hooks.fault.as_ref(),
        "STOP" => job.hooks.stop.as_ref(),
        _ => None,
    };
    let env: Vec<(&'static str, String)> = if job.kind == "GROUP" {
        vec![
            ("VIPD_GROUP", job.instance.clone()),
            ("VIPD_STATE", job.state.clone()),
        ]
    } else {
        vec![
            ("VIPD_INSTANCE", job.instance.clone()),
            ("VIPD_STATE", job.state.clone()),
            ("VIPD_PRIORITY", job.priority.to_string()),
            ("VIPD_VRID", job.vrid.to_string()),
            ("VIPD_INTERFACE", job.interface.clone()),
        ]
    };
    if let Some(argv) = specific {
        run_hook(job, &job.state.to_ascii_lowercase(), argv, &env, timeout).await;
    }
    if let Some(any) = &job.hooks.any {
        let mut argv = any.clone();
        argv.extend([
            job.kind.to_owned(),
            job.instance.clone(),
            job.state.clone(),
            job.priority.to_string(),
        ]);
        run_hook(job, "any", &argv, &env, timeout).await;
    }
}

async fn run_hook(
    job: &Job,
    hook: &str,
    argv: &[String],
    env: &[(&'static str, String)],
    timeout: Duration,
) {
    // The same user switch as check scripts (and its checks): `notify.<hook>.user`.
    let run_as = job.hooks.run_as.get(hook);
    let user = run_as.map(|r| r.user.clone());
    let group = run_as.and_then(|r| r.group.clone());
    let creds = match process::prepare_as_async(argv[0].clone(), user.clone(), group).await {
        Ok(c) => c,
        Err(e) => {
            warn!(instance = %job.instance, hook, detail = %e, "notify hook not run");
            return;
        }
    };
    if let Some((uid, gid)) = creds
        && let Some(why) =
            process::current_switch_problem(user.as_deref().unwrap_or_default(), uid, gid)
    {
        warn!(instance = %job.instance, hook, detail = %why, "notify hook not run");
        return;
    }
    let f = process::run(&Spec {
        argv,
        env,
        creds,
        timeout,
        reap_group: false,
    })
    .await;
    if !f.stderr.is_empty() {
        debug!(instance = %job.instance, hook, stderr = %f.stderr, "notify hook stderr");
    }
    match f.result {
        RunResult::Success => {
            debug!(instance = %job.instance, hook, state = %job.state, took = ?f.duration, "notify hook done")
        }
        RunResult::Failure | RunResult::Timeout | RunResult::Error => {
            warn!(instance = %job.instance, hook, state = %job.state, detail = %f.detail, "notify hook failed")
        }
    }
}

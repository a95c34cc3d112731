//! Watching tracked processes: one thread (never the engine's) that learns when processes
//! start, change their name and exit, recounts the matches ([`super::procs`], pure) and
//! reports [`TrackEvent::Process`] when a count or an up state changes.
//!
//! Event-driven with the kernel's process connector where it is available (initial network
//! namespace, CAP_NET_ADMIN): a dying nginx is seen in well under a millisecond. Elsewhere (a
//! container or network namespace, where subscribing fails with ECONNREFUSED) it scans /proc
//! every [`PROC_SCAN`]. Which path is used is logged once at start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use super::TrackEvent;
use super::procs::{ProcInfo, ProcessTable, Quorum, parse_cmdline, parse_stat};
use crate::config::ProcessConfig;
use crate::net::proc_connector::{ProcConnector, ProcEvent, Wait};

/// The /proc scan interval without the connector. 200 ms: a dead process is seen within a
/// fifth of a second (median about 0.1 s), well inside the default 1 s advert interval and the
/// 3 s master-down interval, while five scans a second of ~110 processes cost about 1.4% of one
/// core (2.2% when command lines are read; release build, docs/benchmarks.md). 100 ms would double that
/// cost for a gain a VRRP failover of hundreds of milliseconds does not need.
pub const PROC_SCAN: Duration = Duration::from_millis(200);

/// With the connector: how often the thread wakes without events (to notice it was stopped).
const IDLE_WAKE: Duration = Duration::from_millis(250);

/// How the watcher learns about processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchPath {
    /// Kernel process events (NETLINK_CONNECTOR, CN_IDX_PROC).
    Connector,
    /// Scanning /proc every [`PROC_SCAN`].
    Scan,
}

impl WatchPath {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchPath::Connector => "connector",
            WatchPath::Scan => "scan",
        }
    }
}

/// The running watcher. Dropping it stops the thread (within [`PROC_SCAN`] or [`IDLE_WAKE`]).
pub struct ProcessWatcher {
    stop: Arc<AtomicBool>,
    path: std_mpsc::Receiver<WatchPath>,
    _thread: Option<JoinHandle<()>>,
}

impl ProcessWatcher {
    /// Watches `processes` (nothing when empty), the connector first. Sends one
    /// [`TrackEvent::Process`] per process from a full scan at once, then on every change of
    /// count or state.
    pub fn spawn(
        processes: &BTreeMap<String, ProcessConfig>,
        tx: UnboundedSender<TrackEvent>,
    ) -> ProcessWatcher {
        Self::spawn_with(processes, tx, true)
    }

    /// As [`ProcessWatcher::spawn`]; `connector: false` scans /proc even where the connector
    /// works (tests of the fallback).
    pub fn spawn_with(
        processes: &BTreeMap<String, ProcessConfig>,
        tx: UnboundedSender<TrackEvent>,
        connector: bool,
    ) -> ProcessWatcher {
        let stop = Arc::new(AtomicBool::new(false));
        let (path_tx, path) = std_mpsc::channel();
        let thread = if processes.is_empty() {
            None
        } else {
            let processes = processes.clone();
            let stop2 = stop.clone();
            std::thread::Builder::new()
                .name("vipd-procs".into())
                .spawn(move || watch(processes, tx, connector, stop2, path_tx))
                .map_err(|e| warn!("cannot start the process watcher thread: {e}"))
                .ok()
        };
        ProcessWatcher {
            stop,
            path,
            _thread: thread,
        }
    }

    /// The path the watcher took (None if it has not decided within `timeout`, or watches
    /// nothing).
    pub fn path(&self, timeout: Duration) -> Option<WatchPath> {
        self.path.recv_timeout(timeout).ok()
    }
}

impl Drop for ProcessWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What /proc says about one process now (None: gone, or a pid directory we cannot read).
fn read_proc(pid: u32, cmdline: bool) -> Option<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut info = parse_stat(&stat)?;
    if cmdline {
        info.cmdline = parse_cmdline(&std::fs::read(format!("/proc/{pid}/cmdline")).ok()?);
    }
    Some(info)
}

/// Every process in /proc.
fn scan(cmdline: bool) -> Vec<(u32, ProcInfo)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read_proc(pid, cmdline).map(|p| (pid, p)))
        .collect()
}

/// One kernel event into the table: only processes matter, not threads.
fn apply(table: &mut ProcessTable, ev: ProcEvent, cmdline: bool) {
    match ev {
        ProcEvent::Fork {
            child_pid,
            child_tgid,
        } if child_pid == child_tgid => {
            table.update(child_tgid, read_proc(child_tgid, cmdline).as_ref());
        }
        ProcEvent::Exec { tgid, .. } => table.update(tgid, read_proc(tgid, cmdline).as_ref()),
        ProcEvent::Comm { pid, tgid } if pid == tgid => {
            table.update(tgid, read_proc(tgid, cmdline).as_ref())
        }
        ProcEvent::Exit { pid, tgid } if pid == tgid => table.update(tgid, None),
        _ => {}
    }
}

fn watch(
    processes: BTreeMap<String, ProcessConfig>,
    tx: UnboundedSender<TrackEvent>,
    connector: bool,
    stop: Arc<AtomicBool>,
    path_tx: std_mpsc::Sender<WatchPath>,
) {
    let mut table = ProcessTable::new(processes.iter().map(|(n, p)| (n, &p.matcher)));
    let cmdline = table.needs_cmdline();
    let names: Vec<&str> = processes.keys().map(String::as_str).collect();
    // Subscribe before the first scan, so nothing that happens in between is missed.
    let mut conn = if connector {
        match ProcConnector::open() {
            Ok(c) => {
                info!(
                    processes = ?names,
                    "tracked processes: watching kernel process events (netlink process connector)"
                );
                Some(c)
            }
            Err(e) => {
                info!(
                    processes = ?names,
                    "tracked processes: the process connector is unavailable ({e}; it needs CAP_NET_ADMIN in the initial network namespace): scanning /proc every {} ms",
                    PROC_SCAN.as_millis()
                );
                None
            }
        }
    } else {
        info!(
            processes = ?names,
            "tracked processes: scanning /proc every {} ms",
            PROC_SCAN.as_millis()
        );
        None
    };
    let _ = path_tx.send(if conn.is_some() {
        WatchPath::Connector
    } else {
        WatchPath::Scan
    });
    table.replace_all(scan(cmdline));
    let counts = table.counts();
    let mut quorums: BTreeMap<String, Quorum> = processes
        .iter()
        .map(|(n, p)| (n.clone(), Quorum::new(p, counts[n])))
        .collect();
    for (name, q) in &quorums {
        let sent = tx.send(TrackEvent::Process {
            name: name.clone(),
            running: q.count(),
            up: q.up(),
        });
        if sent.is_err() {
            return;
        }
    }
    let mut next_scan = Instant::now() + PROC_SCAN;
    let mut lost_logged = false;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let deadline = quorums.values().filter_map(Quorum::deadline).min();
        let wake = match &conn {
            Some(_) => now + IDLE_WAKE,
            None => next_scan,
        };
        let wake = deadline.map_or(wake, |d| d.min(wake));
        let timeout = wake.saturating_duration_since(now);
        match conn.as_mut() {
            Some(c) => match c.wait(timeout) {
                Ok(Wait::Events(evs)) => {
                    for e in evs {
                        apply(&mut table, e, cmdline);
                    }
                }
                Ok(Wait::Timeout) => {}
                Ok(Wait::Lost) => {
                    if !lost_logged {
                        warn!("process events were lost (receive buffer full): rescanning /proc");
                        lost_logged = true;
                    }
                    table.replace_all(scan(cmdline));
                }
                Err(e) => {
                    warn!(
                        "process connector failed ({e}): scanning /proc every {} ms from now on",
                        PROC_SCAN.as_millis()
                    );
                    conn = None;
                    next_scan = Instant::now();
                }
            },
            None => {
                std::thread::sleep(timeout);
                if Instant::now() >= next_scan {
                    table.replace_all(scan(cmdline));
                    next_scan = Instant::now() + PROC_SCAN;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            // Replaced (reload) or stopped: the new watcher reports from now on.
            return;
        }
        let now = Instant::now();
        let counts = table.counts();
        for (name, q) in &mut quorums {
            let before = (q.count(), q.up());
            q.observe(now, counts[name]);
            if (q.count(), q.up()) != before {
                let sent = tx.send(TrackEvent::Process {
                    name: name.clone(),
                    running: q.count(),
                    up: q.up(),
                });
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

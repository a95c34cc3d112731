//! What watching tracked processes costs: the CPU time of the watcher thread (`vipd-procs`)
//! over 20 s, for the /proc scan (every 200 ms) and the process connector, matching by comm
//! and by command line; and how long after a tracked process is killed the watcher reports it
//! down (20 kills per path). Run as root (the connector needs CAP_NET_ADMIN):
//! `cargo run --release --example proc_scan_cost`. Figures: docs/benchmarks.md.

use std::time::Duration;

use vipd::config::ProcessConfig;
use vipd::track::{ProcessMatch, ProcessWatcher, TrackEvent};

/// utime + stime (clock ticks) of this process's thread named `name`.
fn cpu_of_thread(name: &str) -> Option<u64> {
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let p = e.ok()?.path();
        if std::fs::read_to_string(p.join("comm")).ok()?.trim() == name {
            let st = std::fs::read_to_string(p.join("stat")).ok()?;
            let f: Vec<&str> = st[st.rfind(')')? + 2..].split_whitespace().collect();
            return Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?);
        }
    }
    None
}

fn processes() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.parse::<u32>().is_ok())
                })
                .count()
        })
        .unwrap_or(0)
}

/// Median and worst time from kill(2) to the watcher's "down" report, over `n` kills.
fn detection(connector: bool, n: usize) -> (Duration, Duration) {
    let dir = std::env::temp_dir().join(format!("vipd-proc-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("vpc{}", std::process::id() % 100_000);
    let exe = dir.join(&name);
    std::fs::copy("/bin/sleep", &exe).unwrap();
    let specs = [(
        "web".to_string(),
        ProcessConfig {
            matcher: ProcessMatch::name(&name),
            quorum: 1,
            quorum_max: u32::MAX,
            weight: 0,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            reverse: false,
        },
    )]
    .into();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let w = ProcessWatcher::spawn_with(&specs, tx, connector);
    let _ = w.path(Duration::from_secs(2));
    let wait_up = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<TrackEvent>, up: bool| loop {
        if let Some(TrackEvent::Process { up: u, .. }) = rx.blocking_recv()
            && u == up
        {
            return std::time::Instant::now();
        }
    };
    wait_up(&mut rx, false);
    let mut took = Vec::new();
    for i in 0..n {
        let mut c = std::process::Command::new(&exe).arg("600").spawn().unwrap();
        wait_up(&mut rx, true);
        // The up report follows a scan: kill at offsets spread over one scan interval, not
        // always just after a scan.
        std::thread::sleep(Duration::from_millis(10 * (i as u64 % 20)));
        let t0 = std::time::Instant::now();
        c.kill().unwrap();
        let t1 = wait_up(&mut rx, false);
        c.wait().unwrap();
        took.push(t1 - t0);
    }
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    std::thread::sleep(Duration::from_millis(600));
    took.sort();
    (took[took.len() / 2], took[took.len() - 1])
}

fn main() {
    for connector in [true, false] {
        let (median, worst) = detection(connector, 20);
        println!(
            "detection connector={connector}: kill -> down report median {:.3} ms, worst {:.3} ms (20 kills)",
            median.as_secs_f64() * 1e3,
            worst.as_secs_f64() * 1e3
        );
    }
    const RUN: Duration = Duration::from_secs(20);
    let ticks = 100.0; // USER_HZ
    for full_command in [false, true] {
        let specs = [(
            "web".to_string(),
            ProcessConfig {
                matcher: ProcessMatch {
                    name: "nginx".into(),
                    full_command,
                    params: None,
                },
                quorum: 1,
                quorum_max: u32::MAX,
                weight: 0,
                fork_delay: Duration::ZERO,
                terminate_delay: Duration::ZERO,
                reverse: false,
            },
        )]
        .into();
        for connector in [false, true] {
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let w = ProcessWatcher::spawn_with(&specs, tx, connector);
            let path = w.path(Duration::from_secs(2));
            std::thread::sleep(Duration::from_millis(300));
            let c0 = cpu_of_thread("vipd-procs").unwrap_or(0);
            std::thread::sleep(RUN);
            let c1 = cpu_of_thread("vipd-procs").unwrap_or(0);
            drop(w);
            // Let the thread notice and exit before the next one starts.
            std::thread::sleep(Duration::from_millis(600));
            let cpu = (c1 - c0) as f64 / ticks;
            println!(
                "path={:?} full_command={full_command} processes={} cpu={cpu:.2}s in {}s = {:.2}% of one core",
                path,
                processes(),
                RUN.as_secs(),
                cpu / RUN.as_secs_f64() * 100.0
            );
        }
    }
}

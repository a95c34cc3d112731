//! The usual `process_*` metrics, read from `/proc/self` at every scrape (Linux only; a
//! metric whose source cannot be read is left out of that scrape).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Values taken from `/proc/self/stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stat {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

/// The fields of a `/proc/<pid>/stat` line from field 3 (state) on: field n is at index n - 3.
/// The command name, in parentheses, may itself contain spaces and parentheses, so counting
/// starts after the last `)`.
fn stat_fields(s: &str) -> Option<Vec<&str>> {
    Some(s[s.rfind(')')? + 1..].split_whitespace().collect())
}

/// Parses the content of `/proc/<pid>/stat` (proc(5)).
pub(crate) fn parse_stat(s: &str) -> Option<Stat> {
    let fields = stat_fields(s)?;
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat {
        cpu_ticks: field(14)? + field(15)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// How the kernel schedules a thread: from `/proc/thread-self/stat` (proc(5) fields 19, 40, 41).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduling {
    /// SCHED_OTHER 0, SCHED_FIFO 1, SCHED_RR 2, SCHED_BATCH 3, SCHED_IDLE 5, SCHED_DEADLINE 6.
    pub policy: u32,
    /// 1..99 under SCHED_FIFO / SCHED_RR, else 0.
    pub rt_priority: u32,
    pub nice: i32,
}

impl Scheduling {
    /// The calling thread's scheduling, `None` where /proc cannot be read.
    pub fn current_thread() -> Option<Scheduling> {
        parse_scheduling(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
    }

    /// Thread `tid` of process `pid`, `None` where /proc cannot be read.
    pub fn of_thread(pid: u32, tid: u32) -> Option<Scheduling> {
        parse_scheduling(&std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?)
    }

    pub fn is_realtime(&self) -> bool {
        matches!(self.policy, 1 | 2)
    }
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.policy {
            1 => write!(f, "SCHED_FIFO priority {}", self.rt_priority),
            2 => write!(f, "SCHED_RR priority {}", self.rt_priority),
            3 => write!(f, "SCHED_BATCH nice {}", self.nice),
            5 => write!(f, "SCHED_IDLE"),
            6 => write!(f, "SCHED_DEADLINE"),
            _ => write!(f, "SCHED_OTHER nice {}", self.nice),
        }
    }
}

pub(crate) fn parse_scheduling(s: &str) -> Option<Scheduling> {
    let fields = stat_fields(s)?;
    let field = |n: usize| fields.get(n - 3);
    Some(Scheduling {
        policy: field(41)?.parse().ok()?,
        rt_priority: field(40)?.parse().ok()?,
        nice: field(19)?.parse().ok()?,
    })
}

/// `btime` (boot time, Unix seconds) from `/proc/stat`.
pub(crate) fn parse_btime(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Soft limit of "Max open files" from `/proc/self/limits`.
pub(crate) fn parse_max_fds(s: &str) -> Option<u64> {
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn sysconf(var: nix::unistd::SysconfVar, default: i64) -> f64 {
    match nix::unistd::sysconf(var) {
        Ok(Some(v)) if v > 0 => v as f64,
        _ => default as f64,
    }
}

#[derive(Debug)]
pub(crate) struct ProcessCollector {
    clk_tck: f64,
    page_size: f64,
}

impl ProcessCollector {
    pub(crate) fn new() -> ProcessCollector {
        ProcessCollector {
            clk_tck: sysconf(nix::unistd::SysconfVar::CLK_TCK, 100),
            page_size: sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096),
        }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: impl prometheus_client::encoding::EncodeGaugeValue + Send + Sync + std::fmt::Debug,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stat = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| parse_stat(&s));
        if let Some(st) = stat {
            let cpu = ConstCounter::new(st.cpu_ticks as f64 / self.clk_tck);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                cpu.metric_type(),
            )?;
            cpu.encode(m)?;
            let btime = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|s| parse_btime(&s));
            if let Some(btime) = btime {
                gauge(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    btime as f64 + st.start_ticks as f64 / self.clk_tck,
                )?;
            }
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                st.rss_pages as f64 * self.page_size,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                st.vsize_bytes as f64,
            )?;
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle being read counts too, as in the Go client.
            let n = dir.count() as i64;
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                n,
            )?;
        }
        let max = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_fds(&s));
        if let Some(max) = max {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max as f64,
            )?;
        }
        Ok(())
    }
}

//! Size and encoding time of `/metrics` at scale: builds the registry vipd has with N instances
//! (default 250, as `bench/run.sh scale`: `VI_<i>`, VRID i, eth0, IPv4, one VIP `10.99.1.<i>`),
//! in the master's shape (no peer) and in the backup's (one peer heard per instance), then
//! encodes it ROUNDS times (default 200) in both text formats and prints, per case: bytes,
//! series (sample lines), bytes per series, encode time (median and worst, microseconds) and
//! the gzip body the HTTP endpoint sends when the scraper asks for it (`Metrics::encode_gzip`),
//! with its time.
//!
//! `cargo run --release --example metrics_size [N] [ROUNDS]` (with `METRICS_DUMP=1`, the
//! backup's Prometheus text body goes to stderr). Figures: docs/benchmarks.md
//! (Memory and /metrics). A benchmark: it prints figures and asserts nothing about timing.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd::config::model::Family;
use vipd::engine::State;
use vipd::observe::{InstanceLabels, Metrics};
use vipd::packet::vrrp::ChecksumForm;

fn registry(n: usize, backup: bool) -> (Metrics, Vec<vipd::observe::InstanceMetrics>) {
    let m = Metrics::new(env!("CARGO_PKG_VERSION"), "0123456789ab");
    m.config_loaded(1_764_600_000.0);
    let mut handles = Vec::new();
    for i in 1..=n {
        let vip = Ipv4Addr::new(10, 99, 1, i as u8);
        let l = InstanceLabels::new(
            format!("VI_{i}"),
            i as u8,
            "eth0",
            Family::Ipv4,
            vip.to_string(),
        );
        let im = m.instance(&l);
        im.set_priority(if backup { 80 } else { 150 }, if backup { 80 } else { 150 });
        im.set_intervals(Duration::from_millis(10), Duration::from_millis(10));
        let to = if backup { State::Backup } else { State::Master };
        im.transition(State::Init, to, 1_764_600_001.25, None);
        im.set_vip_present(IpAddr::V4(vip), !backup);
        if backup {
            let p = im.peer(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)));
            p.advert(150, 1_764_600_100.5, ChecksumForm::PseudoHeader, true);
            // The wire tap has seen the master: its filtered-frames series exists at 0.
            im.filtered_source(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)));
            im.set_master_priority(150);
            for _ in 0..1234 {
                im.advert_received(150);
            }
        } else {
            im.set_master_priority(150);
            for _ in 0..1234 {
                im.advert_sent(150);
            }
            im.announced(false, 5);
        }
        im.set_masters_observed(1);
        handles.push(im);
    }
    (m, handles)
}

/// CPU time of the calling thread: the encode's own cost, without the time the thread waited
/// for a CPU (on a loaded machine the wall-clock time is mostly that).
fn thread_cpu() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(250);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    println!(
        "| instances | node | format | bytes | series | bytes/series | encode us, wall: median / worst ({rounds} rounds) | encode us, thread CPU: median | gzip bytes (level {}) | encode + gzip us, thread CPU: median |",
        vipd::observe::GZIP_LEVEL
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for backup in [false, true] {
        let (m, _handles) = registry(n, backup);
        for openmetrics in [true, false] {
            let mut times = Vec::with_capacity(rounds);
            let mut cpu = Vec::with_capacity(rounds);
            let mut gz_times = Vec::with_capacity(rounds);
            let mut body = String::new();
            let mut gz = 0;
            for _ in 0..rounds {
                let (t, c) = (Instant::now(), thread_cpu());
                body = m.encode(openmetrics);
                times.push(t.elapsed());
                cpu.push(thread_cpu().saturating_sub(c));
                let c = thread_cpu();
                gz = m.encode_gzip(openmetrics).len();
                gz_times.push(thread_cpu().saturating_sub(c));
            }
            if std::env::var_os("METRICS_DUMP").is_some() && backup && !openmetrics {
                eprintln!("{body}");
            }
            times.sort();
            cpu.sort();
            gz_times.sort();
            let series = body
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .count();
            println!(
                "| {n} | {} | {} | {} | {series} | {:.0} | {} / {} | {} | {gz} | {} |",
                if backup { "backup" } else { "master" },
                if openmetrics {
                    "OpenMetrics"
                } else {
                    "Prometheus text"
                },
                body.len(),
                body.len() as f64 / series.max(1) as f64,
                times[rounds / 2].as_micros(),
                times[rounds - 1].as_micros(),
                cpu[rounds / 2].as_micros(),
                gz_times[rounds / 2].as_micros(),
            );
        }
    }
}

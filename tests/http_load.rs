//! The HTTP endpoint under the loads that used to starve scrapes, on 127.0.0.1 with the
//! server in-process (`observe::serve`, on a thread and current-thread runtime of its own as
//! in the daemon). A scrape is what Prometheus does: `GET /metrics` asking for OpenMetrics,
//! keep-alive, 5 s timeout for the whole exchange.
//!
//! - idle: 70 connections, then MAX_CONNECTIONS + 44, that send nothing (or one request, then
//!   idle in keep-alive) and reconnect whenever closed; 30 sequential scrapes meanwhile.
//! - slowloris: 100 connections sending a header byte every 2 s, reconnecting when closed;
//!   30 sequential scrapes meanwhile.
//! - parallel: 500 scrapes at once, each keeping its connection open afterwards (like 500
//!   Prometheus servers pooling connections): every one is answered.
//!
//! No assertion on speed beyond the client's own timeout. Takes about 30 s.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use vipd::observe::{self, Metrics};

/// Prometheus' client timeout for a scrape (its default is 10 s; 5 s is stricter).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
const SEQUENTIAL_SCRAPES: usize = 30;
/// Pause between two sequential scrapes, so 30 of them span more than one header timeout
/// (the connections of the load are closed and reconnect meanwhile).
const SCRAPE_PAUSE: Duration = Duration::from_millis(150);
/// How long a load runs before the scrapes start.
const WARM_UP: Duration = Duration::from_millis(1500);
const STACK: usize = 128 * 1024;

/// Starts the endpoint on 127.0.0.1:0 as the daemon does; returns its address.
fn start_server() -> SocketAddr {
    let listener = observe::bind_std("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new("0.1.0", "test");
    thread::Builder::new()
        .name("test-http".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (status_tx, mut status_rx) = tokio::sync::mpsc::channel::<
                    tokio::sync::oneshot::Sender<serde_json::Value>,
                >(4);
                tokio::spawn(async move {
                    while let Some(reply) = status_rx.recv().await {
                        let _ = reply.send(serde_json::json!({"instances": []}));
                    }
                });
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                observe::serve(l, metrics, status_tx).await.unwrap();
            })
        })
        .unwrap();
    addr
}

const SCRAPE: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: vipd\r\nUser-Agent: Prometheus/3.0\r\n\
Accept: application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3\r\n\r\n";

/// One scrape on a new connection, within [`SCRAPE_TIMEOUT`] (connect, request, complete
/// response). Returns the connection, still open (keep-alive), on success.
fn scrape(addr: SocketAddr) -> Result<TcpStream, String> {
    let deadline = Instant::now() + SCRAPE_TIMEOUT;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timed out".to_string())
    };
    let mut s = TcpStream::connect_timeout(&addr, left()?).map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(left()?)).unwrap();
    s.write_all(SCRAPE).map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut expected: Option<usize> = None;
    loop {
        if let Some(n) = expected
            && buf.len() >= n
        {
            break;
        }
        s.set_read_timeout(Some(left()?)).unwrap();
        let n = match s.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {} bytes", buf.len())),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("timed out after {} bytes", buf.len()));
            }
            Err(e) => return Err(format!("read: {e}")),
        };
        buf.extend_from_slice(&chunk[..n]);
        if expected.is_none()
            && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200 ") {
                return Err(format!("answer: {}", head.lines().next().unwrap_or("")));
            }
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or("no content-length")?;
            expected = Some(end + 4 + len);
        }
    }
    let body = String::from_utf8_lossy(&buf);
    if !body.contains("vipd_build_info") || !body.ends_with("# EOF\n") {
        return Err("incomplete metrics".into());
    }
    Ok(s)
}

/// [`SEQUENTIAL_SCRAPES`] scrapes one after the other; returns how many succeeded and the
/// slowest success (reported, not asserted).
fn sequential_scrapes(addr: SocketAddr, load: &str) -> (usize, Duration) {
    let (mut ok, mut slowest) = (0, Duration::ZERO);
    for i in 0..SEQUENTIAL_SCRAPES {
        let start = Instant::now();
        match scrape(addr) {
            Ok(_) => {
                ok += 1;
                slowest = slowest.max(start.elapsed());
            }
            Err(e) => eprintln!("{load}: scrape {i} failed after {:?}: {e}", start.elapsed()),
        }
        thread::sleep(SCRAPE_PAUSE);
    }
    (ok, slowest)
}

/// A load: threads running until `stop`, counting the times the server closed them.
struct Load {
    stop: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(
        n: usize,
        client: fn(SocketAddr, usize, &AtomicBool, &AtomicUsize),
        addr: SocketAddr,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(0));
        let threads = (0..n)
            .map(|i| {
                let (stop, closed) = (stop.clone(), closed.clone());
                thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(move || client(addr, i, &stop, &closed))
                    .unwrap()
            })
            .collect();
        Load {
            stop,
            closed,
            threads,
        }
    }

    /// Stops the threads; returns how many times the server closed one of their connections.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.closed.load(Ordering::Relaxed)
    }
}

/// Waits until `s` is closed by the server (true) or `stop` is set (false).
fn wait_closed(s: &mut TcpStream, stop: &AtomicBool, poll: Duration) -> bool {
    s.set_read_timeout(Some(poll)).unwrap();
    let mut b = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

/// An idle client that reconnects when closed: even ones connect and send nothing, odd ones
/// scrape once and stay in keep-alive.
fn idle_client(addr: SocketAddr, i: usize, stop: &AtomicBool, closed: &AtomicUsize) {
    while !stop.load(Ordering::Relaxed) {
        let s = if i.is_multiple_of(2) {
            TcpStream::connect(addr).map_err(|e| e.to_string())
        } else {
            scrape(addr)
        };
        let Ok(mut s) = s else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        if wait_closed(&mut s, stop, Duration::from_millis(500)) {
            closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Slowloris: a request line, then one header byte every 2 s, never the end of the headers;
/// reconnects when closed.
fn slowloris_client(addr: SocketAddr, _: usize, stop: &AtomicBool, closed: &AtomicUsize) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            thread::sleep(Duration::from_millis(100));
            continue;
        };
        let mut sent = s.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ").is_ok();
        while sent {
            if wait_closed(&mut s, stop, Duration::from_secs(2)) {
                closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
            sent = s.write_all(b"x").is_ok();
        }
    }
}

fn scrapes_during(load: &str, n: usize, client: fn(SocketAddr, usize, &AtomicBool, &AtomicUsize)) {
    let addr = start_server();
    let l = Load::start(n, client, addr);
    thread::sleep(WARM_UP);
    let (ok, slowest) = sequential_scrapes(addr, load);
    let closed = l.stop();
    eprintln!(
        "{load} ({n} connections): {ok}/{SEQUENTIAL_SCRAPES} scrapes succeeded, slowest {slowest:?}; the server closed load connections {closed} times"
    );
    assert!(
        ok >= SEQUENTIAL_SCRAPES - 1,
        "{load}: only {ok}/{SEQUENTIAL_SCRAPES} scrapes succeeded"
    );
    assert!(
        closed > 0,
        "{load}: the server never closed a load connection"
    );
}

fn parallel_scrapes(n: usize) {
    let addr = start_server();
    let start = Arc::new(Barrier::new(n));
    // Every scraper keeps its connection open until all have their answer.
    let done = Arc::new(Barrier::new(n + 1));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (start, done) = (start.clone(), done.clone());
            thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || {
                    start.wait();
                    let t = Instant::now();
                    // Hold the connection (keep-alive) until every scraper has its answer.
                    let r = scrape(addr).map(|s| (s, t.elapsed()));
                    done.wait();
                    r.map(|(_, took)| took)
                })
                .unwrap()
        })
        .collect();
    done.wait();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    for e in results.iter().filter_map(|r| r.as_ref().err()).take(5) {
        eprintln!("parallel: a scrape failed: {e}");
    }
    let slowest = results.iter().flatten().max().copied().unwrap_or_default();
    eprintln!("parallel: {ok}/{n} scrapes succeeded, slowest {slowest:?}");
    assert_eq!(ok, n, "parallel: {ok}/{n} scrapes succeeded");
}

#[test]
fn scrapes_succeed_under_idle_slowloris_and_parallel_load() {
    // One load at a time: they would otherwise share the two CPUs and blur each other.
    scrapes_during("idle", 70, idle_client);
    scrapes_during(
        "idle above the limit",
        observe::MAX_CONNECTIONS + 44,
        idle_client,
    );
    scrapes_during("slowloris", 100, slowloris_client);
    parallel_scrapes(500);
}

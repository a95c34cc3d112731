//! The HTTP endpoint: `/metrics`, `/status`, `/healthz` and an index page. hyper HTTP/1 only,
//! one task per connection, GET and HEAD only.
//!
//! Limits, so that a scrape gets an answer whatever else is connected:
//! - at most [`MAX_CONNECTIONS`] connections are open; while that many are, the listener is not
//!   accepted from and new connections wait in the kernel's accept queue ([`LISTEN_BACKLOG`]),
//!   never closed unanswered;
//! - when all are open, the connection that has waited longest without a request in progress
//!   (idle keep-alive, or one that never completed its request headers) is closed to make room,
//!   once it has waited [`EVICT_AFTER_IDLE`]: a new request never starves behind idle ones;
//! - a client has [`HEADER_READ_TIMEOUT`] to send a request's headers, which also bounds how
//!   long a keep-alive connection may sit idle between requests;
//! - at most [`MAX_ENCODES`] `/metrics` bodies are encoded at once; more requests wait for their
//!   turn in arrival order.
//!
//! With `--web.config.file` ([`crate::webconfig`]): TLS, whose handshake must also complete
//! within [`HEADER_READ_TIMEOUT`] (so a slowloris over TLS is closed as one over plain TCP),
//! basic authentication (bcrypt, at most [`MAX_ENCODES`] hashes checked at once, off the
//! runtime thread) and the configured headers on every response, 401 included.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE,
    HeaderValue, VARY, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use super::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};
use crate::webconfig::WebConfig;

/// How `/status` asks the engine for its state: the handler sends a oneshot sender, the
/// engine answers with the JSON document.
pub type StatusSource = mpsc::Sender<oneshot::Sender<serde_json::Value>>;

/// How long `/status` waits for the engine before answering 503.
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections open at once. An open connection costs a file descriptor, a task and a read
/// buffer (8 KiB, growing to 64 KiB for large headers), not CPU: the CPU is bounded by
/// [`MAX_ENCODES`]. 256 leaves room under the usual soft limit of 1024 descriptors (systemd's
/// default `LimitNOFILE=1024`) for everything else vipd opens. Beyond it, connections wait in
/// the kernel's accept queue until an open one ends or is evicted ([`EVICT_AFTER_IDLE`]).
pub const MAX_CONNECTIONS: usize = 256;

/// Backlog of the listening socket: connections the kernel completes and queues while
/// [`MAX_CONNECTIONS`] are open (Linux caps it at `net.core.somaxconn`, 4096 by default). A
/// client beyond it sees its SYN dropped and retransmits it (after 1 s, then 3 s): slower, but
/// not refused.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Time a client gets to send a request's complete headers, counted from the accept or from
/// the end of the previous response on a keep-alive connection (hyper starts the same timer
/// for both). So it is also the longest a keep-alive connection stays idle. A scraper sends
/// its request in one segment right after connecting; 3 s covers a slow, lossy path (a
/// retransmission or two) and is well below Prometheus' default 10 s scrape timeout, so a
/// connection that dribbles its headers (slowloris) is closed after 3 s however it paces them.
/// Prometheus scrapes every 15 s by default, longer than this: its next scrape opens a new
/// connection, as when the server closes idle ones.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// When [`MAX_CONNECTIONS`] are open, a connection that has had no request in progress for at
/// least this long (idle keep-alive, or no complete request headers since it was accepted) is
/// closed to make room for the next one, longest waiting first. A legitimate client's request
/// arrives within a round trip of its connect or of its previous response, well within 1 s;
/// closing an idle keep-alive connection is normal HTTP (clients retry an idempotent GET on a
/// fresh connection).
pub const EVICT_AFTER_IDLE: Duration = Duration::from_secs(1);

/// An evicted connection that is still writing a response gets this long to finish it before
/// it is dropped (a client that does not read its response keeps no connection longer).
const EVICT_DRAIN: Duration = Duration::from_secs(5);

/// `/metrics` bodies encoded at once, each on a blocking thread (reading `/proc`, walking every
/// family). More requests wait in arrival order; without a bound, hundreds of parallel
/// scrapes would start hundreds of threads. Two keep a scrape's latency low on a small host
/// while the thread runs at nice 19 behind the engine.
pub const MAX_ENCODES: usize = 2;

/// Largest read buffer of a connection (request headers bigger than this get 431).
const MAX_BUF_SIZE: usize = 64 * 1024;

/// Known paths, the values of the `path` label (anything else is `other`).
const PATHS: [&str; 4] = ["/", "/metrics", "/status", "/healthz"];
const PATH_OTHER: &str = "other";

const INDEX: &str = "<!DOCTYPE html>
<html><head><meta charset=\"utf-8\"><title>vipd</title></head>
<body><h1>vipd</h1><ul>
<li><a href=\"metrics\">/metrics</a>: Prometheus metrics</li>
<li><a href=\"status\">/status</a>: instances, peers, timers, scripts (JSON)</li>
<li><a href=\"healthz\">/healthz</a>: liveness</li>
</ul></body></html>
";

/// Binds a listening socket (std, non-blocking, backlog [`LISTEN_BACKLOG`], `SO_REUSEADDR`
/// as std sets it), for [`serve`] once converted with `tokio::net::TcpListener::from_std`.
pub fn bind_std(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(LISTEN_BACKLOG)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// Binds a listening socket ([`bind_std`], handed to tokio). Must be called from within a
/// tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_std(addr)?)
}

/// Accept errors that concern one connection or a momentary shortage, not the listener.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EPROTO)
    )
}

/// The open connections: how many, and which can be evicted to make room.
struct Pool {
    limit: usize,
    evict_after: Duration,
    inner: Mutex<PoolInner>,
    /// Signalled when a connection ends (the accept loop waits for it while full).
    freed: Notify,
}

#[derive(Default)]
struct PoolInner {
    next_id: u64,
    conns: HashMap<u64, Entry>,
    /// Connections told to close that have not ended yet: room that is coming.
    evicting: usize,
}

struct Entry {
    /// Since when no request has been in progress; `None` while one is.
    idle_since: Option<Instant>,
    /// Requests received so far.
    requests: u64,
    evicted: bool,
    evict: Arc<Notify>,
}

impl Pool {
    fn new(limit: usize, evict_after: Duration) -> Self {
        Pool {
            limit,
            evict_after,
            inner: Mutex::default(),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns once fewer than `limit` connections are open. While full, evicts the
    /// connection idle the longest as soon as it has been idle `evict_after`, one at a time.
    async fn room(&self) {
        loop {
            let wake_at = {
                let mut g = self.lock();
                if g.conns.len() < self.limit {
                    return;
                }
                if g.conns.len() - g.evicting >= self.limit {
                    let oldest = g
                        .conns
                        .values_mut()
                        .filter(|e| !e.evicted)
                        .filter_map(|e| Some((e.idle_since?, e)))
                        .min_by_key(|(t, _)| *t);
                    match oldest {
                        Some((t, e)) if t.elapsed() >= self.evict_after => {
                            e.evicted = true;
                            e.evict.notify_one();
                            g.evicting += 1;
                            None
                        }
                        Some((t, _)) => Some(t + self.evict_after),
                        // Every connection is in a request: wait for one to end.
                        None => None,
                    }
                } else {
                    None
                }
            };
            match wake_at {
                Some(t) => {
                    tokio::select! {
                        _ = self.freed.notified() => {}
                        _ = tokio::time::sleep_until(t.into()) => {}
                    }
                }
                None => self.freed.notified().await,
            }
        }
    }

    fn open(self: &Arc<Self>) -> Ticket {
        let evict = Arc::new(Notify::new());
        let mut g = self.lock();
        let id = g.next_id;
        g.next_id += 1;
        g.conns.insert(
            id,
            Entry {
                idle_since: Some(Instant::now()),
                requests: 0,
                evicted: false,
                evict: evict.clone(),
            },
        );
        Ticket {
            pool: self.clone(),
            id,
            evict,
        }
    }
}

/// One open connection's place in the pool; leaving it (drop) frees the place.
struct Ticket {
    pool: Arc<Pool>,
    id: u64,
    evict: Arc<Notify>,
}

impl Ticket {
    /// Marks a request in progress until the returned guard is dropped.
    fn busy(&self) -> Busy {
        if let Some(e) = self.pool.lock().conns.get_mut(&self.id) {
            e.idle_since = None;
            e.requests += 1;
        }
        Busy {
            pool: self.pool.clone(),
            id: self.id,
        }
    }

    /// Whether the connection has never received a request (nothing to finish writing).
    fn untouched(&self) -> bool {
        self.pool
            .lock()
            .conns
            .get(&self.id)
            .is_some_and(|e| e.requests == 0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut g = self.pool.lock();
        if let Some(e) = g.conns.remove(&self.id)
            && e.evicted
        {
            g.evicting -= 1;
        }
        drop(g);
        self.pool.freed.notify_one();
    }
}

/// A request in progress on a connection.
struct Busy {
    pool: Arc<Pool>,
    id: u64,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(e) = self.pool.lock().conns.get_mut(&self.id) {
            e.idle_since = Some(Instant::now());
        }
    }
}

/// Serves the endpoint on `listener` until accepting fails for good (returns that error):
/// plain HTTP, no authentication.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    status: StatusSource,
) -> io::Result<()> {
    serve_with(listener, metrics, status, Arc::new(WebConfig::default())).await
}

/// What every connection task shares.
struct Shared {
    metrics: Metrics,
    status: StatusSource,
    /// Turns to encode `/metrics` or check a bcrypt hash (both CPU on a blocking thread).
    encodes: Semaphore,
    web: Arc<WebConfig>,
}

/// [`serve`] with the protection of a web configuration (TLS, users, headers).
pub async fn serve_with(
    listener: TcpListener,
    metrics: Metrics,
    status: StatusSource,
    web: Arc<WebConfig>,
) -> io::Result<()> {
    let pool = Arc::new(Pool::new(MAX_CONNECTIONS, EVICT_AFTER_IDLE));
    let shared = Arc::new(Shared {
        metrics,
        status,
        encodes: Semaphore::new(MAX_ENCODES),
        web,
    });
    loop {
        // While full, leave new connections in the kernel's accept queue.
        pool.room().await;
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if transient(&e) => {
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let ticket = pool.open();
        let shared = shared.clone();
        tokio::spawn(async move {
            connection(stream, remote, ticket, shared).await;
        });
    }
}

/// Completes the TLS handshake (if configured) within [`HEADER_READ_TIMEOUT`], then serves
/// HTTP on the connection.
async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    ticket: Ticket,
    shared: Arc<Shared>,
) {
    if shared.web.tls.is_none() {
        return http(stream, remote, ticket, shared).await;
    }
    // The configuration, re-read if its files changed: stat calls, a read when they did.
    let web = shared.web.clone();
    let config =
        match tokio::task::spawn_blocking(move || web.tls.as_ref().map(|t| t.config())).await {
            Ok(Some(c)) => c,
            _ => return,
        };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                // Plain HTTP to the TLS port, no or a wrong client certificate, ...
                let reason = tls_failure_reason(&e);
                let n = shared.metrics.http_tls_failure(reason);
                tls_failure_log(n, reason, remote, &e.to_string());
                return;
            }
            Err(_) => {
                let n = shared.metrics.http_tls_failure("timeout");
                tls_failure_log(n, "timeout", remote, "not completed in time");
                return;
            }
        },
        // Still handshaking when room is needed: nothing is owed, close now.
        _ = ticket.evict.notified() => return,
    };
    http(stream, remote, ticket, shared).await
}

/// The `reason` label of a failed TLS handshake.
fn tls_failure_reason(e: &std::io::Error) -> &'static str {
    use rustls::Error as T;
    match e.get_ref().and_then(|x| x.downcast_ref::<T>()) {
        Some(T::InvalidMessage(_)) => "not_tls",
        Some(T::NoCertificatesPresented | T::InvalidCertificate(_)) => "client_certificate",
        Some(T::AlertReceived(_)) => "alert",
        Some(_) => "other",
        None => "io",
    }
}

/// Logs a failed handshake: at debug level each one, at warn level the 1st, 2nd, 4th, 8th ...
/// of each reason (a scanner or a misconfigured scraper cannot flood the log).
fn tls_failure_log(n: u64, reason: &str, remote: SocketAddr, error: &str) {
    if n.is_power_of_two() {
        tracing::warn!(%remote, reason, failures = n, error, "http: TLS handshake failed (logged at the 1st, 2nd, 4th, 8th ... of each reason)");
    } else {
        tracing::debug!(%remote, reason, failures = n, error, "http: TLS handshake failed");
    }
}

async fn http<S>(stream: S, remote: SocketAddr, ticket: Ticket, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ticket = Arc::new(ticket);
    let t = ticket.clone();
    let sh = shared.clone();
    let service = service_fn(move |req| {
        // Called as soon as the request's headers are parsed.
        let busy = t.busy();
        let sh = sh.clone();
        async move {
            let _busy = busy;
            Ok::<_, Infallible>(handle(req, &sh).await)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_BUF_SIZE)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = ticket.evict.notified() => {
            if ticket.untouched() {
                // No request ever (an idle connect, or headers still dribbling in): nothing
                // is owed, close now.
                tracing::debug!(%remote, "http: all connections open, closing one that sent no request");
                return;
            }
            // Idle keep-alive: closes at once. A request in progress (it arrived as the
            // eviction was decided) or a response still being written: finish it, then close.
            tracing::debug!(%remote, "http: all connections open, closing an idle one");
            conn.as_mut().graceful_shutdown();
            match tokio::time::timeout(EVICT_DRAIN, conn.as_mut()).await {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = result {
        if e.is_parse() || e.is_parse_too_large() {
            // hyper answered 400 (or 414/431) itself: the service never saw it.
            shared.metrics.http_request(PATH_OTHER, 400);
        }
        tracing::debug!(%remote, error = %e, "http: connection ended with an error");
    }
}

type Resp = Response<Full<Bytes>>;

fn response(code: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn plain(code: StatusCode, body: &'static str) -> Resp {
    response(code, "text/plain; charset=utf-8", body)
}

/// Bounds the `path` label.
fn bucket(path: &str) -> &'static str {
    PATHS
        .iter()
        .find(|p| **p == path)
        .copied()
        .unwrap_or(PATH_OTHER)
}

async fn handle(req: Request<Incoming>, sh: &Shared) -> Resp {
    let path = bucket(req.uri().path());
    let mut resp = if authorized(&req, sh).await {
        route(&req, path, &sh.metrics, &sh.status, &sh.encodes).await
    } else {
        let mut r = plain(StatusCode::UNAUTHORIZED, "unauthorized\n");
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        r
    };
    for (name, value) in sh.web.headers() {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    sh.metrics.http_request(path, resp.status().as_u16());
    resp
}

/// Whether the request may be answered: no users configured, or its basic credentials match
/// (bcrypt on a blocking thread, one of [`MAX_ENCODES`] turns, unless verified before).
async fn authorized(req: &Request<Incoming>, sh: &Shared) -> bool {
    if !sh.web.requires_auth() {
        return true;
    }
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return false;
    };
    if sh.web.remembered(value.as_bytes()) {
        return true;
    }
    let value = value.as_bytes().to_vec();
    let Ok(_turn) = sh.encodes.acquire().await else {
        return false;
    };
    let web = sh.web.clone();
    tokio::task::spawn_blocking(move || web.authorized(Some(&value)))
        .await
        .unwrap_or(false)
}

async fn route(
    req: &Request<Incoming>,
    path: &'static str,
    m: &Metrics,
    status: &StatusSource,
    encodes: &Semaphore,
) -> Resp {
    if path == PATH_OTHER {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/" => response(StatusCode::OK, "text/html; charset=utf-8", INDEX),
        "/healthz" => plain(StatusCode::OK, "ok\n"),
        "/metrics" => {
            let om = wants_openmetrics(req.headers().get(ACCEPT));
            let gzip = accepts_gzip(req.headers().get_all(ACCEPT_ENCODING));
            metrics(m, om, gzip, encodes).await
        }
        "/status" => status_json(status, STATUS_TIMEOUT).await,
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn metrics(m: &Metrics, openmetrics: bool, gzip: bool, encodes: &Semaphore) -> Resp {
    // Encoding reads /proc and walks every family: keep it off the runtime thread the
    // engine runs on, a bounded number at a time (the semaphore is fair: first come, first
    // served). It is never closed, so acquiring only fails if it were.
    let Ok(_turn) = encodes.acquire().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    };
    let m = m.clone();
    let encoded = tokio::task::spawn_blocking(move || {
        if gzip {
            Bytes::from(m.encode_gzip(openmetrics))
        } else {
            Bytes::from(m.encode(openmetrics))
        }
    });
    match encoded.await {
        Ok(body) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                PROMETHEUS_TEXT_CONTENT_TYPE
            };
            let mut r = response(StatusCode::OK, ct, body);
            let h = r.headers_mut();
            // The body depends on both request headers: caches must key on them.
            h.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
            if gzip {
                h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            r
        }
        Err(e) => {
            tracing::warn!(error = %e, "http: encoding metrics failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n")
        }
    }
}

/// Whether the `Accept-Encoding` headers (all of them, RFC 9110 12.5.3) allow gzip: `gzip`
/// (or its alias `x-gzip`) with a q above 0, or else `*` with a q above 0. An explicit
/// `gzip;q=0` refuses it whatever `*` says. No header, or only unreadable ones: no gzip.
pub(crate) fn accepts_gzip<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> bool {
    let mut gzip: Option<bool> = None;
    let mut any: Option<bool> = None;
    for v in values {
        let Ok(v) = v.to_str() else { continue };
        for coding in v.split(',') {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    (k.trim().eq_ignore_ascii_case("q")).then(|| v.trim().parse::<f32>().ok())?
                })
                .next()
                .unwrap_or(1.0);
            let ok = q > 0.0;
            match name.as_str() {
                "gzip" | "x-gzip" => gzip = Some(gzip.unwrap_or(false) || ok),
                "*" => any = Some(any.unwrap_or(false) || ok),
                _ => {}
            }
        }
    }
    gzip.or(any).unwrap_or(false)
}

async fn status_json(status: &StatusSource, timeout: Duration) -> Resp {
    let (tx, rx) = oneshot::channel();
    let ask = async {
        status.send(tx).await.ok()?;
        rx.await.ok()
    };
    match tokio::time::timeout(timeout, ask).await {
        Ok(Some(v)) => match serde_json::to_string_pretty(&v) {
            Ok(mut body) => {
                body.push('\n');
                let mut r = response(StatusCode::OK, "application/json", body);
                r.headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                r
            }
            Err(_) => plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "status encoding failed\n",
            ),
        },
        Ok(None) => plain(StatusCode::SERVICE_UNAVAILABLE, "engine not running\n"),
        Err(_) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "engine did not answer in time\n",
        ),
    }
}

/// Whether the `Accept` header prefers OpenMetrics text over the classic text format:
/// the highest q of `application/openmetrics-text` is positive and not below the highest q
/// of `text/plain`, `text/*` or `*/*`. No header, or an unreadable one: classic text.
pub(crate) fn wants_openmetrics(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut om_q: f32 = 0.0;
    let mut text_q: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("q")).then(|| v.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0);
        match media.as_str() {
            "application/openmetrics-text" => om_q = om_q.max(q),
            "text/plain" | "text/*" | "*/*" => text_q = text_q.max(q),
            _ => {}
        }
    }
    om_q > 0.0 && om_q >= text_q
}

#[cfg(test)]
pub(crate) async fn status_json_for_test(status: &StatusSource, timeout: Duration) -> u16 {
    status_json(status, timeout).await.status().as_u16()
}

/// One client's bytes served in memory by the endpoint's hyper settings and handler, for the
/// fuzzer (`crate::fuzzing::http`): returns what the server wrote back. `/status` answers a
/// fixed document; `/metrics` encodes a fresh registry.
#[doc(hidden)]
pub fn fuzz_exchange(request: &[u8]) -> Vec<u8> {
    use std::sync::OnceLock;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    static WORLD: OnceLock<(tokio::runtime::Runtime, Metrics, StatusSource)> = OnceLock::new();
    let (rt, metrics, status) = WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let (tx, mut rx) = mpsc::channel::<oneshot::Sender<serde_json::Value>>(8);
        rt.spawn(async move {
            while let Some(answer) = rx.recv().await {
                let _ = answer.send(serde_json::json!({ "instances": [] }));
            }
        });
        (rt, Metrics::new("fuzz", "fuzz"), tx)
    });
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(MAX_BUF_SIZE);
        let sh = Arc::new(Shared {
            metrics: metrics.clone(),
            status: status.clone(),
            encodes: Semaphore::new(MAX_ENCODES),
            web: Arc::new(WebConfig::default()),
        });
        let service = service_fn(move |req| {
            let sh = sh.clone();
            async move { Ok::<_, Infallible>(handle(req, &sh).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_BUF_SIZE)
            // The client shuts its write side after the request: answer it all the same.
            .half_close(true)
            .serve_connection(TokioIo::new(server), service);
        let talk = async {
            let _ = client.write_all(request).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
            out
        };
        let (_, out) = tokio::join!(conn, talk);
        out
    })
}

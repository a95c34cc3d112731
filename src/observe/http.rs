//! The HTTP endpoint: `/metrics`, `/status`, `/healthz` and an index page. hyper HTTP/1 only,
//! one task per connection, bounded connection count, GET and HEAD only.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE};

/// How `/status` asks the engine for its state: the handler sends a oneshot sender, the
/// engine answers with the JSON document.
pub type StatusSource = mpsc::Sender<oneshot::Sender<serde_json::Value>>;

/// How long `/status` waits for the engine before answering 503.
pub(crate) const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections served at once; more are closed right after accept.
const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send a request's headers (also bounds idle keep-alive).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Binds a listening socket (std bind, non-blocking, handed to tokio). Must be called from
/// within a tokio runtime.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    TcpListener::from_std(l)
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

/// Serves the endpoint on `listener` until accepting fails for good (returns that error).
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    status: StatusSource,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(c) => c,
            Err(e) if transient(&e) => {
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%remote, "http: too many connections, closing");
            continue;
        };
        let metrics = metrics.clone();
        let status = status.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let m = metrics.clone();
            let service = service_fn(move |req| {
                let m = m.clone();
                let status = status.clone();
                async move { Ok::<_, Infallible>(handle(req, &m, &status).await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                if e.is_parse() || e.is_parse_too_large() {
                    // hyper answered 400 (or 414/431) itself: the service never saw it.
                    metrics.http_request(PATH_OTHER, 400);
                }
                tracing::debug!(%remote, error = %e, "http: connection ended with an error");
            }
        });
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

async fn handle(req: Request<Incoming>, m: &Metrics, status: &StatusSource) -> Resp {
    let path = bucket(req.uri().path());
    let resp = route(&req, path, m, status).await;
    m.http_request(path, resp.status().as_u16());
    resp
}

async fn route(
    req: &Request<Incoming>,
    path: &'static str,
    m: &Metrics,
    status: &StatusSource,
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
            metrics(m, om).await
        }
        "/status" => status_json(status, STATUS_TIMEOUT).await,
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn metrics(m: &Metrics, openmetrics: bool) -> Resp {
    // Encoding reads /proc and walks every family: keep it off the runtime thread the
    // engine runs on.
    let m = m.clone();
    match tokio::task::spawn_blocking(move || m.encode(openmetrics)).await {
        Ok(body) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                PROMETHEUS_TEXT_CONTENT_TYPE
            };
            response(StatusCode::OK, ct, body)
        }
        Err(e) => {
            tracing::warn!(error = %e, "http: encoding metrics failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n")
        }
    }
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

//! OpenTelemetry: exports vipd's tracing spans (`vrrp.transition`, `vrrp.script`) as OTLP/HTTP
//! protobuf to a collector (`otlp: {endpoint: ...}` or `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! Spans are batched by the SDK's own background thread (no tokio runtime needed) and sent over
//! plain http by [`UreqClient`], a blocking ureq agent (the HTTP client `vipd status` uses, so
//! the executable carries one); [`Guard`] flushes what is left at shutdown.

use std::fmt;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::registry::LookupSpan;

/// The standard variable read when the configuration has no `otlp` key.
pub const ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Path appended to the endpoint (the OTLP/HTTP traces path).
pub const TRACES_PATH: &str = "/v1/traces";

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of a collector's answer that is read (the exporter only looks at its status, and
/// a partial-success message is small).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// The exporter's HTTP client: one ureq agent, plain http only, every request bounded by
/// [`EXPORT_TIMEOUT`] (connect, send and the answer together). A collector's non-2xx status
/// is returned as a response (the exporter reports it), not as a transport error.
#[derive(Debug)]
pub struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    pub fn new(timeout: Duration) -> UreqClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .https_only(false)
            .max_redirects(0)
            // The collector is named by the endpoint itself, as for `vipd status`: no
            // HTTP(S)_PROXY / ALL_PROXY from the environment.
            .proxy(None)
            .build()
            .new_agent();
        UreqClient { agent }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for UreqClient {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        // Blocking is right here: the SDK's batch thread runs the export on its own executor.
        let mut response = self.agent.run(request.map(|b| b.to_vec()))?;
        let body = match response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
        {
            Ok(b) => b,
            // The exporter's own type: an answer too large is final, not a network error to
            // retry (the collector may have taken the spans).
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(Box::new(opentelemetry_http::ResponseBodyTooLarge::new()));
            }
            Err(e) => return Err(e.into()),
        };
        let (parts, _) = response.into_parts();
        Ok(opentelemetry_http::Response::from_parts(parts, body.into()))
    }
}

/// Why the exporter could not be set up.
#[derive(Debug)]
pub enum Error {
    /// The endpoint is not an `http://host[:port]` URL.
    Endpoint(String),
    /// The OTLP exporter refused its configuration.
    Build(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Endpoint(m) => write!(f, "otlp.endpoint: {m}"),
            Error::Build(m) => write!(f, "cannot set up the OTLP exporter: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Whether an endpoint from [`parse_endpoint`] names port 4317, OTLP/gRPC's (vipd speaks
/// OTLP/HTTP, port 4318 by convention).
pub fn is_grpc_port(endpoint: &str) -> bool {
    let authority = endpoint
        .strip_prefix("http://")
        .unwrap_or(endpoint)
        .split('/')
        .next()
        .unwrap_or("");
    authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| port == "4317" && !host.is_empty())
}

/// Checks an OTLP/HTTP endpoint, `http://host:port` (a base path is allowed; `/v1/traces` is
/// appended). Returns it without a trailing `/`. `https://` is refused: vipd is built without TLS.
pub fn parse_endpoint(s: &str) -> Result<String, String> {
    let s = s.trim();
    let example = "(e.g. `http://127.0.0.1:4318`)";
    let rest = if let Some(r) = s.strip_prefix("http://") {
        r
    } else if s.starts_with("https://") {
        return Err(format!(
            "`{s}`: https is not supported (vipd is built without TLS); send to a local collector over http:// {example}"
        ));
    } else {
        return Err(format!("`{s}` is not an http:// URL {example}"));
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(format!(
            "`{s}`: a query or fragment is not allowed {example}"
        ));
    }
    if authority.contains('@') {
        return Err(format!("`{s}`: credentials are not allowed {example}"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, p)) if h.parse::<std::net::Ipv6Addr>().is_ok() => (h, p),
            _ => return Err(format!("`{s}`: bad IPv6 host {example}")),
        }
    } else {
        match authority.find(':') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        }
    };
    if host.is_empty() {
        return Err(format!("`{s}`: missing host {example}"));
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err(format!("`{s}`: bad host `{host}` {example}"));
    }
    let Some(port) = port.strip_prefix(':') else {
        return Err(format!("`{s}`: missing port {example}"));
    };
    match port.parse::<u16>() {
        Ok(p) if p != 0 && !port.starts_with('+') => {}
        _ => return Err(format!("`{s}`: bad port `{port}` {example}")),
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// The URL spans are POSTed to: the endpoint plus [`TRACES_PATH`].
pub fn traces_url(endpoint: &str) -> String {
    format!("{}{TRACES_PATH}", endpoint.trim_end_matches('/'))
}

/// The endpoint to export to: the configured one, else [`ENDPOINT_ENV`] when set and not empty.
/// `Some(Err)` when the variable holds no valid endpoint.
pub fn endpoint(configured: Option<&str>) -> Option<Result<String, Error>> {
    if let Some(e) = configured {
        return Some(parse_endpoint(e).map_err(Error::Endpoint));
    }
    let v = std::env::var(ENDPOINT_ENV).ok()?;
    if v.trim().is_empty() {
        return None;
    }
    Some(parse_endpoint(&v).map_err(|m| Error::Endpoint(format!("{ENDPOINT_ENV}: {m}"))))
}

/// Keeps the tracer provider alive; dropping it (or [`Guard::shutdown`]) exports the spans
/// still queued and stops the batch thread. Drop it after the runtime has finished.
pub struct Guard {
    provider: Option<SdkTracerProvider>,
}

impl Guard {
    /// Flushes and stops the exporter now, reporting a failure.
    pub fn shutdown(mut self) -> Result<(), Error> {
        match self.provider.take() {
            Some(p) => p.shutdown().map_err(|e| Error::Build(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take()
            && let Err(e) = p.shutdown()
        {
            eprintln!("vipd: exporting the last spans: {e}");
        }
    }
}

/// A tracing layer exporting vipd's spans (target `vipd`, level info and up; their events
/// become span events) to `endpoint` (see [`parse_endpoint`]), with resource attributes
/// `service.name=vipd`, `service.instance.id=<router_id>`, `service.version`.
pub fn layer<S>(endpoint: &str, router_id: &str) -> Result<(impl Layer<S> + use<S>, Guard), Error>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let endpoint = parse_endpoint(endpoint).map_err(Error::Endpoint)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(&endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(UreqClient::new(EXPORT_TIMEOUT))
        .build()
        .map_err(|e| Error::Build(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name("vipd")
        .with_attributes([
            KeyValue::new("service.instance.id", router_id.to_owned()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    // with_batch_exporter: the SDK's batch span processor on its own thread.
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("vipd");
    // Only vipd's own spans: the exporter's HTTP client must not feed back into itself.
    let only_vipd = Targets::new().with_target("vipd", LevelFilter::INFO);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_threads(false)
        .with_filter(only_vipd);
    Ok((
        layer,
        Guard {
            provider: Some(provider),
        },
    ))
}

/// The OpenTelemetry trace id of `span` as 32 hex digits, or None when spans are not exported
/// (no OTel layer, or the span is disabled). Used as the exemplar of the transition counter.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("http://127.0.0.1:4318").unwrap(),
            "http://127.0.0.1:4318"
        );
        assert_eq!(
            parse_endpoint(" http://collector.example:4318/ ").unwrap(),
            "http://collector.example:4318"
        );
        assert_eq!(
            parse_endpoint("http://[::1]:4318/otlp").unwrap(),
            "http://[::1]:4318/otlp"
        );
        assert!(is_grpc_port("http://127.0.0.1:4317"));
        assert!(is_grpc_port("http://[::1]:4317/x"));
        assert!(!is_grpc_port("http://127.0.0.1:4318"));
        assert!(!is_grpc_port("http://[::4317]:4318"));
        assert!(!is_grpc_port("http://collector"));
        for bad in [
            "127.0.0.1:4318",
            "ftp://h:1",
            "https://h:4318",
            "http://:4318",
            "http://h",
            "http://h:",
            "http://h:0",
            "http://h:70000",
            "http://h:43x",
            "http://u@h:1",
            "http://h h:1",
            "http://[zz]:1",
            "http://h:1/?q",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(traces_url("http://h:1/otlp/"), "http://h:1/otlp/v1/traces");
    }

    /// A one-connection HTTP server on loopback: reads the request head and body, writes
    /// `answer` (or nothing, holding the connection, when it is empty) and returns the request.
    fn serve_once(answer: &'static [u8]) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Head, then as many body bytes as Content-Length says.
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "closed before the head ended");
                got.extend_from_slice(&buf[..n]);
            }
            let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while got.len() < head_end + len {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "closed before the body ended");
                got.extend_from_slice(&buf[..n]);
            }
            if answer.is_empty() {
                // Hold the connection until the client gives up.
                let _ = c.read(&mut buf);
            } else {
                c.write_all(answer).unwrap();
            }
            got
        });
        (url, t)
    }

    fn post(
        client: &UreqClient,
        url: &str,
        body: &'static [u8],
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        use opentelemetry_http::HttpClient as _;
        let req = opentelemetry_http::Request::post(url)
            .header("content-type", "application/x-protobuf")
            .body(opentelemetry_http::Bytes::from_static(body))
            .unwrap();
        futures::executor::block_on(client.send_bytes(req))
    }

    #[test]
    fn the_exporters_client_posts_the_body_and_returns_any_status_with_its_body() {
        let client = UreqClient::new(Duration::from_secs(5));
        let (url, server) = serve_once(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 3\r\n\r\nabc",
        );
        let r = post(&client, &url, b"\x0a\x01\x02").unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body()[..], b"abc");
        let got = server.join().unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{text}");
        assert!(
            text.to_lowercase()
                .contains("content-type: application/x-protobuf"),
            "{text}"
        );
        assert!(got.ends_with(b"\x0a\x01\x02"), "{got:?}");

        // A collector's refusal is an answer the exporter reports, not a transport error.
        let (url, server) =
            serve_once(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy");
        let r = post(&client, &url, b"x").unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(&r.body()[..], b"busy");
        server.join().unwrap();
    }

    #[test]
    fn the_exporters_client_bounds_the_answer_and_the_wait() {
        // An answer larger than MAX_RESPONSE_BYTES is an error, not read into memory.
        let client = UreqClient::new(Duration::from_secs(5));
        let big: &'static [u8] = Box::leak(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n{}",
                "z".repeat(200_000),
                n = 200_000
            )
            .into_bytes()
            .into_boxed_slice(),
        );
        let (url, server) = serve_once(big);
        let err = post(&client, &url, b"x").unwrap_err();
        assert!(
            err.downcast_ref::<opentelemetry_http::ResponseBodyTooLarge>()
                .is_some(),
            "{err}"
        );
        let _ = server.join();
        // A collector that never answers: the request ends with an error at the timeout.
        let client = UreqClient::new(Duration::from_millis(300));
        let (url, server) = serve_once(b"");
        assert!(post(&client, &url, b"x").is_err());
        server.join().unwrap();
    }

    #[test]
    fn layer_builds_outside_a_runtime_and_guard_shuts_down() {
        use tracing_subscriber::layer::SubscriberExt;
        let (otel, guard) =
            layer::<tracing_subscriber::Registry>("http://127.0.0.1:9", "node-a").unwrap();
        let subscriber = tracing_subscriber::registry().with(otel);
        tracing::subscriber::with_default(subscriber, || {
            let _s = tracing::info_span!("vrrp.transition", instance = "VI_1").entered();
        });
        // Nothing listens on port 9: the export fails, the shutdown still returns.
        let _ = guard.shutdown();
        assert!(matches!(
            layer::<tracing_subscriber::Registry>("https://h:1", "n"),
            Err(Error::Endpoint(_))
        ));
    }
}

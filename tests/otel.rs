//! OpenTelemetry export (root lab test): vipd with `otlp: {endpoint: ...}` sends its spans as
//! OTLP/HTTP protobuf to a minimal collector written here, which listens on 127.0.0.1:4318
//! inside the vipd host's namespace, decodes every `POST /v1/traces` with opentelemetry-proto
//! and answers 200 with an empty `ExportTraceServiceResponse`.

mod labkit;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use labkit::{Lab, wait_for};
use nix::sched::{CloneFlags, setns};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

const S: Duration = Duration::from_secs(1);

/// One span as received: its name, attributes, event names and its resource's attributes.
#[derive(Clone, Debug)]
struct Got {
    name: String,
    /// Trace id as 32 lower-case hex digits.
    trace_id: String,
    attrs: BTreeMap<String, String>,
    events: Vec<String>,
    resource: BTreeMap<String, String>,
}

/// What the collector saw.
#[derive(Default)]
struct Seen {
    spans: Vec<Got>,
    /// (method, path, content-type) per request.
    requests: Vec<(String, String, String)>,
}

fn text(v: &Option<AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), text(&kv.value)))
        .collect()
}

/// The OTLP/HTTP receiver: bound inside namespace `ns` on 127.0.0.1:4318 by its own thread.
struct Collector {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Collector {
    fn start(ns: &str) -> Collector {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let path = format!("/run/netns/{ns}");
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            let listener = TcpListener::bind("127.0.0.1:4318").expect("bind 127.0.0.1:4318");
            listener.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            let mut conns = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let seen = seen2.clone();
                        conns.push(thread::spawn(move || serve(stream, &seen)));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        ready_rx
            .recv_timeout(5 * S)
            .expect("collector listening in the namespace");
        Collector {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn spans(&self) -> Vec<Got> {
        self.seen.lock().unwrap().spans.clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves HTTP/1.1 requests on one connection (keep-alive) until the peer closes it.
fn serve(stream: TcpStream, seen: &Mutex<Seen>) {
    stream.set_read_timeout(Some(10 * S)).unwrap();
    let mut out = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            chunked(&mut r)
        } else {
            let n: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut b = vec![0; n];
            r.read_exact(&mut b).expect("request body");
            b
        };
        let content_type = headers.get("content-type").cloned().unwrap_or_default();
        let ok = method == "POST" && path == "/v1/traces";
        {
            let mut seen = seen.lock().unwrap();
            seen.requests
                .push((method.clone(), path.clone(), content_type.clone()));
            if ok {
                let req = ExportTraceServiceRequest::decode(body.as_slice())
                    .expect("an ExportTraceServiceRequest");
                for rs in &req.resource_spans {
                    let resource = rs
                        .resource
                        .as_ref()
                        .map(|r| attrs(&r.attributes))
                        .unwrap_or_default();
                    for ss in &rs.scope_spans {
                        for sp in &ss.spans {
                            seen.spans.push(Got {
                                name: sp.name.clone(),
                                trace_id: sp.trace_id.iter().map(|b| format!("{b:02x}")).collect(),
                                attrs: attrs(&sp.attributes),
                                events: sp.events.iter().map(|e| e.name.clone()).collect(),
                                resource: resource.clone(),
                            });
                        }
                    }
                }
            }
        }
        let (status, reply) = if ok {
            (
                "200 OK",
                ExportTraceServiceResponse::default().encode_to_vec(),
            )
        } else {
            ("404 Not Found", Vec::new())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(&reply).is_err() {
            return;
        }
    }
}

/// A chunked request body.
fn chunked(r: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).expect("chunk size");
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .expect("hex chunk size");
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).expect("chunk");
        if n == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn transitions_and_script_runs_arrive_at_an_otlp_collector() {
    let mut lab = Lab::new("ot");
    lab.host("a", "10.99.0.11", None);
    let collector = Collector::start(&lab.ns("a"));
    let yaml = "\
router_id: node-a
listen: \"127.0.0.1:9797\"
otlp:
  endpoint: \"http://127.0.0.1:4318\"
scripts:
  chk:
    command: [\"true\"]
    interval: 200ms
instances:
  VI_1:
    interface: eth0
    vrid: 61
    priority: 100
    advert_interval: 100ms
    track_scripts: [chk]
    virtual_ipaddress: [\"10.99.0.61/24\"]
";
    let pid = lab.vipd("a", yaml);
    lab.wait_holder(&["a"], "10.99.0.61", "a", 5 * S);
    // A few script runs (every 200 ms).
    thread::sleep(S);
    // The transition counter carries the transition's trace id as an OpenMetrics exemplar.
    let scrape = labkit::sh(&[
        "ip",
        "netns",
        "exec",
        &lab.ns("a"),
        "curl",
        "-s",
        "-H",
        "Accept: application/openmetrics-text",
        "http://127.0.0.1:9797/metrics",
    ]);
    let exemplar = scrape
        .lines()
        .find(|l| {
            l.starts_with("vrrp_instance_transitions_total{")
                && l.contains("from=\"backup\",to=\"master\"")
        })
        .and_then(|l| l.split("trace_id=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no exemplar on backup->master in:\n{scrape}"));
    lab.signal(pid, "TERM");
    assert_eq!(lab.wait_exit(pid, 10 * S), Some(0), "{}", lab.log("a.log"));
    // The exporter flushes on the way out: everything has arrived once vipd has exited.
    wait_for(2 * S, "spans", || !collector.spans().is_empty());
    let spans = collector.spans();
    let log = lab.log("a.log");
    let requests = collector.seen.lock().unwrap().requests.clone();
    eprintln!(
        "{} spans in {} requests; vipd's log:\n{log}",
        spans.len(),
        requests.len()
    );
    assert!(
        requests
            .iter()
            .all(|(m, p, ct)| m == "POST" && p == "/v1/traces" && ct == "application/x-protobuf"),
        "{requests:?}"
    );

    let t = spans
        .iter()
        .find(|s| {
            s.name == "vrrp.transition"
                && s.attrs.get("from").map(String::as_str) == Some("BACKUP")
                && s.attrs.get("to").map(String::as_str) == Some("MASTER")
        })
        .unwrap_or_else(|| panic!("no BACKUP -> MASTER span in {spans:#?}\n{log}"));
    assert_eq!(
        t.trace_id, exemplar,
        "the metric's exemplar is the span's trace"
    );
    for (k, v) in [
        ("instance", "VI_1"),
        ("vrid", "61"),
        ("interface", "eth0"),
        ("priority", "100"),
        ("cause", "master down timer expired"),
        ("vrrp.election", "true"),
    ] {
        assert_eq!(t.attrs.get(k).map(String::as_str), Some(v), "{k}: {t:#?}");
    }
    // The log event is inside the span.
    assert!(
        t.events
            .iter()
            .any(|e| e == "BACKUP -> MASTER: master down timer expired"),
        "{t:#?}"
    );
    for (k, v) in [
        ("service.name", "vipd"),
        ("service.instance.id", "node-a"),
        ("service.version", env!("CARGO_PKG_VERSION")),
    ] {
        assert_eq!(
            t.resource.get(k).map(String::as_str),
            Some(v),
            "{k}: {t:#?}"
        );
    }
    // INIT -> BACKUP is a transition but no election.
    let init = spans
        .iter()
        .find(|s| {
            s.name == "vrrp.transition" && s.attrs.get("from").map(String::as_str) == Some("INIT")
        })
        .unwrap_or_else(|| panic!("no INIT -> BACKUP span in {spans:#?}"));
    assert_eq!(
        init.attrs.get("vrrp.election").map(String::as_str),
        Some("false")
    );

    let runs: Vec<&Got> = spans.iter().filter(|s| s.name == "vrrp.script").collect();
    assert!(runs.len() >= 2, "script runs: {spans:#?}");
    for r in &runs {
        assert_eq!(
            r.attrs.get("script").map(String::as_str),
            Some("chk"),
            "{r:#?}"
        );
        assert_eq!(
            r.attrs.get("result").map(String::as_str),
            Some("success"),
            "{r:#?}"
        );
        let ms: u64 = r.attrs["duration_ms"].parse().expect("duration_ms integer");
        assert!(ms < 1000, "{r:#?}");
    }
    // Log lines are unchanged by the spans (no span prefix on the event).
    assert!(
        log.lines()
            .any(|l| l
                .contains("vipd::daemon::observer: BACKUP -> MASTER: master down timer expired")),
        "{log}"
    );
}

#[test]
fn without_the_key_the_standard_environment_variable_is_used() {
    let mut lab = Lab::new("oe");
    lab.host("a", "10.99.0.11", None);
    let collector = Collector::start(&lab.ns("a"));
    let cfg = lab.file(
        "a.yaml",
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_2:\n    interface: eth0\n    vrid: 62\n    advert_interval: 100ms\n    virtual_ipaddress: [\"10.99.0.62/24\"]\n",
    );
    let cfg = cfg.to_str().unwrap().to_owned();
    let pid = lab.spawn(
        "a",
        "a.log",
        &[
            "env",
            "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318",
            labkit::VIPD,
            "run",
            "-c",
            &cfg,
        ],
    );
    lab.wait_holder(&["a"], "10.99.0.62", "a", 5 * S);
    lab.signal(pid, "TERM");
    assert_eq!(lab.wait_exit(pid, 10 * S), Some(0), "{}", lab.log("a.log"));
    wait_for(2 * S, "spans", || {
        collector.spans().iter().any(|s| {
            s.name == "vrrp.transition"
                && s.attrs.get("instance").map(String::as_str) == Some("VI_2")
                && s.attrs.get("to").map(String::as_str) == Some("MASTER")
        })
    });
}

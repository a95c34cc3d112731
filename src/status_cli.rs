//! `vipd status`: fetches `/status` from a running vipd (or `vipd monitor`) over plain
//! HTTP/1.1 and prints it as a table. [`render`] is the pure formatting part.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::status::{DaemonStatus, InstanceStatus, MonitorStatus};

/// Default endpoint of `vipd status`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9797";
/// Connect timeout per resolved address.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Read/write timeout on the connection.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response accepted.
const MAX_RESPONSE: u64 = 16 << 20;
/// Peers listed one by one up to this many; beyond, only counted.
const MAX_LISTED_PEERS: usize = 3;

/// Why `/status` could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `http://host[:port][/prefix]`.
    #[error("bad URL {0:?}: {1}")]
    BadUrl(String, &'static str),
    /// Resolving, connecting, sending or receiving failed.
    #[error("cannot reach vipd at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: io::Error,
    },
    /// An answer, but not 200.
    #[error("vipd at {url} answered {code} {reason}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        url: String,
        code: u16,
        reason: String,
        body: String,
    },
    /// Not HTTP, or not JSON.
    #[error("unexpected answer from {url}: {what}")]
    Malformed { url: String, what: String },
}

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Url {
    /// `host:port` as given (with brackets for IPv6), for the Host header.
    authority: String,
    host: String,
    port: u16,
    /// Path prefix without a trailing slash ("" for none).
    prefix: String,
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let bad = |why| FetchError::BadUrl(url.to_owned(), why);
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, p),
            None if after.is_empty() => (h, "80"),
            None => return Err(bad("junk after ']'")),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, "80"),
        }
    };
    let port = port.parse::<u16>().map_err(|_| bad("bad port"))?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    Ok(Url {
        authority: authority.to_owned(),
        host: host.to_owned(),
        port,
        prefix: path.trim_end_matches('/').to_owned(),
    })
}

/// A `/status` document: of `vipd run` or of `vipd monitor` (`"mode": "monitor"`).
#[derive(Clone, Debug, PartialEq)]
pub enum Document {
    Daemon(DaemonStatus),
    Monitor(MonitorStatus),
}

impl Document {
    /// Parses a `/status` body: by its `mode` first (absent for a daemon), then as that
    /// document, so an error names the field of the document it was meant to be.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Mode {
            #[serde(default)]
            mode: Option<String>,
        }
        let mode = serde_json::from_slice::<Mode>(body)
            .map_err(|e| format!("not a JSON object: {e}"))?
            .mode;
        match mode.as_deref() {
            None => serde_json::from_slice(body)
                .map(Document::Daemon)
                .map_err(|e| format!("not a vipd /status document: {e}")),
            Some("monitor") => serde_json::from_slice(body)
                .map(Document::Monitor)
                .map_err(|e| format!("not a vipd monitor /status document: {e}")),
            Some(m) => Err(format!("unknown /status mode {m:?}")),
        }
    }
}

/// GETs `{url}/status` and parses it.
pub fn fetch(url: &str) -> Result<Document, FetchError> {
    let body = get(url, "/status")?;
    Document::from_json(&body).map_err(|what| FetchError::Malformed {
        url: url.to_owned(),
        what,
    })
}

/// GETs `{url}{path}` and returns the body of a 200 answer.
fn get(url: &str, path: &str) -> Result<Vec<u8>, FetchError> {
    let u = parse_url(url)?;
    let unreachable = |source: io::Error| FetchError::Unreachable {
        url: url.to_owned(),
        source,
    };
    let addrs: Vec<_> = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .map_err(unreachable)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host resolves to no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| unreachable(last))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .map_err(unreachable)?;
    let req = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vipd-status/{}\r\nConnection: close\r\n\r\n",
        u.prefix,
        u.authority,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(req.as_bytes()).map_err(unreachable)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .map_err(unreachable)?;
    let resp = parse_response(&raw).map_err(|what| FetchError::Malformed {
        url: url.to_owned(),
        what,
    })?;
    if resp.code != 200 {
        let body = String::from_utf8_lossy(&resp.body).trim().to_owned();
        return Err(FetchError::Status {
            url: url.to_owned(),
            code: resp.code,
            reason: resp.reason,
            body: body.chars().take(200).collect(),
        });
    }
    Ok(resp.body)
}

/// A parsed HTTP/1.x response.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    code: u16,
    reason: String,
    body: Vec<u8>,
}

/// Parses a whole HTTP/1.x response (connection closed after it): status line, headers,
/// body by Content-Length, chunked transfer coding, or up to the end.
fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers (not HTTP?)")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.splitn(3, ' ');
    let proto = parts.next().unwrap_or("");
    if !proto.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: {status:?}"));
    }
    let code = parts
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line: {status:?}"))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { code, reason, body })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {line:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("truncated chunk")?);
        b = b.get(size + 2..).ok_or("truncated chunk")?;
    }
}

/// `vipd status`: prints the table, or the error on stderr. Returns the exit code.
pub fn run(url: &str) -> u8 {
    match fetch(url) {
        Ok(doc) => {
            print!("{}", render(&doc, crate::observe::unix_now()));
            0
        }
        Err(e) => {
            eprintln!("vipd status: {e}");
            1
        }
    }
}

/// "850ms", "12.3s", "4m05s", "2h13m", "3d04h".
fn fmt_ago(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms < 1000.0 {
        return format!("{ms:.0}ms");
    }
    let secs = ms / 1000.0;
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let t = secs as u64;
    match t {
        0..3600 => format!("{}m{:02}s", t / 60, t % 60),
        3600..86400 => format!("{}h{:02}m", t / 3600, t % 3600 / 60),
        _ => format!("{}d{:02}h", t / 86400, t % 86400 / 3600),
    }
}

/// Lays out rows under a header, columns separated by two spaces.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        let mut l = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<width$}  ", width = w[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// Formats a `/status` document (of `vipd run` or `vipd monitor`) as a readable table;
/// `now_unix` (Unix seconds) dates the last transitions.
pub fn render(doc: &Document, now_unix: f64) -> String {
    match doc {
        Document::Daemon(d) => render_daemon(d, now_unix),
        Document::Monitor(m) => render_monitor(m),
    }
}

fn render_daemon(d: &DaemonStatus, now_unix: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "vipd {}  router_id {}", d.version, d.router_id);
    if d.instances.is_empty() {
        out.push_str("no instances\n");
        return out;
    }
    let rows: Vec<Vec<String>> = d
        .instances
        .iter()
        .map(|i| instance_row(i, now_unix))
        .collect();
    out.push_str(&table(
        &[
            "INSTANCE",
            "VRID",
            "INTERFACE",
            "STATE",
            "PRIO/BASE",
            "MASTER",
            "PEERS",
            "LAST CHANGE",
            "SCRIPTS",
        ],
        &rows,
    ));
    out
}

fn instance_row(i: &InstanceStatus, now_unix: f64) -> Vec<String> {
    let mut state = i.state.to_uppercase();
    let mut prio = format!("{}/{}", i.priority, i.base_priority);
    if !i.healthy {
        prio.push_str(" (unhealthy)");
    }
    let master = match &i.master {
        Some(m) => {
            let who = if i.source.as_deref() == Some(m.address.as_str()) {
                format!("self {}", m.address)
            } else {
                m.address.clone()
            };
            format!("{who} ({})", m.priority)
        }
        None if state == "MASTER" => format!("self ({})", i.priority),
        None => "-".to_owned(),
    };
    let peers = if i.peers.is_empty() {
        "-".to_owned()
    } else if i.peers.len() <= MAX_LISTED_PEERS {
        i.peers
            .iter()
            .map(|p| format!("{}:{}", p.address, p.priority))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        format!("{} peers", i.peers.len())
    };
    let last = match i.last_transition_unix {
        Some(ts) => format!("{} ago", fmt_ago((now_unix - ts) * 1000.0)),
        None => {
            let n = i.stats.transitions;
            format!("{n} transition{}", if n == 1 { "" } else { "s" })
        }
    };
    let scripts = if i.scripts.is_empty() {
        "-".to_owned()
    } else {
        i.scripts
            .iter()
            .map(|t| format!("{}={}", t.name, if t.healthy { "ok" } else { "FAIL" }))
            .collect::<Vec<_>>()
            .join(",")
    };
    // After the master column: it keys on the bare state.
    if i.drained {
        state.push_str(" (drained)");
    }
    if i.holding_addresses {
        state.push_str(" (releasing)");
    }
    vec![
        i.name.clone(),
        format!("{} v{}", i.vrid, i.version),
        format!("{} {}", i.interface, i.family),
        state,
        prio,
        master,
        peers,
        last,
        scripts,
    ]
}

fn render_monitor(m: &MonitorStatus) -> String {
    let mut out = String::new();
    let names: Vec<&str> = m.interfaces.iter().map(|i| i.name.as_str()).collect();
    let _ = writeln!(out, "vipd {} monitor on {}", m.version, names.join(", "));
    if m.virtual_routers.is_empty() {
        out.push_str("no VRRP adverts heard yet\n");
        return out;
    }
    let mut rows = Vec::new();
    for vr in &m.virtual_routers {
        let status = match vr.masters.len() {
            0 => "no master".to_owned(),
            1 => "ok".to_owned(),
            n => format!("SPLIT BRAIN ({n} masters)"),
        };
        for r in &vr.routers {
            rows.push(vec![
                format!("{} {}", vr.interface, vr.family),
                vr.vrid.to_string(),
                r.address.clone(),
                r.priority.to_string(),
                if r.master { "MASTER" } else { "-" }.to_owned(),
                fmt_ago(r.advert_interval_ms),
                r.checksum_form.clone(),
                r.adverts.to_string(),
                format!("{} ago", fmt_ago(r.last_advert_ms_ago)),
                status.clone(),
            ]);
        }
    }
    out.push_str(&table(
        &[
            "INTERFACE",
            "VRID",
            "ROUTER",
            "PRIO",
            "ROLE",
            "INTERVAL",
            "CHECKSUM",
            "ADVERTS",
            "LAST",
            "VR",
        ],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::status::{
        Counters, Master, MonitorInterfaceStatus, MonitorMode, PeerStatus, RouterStatus,
        ScriptStatus, SocketStatus, VirtualRouterStatus,
    };

    /// Now, for [`render`], in the samples.
    const NOW: f64 = 1_700_000_200.0;

    fn peer(address: &str, priority: u8) -> PeerStatus {
        PeerStatus {
            address: address.into(),
            priority,
            ..Default::default()
        }
    }

    fn sample() -> DaemonStatus {
        DaemonStatus {
            router_id: "lb1".into(),
            version: "0.1.0".into(),
            instances: vec![
                InstanceStatus {
                    name: "VI_1".into(),
                    state: "master".into(),
                    vrid: 51,
                    interface: "eth0".into(),
                    family: "ipv4".into(),
                    version: 3,
                    priority: 150,
                    base_priority: 150,
                    healthy: true,
                    source: Some("10.99.0.11".into()),
                    master: Some(Master {
                        address: "10.99.0.11".into(),
                        priority: 150,
                    }),
                    advert_interval_ms: 1000.0,
                    master_advert_interval_ms: 1000.0,
                    master_down_interval_ms: 3414.0,
                    timers: [("adver_in_ms".to_owned(), 512.0)].into(),
                    addresses: vec!["10.99.0.51/24".into()],
                    advertised_addresses: 1,
                    peers: vec![PeerStatus {
                        adverts: 3,
                        last_advert_ms_ago: 2000.0,
                        checksum_form: "pseudo_header".into(),
                        ..peer("10.99.0.12", 100)
                    }],
                    scripts: vec![
                        ScriptStatus {
                            name: "chk_nginx".into(),
                            weight: -20,
                            healthy: true,
                        },
                        ScriptStatus {
                            name: "chk_disk".into(),
                            weight: 0,
                            healthy: false,
                        },
                    ],
                    masters_observed: 1,
                    stats: Counters {
                        adverts_sent: 10,
                        transitions: 2,
                        dropped: [("ttl".to_owned(), 4)].into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                InstanceStatus {
                    name: "VI_6".into(),
                    state: "backup".into(),
                    vrid: 52,
                    interface: "eth0".into(),
                    family: "ipv6".into(),
                    version: 3,
                    priority: 90,
                    base_priority: 110,
                    healthy: false,
                    source: Some("fe80::1".into()),
                    master: Some(Master {
                        address: "fe80::2".into(),
                        priority: 100,
                    }),
                    peers: vec![
                        peer("fe80::2", 100),
                        peer("fe80::3", 80),
                        peer("fe80::4", 70),
                        peer("fe80::5", 60),
                    ],
                    stats: Counters {
                        transitions: 1,
                        ..Default::default()
                    },
                    last_transition_unix: Some(NOW - 125.0),
                    ..Default::default()
                },
            ],
            sockets: vec![SocketStatus {
                interface: "eth0".into(),
                family: "ipv4".into(),
                wire_tap: true,
                queue_overflow: 2,
                dropped_before_demux: [("vrid".to_owned(), 7)].into(),
                ..Default::default()
            }],
        }
    }

    fn monitor_sample() -> MonitorStatus {
        let router = |address: &str, master| RouterStatus {
            address: address.into(),
            priority: 100,
            master,
            adverts: 5,
            advert_interval_ms: 1000.0,
            checksum_form: "rfc9568".into(),
            first_advert_ms_ago: 4300.0,
            last_advert_ms_ago: 300.0,
        };
        MonitorStatus {
            mode: MonitorMode::Monitor,
            version: "0.1.0".into(),
            interfaces: vec![
                MonitorInterfaceStatus {
                    name: "eth0".into(),
                    families: vec!["ipv4".into()],
                },
                MonitorInterfaceStatus {
                    name: "eth1".into(),
                    families: vec!["ipv4".into(), "ipv6".into()],
                },
            ],
            virtual_routers: vec![VirtualRouterStatus {
                interface: "eth0".into(),
                family: "ipv4".into(),
                vrid: 7,
                split_brain: true,
                masters: vec![
                    Master {
                        address: "10.0.0.1".into(),
                        priority: 100,
                    },
                    Master {
                        address: "10.0.0.2".into(),
                        priority: 100,
                    },
                ],
                routers: vec![router("10.0.0.1", true), router("10.0.0.2", true)],
            }],
        }
    }

    /// Serialised as the daemon serves it, and read back as `vipd status` does.
    fn wire(v: &impl serde::Serialize) -> Document {
        Document::from_json(&serde_json::to_vec(&serde_json::to_value(v).unwrap()).unwrap())
            .unwrap()
    }

    #[test]
    fn renders_instances_as_a_table() {
        let out = render(&wire(&sample()), NOW);
        let expected = "\
vipd 0.1.0  router_id lb1
INSTANCE  VRID   INTERFACE  STATE   PRIO/BASE           MASTER                 PEERS           LAST CHANGE    SCRIPTS
VI_1      51 v3  eth0 ipv4  MASTER  150/150             self 10.99.0.11 (150)  10.99.0.12:100  2 transitions  chk_nginx=ok,chk_disk=FAIL
VI_6      52 v3  eth0 ipv6  BACKUP  90/110 (unhealthy)  fe80::2 (100)          4 peers         2m05s ago      -
";
        assert_eq!(out, expected, "\n{out}");
        let mut d = sample();
        d.instances[1].drained = true;
        let out = render(&wire(&d), NOW);
        assert!(out.contains("BACKUP (drained)"), "{out}");
    }

    #[test]
    fn renders_no_instances_and_monitor_documents() {
        let empty = DaemonStatus {
            router_id: "x".into(),
            ..Default::default()
        };
        let out = render(&wire(&empty), NOW);
        assert!(out.contains("no instances"), "{out}");
        let out = render(&wire(&monitor_sample()), NOW);
        assert!(out.contains("monitor on eth0, eth1"), "{out}");
        assert!(out.contains("eth0 ipv4  7 "), "{out}");
        assert!(out.contains("SPLIT BRAIN (2 masters)"), "{out}");
        assert!(out.contains("300ms ago"), "{out}");
    }

    #[test]
    fn documents_survive_the_wire() {
        let d = sample();
        assert_eq!(wire(&d), Document::Daemon(d));
        let m = monitor_sample();
        assert_eq!(wire(&m), Document::Monitor(m));
        // The mode is what tells them apart, and the monitor's is written out.
        let v = serde_json::to_value(monitor_sample()).unwrap();
        assert_eq!(v["mode"], "monitor");
        assert!(Document::from_json(br#"{"mode": "other"}"#).is_err());
        assert!(Document::from_json(br#"{"mode": "monitor", "version": "x"}"#).is_err());
        assert!(Document::from_json(b"[1]").is_err());
    }

    #[test]
    fn last_transition_age_from_last_transition_unix() {
        let mut d = sample();
        d.instances[0].last_transition_unix = Some(NOW - 3.5);
        let out = render(&wire(&d), NOW);
        let row = |name: &str| {
            out.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("no {name} row:\n{out}"))
                .to_owned()
        };
        assert!(row("VI_1").contains("  3.5s ago  "), "{out}");
        assert!(row("VI_6").contains("  2m05s ago  "), "{out}");
        // Before the first transition: the count instead.
        d.instances[0].last_transition_unix = None;
        d.instances[0].stats.transitions = 1;
        let out = render(&wire(&d), NOW);
        assert!(out.contains("  1 transition  "), "{out}");
        // A clock behind the daemon's does not make a negative age.
        d.instances[0].last_transition_unix = Some(NOW + 2.0);
        let out = render(&wire(&d), NOW);
        assert!(out.contains("  0ms ago  "), "{out}");
    }

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:9797").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.prefix.as_str()),
            ("127.0.0.1", 9797, "")
        );
        let u = parse_url("http://[::1]:9797/vipd/").unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.prefix.as_str(),
                u.authority.as_str()
            ),
            ("::1", 9797, "/vipd", "[::1]:9797")
        );
        assert_eq!(parse_url("http://host").unwrap().port, 80);
        assert!(parse_url("https://host").is_err());
        assert!(parse_url("http://host:x").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}extra").unwrap();
        assert_eq!((r.code, r.body.as_slice()), (200, &b"{}"[..]));
        let r = parse_response(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nengi\r\n3\r\nne!\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (r.code, r.reason.as_str(), r.body.as_slice()),
            (503, "Service Unavailable", &b"engine!"[..])
        );
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn unreachable_is_reported() {
        // Port 1 on localhost: nothing listens there in a test environment.
        let e = fetch("http://127.0.0.1:1").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot reach vipd at http://127.0.0.1:1: "),
            "{e}"
        );
    }

    #[test]
    fn ages() {
        assert_eq!(fmt_ago(850.0), "850ms");
        assert_eq!(fmt_ago(12_340.0), "12.3s");
        assert_eq!(fmt_ago(245_000.0), "4m05s");
        assert_eq!(fmt_ago(8_000_000.0), "2h13m");
        assert_eq!(fmt_ago(300_000_000.0), "3d11h");
    }
}

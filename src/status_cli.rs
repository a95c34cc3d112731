//! `vipd status`: fetches `/status` from a running vipd (or `vipd monitor`) over HTTP or
//! HTTPS with the `ureq` client (rustls; basic auth from the URL's `user:password@`) and
//! prints it as a table. [`render`] is the pure formatting part.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::status::{DaemonStatus, InstanceStatus, MonitorStatus};

/// Default endpoint of `vipd status`.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9797";
/// Connect timeout (resolving included).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole request, from connecting to the last byte of the body.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response body accepted.
const MAX_RESPONSE: u64 = 16 << 20;
/// Peers listed one by one up to this many; beyond, only counted.
const MAX_LISTED_PEERS: usize = 3;

/// Why `/status` could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is not `http[s]://[user:password@]host[:port][/prefix]`.
    #[error("bad URL {0:?}: {1}")]
    BadUrl(String, String),
    /// The `--cacert` file cannot be read or holds no certificate.
    #[error("cannot use CA certificates from {path}: {what}")]
    CaFile { path: String, what: String },
    /// Resolving, connecting, TLS, sending or receiving failed, or a timeout or size limit.
    #[error("cannot reach vipd at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: ureq::Error,
    },
    /// An answer, but not 200.
    #[error("vipd at {url} answered {code} {reason}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        url: String,
        code: u16,
        reason: String,
        body: String,
    },
    /// Not JSON, or not a `/status` document.
    #[error("unexpected answer from {url}: {what}")]
    Malformed { url: String, what: String },
}

/// Where to send the request: the URL without its user information, and the
/// `Authorization: Basic` value made of it (percent-decoded, as RFC 3986 writes it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    /// `{scheme}://{host[:port]}{prefix}{path}`.
    url: String,
    /// Shown in messages: the URL as given, with the password replaced by `***`.
    shown: String,
    authorization: Option<String>,
}

fn target(url: &str, path: &str) -> Result<Target, FetchError> {
    let bad = |why: &str| FetchError::BadUrl(redact(url), why.to_owned());
    let uri: Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(bad("only http:// and https:// URLs are supported")),
    };
    let authority = uri.authority().ok_or_else(|| bad("no host"))?.as_str();
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if hostport.is_empty() || hostport.starts_with(':') {
        return Err(bad("no host"));
    }
    let port = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.starts_with('[') || h.ends_with(']') => Some(p),
        _ => None,
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad("bad port"));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad("user information is not UTF-8 once decoded"))
    };
    let authorization = match userinfo {
        None => None,
        Some(u) => {
            let (user, pass) = u.split_once(':').unwrap_or((u, ""));
            let pair = format!("{}:{}", decode(user)?, decode(pass)?);
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
    };
    let prefix = uri.path().trim_end_matches('/');
    Ok(Target {
        url: format!("{scheme}://{hostport}{prefix}{path}"),
        shown: redact(url),
        authorization,
    })
}

/// The URL with the password of its user information (if any) replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The trusted roots: the certificates of a PEM file, else Mozilla's (webpki-roots).
fn root_certs(ca: Option<&Path>) -> Result<RootCerts, FetchError> {
    let Some(path) = ca else {
        return Ok(RootCerts::WebPki);
    };
    let err = |what: String| FetchError::CaFile {
        path: path.display().to_string(),
        what,
    };
    let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::Certificate(c) = item.map_err(|e| err(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(err("no PEM certificate in it".to_owned()));
    }
    Ok(RootCerts::new_with_certs(&certs))
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

/// GETs `{url}/status` and parses it; `ca`: PEM file of the CA an `https://` endpoint's
/// certificate is verified against, instead of the public roots.
pub fn fetch(url: &str, ca: Option<&Path>) -> Result<Document, FetchError> {
    let t = target(url, "/status")?;
    let body = get(&t, ca)?;
    Document::from_json(&body).map_err(|what| FetchError::Malformed { url: t.shown, what })
}

/// GETs the target and returns the body of a 200 answer (at most [`MAX_RESPONSE`] bytes).
fn get(t: &Target, ca: Option<&Path>) -> Result<Vec<u8>, FetchError> {
    let unreachable = |source| FetchError::Unreachable {
        url: t.shown.clone(),
        source,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("vipd-status/", env!("CARGO_PKG_VERSION")))
        // vipd's endpoint answers itself; an environment proxy would only be in the way.
        .proxy(None)
        .tls_config(TlsConfig::builder().root_certs(root_certs(ca)?).build())
        .build()
        .into();
    let mut req = agent.get(&t.url);
    if let Some(a) = &t.authorization {
        req = req.header("Authorization", a);
    }
    let mut resp = req.call().map_err(unreachable)?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
        .map_err(unreachable)?;
    if status != ureq::http::StatusCode::OK {
        let text = String::from_utf8_lossy(&body).trim().to_owned();
        return Err(FetchError::Status {
            url: t.shown.clone(),
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            body: text.chars().take(200).collect(),
        });
    }
    Ok(body)
}

/// `vipd status`: prints the table, or the error on stderr. Returns the exit code.
pub fn run(url: &str, ca: Option<&Path>) -> u8 {
    match fetch(url, ca) {
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
            "CHECKS",
        ],
        &rows,
    ));
    if !d.sync_groups.is_empty() {
        let rows: Vec<Vec<String>> = d
            .sync_groups
            .iter()
            .map(|g| {
                let members: Vec<String> = g
                    .members
                    .iter()
                    .map(|m| format!("{}={}", m.name, m.state.to_uppercase()))
                    .collect();
                vec![g.name.clone(), g.state.to_uppercase(), members.join(",")]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&["SYNC GROUP", "STATE", "MEMBERS"], &rows));
    }
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
    // Scripts by name, tracked processes as `process:NAME`.
    let checks: Vec<String> = i
        .scripts
        .iter()
        .map(|t| (t.name.clone(), t.healthy))
        .chain(
            i.processes
                .iter()
                .map(|p| (format!("process:{}", p.name), p.up)),
        )
        .map(|(n, ok)| format!("{n}={}", if ok { "ok" } else { "FAIL" }))
        .collect();
    let scripts = if checks.is_empty() {
        "-".to_owned()
    } else {
        checks.join(",")
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
        Counters, Master, MonitorInterfaceStatus, MonitorMode, PeerStatus, ProcessStatus,
        RouterStatus, ScriptStatus, SocketStatus, SyncGroupStatus, SyncMemberStatus,
        VirtualRouterStatus,
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
                            reverse: false,
                        },
                        ScriptStatus {
                            name: "chk_disk".into(),
                            weight: 0,
                            healthy: false,
                            reverse: false,
                        },
                    ],
                    processes: vec![ProcessStatus {
                        name: "nginx".into(),
                        weight: -30,
                        up: true,
                        reverse: false,
                    }],
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
            sync_groups: vec![],
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
INSTANCE  VRID   INTERFACE  STATE   PRIO/BASE           MASTER                 PEERS           LAST CHANGE    CHECKS
VI_1      51 v3  eth0 ipv4  MASTER  150/150             self 10.99.0.11 (150)  10.99.0.12:100  2 transitions  chk_nginx=ok,chk_disk=FAIL,process:nginx=ok
VI_6      52 v3  eth0 ipv6  BACKUP  90/110 (unhealthy)  fe80::2 (100)          4 peers         2m05s ago      -
";
        assert_eq!(out, expected, "\n{out}");
        let mut d = sample();
        d.instances[1].drained = true;
        let out = render(&wire(&d), NOW);
        assert!(out.contains("BACKUP (drained)"), "{out}");
    }

    #[test]
    fn renders_sync_groups_below_the_instances() {
        let mut d = sample();
        d.sync_groups = vec![SyncGroupStatus {
            name: "GW".into(),
            state: "fault".into(),
            members: vec![
                SyncMemberStatus {
                    name: "VI_1".into(),
                    state: "fault".into(),
                },
                SyncMemberStatus {
                    name: "VI_9".into(),
                    state: "absent".into(),
                },
            ],
        }];
        let out = render(&wire(&d), NOW);
        let tail = "\nSYNC GROUP  STATE  MEMBERS\nGW          FAULT  VI_1=FAULT,VI_9=ABSENT\n";
        assert!(out.ends_with(tail), "\n{out}");
        // Without groups: no section; a document of an older daemon (no key) reads as none.
        assert!(!render(&wire(&sample()), NOW).contains("SYNC GROUP"));
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("sync_groups");
        let old = Document::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
        assert_eq!(old, Document::Daemon(sample()));
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
        let t = target("http://127.0.0.1:9797", "/status").unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9797/status");
        assert_eq!(t.authorization, None);
        let t = target("https://[::1]:9797/vipd/", "/status").unwrap();
        assert_eq!(t.url, "https://[::1]:9797/vipd/status");
        // Basic auth from the user information, percent-decoded; never shown.
        let t = target("https://ops:s%40cret:x@lb1:9797", "/status").unwrap();
        assert_eq!(t.url, "https://lb1:9797/status");
        assert_eq!(
            t.authorization.as_deref(),
            Some("Basic b3BzOnNAY3JldDp4") // base64("ops:s@cret:x")
        );
        assert_eq!(t.shown, "https://ops:***@lb1:9797");
        assert_eq!(
            target("http://ops@h", "/status")
                .unwrap()
                .authorization
                .as_deref(),
            Some("Basic b3BzOg==") // "ops:"
        );
        assert!(target("ftp://host", "/status").is_err());
        assert!(target("http://host:x", "/status").is_err());
        assert!(target("http://", "/status").is_err());
        let e = target("gopher://u:pw@h", "/status")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("pw"), "{e}");
    }

    /// A one-shot HTTP server on 127.0.0.1: answers the first request with `answer` and
    /// hands back the request it read.
    fn serve_once(
        answer: impl AsRef<[u8]> + Send + 'static,
    ) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = c.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            c.write_all(answer.as_ref()).unwrap();
            String::from_utf8_lossy(&req).into_owned()
        });
        (url, h)
    }

    #[test]
    fn fetches_with_basic_auth_and_chunked_body() {
        // The document in chunks of 5 bytes (the endpoint streams /status this way).
        let doc = serde_json::to_vec(&monitor_sample()).unwrap();
        let mut answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        for chunk in doc.chunks(5) {
            answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            answer.extend_from_slice(chunk);
            answer.extend_from_slice(b"\r\n");
        }
        answer.extend_from_slice(b"0\r\n\r\n");
        let (url, h) = serve_once(answer);
        let with_user = url.replace("http://", "http://ops:pw@");
        let doc = fetch(&with_user, None);
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /status HTTP/1.1\r\n"), "{req}");
        let auth = req
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            })
            .map(|(_, v)| v.trim());
        assert_eq!(auth, Some("Basic b3BzOnB3"), "{req}"); // base64("ops:pw")
        assert_eq!(doc.unwrap(), Document::Monitor(monitor_sample()));
    }

    #[test]
    fn non_200_and_non_json_answers_are_errors() {
        let (url, h) = serve_once(
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 13\r\nconnection: close\r\n\r\nauth required",
        );
        let e = fetch(&url, None).unwrap_err().to_string();
        h.join().unwrap();
        assert!(
            e.ends_with("answered 401 Unauthorized: auth required"),
            "{e}"
        );
        let (url, h) =
            serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
        let e = fetch(&url, None).unwrap_err().to_string();
        h.join().unwrap();
        assert!(e.contains("unexpected answer"), "{e}");
    }

    #[test]
    fn unreachable_is_reported() {
        // Port 1 on localhost: nothing listens there in a test environment.
        let e = fetch("http://127.0.0.1:1", None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot reach vipd at http://127.0.0.1:1: "),
            "{e}"
        );
    }

    #[test]
    fn ca_file_problems_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = fetch("https://127.0.0.1:1", Some(&f))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let e = fetch("https://127.0.0.1:1", Some(&dir.path().join("none")))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot use CA certificates from "), "{e}");
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

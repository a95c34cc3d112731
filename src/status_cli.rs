//! `vipd status`: fetches `/status` from a running vipd (or `vipd monitor`) over plain
//! HTTP/1.1 and prints it as a table. [`render`] is the pure formatting part.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

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

/// GETs `{url}/status` and parses the JSON. For a daemon (not a monitor), also reads
/// `vrrp_instance_last_transition_timestamp_seconds` from `{url}/metrics` (best effort) and
/// adds it to each instance as `last_transition_ms_ago`.
pub fn fetch(url: &str) -> Result<Value, FetchError> {
    let body = get(url, "/status")?;
    let mut v: Value = serde_json::from_slice(&body).map_err(|e| FetchError::Malformed {
        url: url.to_owned(),
        what: format!("not JSON: {e}"),
    })?;
    if v["mode"] != "monitor"
        && let Ok(metrics) = get(url, "/metrics")
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        add_last_transitions(&mut v, &String::from_utf8_lossy(&metrics), now);
    }
    Ok(v)
}

/// Sets `last_transition_ms_ago` on every instance that has a
/// `vrrp_instance_last_transition_timestamp_seconds{vr="<name>",...}` sample in `metrics`.
fn add_last_transitions(status: &mut Value, metrics: &str, now_unix: f64) {
    let mut last: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    for l in metrics.lines() {
        let Some(rest) = l.strip_prefix("vrrp_instance_last_transition_timestamp_seconds{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let (Some(vr), Ok(ts)) = (label(labels, "vr"), value.trim().parse::<f64>()) else {
            continue;
        };
        if ts > 0.0 {
            last.insert(vr, ts);
        }
    }
    if let Some(instances) = status["instances"].as_array_mut() {
        for i in instances {
            if let Some(ts) = i["name"].as_str().and_then(|n| last.get(n))
                && let Some(o) = i.as_object_mut()
            {
                o.insert(
                    "last_transition_ms_ago".into(),
                    Value::from(((now_unix - ts) * 1000.0).max(0.0)),
                );
            }
        }
    }
}

/// The value of label `key` in a text-format label set (`a="x",b="y\"z"`), unescaped.
fn label(labels: &str, key: &str) -> Option<String> {
    let mut rest = labels;
    loop {
        let (k, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        if k.trim_start_matches(',').trim() == key {
            return Some(value);
        }
        rest = &after[end + 1..];
    }
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
        Ok(v) => {
            print!("{}", render(&v));
            0
        }
        Err(e) => {
            eprintln!("vipd status: {e}");
            1
        }
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
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

/// Formats a `/status` document (of `vipd run` or `vipd monitor`) as a readable table.
pub fn render(v: &Value) -> String {
    if v["mode"] == "monitor" {
        return render_monitor(v);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vipd {}  router_id {}",
        s(&v["version"]),
        s(&v["router_id"])
    );
    let empty = vec![];
    let instances = v["instances"].as_array().unwrap_or(&empty);
    if instances.is_empty() {
        out.push_str("no instances\n");
        return out;
    }
    let rows: Vec<Vec<String>> = instances.iter().map(instance_row).collect();
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

fn instance_row(i: &Value) -> Vec<String> {
    let state = s(&i["state"]).to_uppercase();
    let mut prio = format!("{}/{}", s(&i["priority"]), s(&i["base_priority"]));
    if i["healthy"] == false {
        prio.push_str(" (unhealthy)");
    }
    let master = match &i["master"] {
        Value::Object(m) => {
            let addr = s(&m["address"]);
            let who = if i["source"].as_str() == Some(addr.as_str()) {
                format!("self {addr}")
            } else {
                addr
            };
            format!("{who} ({})", s(&m["priority"]))
        }
        _ if state == "MASTER" => format!("self ({})", s(&i["priority"])),
        _ => "-".to_owned(),
    };
    let empty = vec![];
    let peers = i["peers"].as_array().unwrap_or(&empty);
    let peers = if peers.is_empty() {
        "-".to_owned()
    } else if peers.len() <= MAX_LISTED_PEERS {
        peers
            .iter()
            .map(|p| format!("{}:{}", s(&p["address"]), s(&p["priority"])))
            .collect::<Vec<_>>()
            .join(",")
    } else {
        format!("{} peers", peers.len())
    };
    let last = ["last_transition_ms_ago", "last_change_ms_ago"]
        .iter()
        .find_map(|k| num(&i[*k]))
        .map(|ms| format!("{} ago", fmt_ago(ms)))
        .or_else(|| num(&i["stats"]["transitions"]).map(|n| format!("{n} transition{}", plural(n))))
        .unwrap_or_else(|| "-".to_owned());
    let scripts = i["scripts"].as_array().unwrap_or(&empty);
    let scripts = if scripts.is_empty() {
        "-".to_owned()
    } else {
        scripts
            .iter()
            .map(|t| {
                let ok = match &t["healthy"] {
                    Value::Bool(true) => "ok",
                    Value::Bool(false) => "FAIL",
                    _ => "?",
                };
                format!("{}={ok}", s(&t["name"]))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let vrid = format!(
        "{} v{}",
        s(&i["vrid"]),
        i["version"].as_u64().map_or("?".into(), |v| v.to_string())
    );
    let iface = format!("{} {}", s(&i["interface"]), s(&i["family"]));
    vec![
        s(&i["name"]),
        vrid,
        iface,
        state,
        prio,
        master,
        peers,
        last,
        scripts,
    ]
}

fn plural(n: f64) -> &'static str {
    if n == 1.0 { "" } else { "s" }
}

fn render_monitor(v: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vipd {} monitor on {}",
        s(&v["version"]),
        s(&v["interface"])
    );
    let empty = vec![];
    let vrs = v["virtual_routers"].as_array().unwrap_or(&empty);
    if vrs.is_empty() {
        out.push_str("no VRRP adverts heard yet\n");
        return out;
    }
    let mut rows = Vec::new();
    for vr in vrs {
        let masters = vr["masters"].as_array().unwrap_or(&empty).len();
        let status = match masters {
            0 => "no master".to_owned(),
            1 => "ok".to_owned(),
            n => format!("SPLIT BRAIN ({n} masters)"),
        };
        for r in vr["routers"].as_array().unwrap_or(&empty) {
            rows.push(vec![
                s(&vr["family"]),
                s(&vr["vrid"]),
                s(&r["address"]),
                s(&r["priority"]),
                if r["master"] == true {
                    "MASTER".into()
                } else {
                    "-".into()
                },
                num(&r["advert_interval_ms"]).map_or("-".into(), fmt_ago),
                s(&r["checksum_form"]),
                s(&r["adverts"]),
                num(&r["last_advert_ms_ago"])
                    .map_or("-".into(), |ms| format!("{} ago", fmt_ago(ms))),
                status.clone(),
            ]);
        }
    }
    out.push_str(&table(
        &[
            "FAMILY", "VRID", "ROUTER", "PRIO", "ROLE", "INTERVAL", "CHECKSUM", "ADVERTS", "LAST",
            "VR",
        ],
        &rows,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::json!({
            "router_id": "lb1",
            "version": "0.1.0",
            "instances": [
                {
                    "name": "VI_1", "state": "master", "vrid": 51, "interface": "eth0",
                    "family": "ipv4", "version": 3, "group": "", "priority": 150,
                    "base_priority": 150, "healthy": true, "source": "10.99.0.11",
                    "master": {"address": "10.99.0.11", "priority": 150},
                    "advert_interval_ms": 1000.0, "master_advert_interval_ms": 1000.0,
                    "master_down_interval_ms": 3414.0, "timers": {"adver_in_ms": 512.0},
                    "addresses": ["10.99.0.51/24"],
                    "peers": [{"address": "10.99.0.12", "priority": 100, "adverts": 3,
                               "last_advert_ms_ago": 2000.0, "checksum_form": "pseudo_header"}],
                    "scripts": [{"name": "chk_nginx", "weight": -20, "healthy": true},
                                {"name": "chk_disk", "weight": 0, "healthy": false}],
                    "stats": {"adverts_sent": 10, "transitions": 2}
                },
                {
                    "name": "VI_6", "state": "backup", "vrid": 52, "interface": "eth0",
                    "family": "ipv6", "version": 3, "priority": 90, "base_priority": 110,
                    "healthy": false, "source": "fe80::1",
                    "master": {"address": "fe80::2", "priority": 100},
                    "peers": [
                        {"address": "fe80::2", "priority": 100},
                        {"address": "fe80::3", "priority": 80},
                        {"address": "fe80::4", "priority": 70},
                        {"address": "fe80::5", "priority": 60}
                    ],
                    "scripts": [],
                    "last_transition_ms_ago": 125000.0,
                    "stats": {"transitions": 1}
                }
            ],
            "sockets": []
        })
    }

    #[test]
    fn renders_instances_as_a_table() {
        let out = render(&sample());
        let expected = "\
vipd 0.1.0  router_id lb1
INSTANCE  VRID   INTERFACE  STATE   PRIO/BASE           MASTER                 PEERS           LAST CHANGE    SCRIPTS
VI_1      51 v3  eth0 ipv4  MASTER  150/150             self 10.99.0.11 (150)  10.99.0.12:100  2 transitions  chk_nginx=ok,chk_disk=FAIL
VI_6      52 v3  eth0 ipv6  BACKUP  90/110 (unhealthy)  fe80::2 (100)          4 peers         2m05s ago      -
";
        assert_eq!(out, expected, "\n{out}");
    }

    #[test]
    fn renders_no_instances_and_monitor_documents() {
        let out = render(&serde_json::json!({"router_id": "x", "instances": []}));
        assert!(out.contains("no instances"), "{out}");
        let m = serde_json::json!({
            "mode": "monitor", "version": "0.1.0", "interface": "eth0",
            "virtual_routers": [{"family": "ipv4", "vrid": 7, "split_brain": true,
                "masters": [{"address": "10.0.0.1", "priority": 100},
                            {"address": "10.0.0.2", "priority": 100}],
                "routers": [{"address": "10.0.0.1", "priority": 100, "master": true,
                             "adverts": 5, "advert_interval_ms": 1000.0,
                             "checksum_form": "rfc9568", "last_advert_ms_ago": 300.0}]}]
        });
        let out = render(&m);
        assert!(out.contains("monitor on eth0"), "{out}");
        assert!(out.contains("SPLIT BRAIN (2 masters)"), "{out}");
        assert!(out.contains("300ms ago"), "{out}");
    }

    #[test]
    fn last_transitions_from_metrics() {
        let mut v = sample();
        let metrics = "\
# TYPE vrrp_instance_last_transition_timestamp_seconds gauge
vrrp_instance_last_transition_timestamp_seconds{vr=\"VI_1\",vrid=\"51\",interface=\"eth0\",family=\"ipv4\",group=\"\"} 1000.5
vrrp_instance_last_transition_timestamp_seconds{vr=\"other\",vrid=\"9\"} 1.0
";
        add_last_transitions(&mut v, metrics, 1004.0);
        assert_eq!(v["instances"][0]["last_transition_ms_ago"], 3500.0);
        // VI_6 has no sample: left as it was.
        assert_eq!(v["instances"][1]["last_transition_ms_ago"], 125000.0);
        assert!(render(&v).contains("3.5s ago"));
        assert_eq!(
            label(r#"a="x",vr="q\"uo\\te",b="""#, "vr").as_deref(),
            Some(r#"q"uo\te"#)
        );
        assert_eq!(label(r#"a="x""#, "vr"), None);
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

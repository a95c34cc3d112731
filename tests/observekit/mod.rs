//! Helpers of the tests/lab_observe_*.rs files: two hosts `a` and `b` on a labkit LAN, vipd
//! configs listening on each namespace's loopback, HTTP from inside a namespace (curl),
//! /status, and the text exposition parsed into samples.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::labkit::Lab;

pub const S: Duration = Duration::from_secs(1);
pub const HOSTS: [&str; 2] = ["a", "b"];
pub const A: &str = "10.99.0.11";
pub const B: &str = "10.99.0.12";
pub const C: &str = "10.99.0.100";
pub const PORT: u16 = 9797;

pub fn inst(name: &str, vrid: u8, prio: u8, extra: &str, vip: &str) -> String {
    format!(
        "  {name}:\n    interface: eth0\n    vrid: {vrid}\n    priority: {prio}\n    advert_interval: 100ms\n{extra}    virtual_ipaddress: [\"{vip}\"]\n"
    )
}

/// A config listening on the namespace's own loopback, with optional top-level YAML.
pub fn cfg(top: &str, instances: &[String]) -> String {
    format!(
        "listen: \"127.0.0.1:{PORT}\"\n{top}instances:\n{}",
        instances.concat()
    )
}

pub fn pair(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", A, Some("fd00:99::11"));
    lab.host("b", B, Some("fd00:99::12"));
    lab
}

// ---------------------------------------------------------------------------------------------
// HTTP from inside a namespace.

/// `GET` (or `method`) `path` on host `h`'s endpoint: (status code, content type, body).
pub fn http(
    lab: &Lab,
    h: &str,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> (u16, String, String) {
    let ns = lab.ns(h);
    let url = format!("http://127.0.0.1:{PORT}{path}");
    let mut args: Vec<&str> = vec![
        "ip",
        "netns",
        "exec",
        &ns,
        "curl",
        "-s",
        "--max-time",
        "3",
        "-X",
        method,
        "-w",
        "\n%{http_code}\n%{content_type}",
    ];
    let hdr;
    if let Some(a) = accept {
        hdr = format!("Accept: {a}");
        args.extend(["-H", &hdr]);
    }
    args.push(&url);
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.rsplitn(3, '\n');
    let ctype = parts.next().unwrap_or_default().to_owned();
    let code = parts.next().unwrap_or_default().parse().unwrap_or(0);
    let body = parts.next().unwrap_or_default().to_owned();
    (code, ctype, body)
}

/// The classic-text-format scrape of host `h`.
pub fn scrape(lab: &Lab, h: &str) -> String {
    let (code, ctype, body) = http(lab, h, "GET", "/metrics", None);
    assert_eq!(
        code,
        200,
        "scrape of {h}: {body}\n{}",
        lab.log(&format!("{h}.log"))
    );
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    body
}

/// /status of host `h`, parsed.
pub fn status(lab: &Lab, h: &str) -> serde_json::Value {
    let (code, ctype, body) = http(lab, h, "GET", "/status", None);
    assert_eq!(code, 200, "/status of {h}: {body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
}

/// The instance called `name` in a /status document.
pub fn status_inst<'a>(st: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    st["instances"]
        .as_array()
        .expect("instances array")
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name} in {st:#}"))
}

// ---------------------------------------------------------------------------------------------
// Text exposition parsing.

/// One sample line: metric name, labels in order, value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Parses the sample lines of a text exposition (classic or OpenMetrics), skipping comments.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("unparsable sample line: {l:?}")))
        .collect()
}

pub fn parse_line(line: &str) -> Option<Sample> {
    let end = line.find(['{', ' '])?;
    let name = line[..end].to_owned();
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        loop {
            // key
            let (start, c) = chars.next()?;
            if c == '}' {
                rest = &r[start + 1..];
                break;
            }
            let eq = r[start..].find('=')? + start;
            let key = r[start..eq].trim_start_matches(',').to_owned();
            while chars.peek()?.0 < eq {
                chars.next();
            }
            chars.next(); // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut val = String::new();
            loop {
                match chars.next()?.1 {
                    '\\' => match chars.next()?.1 {
                        'n' => val.push('\n'),
                        c => val.push(c),
                    },
                    '"' => break,
                    c => val.push(c),
                }
            }
            labels.push((key, val));
            if chars.peek()?.1 == ',' {
                chars.next();
            }
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// The value of the sample `name` carrying every label pair of `labels` (others may exist).
/// Panics when several samples match (the label set given is ambiguous).
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<Sample> = samples(text)
        .into_iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} is ambiguous: {found:?}"
    );
    found.first().map(|s| s.value)
}

/// Like `value`, panicking with the scrape when the series is absent.
pub fn get(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
}

/// Instance labels of `vr` plus `extra`.
pub fn with<'a>(
    vr: &[(&'a str, &'a str)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    vr.iter().chain(extra).copied().collect()
}

/// Scrapes host `h` until a scrape succeeds and `ok` holds for it, panicking with the last
/// scrape and the log.
pub fn wait_metrics(
    lab: &Lab,
    h: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + timeout;
    loop {
        // A scrape that fails (vipd still starting, not listening yet) is retried like one
        // that does not show what we wait for.
        let (code, _, t) = http(lab, h, "GET", "/metrics", None);
        if code == 200 && ok(&t) {
            return t;
        }
        if Instant::now() > end {
            panic!(
                "{h}: timed out waiting for {what}; last scrape:\n{t}\nlog:\n{}",
                lab.log(&format!("{h}.log"))
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts the state gauge: 1 for `state`, 0 for the four others (all five present).
pub fn assert_state(t: &str, vr: &[(&str, &str)], state: &str) {
    for s in ["init", "backup", "master", "fault", "stop"] {
        let want = if s == state { 1.0 } else { 0.0 };
        assert_eq!(
            get(t, "vrrp_instance_state", &with(vr, &[("state", s)])),
            want,
            "state {s} (expected {state}) of {vr:?}:\n{t}"
        );
    }
}

/// `promtool check metrics` on a scrape prints nothing and exits 0.
pub fn promtool(scrape: &str) {
    use std::io::Write;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus)");
    p.stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = p.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "promtool check metrics: {:?}\n{said}\non:\n{scrape}",
        out.status
    );
}

// ---------------------------------------------------------------------------------------------

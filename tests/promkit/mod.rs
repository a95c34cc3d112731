//! A real Prometheus in a lab host, for the tests that evaluate the shipped alert rules
//! (tests/lab_alerts.rs, tests/lab_monitor_alerts.rs): the shortened copy of the rules, queries
//! and alerts over its HTTP API (curl inside the host), and waiting for alerts.

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::labkit::{Lab, sh};

/// Debian's Prometheus server.
pub const PROMETHEUS: &str = "/usr/bin/prometheus";
/// The `for:` every rule gets in the lab copy.
pub const LAB_FOR: &str = "2s";
/// The range window replacing every window of a minute or more in the lab copy.
pub const LAB_RANGE: &str = "[30s]";

/// The lab copy of the rules: every `for:` becomes `LAB_FOR` and every range window given in
/// minutes, hours or days (`[2m]`, `[15m]`, ...) becomes `LAB_RANGE`. Nothing else changes, so
/// the expressions, labels and annotations under test are the shipped ones.
pub fn shorten(rules: &str) -> String {
    let mut out = String::with_capacity(rules.len());
    for line in rules.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("for:") {
            assert!(!rest.trim().is_empty(), "empty for: in {line:?}");
            let indent = &line[..line.len() - trimmed.len()];
            out.push_str(&format!("{indent}for: {LAB_FOR}\n"));
            continue;
        }
        // Range windows: `[` digits unit `]` with unit m, h or d.
        let mut rest = line;
        while let Some(i) = rest.find('[') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let digits = after.chars().take_while(|c| c.is_ascii_digit()).count();
            let unit = after[digits..].chars().next();
            if digits > 0
                && matches!(unit, Some('m' | 'h' | 'd'))
                && after[digits + 1..].starts_with(']')
            {
                out.push_str(LAB_RANGE);
                rest = &after[digits + 2..];
            } else {
                out.push('[');
                rest = after;
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// Prometheus on host `host`'s loopback, and the logs to show when a wait times out.
#[derive(Clone, Copy)]
pub struct Prom<'a> {
    pub lab: &'a Lab,
    pub host: &'a str,
    pub logs: &'a [&'a str],
}

/// Starts Prometheus in host `host`: scraping `targets` as job `job` every second and
/// evaluating the rules file `rules` every second, its data under the lab directory.
pub fn start(lab: &mut Lab, host: &str, job: &str, targets: &[String], rules: &str) {
    let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
    lab.file(
        "prom.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: {job}\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    \
             static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ),
    );
    let dir = lab.dir.to_str().unwrap().to_owned();
    let config = format!("--config.file={dir}/prom.yml");
    let tsdb = format!("--storage.tsdb.path={dir}/tsdb");
    lab.spawn(
        host,
        "prometheus.log",
        &[
            PROMETHEUS,
            &config,
            &tsdb,
            "--web.listen-address=127.0.0.1:9090",
        ],
    );
}

impl Prom<'_> {
    /// Waits (up to 30 s) until `n` targets of `job` are up and `ready` holds.
    pub fn wait_up(&self, job: &str, n: usize, ready: impl Fn() -> bool) {
        let up = Instant::now();
        let q = format!("up{{job=\"{job}\"}} == 1");
        loop {
            let r = self
                .try_get("/api/v1/query", &[("query", &q)])
                .unwrap_or_default();
            if r["data"]["result"].as_array().map(|a| a.len()) == Some(n) && ready() {
                return;
            }
            let logs: Vec<String> = self
                .logs
                .iter()
                .map(|l| format!("--- {l}\n{}", self.lab.log(l)))
                .collect();
            assert!(
                up.elapsed() < Duration::from_secs(30),
                "targets of {job} not up (or not ready): {r}\n{}",
                logs.join("\n")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// How many alert rules Prometheus has loaded.
    pub fn alert_rules(&self) -> usize {
        let r = self.try_get("/api/v1/rules", &[("type", "alert")]).unwrap();
        r["data"]["groups"]
            .as_array()
            .expect("rule groups")
            .iter()
            .map(|g| g["rules"].as_array().map(|r| r.len()).unwrap_or(0))
            .sum()
    }

    /// curl inside the host against the API; an answer that is not JSON (Prometheus not
    /// listening yet) is an error.
    pub fn try_get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let ns = self.lab.ns(self.host);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns, "curl", "-s", "--max-time", "5", "-G"]);
        for (k, v) in params {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        cmd.arg(format!("http://127.0.0.1:9090{path}"));
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "not JSON ({e}): {text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// The result vector of an instant query.
    pub fn query(&self, q: &str) -> Vec<Value> {
        let r = self
            .try_get("/api/v1/query", &[("query", q)])
            .unwrap_or_else(|e| panic!("query {q}: {e}"));
        assert_eq!(r["status"], "success", "query {q}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every active (pending or firing) alert.
    pub fn alerts(&self) -> Vec<Value> {
        let r = self
            .try_get("/api/v1/alerts", &[])
            .unwrap_or_else(|e| panic!("alerts: {e}"));
        assert_eq!(r["status"], "success", "alerts: {r}");
        r["data"]["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the alerts every 200 ms until `done` holds; returns them and the time since
    /// `since`. Panics with the alerts and the logs on timeout.
    pub fn wait_alerts(
        &self,
        what: &str,
        since: Instant,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> (Vec<Value>, Duration) {
        let end = Instant::now() + timeout;
        loop {
            let all = self.alerts();
            if done(&all) {
                return (all, since.elapsed());
            }
            if Instant::now() > end {
                let logs: Vec<String> = self
                    .logs
                    .iter()
                    .map(|l| format!("--- {l}\n{}", self.lab.log(l)))
                    .collect();
                panic!(
                    "timed out ({timeout:?}) waiting for {what}; active alerts:\n{}\n{}",
                    describe(&all),
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Active alerts called `name`, in `state` if given.
pub fn named<'a>(all: &'a [Value], name: &str, state: Option<&str>) -> Vec<&'a Value> {
    all.iter()
        .filter(|a| a["labels"]["alertname"] == name && state.is_none_or(|s| a["state"] == s))
        .collect()
}

/// One line per alert: name, state, labels, value.
pub fn describe(all: &[Value]) -> String {
    all.iter()
        .map(|a| {
            format!(
                "{} {} {} value={}",
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["state"].as_str().unwrap_or("?"),
                a["labels"],
                a["value"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `nft ARGS` inside host `h`.
pub fn nft(lab: &Lab, h: &str, args: &[&str]) {
    let ns = lab.ns(h);
    let mut v = vec!["ip", "netns", "exec", &ns, "nft"];
    v.extend_from_slice(args);
    sh(&v);
}

/// The monitor labs' prelude: Prometheus and keepalived are installed (else a clear failure
/// naming the Debian package), and the shipped `alerts/vipd-monitor.rules.yml` as it is.
pub fn monitor_lab_rules() -> String {
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "the lab needs {PROMETHEUS} (Debian package prometheus)"
    );
    assert!(
        std::path::Path::new(crate::labkit::KEEPALIVED).exists(),
        "the lab needs {} (Debian package keepalived)",
        crate::labkit::KEEPALIVED
    );
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/vipd-monitor.rules.yml"
    ))
    .expect("alerts/vipd-monitor.rules.yml")
}

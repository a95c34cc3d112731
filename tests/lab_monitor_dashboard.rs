//! The monitor's Grafana dashboard (dashboards/vipd-monitor.json) against a real Prometheus
//! (root, lab): a keepalived 2.2.7 pair (VRID 51, VRRPv2) and `vipd monitor --config` on a third
//! host, expecting VRID 51 with master a and VRID 52, which nobody runs; Prometheus (Debian
//! package) scrapes the monitor every second and evaluates the shipped rules (shortened as in
//! tests/lab_monitor_alerts.rs). First the dashboard's structure is checked as Grafana's schema
//! 39 needs it (unique ids, grid within 24 columns, no overlap, every panel type in
//! `__requires`, every query on the `${DS_PROMETHEUS}` input); then every panel query (range
//! queries as ranges), every annotation and every templating variable is run through
//! Prometheus's HTTP API with Grafana's variables substituted: each must parse and return data.

mod labkit;
mod promkit;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use labkit::{Keepalived, Lab, VIPD};
use promkit::{PROMETHEUS, Prom, named, shorten};
use serde_json::Value;

const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const M: &str = "10.99.0.100";
const VIP: &str = "10.99.0.51";
const S: Duration = Duration::from_secs(1);
const MONITOR: &str = "127.0.0.1:9798";

fn ka_cfg(h: &str, prio: u8) -> String {
    format!(
        "global_defs {{\n    router_id ka_{h}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// Grafana's variables as the dashboard resolves them with "All" selected.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("${__rate_interval}", "10s")
        .replace("$__rate_interval", "10s")
        .replace("${__interval}", "1s")
        .replace("$__interval", "1s")
        .replace("$job", "vipd-monitor")
        .replace("$instance", ".*")
        .replace("$interface", ".*")
        .replace("$vrid", ".*");
    assert!(!out.contains('$'), "unsubstituted variable left in {out:?}");
    out
}

/// Panels, rows' nested panels included.
fn panels(dash: &Value) -> Vec<Value> {
    let mut out = vec![];
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner.iter().cloned());
        }
    }
    out
}

/// What Grafana needs of a schema-39 dashboard and its panels; the problems found.
fn structure(dash: &Value) -> Vec<String> {
    let mut problems = vec![];
    if dash["schemaVersion"] != 39 {
        problems.push(format!("schemaVersion {}", dash["schemaVersion"]));
    }
    for key in ["title", "uid"] {
        if dash[key].as_str().is_none_or(str::is_empty) {
            problems.push(format!("no {key}"));
        }
    }
    let ds = "${DS_PROMETHEUS}";
    if !dash["__inputs"]
        .as_array()
        .is_some_and(|i| i.iter().any(|x| x["name"] == "DS_PROMETHEUS"))
    {
        problems.push("no DS_PROMETHEUS input".into());
    }
    let required: BTreeSet<&str> = dash["__requires"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter(|x| x["type"] == "panel")
                .filter_map(|x| x["id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut ids = BTreeSet::new();
    let mut cells: Vec<(String, i64, i64, i64, i64)> = vec![];
    for p in panels(dash) {
        let title = p["title"].as_str().unwrap_or("?").to_owned();
        let ty = p["type"].as_str().unwrap_or("");
        if !ids.insert(p["id"].as_i64().unwrap_or(-1)) {
            problems.push(format!("{title}: id {} repeated or missing", p["id"]));
        }
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_i64().unwrap_or(-1),
            g["y"].as_i64().unwrap_or(-1),
            g["w"].as_i64().unwrap_or(0),
            g["h"].as_i64().unwrap_or(0),
        );
        if x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > 24 {
            problems.push(format!("{title}: gridPos {g}"));
        }
        for (t, cx, cy, cw, ch) in &cells {
            if x < cx + cw && *cx < x + w && y < cy + ch && *cy < y + h {
                problems.push(format!("{title} overlaps {t}"));
            }
        }
        cells.push((title.clone(), x, y, w, h));
        if ty == "row" {
            continue;
        }
        if !required.contains(ty) {
            problems.push(format!("{title}: panel type {ty:?} not in __requires"));
        }
        if p["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{title}: no description"));
        }
        if p["datasource"]["uid"] != ds {
            problems.push(format!("{title}: datasource {}", p["datasource"]));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            problems.push(format!("{title}: no targets"));
        }
        let mut refs = BTreeSet::new();
        for t in &targets {
            if t["expr"].as_str().is_none_or(str::is_empty) || t["datasource"]["uid"] != ds {
                problems.push(format!("{title}: target {t}"));
            }
            if !refs.insert(t["refId"].as_str().unwrap_or("").to_owned()) {
                problems.push(format!("{title}: refId {} repeated", t["refId"]));
            }
        }
    }
    problems
}

#[test]
fn monitor_dashboard_queries_return_data_from_a_real_prometheus() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dashboards/vipd-monitor.json"
    ))
    .expect("dashboards/vipd-monitor.json");
    let dash: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let problems = structure(&dash);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The issue's panels are there.
    let titles: Vec<String> = panels(&dash)
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_owned))
        .collect();
    for want in [
        "Which router is master",
        "Masters per VRID",
        "Advertised priority",
        "Advert rate",
        "Drops by reason",
        "Expected VRIDs heard",
        "Unexpected masters",
    ] {
        assert!(
            titles.iter().any(|t| t == want),
            "no panel {want:?}: {titles:?}"
        );
    }
    labkit::require(&["curl", "python3"]);
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "the lab needs {PROMETHEUS} (Debian package prometheus)"
    );
    assert!(
        std::path::Path::new(labkit::KEEPALIVED).exists(),
        "the lab needs {} (Debian package keepalived)",
        labkit::KEEPALIVED
    );

    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/alerts/vipd-monitor.rules.yml"
    ))
    .unwrap();
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("mxd");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("m", M, None);
    let rules = lab.file("vipd-monitor.rules.yml", &shorten(&shipped));
    let file = lab.file(
        "monitor.yml",
        &format!(
            "interfaces:\n  eth0:\n    expect:\n      - {{ vrid: 51, master: {A} }}\n      - {{ vrid: 52, version: 3 }}\n"
        ),
    );
    ka.start(&mut lab, "a", &ka_cfg("a", 150));
    ka.start(&mut lab, "b", &ka_cfg("b", 100));
    lab.wait_holder(&["a", "b"], VIP, "a", 10 * S);
    lab.spawn(
        "m",
        "monitor.log",
        &[
            VIPD,
            "monitor",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            MONITOR,
        ],
    );
    promkit::start(
        &mut lab,
        "m",
        "vipd-monitor",
        &[MONITOR.to_owned()],
        rules.to_str().unwrap(),
    );
    let prom = Prom {
        lab: &lab,
        host: "m",
        logs: &["prometheus.log", "monitor.log"],
    };
    prom.wait_up("vipd-monitor", 1, || {
        prom.query("vrrp_monitor_masters{vrid=\"51\"} == 1").len() == 1
    });
    // Five VRRP packets with TTL 1 from b (RFC 5798 5.1.1.3: must be 255): the monitor drops
    // them (reason ttl), so "Drops by reason" has data.
    let send = format!(
        "import socket\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)\n\
         s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)\n\
         s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('{B}'))\n\
         for _ in range(5):\n    \
             s.sendto(bytes([0x21, 51, 100, 1, 0, 1, 0, 0, 10, 99, 0, 51] + [0] * 8), ('224.0.0.18', 0))\n"
    );
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("b"), "python3", "-c", &send])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Enough samples for 10 s rate windows, and the missing VRID 52 firing (the annotation).
    std::thread::sleep(6 * S);
    prom.wait_alerts(
        "VipdMonitorExpectedVridMissing for VRID 52",
        Instant::now(),
        20 * S,
        |all| {
            named(all, "VipdMonitorExpectedVridMissing", Some("firing"))
                .iter()
                .any(|a| a["labels"]["vrid"] == "52")
        },
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = ((now - 30).to_string(), now.to_string());
    let mut failures = vec![];
    let mut checked = 0;
    let mut run = |what: &str, expr: &str, range: bool| {
        let q = substitute(expr);
        let r = if range {
            prom.try_get(
                "/api/v1/query_range",
                &[
                    ("query", &q),
                    ("start", &start),
                    ("end", &end),
                    ("step", "1"),
                ],
            )
        } else {
            prom.try_get("/api/v1/query", &[("query", &q)])
        };
        checked += 1;
        match r {
            Err(e) => failures.push(format!("{what}: {q}: {e}")),
            Ok(r) => {
                let n = r["data"]["result"].as_array().map(Vec::len).unwrap_or(0);
                println!("{what:45} {n:>3} series  {}", q.replace('\n', " "));
                if r["status"] != "success" {
                    failures.push(format!("{what}: {q}: {r}"));
                } else if n == 0 {
                    failures.push(format!("{what}: {q}: empty result"));
                }
            }
        }
    };
    for p in panels(&dash) {
        let title = p["title"].as_str().unwrap_or("?");
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            if let Some(expr) = t["expr"].as_str() {
                let what = format!("{title} {}", t["refId"].as_str().unwrap_or("?"));
                run(&what, expr, t["range"] == true);
            }
        }
    }
    for a in dash["annotations"]["list"].as_array().expect("annotations") {
        if let Some(expr) = a["expr"].as_str() {
            run(&format!("annotation {}", a["name"]), expr, true);
        }
    }
    assert!(checked >= 12, "only {checked} queries found");

    // The healthy pair: one master for VRID 51; VRID 52 missing; a is the expected master.
    let one = |q: &str| -> String {
        let r = prom.query(q);
        assert_eq!(r.len(), 1, "{q}: {r:?}");
        r[0]["value"][1].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(one("vrrp_monitor_masters{vrid=\"51\"}"), "1");
    assert_eq!(one("vrrp_monitor_expected_heard{vrid=\"51\"}"), "1");
    assert_eq!(one("vrrp_monitor_expected_heard{vrid=\"52\"}"), "0");
    assert_eq!(one("vrrp_monitor_unexpected_masters{vrid=\"51\"}"), "0");
    assert_eq!(
        one("vrrp_monitor_dropped_total{family=\"ipv4\",reason=\"ttl\"}"),
        "5",
        "the TTL-1 packets"
    );
    let timeline = panels(&dash)
        .into_iter()
        .find(|p| p["title"] == "Which router is master")
        .and_then(|p| p["targets"][0]["expr"].as_str().map(str::to_owned))
        .unwrap();
    let r = prom.query(&substitute(&timeline));
    let masters: Vec<&str> = r
        .iter()
        .filter_map(|s| s["metric"]["router"].as_str())
        .collect();
    assert_eq!(masters, [A], "only a is master now: {r:?}");

    // Templating: every label_values() variable returns values.
    let mut vars = 0;
    for v in dash["templating"]["list"].as_array().expect("templating") {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"].as_str().expect("variable query");
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not label_values(): {q}"));
        let (sel, label) = match inner.rfind(',') {
            Some(i) => (Some(substitute(inner[..i].trim())), inner[i + 1..].trim()),
            None => (None, inner.trim()),
        };
        let params: Vec<(&str, &str)> = sel.iter().map(|s| ("match[]", s.as_str())).collect();
        let r = prom
            .try_get(&format!("/api/v1/label/{label}/values"), &params)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let vals = r["data"].as_array().cloned().unwrap_or_default();
        println!("${:10} {q} -> {vals:?}", v["name"].as_str().unwrap_or("?"));
        vars += 1;
        if r["status"] != "success" || vals.is_empty() {
            failures.push(format!("variable {}: {q}: {r}", v["name"]));
        }
    }
    assert_eq!(vars, 4, "job, instance, interface, vrid");
    // VRID 52 is expected and never heard: it is still offered in the VRID selector.
    let q = substitute(r#"{__name__=~"vrrp_monitor_masters|vrrp_monitor_expected", job=~"$job"}"#);
    let r = prom
        .try_get("/api/v1/label/vrid/values", &[("match[]", &q)])
        .unwrap();
    assert_eq!(r["data"], serde_json::json!(["51", "52"]), "{r}");
    assert!(
        failures.is_empty(),
        "dashboard queries failed:\n{}",
        failures.join("\n")
    );
}

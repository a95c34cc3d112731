//! The Grafana dashboard (dashboards/vipd.json) against a real Prometheus (root, lab): two vipd
//! nodes with a tracking script in namespaces, Prometheus (Debian package) in a third namespace
//! scraping them every second; then every panel query and every templating variable of the
//! dashboard is run through Prometheus's HTTP API with Grafana's variables substituted. Each
//! query must parse, and must return data unless its data is legitimately empty on a healthy
//! LAN (drops, filtered adverts).

mod labkit;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use labkit::Lab;

const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const C: &str = "10.99.0.100";
const VIP: &str = "10.99.0.21";
const PORT: u16 = 9797;
const PROMETHEUS: &str = "/usr/bin/prometheus";

/// Panels whose queries return nothing in a healthy lab: only checked to parse.
/// (The lab has no sync groups: the sync group panel is empty there; tests/lab_sync_group.rs reads
/// the same series.)
const MAY_BE_EMPTY: [&str; 3] = [
    "Drops by reason",
    "Filtered adverts (local firewall)",
    "Sync group state per node",
];

fn cfg(prio: u8, script: &str) -> String {
    format!(
        "listen: \"0.0.0.0:{PORT}\"\n\
         scripts:\n  chk:\n    command: [\"{script}\"]\n    interval: 200ms\n    weight: -60\n\
         instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {prio}\n    \
         advert_interval: 100ms\n    track_scripts: [chk]\n    virtual_ipaddress: [\"{VIP}\"]\n"
    )
}

/// Runs curl inside host `h` against Prometheus on its loopback; returns the parsed JSON.
fn prom(lab: &Lab, h: &str, path: &str, params: &[(&str, &str)], get: bool) -> serde_json::Value {
    try_prom(lab, h, path, params, get).unwrap_or_else(|e| panic!("{path} {params:?}: {e}"))
}

/// Like `prom`, but an answer that is not JSON is an error.
fn try_prom(
    lab: &Lab,
    h: &str,
    path: &str,
    params: &[(&str, &str)],
    get: bool,
) -> Result<serde_json::Value, String> {
    let ns = lab.ns(h);
    let url = format!("http://127.0.0.1:9090{path}");
    let mut args: Vec<String> = ["ip", "netns", "exec", &ns, "curl", "-s", "--max-time", "5"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    if get {
        args.push("-G".into());
    }
    for (k, v) in params {
        args.push("--data-urlencode".into());
        args.push(format!("{k}={v}"));
    }
    args.push(url);
    let out = Command::new(&args[0]).args(&args[1..]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "not JSON ({e}): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn query(lab: &Lab, q: &str) -> serde_json::Value {
    prom(lab, "c", "/api/v1/query", &[("query", q)], false)
}

/// Grafana's variables as the lab dashboard would resolve them with "All" selected.
fn substitute(expr: &str) -> String {
    let out = expr
        .replace("${__rate_interval}", "10s")
        .replace("$__rate_interval", "10s")
        .replace("${__interval}", "1s")
        .replace("$__interval", "1s")
        .replace("$job", "vipd")
        .replace("$group", ".*")
        .replace("$node", ".*")
        .replace("$vr", ".*");
    assert!(!out.contains('$'), "unsubstituted variable left in {out:?}");
    out
}

#[test]
fn dashboard_queries_return_data_from_a_real_prometheus() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/vipd.json"))
            .expect("dashboards/vipd.json");
    let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert_eq!(dash["schemaVersion"], 39);
    assert!(
        std::path::Path::new(PROMETHEUS).exists(),
        "the lab needs {PROMETHEUS} (Debian package prometheus)"
    );

    let mut lab = Lab::new("gd");
    lab.host("a", A, None);
    lab.host("b", B, None);
    lab.host("c", C, None);

    let script = lab.file("chk.sh", "#!/bin/sh\nexit 0\n");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = script.to_str().unwrap().to_owned();
    lab.vipd("a", &cfg(150, &script));
    lab.vipd("b", &cfg(100, &script));
    lab.wait_holder(&["a", "b"], VIP, "a", Duration::from_secs(10));

    lab.file(
        "prom.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: vipd\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    \
             static_configs:\n      - targets: [\"{A}:{PORT}\", \"{B}:{PORT}\"]\n"
        ),
    );
    let dir = lab.dir.to_str().unwrap().to_owned();
    let config = format!("--config.file={dir}/prom.yml");
    let tsdb = format!("--storage.tsdb.path={dir}/tsdb");
    lab.spawn(
        "c",
        "prometheus.log",
        &[
            PROMETHEUS,
            &config,
            &tsdb,
            "--web.listen-address=127.0.0.1:9090",
        ],
    );

    // Both targets up.
    let up = std::time::Instant::now();
    loop {
        // Empty answers (not JSON) until Prometheus listens.
        let r = try_prom(
            &lab,
            "c",
            "/api/v1/query",
            &[("query", "up{job=\"vipd\"} == 1")],
            false,
        )
        .unwrap_or_default();
        if r["data"]["result"].as_array().map(|a| a.len()) == Some(2) {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "targets not up: {r}\n{}",
            lab.log("prometheus.log")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Enough samples for 10 s rate windows.
    std::thread::sleep(Duration::from_secs(6));

    // Panels (rows may nest panels when collapsed).
    let mut panels: Vec<serde_json::Value> = vec![];
    for p in dash["panels"].as_array().expect("panels") {
        panels.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            panels.extend(inner.iter().cloned());
        }
    }
    let mut checked = 0;
    let mut failures = vec![];
    for p in &panels {
        let title = p["title"].as_str().unwrap_or("?");
        let Some(targets) = p["targets"].as_array() else {
            continue;
        };
        for t in targets {
            let Some(expr) = t["expr"].as_str() else {
                continue;
            };
            let q = substitute(expr);
            let r = query(&lab, &q);
            checked += 1;
            let n = r["data"]["result"].as_array().map(|a| a.len()).unwrap_or(0);
            println!(
                "{title:40} {:2} {:>3} series  {}",
                t["refId"].as_str().unwrap_or("?"),
                n,
                q.replace('\n', " ")
            );
            if r["status"] != "success" {
                failures.push(format!("{title}: {q}: {r}"));
            } else if n == 0 && !MAY_BE_EMPTY.contains(&title) {
                failures.push(format!("{title}: {q}: empty result"));
            }
        }
    }
    assert!(checked >= 10, "only {checked} panel queries found");

    // The healthy pair shows exactly one master for its virtual router (the stat's green).
    let masters = panels
        .iter()
        .find(|p| p["title"] == "Masters per virtual router")
        .and_then(|p| p["targets"][0]["expr"].as_str())
        .expect("masters panel");
    let r = query(&lab, &substitute(masters));
    let res = r["data"]["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(res.len(), 1, "{r}");
    assert_eq!(res[0]["metric"]["group"], VIP, "{r}");
    assert_eq!(res[0]["value"][1], "1", "{r}");

    // Templating: every label_values() variable returns values.
    let mut vars = 0;
    for v in dash["templating"]["list"].as_array().expect("templating") {
        if v["type"] != "query" {
            continue;
        }
        let q = v["query"]["query"]
            .as_str()
            .or(v["query"].as_str())
            .or(v["definition"].as_str())
            .expect("variable query");
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("not label_values(): {q}"));
        let (sel, label) = match inner.rfind(',') {
            Some(i) => (Some(inner[..i].trim()), inner[i + 1..].trim()),
            None => (None, inner.trim()),
        };
        let path = format!("/api/v1/label/{label}/values");
        let sel = sel.map(substitute);
        let params: Vec<(&str, &str)> = sel.iter().map(|s| ("match[]", s.as_str())).collect();
        let r = prom(&lab, "c", &path, &params, true);
        let vals = r["data"].as_array().cloned().unwrap_or_default();
        println!("${:8} {q} -> {vals:?}", v["name"].as_str().unwrap_or("?"));
        vars += 1;
        if r["status"] != "success" || vals.is_empty() {
            failures.push(format!("variable {}: {q}: {r}", v["name"]));
        }
    }
    assert!(vars >= 4, "only {vars} templating variables found");
    assert!(
        failures.is_empty(),
        "dashboard queries failed:\n{}",
        failures.join("\n")
    );
}

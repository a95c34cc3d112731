//! Alert rules (the daemon's `alerts/vipd.rules.yml` and the monitor's
//! `alerts/vipd-monitor.rules.yml`), their unit tests, the runbook and the example Prometheus/Alertmanager
//! configurations, checked with the real tools: `promtool` (Debian package `prometheus`) and
//! `amtool` (Debian package `prometheus-alertmanager`). No root needed. A missing tool fails
//! the test with the package to install.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Finds `tool` in PATH (or /usr/bin), or panics naming the Debian package that ships it.
fn tool(name: &str, package: &str) -> PathBuf {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    dirs.into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found in PATH: install the Debian package `{package}` \
                 (apt-get install -y {package})"
            )
        })
}

/// Runs `tool args...` from the crate root and asserts success, showing its output otherwise.
fn run_ok(name: &str, package: &str, args: &[&str]) -> String {
    let bin = tool(name, package);
    let out = Command::new(&bin)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let text = format!(
        "$ {name} {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{text}",
        out.status
    );
    text
}

/// `alerts/tests/*.yml`, relative to the crate root, sorted.
fn alert_test_files() -> Vec<String> {
    let dir = root().join("alerts/tests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .map(|n| format!("alerts/tests/{n}"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no unit tests in alerts/tests/*.yml");
    files
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Values of `key: value` lines (after an optional list dash), quotes stripped.
fn scan(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("- ").map(str::trim_start).unwrap_or(l);
            l.strip_prefix(key)?.strip_prefix(':').map(|v| {
                v.split(" #")
                    .next()
                    .unwrap()
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_string()
            })
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// The shipped rule files: the daemon's and `vipd monitor`'s.
const RULE_FILES: [&str; 2] = ["alerts/vipd.rules.yml", "alerts/vipd-monitor.rules.yml"];

/// `- alert:` names of one rules file.
fn alert_names_in(file: &str) -> Vec<String> {
    let names = scan(&read(file), "alert");
    assert!(!names.is_empty(), "no `- alert:` in {file}");
    names
}

/// Every alert of every shipped rules file.
fn alert_names() -> Vec<String> {
    RULE_FILES.iter().flat_map(|f| alert_names_in(f)).collect()
}

/// Every shipped rules file, concatenated.
fn all_rules() -> String {
    RULE_FILES
        .iter()
        .map(|f| read(f))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn promtool_check_rules() {
    for file in RULE_FILES {
        let out = run_ok("promtool", "prometheus", &["check", "rules", file]);
        assert!(
            out.contains(&format!(
                "SUCCESS: {} rules found",
                alert_names_in(file).len()
            )),
            "{file}: rule count differs from the `- alert:` lines:\n{out}"
        );
    }
}

#[test]
fn promtool_test_rules() {
    let files = alert_test_files();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    run_ok("promtool", "prometheus", &args);
}

#[test]
fn promtool_check_prometheus_example_config() {
    let out = run_ok(
        "promtool",
        "prometheus",
        &["check", "config", "config/prometheus.example.yml"],
    );
    for file in RULE_FILES {
        assert!(
            out.contains(file.trim_start_matches("alerts/")),
            "the example config does not load {file}:\n{out}"
        );
    }
}

#[test]
fn amtool_check_alertmanager_example_config() {
    run_ok(
        "amtool",
        "prometheus-alertmanager",
        &["check-config", "config/alertmanager.example.yml"],
    );
}

#[test]
fn alertmanager_routes_pages_and_tickets() {
    for (labels, receiver) in [
        (&["alertname=VipdSplitBrain", "severity=page"][..], "page"),
        (&["alertname=VipdFlapping", "severity=ticket"][..], "ticket"),
        (
            &["alertname=VipdMonitorSplitBrain", "severity=page"][..],
            "page",
        ),
        (
            &["alertname=VipdMonitorNoMaster", "severity=page"][..],
            "page",
        ),
        (
            &["alertname=VipdMonitorAdvertsDropped", "severity=ticket"][..],
            "ticket",
        ),
        (&["alertname=Other"][..], "ticket"),
    ] {
        let mut args = vec![
            "config",
            "routes",
            "test",
            "--config.file=config/alertmanager.example.yml",
        ];
        args.extend_from_slice(labels);
        let out = run_ok("amtool", "prometheus-alertmanager", &args);
        let got = out
            .split("--- stdout ---\n")
            .nth(1)
            .and_then(|s| s.lines().next())
            .unwrap_or("")
            .trim();
        assert_eq!(got, receiver, "{labels:?} routed wrongly:\n{out}");
    }
}

/// (alert, severity) of every rule of every shipped rules file, read as YAML.
fn alert_severities() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for file in RULE_FILES {
        let doc: serde_json::Value =
            serde_saphyr::from_str(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        for group in doc["groups"].as_array().expect("groups") {
            for rule in group["rules"].as_array().expect("rules") {
                let Some(alert) = rule["alert"].as_str() else {
                    continue;
                };
                let sev = rule["labels"]["severity"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: {alert} has no severity label"));
                out.push((alert.to_owned(), sev.to_owned()));
            }
        }
    }
    out
}

/// Every shipped alert reaches the receiver its severity names, and the ones the runbook
/// says page (split brain, no master / a silent or missing VRID, master without its VIP)
/// are `page`.
#[test]
fn every_shipped_alert_is_routed_by_its_severity() {
    let all = alert_severities();
    assert_eq!(all.len(), alert_names().len(), "{all:?}");
    for must_page in [
        "VipdSplitBrain",
        "VipdMonitorSplitBrain",
        "VipdMonitorNoMaster",
        "VipdMonitorExpectedVridMissing",
    ] {
        assert!(
            all.iter().any(|(a, s)| a == must_page && s == "page"),
            "{must_page} must page: {all:?}"
        );
    }
    for (alert, sev) in &all {
        let name = format!("alertname={alert}");
        let sev_label = format!("severity={sev}");
        let out = run_ok(
            "amtool",
            "prometheus-alertmanager",
            &[
                "config",
                "routes",
                "test",
                "--config.file=config/alertmanager.example.yml",
                &name,
                &sev_label,
            ],
        );
        let got = out
            .split("--- stdout ---\n")
            .nth(1)
            .and_then(|s| s.lines().next())
            .unwrap_or("")
            .trim();
        assert_eq!(got, sev, "{alert} ({sev}) routed wrongly:\n{out}");
    }
}

#[test]
fn every_alert_has_tests_and_a_runbook_section() {
    let names = alert_names();
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(
        unique.len(),
        names.len(),
        "duplicate alert names: {names:?}"
    );

    // Every alert needs a case that fires (exp_alerts with an entry) and a near miss
    // (exp_alerts: []). Walk alert_rule_test entries: `alertname:` then its `exp_alerts:`.
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let mut tested = BTreeSet::new();
    for file in alert_test_files() {
        let text = read(&file);
        let mut current: Option<String> = None;
        for line in text.lines() {
            let t = line.trim_start();
            let t = t.strip_prefix("- ").map(str::trim_start).unwrap_or(t);
            if let Some(v) = t.strip_prefix("alertname:") {
                let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
                tested.insert(v.clone());
                current = Some(v);
            } else if let Some(v) = t.strip_prefix("exp_alerts:") {
                let Some(name) = current.take() else { continue };
                if v.trim() == "[]" {
                    quiet.insert(name);
                } else {
                    firing.insert(name);
                }
            }
        }
    }
    let runbook = read("docs/runbook.md");
    let sections: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_string())
        .collect();
    let rules = all_rules();
    let urls = scan(&rules, "runbook_url");
    assert_eq!(urls.len(), names.len(), "one runbook_url per alert");

    let mut problems = Vec::new();
    for name in &names {
        if !tested.contains(name) {
            problems.push(format!("{name}: no test case in alerts/tests"));
        }
        if !firing.contains(name) {
            problems.push(format!("{name}: no test case where it fires"));
        }
        if !quiet.contains(name) {
            problems.push(format!("{name}: no near-miss test (exp_alerts: [])"));
        }
        if !sections.contains(name) {
            problems.push(format!("{name}: no `## {name}` section in docs/runbook.md"));
        }
        let anchor = format!(
            "https://github.com/vipd/vipd/blob/main/docs/runbook.md#{}",
            name.to_lowercase()
        );
        if !urls.contains(&anchor) {
            problems.push(format!("{name}: no runbook_url {anchor}"));
        }
    }
    for name in tested.difference(&names.iter().cloned().collect()) {
        problems.push(format!("alerts/tests name an unknown alert {name}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_alert_has_severity_and_annotations() {
    // Split the rules files at each `- alert:` and look for the required keys in each block.
    let rules = all_rules();
    let mut blocks: Vec<(String, String)> = Vec::new();
    for line in rules.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert:") {
            blocks.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = blocks.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let mut problems = Vec::new();
    for (name, body) in &blocks {
        let sev = scan(body, "severity");
        if !matches!(sev.as_slice(), [s] if s == "page" || s == "ticket") {
            problems.push(format!(
                "{name}: severity must be page or ticket, got {sev:?}"
            ));
        }
        for key in ["summary", "description", "runbook_url"] {
            if !body.contains(&format!("{key}:")) {
                problems.push(format!("{name}: no {key}"));
            }
        }
        if !body.contains("$labels.instance")
            && !body.contains("query")
            && !name.ends_with("Absent")
        {
            problems.push(format!("{name}: description does not name the node"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! vipd's observability on a LAN of network namespaces (root): /metrics values (not just
//! names) across an election, a failover, a script failure and a reload, checked by
//! `promtool`; the deaf split brain of a firewall dropping protocol 112, seen by
//! `vrrp_adverts_filtered_total` and judged on the wire by a third, listening host; /status,
//! /healthz and malformed requests.

mod labkit;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use labkit::{Lab, sh, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const A: &str = "10.99.0.11";
const B: &str = "10.99.0.12";
const C: &str = "10.99.0.100";
const PORT: u16 = 9797;

fn inst(name: &str, vrid: u8, prio: u8, extra: &str, vip: &str) -> String {
    format!(
        "  {name}:\n    interface: eth0\n    vrid: {vrid}\n    priority: {prio}\n    advert_interval: 100ms\n{extra}    virtual_ipaddress: [\"{vip}\"]\n"
    )
}

/// A config listening on the namespace's own loopback, with optional top-level YAML.
fn cfg(top: &str, instances: &[String]) -> String {
    format!(
        "listen: \"127.0.0.1:{PORT}\"\n{top}instances:\n{}",
        instances.concat()
    )
}

fn pair(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", A, Some("fd00:99::11"));
    lab.host("b", B, Some("fd00:99::12"));
    lab
}

// ---------------------------------------------------------------------------------------------
// HTTP from inside a namespace.

/// `GET` (or `method`) `path` on host `h`'s endpoint: (status code, content type, body).
fn http(
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
fn scrape(lab: &Lab, h: &str) -> String {
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
fn status(lab: &Lab, h: &str) -> serde_json::Value {
    let (code, ctype, body) = http(lab, h, "GET", "/status", None);
    assert_eq!(code, 200, "/status of {h}: {body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/status is not JSON ({e}): {body}"))
}

/// The instance called `name` in a /status document.
fn status_inst<'a>(st: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
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
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the sample lines of a text exposition (classic or OpenMetrics), skipping comments.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("unparsable sample line: {l:?}")))
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
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
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
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
fn get(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(text, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{text}"))
}

/// Instance labels of `vr` plus `extra`.
fn with<'a>(vr: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    vr.iter().chain(extra).copied().collect()
}

/// Scrapes host `h` until `ok` holds for the scrape, panicking with the last scrape and the log.
fn wait_metrics(
    lab: &Lab,
    h: &str,
    what: &str,
    timeout: Duration,
    ok: impl Fn(&str) -> bool,
) -> String {
    let end = Instant::now() + timeout;
    loop {
        let t = scrape(lab, h);
        if ok(&t) {
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
fn assert_state(t: &str, vr: &[(&str, &str)], state: &str) {
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
fn promtool(scrape: &str) {
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

#[test]
fn metrics_values_across_election_failover_script_failure_and_reload() {
    labkit::require(&["curl", "promtool"]);
    let mut lab = pair("ob");
    const VIP: &str = "10.99.0.33";
    let vi1: &[(&str, &str)] = &[
        ("vr", "VI_1"),
        ("vrid", "33"),
        ("interface", "eth0"),
        ("family", "ipv4"),
    ];
    let vi2: &[(&str, &str)] = &[
        ("vr", "VI_2"),
        ("vrid", "34"),
        ("interface", "eth0"),
        ("family", "ipv4"),
    ];

    // A check script that fails while a flag file exists. The lab directory is root-owned
    // 0755 under the sticky /tmp, which vipd accepts for a script run as root.
    let flag = lab.dir.join("flag");
    let script = lab.file(
        "chk.sh",
        &format!("#!/bin/sh\ntest ! -e '{}'\n", flag.display()),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&lab.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let scripts = format!(
        "scripts:\n  chk:\n    command: [\"{}\"]\n    interval: 100ms\n    weight: -60\n",
        script.display()
    );
    let a1 = inst(
        "VI_1",
        33,
        150,
        "    track_scripts: [chk]\n",
        &format!("{VIP}/24"),
    );
    let pa = lab.vipd("a", &cfg(&scripts, std::slice::from_ref(&a1)));
    lab.vipd(
        "b",
        &cfg("", &[inst("VI_1", 33, 100, "", &format!("{VIP}/24"))]),
    );

    // --- Election: a is master, b backup.
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    // Derived gauges (master priority, masters observed, VIP presence) are refreshed once a
    // second: wait for the first refresh after the election.
    let ta = wait_metrics(&lab, "a", "a's gauges after the election", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(150.0)
            && value(t, "vrrp_masters_observed", vi1) == Some(1.0)
    });
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi1), 150.0);
    assert_eq!(get(&ta, "vrrp_instance_base_priority", vi1), 150.0);
    assert_eq!(
        get(&ta, "vrrp_instance_master_priority", vi1),
        150.0,
        "own when master"
    );
    assert_eq!(get(&ta, "vrrp_instance_advert_interval_seconds", vi1), 0.1);
    assert_eq!(get(&ta, "vrrp_masters_observed", vi1), 1.0);
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    assert_eq!(
        get(
            &ta,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "backup"), ("to", "master")])
        ),
        1.0
    );
    assert!(get(&ta, "vrrp_instance_last_transition_timestamp_seconds", vi1) > 1.6e9);
    assert_eq!(
        get(&ta, "vrrp_config_reloads_total", &[("result", "success")]),
        0.0
    );
    assert_eq!(get(&ta, "vrrp_build_info", &[]), 1.0);
    for m in [
        "vrrp_priority_zero_sent_total",
        "vrrp_address_list_mismatch_total",
    ] {
        assert_eq!(get(&ta, m, vi1), 0.0, "{m}");
    }
    assert!(
        !ta.lines().any(|l| l.contains("instance=\"")),
        "no label called `instance`"
    );
    let sent1 = get(&ta, "vrrp_adverts_sent_total", vi1);
    assert!(sent1 > 0.0);
    promtool(&ta);

    let tb = wait_metrics(&lab, "b", "b following a", 3 * S, |t| {
        value(t, "vrrp_peer_priority", &with(vi1, &[("peer", A)])) == Some(150.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(150.0)
            && value(t, "vrrp_masters_observed", vi1) == Some(1.0)
    });
    assert_state(&tb, vi1, "backup");
    assert_eq!(get(&tb, "vrrp_instance_priority", vi1), 100.0);
    assert_eq!(get(&tb, "vrrp_instance_master_priority", vi1), 150.0);
    assert_eq!(
        get(&tb, "vrrp_instance_master_advert_interval_seconds", vi1),
        0.1
    );
    // Master_Down_Interval = 3 * 0.1 + (256 - 100) * 0.1 / 256.
    let mdi = get(&tb, "vrrp_instance_master_down_interval_seconds", vi1);
    assert!((mdi - 0.3609375).abs() < 1e-6, "{mdi}");
    assert_eq!(
        get(&tb, "vrrp_vip_present", &with(vi1, &[("address", VIP)])),
        0.0
    );
    assert_eq!(get(&tb, "vrrp_masters_observed", vi1), 1.0);
    assert_eq!(get(&tb, "vrrp_adverts_sent_total", vi1), 0.0);
    assert_eq!(
        get(
            &tb,
            "vrrp_peer_checksum_form",
            &with(vi1, &[("peer", A), ("form", "pseudo_header")])
        ),
        1.0
    );
    assert_eq!(
        get(
            &tb,
            "vrrp_peer_checksum_form",
            &with(vi1, &[("peer", A), ("form", "rfc9568")])
        ),
        0.0
    );
    assert!(
        get(
            &tb,
            "vrrp_peer_adverts_received_total",
            &with(vi1, &[("peer", A)])
        ) > 0.0
    );
    assert!(get(&tb, "vrrp_peer_master_total", &with(vi1, &[("peer", A)])) >= 1.0);
    let recv1 = get(&tb, "vrrp_adverts_received_total", vi1);
    assert!(recv1 > 0.0);
    for reason in ["checksum", "ttl", "vrid", "auth_failure", "interval"] {
        assert_eq!(
            get(
                &tb,
                "vrrp_adverts_dropped_total",
                &with(vi1, &[("reason", reason)])
            ),
            0.0,
            "{reason}"
        );
    }
    promtool(&tb);

    std::thread::sleep(Duration::from_millis(500));
    let ta2 = scrape(&lab, "a");
    let sent2 = get(&ta2, "vrrp_adverts_sent_total", vi1);
    assert!(
        sent2 >= sent1 + 3.0,
        "adverts sent grow: {sent1} -> {sent2}"
    );
    let tb2 = scrape(&lab, "b");
    let recv2 = get(&tb2, "vrrp_adverts_received_total", vi1);
    assert!(
        recv2 >= recv1 + 3.0,
        "adverts received grow: {recv1} -> {recv2}"
    );

    // OpenMetrics: same samples, ends with # EOF.
    let (code, ctype, om) = http(
        &lab,
        "a",
        "GET",
        "/metrics",
        Some("application/openmetrics-text"),
    );
    assert_eq!(code, 200);
    assert!(
        ctype.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ctype}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# TYPE vrrp_adverts_sent counter\n"), "{om}");
    assert_eq!(
        get(
            &om,
            "vrrp_instance_state",
            &with(vi1, &[("state", "master")])
        ),
        1.0
    );
    assert_eq!(get(&om, "vrrp_instance_priority", vi1), 150.0);

    // --- Failover: a's link goes down; b takes over, a is in fault without the VIP.
    lab.link("a", false);
    lab.wait_holder(&["b"], VIP, "b", 3 * S);
    let tb = wait_metrics(&lab, "b", "b master with its VIP", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(100.0)
    });
    assert_state(&tb, vi1, "master");
    assert_eq!(
        get(
            &tb,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "backup"), ("to", "master")])
        ),
        1.0
    );
    assert_eq!(
        get(&tb, "vrrp_instance_master_priority", vi1),
        100.0,
        "own when master"
    );
    let ta = wait_metrics(&lab, "a", "a in fault without the VIP", 3 * S, |t| {
        value(t, "vrrp_vip_present", &with(vi1, &[("address", VIP)])) == Some(0.0)
    });
    assert_state(&ta, vi1, "fault");
    assert_eq!(
        get(
            &ta,
            "vrrp_instance_transitions_total",
            &with(vi1, &[("from", "master"), ("to", "fault")])
        ),
        1.0
    );
    // Back up: a preempts.
    lab.link("a", true);
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);

    // --- Script failure: effective priority 150 - 60 = 90 < 100, so b preempts.
    std::fs::write(&flag, "").unwrap();
    let ta = wait_metrics(&lab, "a", "priority 90", 3 * S, |t| {
        value(t, "vrrp_instance_priority", vi1) == Some(90.0)
    });
    assert_eq!(get(&ta, "vrrp_instance_base_priority", vi1), 150.0);
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 0.0);
    assert!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "failure")]
        ) > 0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "success")]
        ) > 0.0
    );
    assert_eq!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "timeout")]
        ),
        0.0
    );
    assert_eq!(
        get(
            &ta,
            "vrrp_script_runs_total",
            &[("script", "chk"), ("result", "error")]
        ),
        0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_duration_seconds_count",
            &[("script", "chk")]
        ) > 0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_script_duration_seconds_bucket",
            &[("script", "chk"), ("le", "+Inf")]
        ) > 0.0
    );
    lab.wait_holder(&HOSTS, VIP, "b", 3 * S);
    let tb = wait_metrics(&lab, "b", "a's advert at 90 seen by b", 3 * S, |t| {
        value(t, "vrrp_peer_priority", &with(vi1, &[("peer", A)])) == Some(90.0)
    });
    assert_state(&tb, vi1, "master");
    let ta = wait_metrics(&lab, "a", "a backup following b", 3 * S, |t| {
        value(t, "vrrp_instance_state", &with(vi1, &[("state", "backup")])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi1) == Some(100.0)
    });
    assert_eq!(get(&ta, "vrrp_instance_master_priority", vi1), 100.0);
    assert_eq!(
        get(&ta, "vrrp_peer_priority", &with(vi1, &[("peer", B)])),
        100.0
    );
    promtool(&ta);
    let st = status(&lab, "a");
    let s1 = status_inst(&st, "VI_1");
    assert_eq!(s1["priority"], 90, "{s1:#}");
    assert_eq!(s1["scripts"][0]["name"], "chk", "{s1:#}");
    assert_eq!(s1["scripts"][0]["healthy"], false, "{s1:#}");
    // Healthy again: back to 150, a preempts.
    std::fs::remove_file(&flag).unwrap();
    let ta = wait_metrics(&lab, "a", "priority 150 again", 3 * S, |t| {
        value(t, "vrrp_instance_priority", vi1) == Some(150.0)
    });
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);

    // --- Reload: VI_2 added, its series appear.
    let a2 = inst("VI_2", 34, 150, "", "10.99.0.34/24");
    lab.file("a.yaml", &cfg(&scripts, &[a1.clone(), a2]));
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "VI_2 master with its VIP", 3 * S, |t| {
        value(
            t,
            "vrrp_vip_present",
            &with(vi2, &[("address", "10.99.0.34")]),
        ) == Some(1.0)
    });
    assert_eq!(
        get(&ta, "vrrp_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        get(&ta, "vrrp_config_reloads_total", &[("result", "failure")]),
        0.0
    );
    assert!(
        get(
            &ta,
            "vrrp_config_last_reload_success_timestamp_seconds",
            &[]
        ) > 1.6e9
    );
    assert_state(&ta, vi2, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi2), 150.0);
    assert_state(&ta, vi1, "master");
    promtool(&ta);

    // A broken config is counted as a failure and changes nothing.
    lab.file(
        "a.yaml",
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 300\n",
    );
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "failed reload counted", 3 * S, |t| {
        value(t, "vrrp_config_reloads_total", &[("result", "failure")]) == Some(1.0)
    });
    assert_eq!(
        get(&ta, "vrrp_config_reloads_total", &[("result", "success")]),
        1.0
    );
    assert_state(&ta, vi2, "master");

    // VI_2 removed: every series with vr="VI_2" disappears; VI_1 and the script stay.
    lab.file("a.yaml", &cfg(&scripts, std::slice::from_ref(&a1)));
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "second successful reload", 3 * S, |t| {
        value(t, "vrrp_config_reloads_total", &[("result", "success")]) == Some(2.0)
    });
    let left: Vec<&str> = ta.lines().filter(|l| l.contains("vr=\"VI_2\"")).collect();
    assert!(
        left.is_empty(),
        "series of the removed VI_2 remain: {left:#?}"
    );
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_script_healthy", &[("script", "chk")]), 1.0);
    assert!(!lab.has_addr("a", "10.99.0.34"));
    promtool(&ta);

    // The script removed (VI_1 updated in place, no longer tracking it): its series go.
    lab.file(
        "a.yaml",
        &cfg("", &[a1.replace("    track_scripts: [chk]\n", "")]),
    );
    lab.signal(pa, "HUP");
    let ta = wait_metrics(&lab, "a", "third successful reload", 3 * S, |t| {
        value(t, "vrrp_config_reloads_total", &[("result", "success")]) == Some(3.0)
    });
    let left: Vec<&str> = ta
        .lines()
        .filter(|l| l.contains("script=\"chk\""))
        .collect();
    assert!(
        left.is_empty(),
        "series of the removed script remain: {left:#?}"
    );
    assert_state(&ta, vi1, "master");
    assert_eq!(get(&ta, "vrrp_instance_priority", vi1), 150.0);
    lab.hold_steady(&HOSTS, VIP, "a", Duration::from_millis(200));
}

/// Host `h`'s IPv6 link-local address (the source of its IPv6 adverts).
fn link_local(lab: &Lab, h: &str) -> String {
    let out = sh(&[
        "ip",
        "-n",
        &lab.ns(h),
        "-6",
        "-o",
        "addr",
        "show",
        "dev",
        "eth0",
        "scope",
        "link",
    ]);
    out.split_whitespace()
        .find(|w| w.starts_with("fe80"))
        .and_then(|w| w.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address on {h}: {out}"))
        .to_owned()
}

/// Every `vrrp_adverts_filtered_total` sample: (vr, peer, value).
fn filtered_series(t: &str) -> Vec<(String, String, f64)> {
    samples(t)
        .into_iter()
        .filter(|s| s.name == "vrrp_adverts_filtered_total")
        .map(|s| {
            let l = |k: &str| {
                s.labels
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (l("vr"), l("peer"), s.value)
        })
        .collect()
}

#[test]
fn firewall_split_brain_is_counted_as_filtered_adverts_and_heals() {
    labkit::require(&["curl", "nft"]);
    let mut lab = pair("sb");
    lab.host("c", C, None);
    const VIP: &str = "10.99.0.44";
    const VIP6: &str = "fd00:99::45";
    let vi: &[(&str, &str)] = &[
        ("vr", "VI_1"),
        ("vrid", "44"),
        ("interface", "eth0"),
        ("family", "ipv4"),
    ];
    let vi6: &[(&str, &str)] = &[
        ("vr", "VI_6"),
        ("vrid", "45"),
        ("interface", "eth0"),
        ("family", "ipv6"),
    ];
    let (lla, llb) = (link_local(&lab, "a"), link_local(&lab, "b"));
    for (h, prio) in [("a", 150), ("b", 100)] {
        lab.vipd(
            h,
            &cfg(
                "",
                &[
                    inst("VI_1", 44, prio, "", &format!("{VIP}/24")),
                    inst("VI_6", 45, prio, "", &format!("{VIP6}/64")),
                ],
            ),
        );
    }
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    lab.wait_holder(&HOSTS, VIP6, "a", 3 * S);
    // No false positives while nothing is firewalled (the tap reports lag up to ~2 s); the
    // series of the peer the tap has seen exist at 0, so rate() sees the first increase.
    std::thread::sleep(Duration::from_millis(2200));
    for h in HOSTS {
        let t = scrape(&lab, h);
        let series = filtered_series(&t);
        assert!(
            series.iter().all(|(_, _, v)| *v == 0.0),
            "{h} counts filtered adverts without a firewall: {series:?}"
        );
        if h == "b" {
            // b hears the master a on both families.
            let mut vrs: Vec<&str> = series.iter().map(|(vr, _, _)| vr.as_str()).collect();
            vrs.sort();
            assert_eq!(
                vrs,
                ["VI_1", "VI_6"],
                "{h}: filtered series at 0: {series:?}"
            );
        }
    }

    // The classic split brain: each host's firewall drops IP protocol 112 (v4 and v6).
    let (cap, pcap) = lab.capture("c", "split", "ip proto 112");
    let rules = lab.file(
        "drop-vrrp.nft",
        "table inet lab {\n  chain inp {\n    type filter hook input priority 0;\n    meta l4proto 112 drop\n  }\n}\n",
    );
    for h in HOSTS {
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(h),
            "nft",
            "-f",
            rules.to_str().unwrap(),
        ]);
    }
    let t_fw = Instant::now();
    wait_for(3 * S, "both hosts to hold the VIPs", || {
        lab.holders(&HOSTS, VIP) == HOSTS && lab.holders(&HOSTS, VIP6) == HOSTS
    });
    // The wire tap reports once a second and is compared one report later: up to ~2 s.
    let peers = [("a", B, llb.as_str()), ("b", A, lla.as_str())];
    let before: Vec<String> = peers
        .iter()
        .map(|&(h, peer, peer6)| {
            wait_metrics(&lab, h, "filtered adverts counted", 4 * S, |t| {
                let f = |vr, p| {
                    value(t, "vrrp_adverts_filtered_total", &with(vr, &[("peer", p)]))
                        .is_some_and(|v| v > 0.0)
                };
                f(vi, peer) && f(vi6, peer6)
            })
        })
        .collect();
    eprintln!("filtered adverts on both after {:?}", t_fw.elapsed());
    std::thread::sleep(2 * S);
    let after: Vec<String> = HOSTS.iter().map(|h| scrape(&lab, h)).collect();
    for (i, &(h, peer, peer6)) in peers.iter().enumerate() {
        for (vr, p) in [(vi, peer), (vi6, peer6)] {
            let l = with(vr, &[("peer", p)]);
            let f1 = get(&before[i], "vrrp_adverts_filtered_total", &l);
            let f2 = get(&after[i], "vrrp_adverts_filtered_total", &l);
            // 2 s of adverts every 100 ms: about 20.
            assert!(
                f2 - f1 >= 10.0,
                "{h}: filtered adverts from {p} rise: {f1} -> {f2}"
            );
            assert_state(&after[i], vr, "master");
            // Deaf: each sees only itself as master.
            assert_eq!(get(&after[i], "vrrp_masters_observed", vr), 1.0, "{h}");
        }
        // Only the other host's adverts count, never our own outgoing ones.
        for (vr, p, _) in filtered_series(&after[i]) {
            let want = if vr == "VI_1" { peer } else { peer6 };
            assert_eq!(p, want, "{h}: filtered series for {vr} from {p}");
        }
        assert_eq!(
            get(
                &after[i],
                "vrrp_vip_present",
                &with(vi, &[("address", VIP)])
            ),
            1.0
        );
        let st = status(&lab, h);
        for name in ["VI_1", "VI_6"] {
            let s = status_inst(&st, name);
            assert_eq!(s["state"], "master", "{h}: {s:#}");
            assert!(
                s["stats"]["filtered"].as_u64().unwrap_or(0) > 0,
                "{h}: {s:#}"
            );
        }
        let log = lab.log(&format!("{h}.log"));
        assert!(log.contains("a local firewall drops VRRP"), "{h}: {log}");
    }
    lab.stop_capture(cap);

    // The listener sees both masters advertising (priority > 0) in the same second.
    let rows = tshark(&pcap, "vrrp", &["frame.time_epoch", "ip.src", "vrrp.prio"]);
    let mut seconds: std::collections::BTreeMap<u64, (bool, bool)> = Default::default();
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        let sec = f[0].parse::<f64>().unwrap() as u64;
        let prio: u32 = f[2].parse().unwrap();
        let e = seconds.entry(sec).or_default();
        match (f[1], prio > 0) {
            (A, true) => e.0 = true,
            (B, true) => e.1 = true,
            _ => {}
        }
    }
    assert!(
        seconds.values().any(|&(a, b)| a && b),
        "adverts from both {A} and {B} within one second: {rows:?}"
    );

    // Heal: the firewall goes; one master (a) within about one down interval.
    let t = Instant::now();
    for h in HOSTS {
        sh(&[
            "ip",
            "netns",
            "exec",
            &lab.ns(h),
            "nft",
            "delete",
            "table",
            "inet",
            "lab",
        ]);
    }
    let took = lab.wait_holder(&HOSTS, VIP, "a", 2 * S);
    assert!(took < S, "healed after {took:?}");
    lab.wait_holder(&HOSTS, VIP6, "a", S);
    eprintln!("split brain healed after {:?}", t.elapsed());
    lab.hold_steady(&HOSTS, VIP, "a", Duration::from_millis(300));
    let tb1 = wait_metrics(&lab, "b", "b backup again", 3 * S, |t| {
        value(t, "vrrp_instance_state", &with(vi, &[("state", "backup")])) == Some(1.0)
            && value(t, "vrrp_instance_master_priority", vi) == Some(150.0)
    });
    assert_eq!(
        get(
            &tb1,
            "vrrp_instance_transitions_total",
            &with(vi, &[("from", "master"), ("to", "backup")])
        ),
        1.0
    );
    // Frames firewalled just before the heal are still reported up to two wire-tap reports
    // (about 2 s) later; after that the counters must stay put.
    std::thread::sleep((t + Duration::from_millis(2500)).saturating_duration_since(Instant::now()));
    let tb1 = scrape(&lab, "b");
    std::thread::sleep(Duration::from_millis(1500));
    let tb2 = scrape(&lab, "b");
    assert_eq!(
        filtered_series(&tb1),
        filtered_series(&tb2),
        "b's filtered counters stop rising once healed"
    );
    assert!(
        get(&tb2, "vrrp_adverts_received_total", vi) > get(&tb1, "vrrp_adverts_received_total", vi),
        "b hears a again"
    );
}

#[test]
fn status_healthz_and_malformed_requests() {
    labkit::require(&["curl", "bash"]);
    let mut lab = pair("sh");
    const VIP: &str = "10.99.0.35";
    const VIP6: &str = "fd00:99::35";
    lab.vipd(
        "a",
        &cfg(
            "",
            &[
                inst("VI_1", 35, 150, "", &format!("{VIP}/24")),
                inst("VI_6", 36, 150, "", &format!("{VIP6}/64")),
            ],
        ),
    );
    lab.vipd(
        "b",
        &cfg(
            "",
            &[
                inst("VI_1", 35, 100, "", &format!("{VIP}/24")),
                inst("VI_6", 36, 100, "", &format!("{VIP6}/64")),
            ],
        ),
    );
    lab.wait_holder(&HOSTS, VIP, "a", 3 * S);
    lab.wait_holder(&HOSTS, VIP6, "a", 3 * S);
    std::thread::sleep(Duration::from_millis(300));

    // /status on the master.
    let st = status(&lab, "a");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"), "{st:#}");
    assert_eq!(st["instances"].as_array().map(Vec::len), Some(2), "{st:#}");
    let s = status_inst(&st, "VI_1");
    assert_eq!(s["state"], "master", "{s:#}");
    assert_eq!(s["vrid"], 35, "{s:#}");
    assert_eq!(s["interface"], "eth0", "{s:#}");
    assert_eq!(s["family"], "ipv4", "{s:#}");
    assert_eq!(s["version"], 3, "{s:#}");
    assert_eq!(s["priority"], 150, "{s:#}");
    assert_eq!(s["base_priority"], 150, "{s:#}");
    assert_eq!(s["source"], A, "{s:#}");
    assert_eq!(s["master"]["address"], A, "own address when master: {s:#}");
    assert_eq!(s["master"]["priority"], 150, "{s:#}");
    assert_eq!(
        s["addresses"],
        serde_json::json!([format!("{VIP}/24")]),
        "{s:#}"
    );
    assert_eq!(s["advert_interval_ms"].as_f64(), Some(100.0), "{s:#}");
    assert!(
        s["stats"]["adverts_sent"].as_u64().unwrap_or(0) > 0,
        "{s:#}"
    );
    assert_eq!(s["stats"]["filtered"], 0, "{s:#}");
    // Master: its backups are silent, so no peers.
    assert_eq!(s["peers"], serde_json::json!([]), "{s:#}");

    // /status on the backup: master and peers, with the checksum form.
    let st = status(&lab, "b");
    let s = status_inst(&st, "VI_1");
    assert_eq!(s["state"], "backup", "{s:#}");
    assert_eq!(s["priority"], 100, "{s:#}");
    assert_eq!(s["master"]["address"], A, "{s:#}");
    assert_eq!(s["master"]["priority"], 150, "{s:#}");
    let peers = s["peers"].as_array().expect("peers");
    assert_eq!(peers.len(), 1, "{s:#}");
    assert_eq!(peers[0]["address"], A, "{s:#}");
    assert_eq!(peers[0]["priority"], 150, "{s:#}");
    assert_eq!(peers[0]["checksum_form"], "pseudo_header", "{s:#}");
    assert!(peers[0]["adverts"].as_u64().unwrap_or(0) > 0, "{s:#}");
    assert!(
        peers[0]["last_advert_ms_ago"].as_f64().unwrap() < 500.0,
        "{s:#}"
    );
    assert!(s["timers"]["master_down_in_ms"].as_f64().is_some(), "{s:#}");
    let s6 = status_inst(&st, "VI_6");
    assert_eq!(s6["family"], "ipv6", "{s6:#}");
    assert_eq!(s6["state"], "backup", "{s6:#}");
    let p6 = &s6["peers"][0];
    assert!(
        p6["address"].as_str().unwrap_or("").starts_with("fe80::"),
        "IPv6 adverts come from the link-local address: {s6:#}"
    );
    assert_eq!(p6["checksum_form"], "pseudo_header", "{s6:#}");
    // The same in /metrics, family ipv6.
    let t = scrape(&lab, "b");
    let vi6: &[(&str, &str)] = &[("vr", "VI_6"), ("vrid", "36"), ("family", "ipv6")];
    let p6addr = p6["address"].as_str().unwrap();
    assert_eq!(
        get(
            &t,
            "vrrp_peer_checksum_form",
            &with(vi6, &[("peer", p6addr), ("form", "pseudo_header")])
        ),
        1.0
    );
    assert_eq!(
        get(
            &t,
            "vrrp_instance_state",
            &with(vi6, &[("state", "backup")])
        ),
        1.0
    );

    // /healthz, index, 404, 405, HEAD.
    let (code, _, body) = http(&lab, "a", "GET", "/healthz", None);
    assert_eq!((code, body.trim_end()), (200, "ok"));
    let (code, ctype, body) = http(&lab, "a", "GET", "/", None);
    assert_eq!(code, 200);
    assert!(ctype.starts_with("text/html"), "{ctype}");
    for link in ["metrics", "status", "healthz"] {
        assert!(body.contains(&format!("href=\"{link}\"")), "{body}");
    }
    assert_eq!(http(&lab, "a", "GET", "/nope", None).0, 404);
    assert_eq!(http(&lab, "a", "POST", "/metrics", None).0, 405);
    let head = sh(&[
        "ip",
        "netns",
        "exec",
        &lab.ns("a"),
        "curl",
        "-s",
        "--max-time",
        "3",
        "-I",
        &format!("http://127.0.0.1:{PORT}/metrics"),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "HEAD /metrics: {head}");
    assert!(
        head.contains("text/plain; version=0.0.4"),
        "HEAD /metrics: {head}"
    );

    // Malformed requests get 400 and the endpoint keeps serving; a slow client holding a
    // half-sent request does not block others.
    let ns_a = lab.ns("a");
    let raw = |req: &str| -> String {
        let script =
            format!("exec 3<>/dev/tcp/127.0.0.1/{PORT}; printf '{req}' >&3; timeout 3 cat <&3");
        let out = Command::new("ip")
            .args(["netns", "exec", &ns_a, "bash", "-c", &script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let slow = lab.spawn(
        "a",
        "slow.log",
        &[
            "bash",
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{PORT}; printf 'GET /metrics HTTP/1.1\\r\\n' >&3; sleep 20"),
        ],
    );
    for req in [
        "GARBAGE\\r\\n\\r\\n",
        "GET /healthz HTTP/9.9\\r\\n\\r\\n",
        "GET /healthz HTTP/1.1\\r\\nBad Header Line\\r\\n\\r\\n",
        "\\x00\\x01\\x02\\xff\\r\\n\\r\\n",
    ] {
        let resp = raw(req);
        assert!(
            resp.starts_with("HTTP/1.1 400"),
            "{req:?} answered with: {resp:?}"
        );
        let (code, _, body) = http(&lab, "a", "GET", "/healthz", None);
        assert_eq!(
            (code, body.trim_end()),
            (200, "ok"),
            "still serving after {req:?}"
        );
    }
    let t0 = Instant::now();
    let t = scrape(&lab, "a");
    assert!(
        t0.elapsed() < S,
        "scrape took {:?} with a slow client",
        t0.elapsed()
    );
    assert!(
        get(
            &t,
            "vrrp_http_requests_total",
            &[("path", "/healthz"), ("code", "200")]
        ) >= 4.0,
        "{t}"
    );
    assert_eq!(
        get(
            &t,
            "vrrp_http_requests_total",
            &[("path", "other"), ("code", "404")]
        ),
        1.0
    );
    lab.signal(slow, "TERM");
    lab.wait_exit(slow, 3 * S);

    // "Backup still holding it": vrrp_vip_present reads the kernel, not vipd's intent.
    let vi: &[(&str, &str)] = &[("vr", "VI_1"), ("vrid", "35"), ("family", "ipv4")];
    let vip_on_b = |t: &str| value(t, "vrrp_vip_present", &with(vi, &[("address", VIP)]));
    assert_eq!(vip_on_b(&scrape(&lab, "b")), Some(0.0));
    let addr = format!("{VIP}/24");
    sh(&[
        "ip",
        "-n",
        &lab.ns("b"),
        "addr",
        "add",
        &addr,
        "dev",
        "eth0",
    ]);
    let tb = wait_metrics(&lab, "b", "the stray VIP seen on the backup", 3 * S, |t| {
        vip_on_b(t) == Some(1.0)
    });
    assert_eq!(
        get(
            &tb,
            "vrrp_instance_state",
            &with(vi, &[("state", "backup")])
        ),
        1.0
    );
    sh(&[
        "ip",
        "-n",
        &lab.ns("b"),
        "addr",
        "del",
        &addr,
        "dev",
        "eth0",
    ]);
    wait_metrics(&lab, "b", "the stray VIP gone", 3 * S, |t| {
        vip_on_b(t) == Some(0.0)
    });
    // VRRP kept going throughout.
    lab.hold_steady(&HOSTS, VIP, "a", Duration::from_millis(200));
}

/// The exposition parser the lab tests rely on (no root needed).
#[test]
fn exposition_parser() {
    let t = "# HELP x y\n\
             plain 3\n\
             m{vr=\"VI_1\",group=\"10.99.0.1,10.99.0.2\",q=\"a\\\"b\\\\c\"} 1.5\n\
             h_bucket{script=\"chk\",le=\"+Inf\"} 7\n\
             g{a=\"1\"} 0.0 1700000000000\n";
    assert_eq!(value(t, "plain", &[]), Some(3.0));
    assert_eq!(
        value(
            t,
            "m",
            &[("group", "10.99.0.1,10.99.0.2"), ("q", "a\"b\\c")]
        ),
        Some(1.5)
    );
    assert_eq!(value(t, "m", &[("vr", "VI_2")]), None);
    assert_eq!(value(t, "h_bucket", &[("le", "+Inf")]), Some(7.0));
    assert_eq!(value(t, "g", &[("a", "1")]), Some(0.0));
    assert_eq!(value(t, "pla", &[]), None);
}

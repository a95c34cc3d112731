//! vipd's HTTP endpoint on a LAN of network namespaces (root): /status of master and backup
//! (IPv4 and IPv6), /healthz, the index, 404/405/HEAD, malformed requests and a slow client,
//! and `vrrp_vip_present` reading the kernel.

mod labkit;
mod observekit;

use std::process::Command;
use std::time::{Duration, Instant};

use labkit::sh;
use observekit::*;

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
    let vi6: &[(&str, &str)] = &[("vr", "VI_6")];
    assert_eq!(
        get(
            &t,
            "vrrp_instance_info",
            &with(vi6, &[("vrid", "36"), ("family", "ipv6")])
        ),
        1.0
    );
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
            "vipd_http_requests_total",
            &[("path", "/healthz"), ("code", "200")]
        ) >= 4.0,
        "{t}"
    );
    assert_eq!(
        get(
            &t,
            "vipd_http_requests_total",
            &[("path", "other"), ("code", "404")]
        ),
        1.0
    );
    lab.signal(slow, "TERM");
    lab.wait_exit(slow, 3 * S);

    // "Backup still holding it": vrrp_vip_present reads the kernel, not vipd's intent.
    let vi: &[(&str, &str)] = &[("vr", "VI_1")];
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

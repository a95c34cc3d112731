//! Secrets and privilege on a real vipd (root, namespaces `wc<pid>-*`):
//!
//! - host `a`: v2 with a password, `--web.config.file` with TLS and a bcrypt user, a check
//!   script run as root that records its environment and capabilities. vipd's own
//!   CapEff/CapBnd are exactly CAP_NET_ADMIN + CAP_NET_RAW; the script's environment is the
//!   fixed set (no variable of vipd's own environment leaks); the password is in neither
//!   /status, /metrics nor the debug log.
//! - host `b`: the same pair (same password), with its check script run as `nobody`: vipd
//!   keeps CAP_SETUID, CAP_SETGID and CAP_KILL as well, the script runs as uid 65534 with
//!   no capabilities at all.

mod labkit;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use labkit::{Lab, VIPD, wait_for};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

const PASSWORD: &str = "Zq9wXy";
const VIP: &str = "10.99.0.77";
const PORT: u16 = 9797;

const CAP_KILL: u64 = 1 << 5;
const CAP_SETGID: u64 = 1 << 6;
const CAP_SETUID: u64 = 1 << 7;
const CAP_NET_ADMIN: u64 = 1 << 12;
const CAP_NET_RAW: u64 = 1 << 13;

fn params(cn: &str, sans: &[&str], ca: bool) -> CertificateParams {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    p
}

/// A CA and a server certificate for localhost in the lab directory; the web config.
fn web_config(lab: &Lab, hash: &str) -> String {
    let ca = CertifiedIssuer::self_signed(params("wc CA", &[], true), KeyPair::generate().unwrap())
        .unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params("vipd", &["localhost"], false)
        .signed_by(&key, &ca)
        .unwrap();
    lab.file("ca.pem", &ca.as_ref().pem());
    let c = lab.file("server.pem", &cert.pem());
    let k = lab.file("server.key", &key.serialize_pem());
    let web = lab.file(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prom: '{hash}'\n",
            c.display(),
            k.display()
        ),
    );
    web.to_str().unwrap().to_owned()
}

fn config(script: &str, prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:{PORT}\"
scripts:
{script}instances:
  VI_1:
    interface: eth0
    vrid: 77
    priority: {prio}
    version: 2
    advert_interval: 1s
    authentication: {{type: pass, password: {PASSWORD}}}
    track_scripts: [{{name: record, weight: 10}}]
    virtual_ipaddress: [\"{VIP}\"]
"
    )
}

/// `GET path` over https with the user, from inside host `h`: (status, body).
fn get(lab: &Lab, h: &str, path: &str, user: Option<&str>) -> (u16, String) {
    let ns = lab.ns(h);
    let ca = lab.dir.join("ca.pem");
    let resolve = format!("localhost:{PORT}:127.0.0.1");
    let url = format!("https://localhost:{PORT}{path}");
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns, "curl", "-s", "--max-time", "3"])
        .args(["--resolve", &resolve, "--cacert"])
        .arg(&ca)
        .args(["-w", "\n%{http_code}"]);
    if let Some(u) = user {
        cmd.args(["-u", u]);
    }
    let out = cmd.arg(&url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The hex value of `field` (CapEff, CapBnd, ...) in a /proc/<pid>/status text.
fn cap(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// /proc/<pid>/status of vipd, whose pid is the one `ip netns exec` was started with (it
/// execs).
fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap()
}

#[test]
fn secrets_stay_secret_and_privileges_are_dropped() {
    let mut lab = Lab::new("wc");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let hash = bcrypt::hash("scrape-pw", 6).unwrap();
    let web = web_config(&lab, &hash);
    let public = lab.dir.join("pub");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let dir = lab.dir.display().to_string();
    let record = |out: &str| {
        format!(
            "  record:\n    command: [\"sh\", \"-c\", \"env > {out}.env.t; id -u > {out}.uid.t; grep ^Cap /proc/self/status > {out}.caps.t; for f in env uid caps; do mv {out}.$f.t {out}.$f; done\"]\n    interval: 300ms\n"
        )
    };
    let a_cfg = lab.file("a.yaml", &config(&record(&format!("{dir}/a")), 150));
    let b_cfg = lab.file(
        "b.yaml",
        &config(
            &format!(
                "{}    user: nobody\n",
                record(&format!("{}/b", public.display()))
            ),
            100,
        ),
    );
    let leak = [("WC_LEAK", "from-vipd-env"), ("HOME", "/root/wc-leak")];
    let a = lab.spawn_env(
        "a",
        "a.log",
        &[
            VIPD,
            "run",
            "-c",
            a_cfg.to_str().unwrap(),
            "--web.config.file",
            &web,
        ],
        &leak,
    );
    let b = lab.spawn_env(
        "b",
        "b.log",
        &[
            VIPD,
            "run",
            "-c",
            b_cfg.to_str().unwrap(),
            "--web.config.file",
            &web,
        ],
        &leak,
    );
    lab.wait_holder(&["a", "b"], VIP, "a", Duration::from_secs(8));
    wait_for(Duration::from_secs(5), "scripts to record", || {
        lab.dir.join("a.caps").exists() && public.join("b.caps").exists()
    });

    // vipd's own capabilities.
    let sa = proc_status(a);
    assert_eq!(cap(&sa, "CapEff"), CAP_NET_ADMIN | CAP_NET_RAW, "{sa}");
    assert_eq!(cap(&sa, "CapPrm"), CAP_NET_ADMIN | CAP_NET_RAW, "{sa}");
    assert_eq!(cap(&sa, "CapBnd"), CAP_NET_ADMIN | CAP_NET_RAW, "{sa}");
    assert_eq!(cap(&sa, "CapInh"), 0, "{sa}");
    assert_eq!(cap(&sa, "CapAmb"), 0, "{sa}");
    let sb = proc_status(b);
    let with_users = CAP_NET_ADMIN | CAP_NET_RAW | CAP_SETUID | CAP_SETGID | CAP_KILL;
    assert_eq!(cap(&sb, "CapEff"), with_users, "{sb}");
    assert_eq!(cap(&sb, "CapBnd"), with_users, "{sb}");
    // Every thread of vipd, not only the main one.
    for t in std::fs::read_dir(format!("/proc/{a}/task")).unwrap() {
        let st = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap();
        assert_eq!(cap(&st, "CapEff"), CAP_NET_ADMIN | CAP_NET_RAW, "{st}");
    }

    // The scripts: a clean environment; a root script holds at most the bounding set, a
    // `nobody` script nothing.
    let env_a = std::fs::read_to_string(lab.dir.join("a.env")).unwrap();
    assert!(env_a.lines().any(|l| l.starts_with("PATH=")), "{env_a}");
    assert!(
        !env_a.contains("WC_LEAK") && !env_a.contains("wc-leak"),
        "{env_a}"
    );
    assert!(!env_a.contains("VIPD_LOG"), "{env_a}");
    let caps_a = std::fs::read_to_string(lab.dir.join("a.caps")).unwrap();
    assert_eq!(
        cap(&caps_a, "CapBnd"),
        CAP_NET_ADMIN | CAP_NET_RAW,
        "{caps_a}"
    );
    assert_eq!(
        cap(&caps_a, "CapEff") & !(CAP_NET_ADMIN | CAP_NET_RAW),
        0,
        "{caps_a}"
    );
    let uid_b = std::fs::read_to_string(public.join("b.uid")).unwrap();
    assert_eq!(uid_b.trim(), "65534");
    let caps_b = std::fs::read_to_string(public.join("b.caps")).unwrap();
    assert_eq!(cap(&caps_b, "CapEff"), 0, "{caps_b}");
    assert_eq!(cap(&caps_b, "CapPrm"), 0, "{caps_b}");
    let env_b = std::fs::read_to_string(public.join("b.env")).unwrap();
    assert!(!env_b.contains("WC_LEAK"), "{env_b}");

    // The endpoint: https with the user only.
    assert_eq!(get(&lab, "a", "/status", None).0, 401);
    assert_eq!(get(&lab, "a", "/status", Some("prom:wrong")).0, 401);
    let (code, status) = get(&lab, "a", "/status", Some("prom:scrape-pw"));
    assert_eq!(code, 200, "{status}");
    assert!(status.contains("VI_1"), "{status}");
    let (code, metrics) = get(&lab, "a", "/metrics", Some("prom:scrape-pw"));
    assert_eq!(code, 200, "{metrics}");
    assert!(metrics.contains("vipd_build_info"), "{metrics}");
    // The backup received the master's password-carrying adverts: its status and log too.
    let (code, status_b) = get(&lab, "b", "/status", Some("prom:scrape-pw"));
    assert_eq!(code, 200, "{status_b}");

    // The password appears nowhere vipd writes.
    lab.signal(a, "TERM");
    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(a, Duration::from_secs(10)), Some(0));
    assert_eq!(lab.wait_exit(b, Duration::from_secs(10)), Some(0));
    let (log_a, log_b) = (lab.log("a.log"), lab.log("b.log"));
    assert!(log_a.contains("DEBUG"), "debug logging was on: {log_a}");
    for (what, text) in [
        ("a /status", &status),
        ("a /metrics", &metrics),
        ("b /status", &status_b),
        ("a log", &log_a),
        ("b log", &log_b),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} shows the password:\n{text}"
        );
    }
}

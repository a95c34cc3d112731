//! `--web.config.file` on the real endpoint (`observe::serve_with` on 127.0.0.1:0, on a thread
//! and runtime of its own as in the daemon), with curl as the client: a CA, a server and a
//! client certificate generated here (rcgen), bcrypt hashes made here.
//!
//! - TLS + basic auth: the right user gets 200, no credentials 401, a wrong password 401,
//!   plain http to the TLS port gets no answer; the configured headers are on every response.
//! - RequireAndVerifyClientCert: no client certificate, or one from another CA, is refused;
//!   one from the configured CA gets 200.
//! - Slowloris over TLS: more connections than MAX_CONNECTIONS that never finish (or never
//!   start) the handshake, and a scrape still succeeds.
//! - `vipd check --web.config.file` reports a broken file and exits 2.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// Certificate parameters with a distinct common name (rcgen's default name is the same for
/// every certificate, which would make each look issued by the other).
fn params(cn: &str, sans: &[&str], ca: bool) -> CertificateParams {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    p
}
use vipd::observe::{self, Metrics};
use vipd::webconfig::WebConfig;

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca = CertifiedIssuer::self_signed(
            params("vipd test CA", &[], true),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        write("ca.pem", ca.as_ref().pem());
        let server_key = KeyPair::generate().unwrap();
        let server = params("vipd", &["localhost", "127.0.0.1"], false)
            .signed_by(&server_key, &ca)
            .unwrap();
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());
        let client_key = KeyPair::generate().unwrap();
        let client = params("scraper", &["scraper"], false)
            .signed_by(&client_key, &ca)
            .unwrap();
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());
        // A client certificate from a CA the server does not know.
        let other = CertifiedIssuer::self_signed(
            params("other CA", &[], true),
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let rogue_key = KeyPair::generate().unwrap();
        let rogue = params("rogue", &["rogue"], false)
            .signed_by(&rogue_key, &other)
            .unwrap();
        write("rogue.pem", rogue.pem());
        write("rogue.key", rogue_key.serialize_pem());
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn web(&self, yaml: &str) -> PathBuf {
        let p = self.path("web.yml");
        std::fs::write(&p, yaml).unwrap();
        p
    }
}

/// Starts the endpoint with `web` on 127.0.0.1:0; returns its address.
fn start(web: &Path) -> SocketAddr {
    let web = Arc::new(WebConfig::load(web).unwrap_or_else(|e| panic!("{e}")));
    let listener = observe::bind_std("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new("0.1.0", "test");
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (status_tx, mut status_rx) =
                tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<serde_json::Value>>(4);
            tokio::spawn(async move {
                while let Some(reply) = status_rx.recv().await {
                    let _ = reply.send(serde_json::json!({"instances": []}));
                }
            });
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            observe::serve_with(l, metrics, status_tx, web)
                .await
                .unwrap();
        })
    });
    addr
}

/// curl `url` with `args`: (HTTP status, 0 when there was no answer; response headers,
/// lower-cased; body; curl's exit code).
fn curl(pki: &Pki, url: &str, args: &[&str]) -> (u16, String, String, i32) {
    let headers = pki.path("headers.txt");
    let _ = std::fs::remove_file(&headers);
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "--resolve", &resolve, "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .arg("--cacert")
        .arg(pki.path("ca.pem"))
        .args(args)
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let hdrs = std::fs::read_to_string(&headers)
        .unwrap_or_default()
        .to_ascii_lowercase();
    (
        code.trim().parse().unwrap_or(0),
        hdrs,
        body.to_owned(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn tls_and_basic_auth() {
    let pki = Pki::new();
    let hash = bcrypt::hash("scrape-pw", 6).unwrap();
    let web = pki.web(&format!(
        "tls_server_config:
  cert_file: server.pem
  key_file: server.key
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: '{hash}'
"
    ));
    let addr = start(&web);
    let url = format!("https://localhost:{}/metrics", addr.port());

    let (code, hdrs, body, _) = curl(&pki, &url, &["-u", "prometheus:scrape-pw"]);
    assert_eq!(code, 200, "{hdrs}{body}");
    assert!(body.contains("vipd_build_info"), "{body}");
    assert!(
        hdrs.contains("strict-transport-security: max-age=31536000"),
        "{hdrs}"
    );
    assert!(hdrs.contains("x-content-type-options: nosniff"), "{hdrs}");
    // Again: the cached verification gives the same answer.
    assert_eq!(curl(&pki, &url, &["-u", "prometheus:scrape-pw"]).0, 200);

    let (code, hdrs, body, _) = curl(&pki, &url, &[]);
    assert_eq!(code, 401, "{hdrs}{body}");
    assert!(hdrs.contains("www-authenticate: basic"), "{hdrs}");
    assert!(
        hdrs.contains("strict-transport-security"),
        "headers on a 401 too: {hdrs}"
    );
    assert!(!body.contains("vrrp_"), "{body}");
    let status = format!("https://localhost:{}/status", addr.port());
    assert_eq!(curl(&pki, &status, &["-u", "prometheus:wrong"]).0, 401);
    assert_eq!(curl(&pki, &status, &["-u", "nobody:scrape-pw"]).0, 401);
    assert_eq!(curl(&pki, &status, &["-u", "prometheus:scrape-pw"]).0, 200);

    // Plain http to the TLS port: no HTTP answer at all.
    let plain = format!("http://localhost:{}/metrics", addr.port());
    let (code, _, body, rc) = curl(&pki, &plain, &["-u", "prometheus:scrape-pw"]);
    assert_eq!(code, 0, "plain http answered: {body}");
    assert_ne!(rc, 0);
    // A client that does not trust the certificate gives up.
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("https://127.0.0.1:{}/metrics", addr.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000");

    // The counter of answers by code saw the 401s.
    let (_, _, body, _) = curl(&pki, &url, &["-u", "prometheus:scrape-pw"]);
    assert!(
        body.lines()
            .any(|l| l.starts_with("vipd_http_requests_total") && l.contains("code=\"401\"")),
        "{body}"
    );
}

#[test]
fn client_certificate_required() {
    let pki = Pki::new();
    let web = pki.web(
        "tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  min_version: TLS12
",
    );
    let addr = start(&web);
    let url = format!("https://localhost:{}/healthz", addr.port());
    let (code, _, body, rc) = curl(&pki, &url, &[]);
    assert_eq!(code, 0, "answered without a client certificate: {body}");
    assert_ne!(rc, 0);
    let (code, _, _, _) = curl(
        &pki,
        &url,
        &[
            "--cert",
            pki.path("rogue.pem").to_str().unwrap(),
            "--key",
            pki.path("rogue.key").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "a certificate from another CA was accepted");
    let (code, _, body, _) = curl(
        &pki,
        &url,
        &[
            "--cert",
            pki.path("client.pem").to_str().unwrap(),
            "--key",
            pki.path("client.key").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "ok\n");
    // TLS 1.2 is offered (min_version TLS12) as well as 1.3.
    let (code, _, _, _) = curl(
        &pki,
        &url,
        &[
            "--tls-max",
            "1.2",
            "--cert",
            pki.path("client.pem").to_str().unwrap(),
            "--key",
            pki.path("client.key").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 200);
}

#[test]
fn stalled_handshakes_do_not_block_scrapes() {
    use std::io::Write;
    let pki = Pki::new();
    let web = pki.web("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n");
    let addr = start(&web);
    // More than MAX_CONNECTIONS connections: half never send a byte, half send the first
    // bytes of a TLS record and stall there.
    let mut held: Vec<TcpStream> = Vec::new();
    for i in 0..observe::MAX_CONNECTIONS + 44 {
        let mut s = TcpStream::connect(addr).unwrap();
        if i % 2 == 1 {
            let _ = s.write_all(&[0x16, 0x03, 0x01]);
        }
        held.push(s);
    }
    let url = format!("https://localhost:{}/healthz", addr.port());
    for _ in 0..3 {
        let (code, _, body, rc) = curl(&pki, &url, &[]);
        assert_eq!(
            code, 200,
            "scrape blocked by stalled handshakes (curl {rc}): {body}"
        );
    }
    drop(held);
}

#[test]
fn check_validates_the_web_config() {
    let pki = Pki::new();
    let cfg = pki.path("vipd.yaml");
    std::fs::write(
        &cfg,
        "instances:\n  web:\n    interface: lo\n    vrid: 9\n    priority: 100\n    virtual_ipaddress: [\"10.99.0.9\"]\n",
    )
    .unwrap();
    let broken = pki.web("tls_server_config:\n  cert_file: server.pem\n");
    let out = Command::new(VIPD)
        .args(["check", "-c"])
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(&broken)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("key_file is missing"), "{text}");
    let good = pki.web("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n");
    let out = Command::new(VIPD)
        .args(["check", "-c"])
        .arg(&cfg)
        .arg("--web.config.file")
        .arg(&good)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ok (web configuration)"), "{text}");
}

#[test]
fn tls_handshake_failures_are_counted_by_reason() {
    let pki = Pki::new();
    let web = pki.web(
        "tls_server_config:
  cert_file: server.pem
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
",
    );
    let addr = start(&web);
    let port = addr.port();
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let client = [
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ];
    let failures = || -> String {
        let url = format!("https://localhost:{port}/metrics");
        let (code, _, body, _) = curl(&pki, &url, &client);
        assert_eq!(code, 200, "{body}");
        body.lines()
            .filter(|l| l.starts_with("vipd_http_tls_handshake_failures_total"))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    let count = |text: &str, reason: &str| -> u64 {
        let key = format!("vipd_http_tls_handshake_failures_total{{reason=\"{reason}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .unwrap_or_else(|| panic!("no {reason} series in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    };
    let before = failures();
    assert_eq!(count(&before, "not_tls"), 0, "{before}");
    assert_eq!(count(&before, "client_certificate"), 0, "{before}");
    // Plain HTTP to the https port.
    let (code, _, _, _) = curl(&pki, &format!("http://localhost:{port}/healthz"), &[]);
    assert_ne!(code, 200);
    // No client certificate, then one from another CA.
    let url = format!("https://localhost:{port}/healthz");
    assert_eq!(curl(&pki, &url, &[]).0, 0);
    let (rcert, rkey) = (pki.path("rogue.pem"), pki.path("rogue.key"));
    let rogue = [
        "--cert",
        rcert.to_str().unwrap(),
        "--key",
        rkey.to_str().unwrap(),
    ];
    assert_eq!(curl(&pki, &url, &rogue).0, 0);
    let after = failures();
    assert_eq!(count(&after, "not_tls"), 1, "{after}");
    assert_eq!(count(&after, "client_certificate"), 2, "{after}");
}

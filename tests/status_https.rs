//! `vipd status https://user:password@host:port --cacert FILE` against a real TLS endpoint: a
//! CA and a server certificate made by `openssl`, served on 127.0.0.1 by Python's `ssl` +
//! `http.server`, which answers `/status` only with the right basic-auth credentials.
//!
//! Needs openssl and python3 (both in the CI image).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

/// A `/status` document of `vipd monitor` with one router heard.
fn status_doc() -> String {
    use vipd::status::{MonitorStatus, RouterStatus, VirtualRouterStatus};
    serde_json::to_string(&MonitorStatus {
        version: "0.1.0".into(),
        virtual_routers: vec![VirtualRouterStatus {
            interface: "eth0".into(),
            family: "ipv4".into(),
            vrid: 51,
            routers: vec![RouterStatus {
                address: "10.99.0.1".into(),
                priority: 150,
                master: true,
                adverts: 3,
                advert_interval_ms: 1000.0,
                checksum_form: "pseudo_header".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
    .unwrap()
}

const SERVER: &str = r#"
import base64, http.server, ssl, sys
cert, body = sys.argv[1], sys.argv[2].encode()
want = "Basic " + base64.b64encode(b"ops:s@cret").decode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401); self.send_header("WWW-Authenticate", 'Basic realm="vipd"')
            self.send_header("Content-Length", "0"); self.end_headers(); return
        if self.path != "/status":
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`ca.pem`) and a server certificate for IP 127.0.0.1 signed by it, with its key, in
/// `server.pem` (what the server loads). Returns the path of `server.pem`.
fn certificates(dir: &Path) -> std::path::PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=vipd test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
    let both = [
        std::fs::read_to_string(dir.join("server.crt")).unwrap(),
        std::fs::read_to_string(dir.join("server.key")).unwrap(),
    ]
    .concat();
    let pem = dir.join("server.pem");
    std::fs::write(&pem, both).unwrap();
    pem
}

fn status(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(VIPD)
        .arg("status")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn status_over_https_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let pem = certificates(dir.path());
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SERVER)
        .arg(&pem)
        .arg(status_doc())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let port: u16 = line.trim().parse().expect("port from the server");
    let cert = dir.path().join("ca.pem");
    let cert = cert.to_str().unwrap();

    // Right credentials (the @ percent-encoded), the certificate trusted: the table.
    let url = format!("https://ops:s%40cret@127.0.0.1:{port}");
    let (code, out, err) = status(&[&url, "--cacert", cert]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("10.99.0.1"), "{out}");

    // Wrong password: the 401 is reported, and the password is not printed.
    let url = format!("https://ops:wrong@127.0.0.1:{port}");
    let (code, _, err) = status(&["--url", &url, "--cacert", cert]);
    assert_eq!(code, 1);
    assert!(err.contains("answered 401"), "{err}");
    assert!(!err.contains("wrong"), "{err}");

    // Without --cacert the private CA is not trusted.
    let url = format!("https://ops:s%40cret@127.0.0.1:{port}");
    let (code, _, err) = status(&[&url]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach vipd at"), "{err}");
    drop(server);
}

//! The check script examples (examples/checks/check_nginx, check_haproxy) run as vipd runs
//! them, against a real HTTP server: Python's http.server bound to 10.99.0.11 in a lab
//! namespace, playing nginx's health location and HAProxy's monitor-uri. Healthy, answering an
//! error, answering a redirect, and gone, each with the exit status the script documents.
//!
//! Needs root, iproute2 (labkit), curl and python3.

mod labkit;

use std::path::Path;
use std::time::Duration;

use labkit::{Lab, require, wait_for};

const S: Duration = Duration::from_secs(1);
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/checks");

/// Answers every GET with the status code written in the file `argv[3]` (200 when absent).
const SERVER: &str = r#"
import http.server, sys
addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try: code = int(open(mode).read().strip())
        except OSError: code = 200
        self.send_response(code)
        if code in (301, 302): self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
    def log_message(self, *a): pass
http.server.HTTPServer((addr, port), H).serve_forever()
"#;

/// Runs `script args` inside host `h`'s namespace; returns the exit status.
fn check(lab: &Lab, h: &str, script: &str, args: &[&str]) -> i32 {
    let path = Path::new(EXAMPLES).join(script);
    let out = lab
        .lan
        .command(h, path.to_str().unwrap())
        .args(args)
        .output()
        .unwrap();
    out.status.code().unwrap_or(-1)
}

fn example(script: &str, url_path: &str, redirect_is_healthy: bool) {
    require(&["curl", "python3"]);
    let mut lab = Lab::new(if script == "check_nginx" {
        "cvng"
    } else {
        "cvha"
    });
    lab.host("a", "10.99.0.11", None);
    let mode = lab.dir.join("mode");
    let mode_s = mode.to_str().unwrap().to_owned();
    let pid = lab.spawn(
        "a",
        "server.log",
        &["python3", "-c", SERVER, "10.99.0.11", "8080", &mode_s],
    );
    let url = format!("http://10.99.0.11:8080{url_path}");
    wait_for(10 * S, "the HTTP server", || {
        check(&lab, "a", script, &[&url]) == 0
    });
    // Healthy; also with an explicit timeout.
    assert_eq!(check(&lab, "a", script, &[&url, "1"]), 0);
    // The server answers an error (nginx 502 from a dead upstream; HAProxy's `monitor fail`).
    for code in ["503", "404"] {
        std::fs::write(&mode, code).unwrap();
        assert_eq!(check(&lab, "a", script, &[&url]), 1, "answer {code}");
    }
    std::fs::write(&mode, "302").unwrap();
    assert_eq!(
        check(&lab, "a", script, &[&url]),
        if redirect_is_healthy { 0 } else { 1 },
        "answer 302"
    );
    std::fs::remove_file(&mode).unwrap();
    assert_eq!(check(&lab, "a", script, &[&url]), 0);
    // Wrong usage is 2, not a plain failure.
    assert_eq!(check(&lab, "a", script, &[&url, "1", "extra"]), 2);
    // The server is gone: refused.
    lab.signal(pid, "KILL");
    lab.wait_exit(pid, 5 * S);
    assert_eq!(check(&lab, "a", script, &[&url]), 1);
    // Nothing at all at that address (another host's, unreachable here): a timeout, still 1.
    assert_eq!(
        check(&lab, "a", script, &["http://10.99.0.99:8080/", "1"]),
        1
    );
}

#[test]
fn nginx_check_example() {
    example("check_nginx", "/nginx-health", true);
}

#[test]
fn haproxy_check_example() {
    example("check_haproxy", "/healthz", false);
}

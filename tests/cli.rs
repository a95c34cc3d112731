//! The `vipd` command line, run as a program (no root, no network): `vipd check FILE` and
//! `-c FILE`, how an unreadable file is reported, `import-keepalived -o FILE`, and the log
//! options' usage errors.

use std::path::{Path, PathBuf};
use std::process::Command;

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

const MINIMAL: &str = "\
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
";

/// Runs vipd with `args`; returns (exit status, stdout, stderr).
fn vipd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(VIPD)
        .args(args)
        .env_remove("VIPD_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(rel)
}

#[test]
fn check_takes_the_file_positionally_or_with_c() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vipd.yaml");
    std::fs::write(&p, MINIMAL).unwrap();
    let p = p.to_str().unwrap();
    for args in [&["check", p][..], &["check", "-c", p]] {
        let (code, out, err) = vipd(args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        assert_eq!(out, format!("{p}: ok (1 instance)\n"), "{args:?}");
    }
    let (code, _, err) = vipd(&["check", p, "-c", p]);
    assert_eq!(code, 2, "a usage error: {err}");
}

#[test]
fn check_reports_an_unreadable_file_with_its_path_and_the_os_error() {
    let (code, out, err) = vipd(&["check", "/nonexistent/vipd.yaml"]);
    assert_eq!(code, 2);
    assert_eq!(
        out,
        "/nonexistent/vipd.yaml: cannot read: No such file or directory (os error 2)\n"
    );
    assert_eq!(err, "/nonexistent/vipd.yaml: 1 error\n");
}

#[test]
fn check_rejects_a_garp_refresh_that_floods_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vipd.yaml");
    std::fs::write(&p, format!("{MINIMAL}    garp: {{refresh: 1us}}\n")).unwrap();
    let (code, out, _) = vipd(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        out.contains(":6:21: instance `VI_1`: garp: refresh: 1us is below 1s"),
        "{out}"
    );
}

#[test]
fn import_keepalived_writes_the_yaml_to_the_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture("master-backup/lb1.conf");
    let (stdout_code, yaml, _) = vipd(&["import-keepalived", input.to_str().unwrap()]);
    let out = dir.path().join("vipd.yaml");
    let (code, stdout, err) = vipd(&[
        "import-keepalived",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    // The same translation and exit status as on stdout, nothing on stdout.
    assert_eq!(code, stdout_code, "{err}");
    assert!(code == 0 || code == 3, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), yaml);
    assert!(err.contains(&format!("wrote {}", out.display())), "{err}");
    // A failed translation writes nothing.
    let missing = dir.path().join("missing.yaml");
    let (code, _, err) = vipd(&[
        "import-keepalived",
        "/nonexistent/keepalived.conf",
        "-o",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read") && err.contains("was not written"),
        "{err}"
    );
    assert!(!missing.exists());
    // Never over the keepalived file itself.
    let copy = dir.path().join("keepalived.conf");
    std::fs::copy(&input, &copy).unwrap();
    let (code, _, err) = vipd(&[
        "import-keepalived",
        copy.to_str().unwrap(),
        "-o",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&input).unwrap()
    );
}

#[test]
fn log_options_are_checked_before_anything_runs() {
    // Usage errors (exit 2) before the daemon or the monitor needs root or an interface.
    let (code, _, err) = vipd(&["run", "--log-level", "loud"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--log-level"), "{err}");
    let (code, _, err) = vipd(&["monitor", "-i", "eth0", "--log-format", "xml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--log-format"), "{err}");
}

#[test]
fn a_bad_vipd_log_is_a_warning_and_logging_stays_at_info() {
    // VIPD_LOG is read once logging starts (no usage error): the daemon warns and logs at
    // info; here it then stops at the missing configuration file, logged at error.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    for bad in ["vipd[run]=debug", "loud"] {
        let out = Command::new(VIPD)
            .args(["run", "-c", missing.to_str().unwrap()])
            .env("VIPD_LOG", bad)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("VIPD_LOG: "), "{bad}: {err}");
        assert!(err.contains("logging at info"), "{bad}: {err}");
        assert!(err.contains("missing.yaml"), "{bad}: {err}");
    }
    // A good one is taken: per target, `vipd::daemon=off` silences the error, `vipd=error`
    // keeps it.
    for (filter, shown) in [("vipd::daemon=off,info", false), ("vipd=error", true)] {
        let out = Command::new(VIPD)
            .args(["run", "-c", missing.to_str().unwrap()])
            .env("VIPD_LOG", filter)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("VIPD_LOG"), "{filter}: {err}");
        assert_eq!(err.contains("missing.yaml"), shown, "{filter}: {err}");
    }
}

#[test]
fn a_fresh_machine_finds_what_it_needs_in_the_readme() {
    let readme = include_str!("../README.md");
    let config = include_str!("../docs/configuration.md");
    // The Rust the README asks for is the one Cargo.toml requires.
    let msrv = env!("CARGO_PKG_RUST_VERSION");
    assert!(!msrv.is_empty(), "Cargo.toml sets rust-version");
    assert!(
        readme.contains(&format!("needs Rust {msrv} or newer")) && readme.contains("rustup"),
        "the README's quick start names Rust {msrv} and rustup"
    );
    // The config goes to /etc/vipd, and VRRP is let through the firewall.
    for needle in [
        "/etc/vipd/vipd.yaml",
        "meta l4proto 112 accept",
        "-p vrrp -j ACCEPT",
        "vipd check /etc/vipd/vipd.yaml",
    ] {
        assert!(readme.contains(needle), "README lacks {needle:?}");
    }
    // The README's test command is what CI runs, and it installs what the tests need.
    let ci = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    let script =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test")).unwrap();
    assert!(readme.contains("\nscripts/test\n"), "README's test command");
    assert!(ci.lines().any(|l| l.trim() == "scripts/test"), "{ci}");
    assert!(script.contains("apt-get install") && script.contains("cargo test --locked"));
    // `listen` is served today.
    let listen = config
        .lines()
        .find(|l| l.starts_with("| `listen` |"))
        .unwrap();
    assert!(!listen.contains("reserved"), "{listen}");
}

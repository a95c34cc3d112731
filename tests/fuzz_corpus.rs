//! Replays every fuzz corpus file and every crash regression file (fuzz/corpus/<target>/,
//! fuzz/regressions/<target>/) through the same harness bodies the cargo-fuzz targets run
//! (`vipd::fuzzing`), on the stable toolchain without libFuzzer. A regression file is an
//! input that once broke a property; it must pass now. See docs/reliability.md.

use std::path::{Path, PathBuf};

fn files(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut v = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_file() {
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

fn replay(target: &str, min: usize, harness: fn(&[u8])) {
    let fs = files(target);
    assert!(
        fs.len() >= min,
        "fuzz/corpus/{target}: {} files, expected at least {min}",
        fs.len()
    );
    for f in fs {
        let data = std::fs::read(&f).unwrap();
        let r = std::panic::catch_unwind(|| harness(&data));
        assert!(r.is_ok(), "{}: the harness panicked", f.display());
    }
}

#[test]
fn advert_corpus() {
    replay("advert", 7, vipd::fuzzing::advert);
}

#[test]
fn config_yaml_corpus() {
    replay("config_yaml", 5, vipd::fuzzing::config_yaml);
}

#[test]
fn keepalived_corpus() {
    replay("keepalived", 20, vipd::fuzzing::keepalived);
}

#[test]
fn http_corpus() {
    replay("http", 5, vipd::fuzzing::http);
}

#[test]
fn core_corpus() {
    replay("core", 7, vipd::fuzzing::core);
}

/// The harnesses can fail: a broken property panics (a harness that accepts everything
/// would make the corpus replay worthless).
#[test]
fn harnesses_detect_broken_properties() {
    // A master's address removed by hand and never put back would break "master holds its
    // address"; here the world is asked directly whether a backup holding an address is caught.
    let mut w = vipd::fuzzing::three_routers(3);
    w.settle().unwrap();
    w.nodes[2]
        .held
        .insert(std::net::IpAddr::V4(vipd::fuzzing::VIP));
    let v = w.check().unwrap_err();
    assert!(v.contains("not master"), "{v}");
    // A response that is not HTTP would be caught by the http property.
    let out = vipd::observe::fuzz_exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

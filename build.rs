//! Build facts for `vipd_build_info` (src/observe): the git revision of the source tree and
//! the version of the compiler, as `VIPD_REVISION` and `VIPD_RUSTC_VERSION`.
//!
//! The revision comes from `git rev-parse` when the source is a git checkout (a clone or a
//! worktree); from a tarball without `.git`, or without git installed, it is "unknown". A
//! `VIPD_REVISION` set in the environment of the build wins (packagers building from a tarball
//! can pass the revision they packaged).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=VIPD_REVISION");
    let revision = match std::env::var("VIPD_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=VIPD_REVISION={revision}");
    println!("cargo:rustc-env=VIPD_RUSTC_VERSION={}", rustc_version());
}

/// Output of a command when it ran and succeeded, trimmed; `None` otherwise.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Short hash of HEAD. Asks cargo to rerun this script when HEAD moves (a commit, a checkout,
/// a fetch that packs refs).
fn git_revision() -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let git = |args: &[&str]| output(Command::new("git").arg("-C").arg(&dir).args(args));
    // Only the checkout vipd itself lives in: not a parent repository that happens to contain
    // an unpacked tarball.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != Path::new(&dir).canonicalize().ok()? {
        return None;
    }
    for file in ["HEAD", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", file]) {
            let p = Path::new(&dir).join(p);
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    // The branch HEAD points at (a commit changes the ref, not HEAD itself).
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(p) = git(&["rev-parse", "--git-path", &r])
    {
        println!(
            "cargo:rerun-if-changed={}",
            Path::new(&dir).join(p).display()
        );
    }
    git(&["rev-parse", "--short=12", "HEAD"])
}

/// `rustc --version` of the compiler cargo builds with (cargo sets `RUSTC`), e.g.
/// "rustc 1.89.0 (29483883e 2025-08-04)"; the bare version number is exported.
fn rustc_version() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    output(Command::new(rustc).arg("--version"))
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

//! The Debian package: `cargo deb` (cargo-deb, installed by .ci/run) builds it from
//! `[package.metadata.deb]`, the test unpacks it into a scratch root with `dpkg -x` and checks
//! what an operator gets: the binary (runs), the systemd unit, the example configuration as
//! a conffile, dashboards and alerts, docs, and a postinst creating the `vipd` system user
//! (idempotent). Fails (never skips) when cargo-deb or dpkg is missing.
//!
//! The package ships the static musl build (README, "Two builds": no shared libraries, under
//! 8 MB resident at 250 instances), so the test builds it as the README says, `cargo deb
//! --target x86_64-unknown-linux-musl` (rustup's musl target and Debian's `musl-tools`, which
//! scripts/test installs), checks that the executable is static, and runs it in a lab as the
//! unit runs it: as an unprivileged user with two capabilities, a check script with a `user:`
//! (resolved from /etc/passwd without glibc's NSS), /metrics, a SIGTERM
//! handover to a peer (the test build of vipd).
//!
//! The release build goes to `target/package` (its own target directory, so it neither waits
//! on nor invalidates the test build); the first run takes a few minutes, later ones seconds.

mod labkit;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use labkit::{Lab, wait_for};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The target the package is built for (README, "Two builds").
const TARGET: &str = "x86_64-unknown-linux-musl";

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds the .deb into `dir` and returns its path.
fn build_deb(dir: &Path) -> PathBuf {
    let has_cargo_deb = Command::new(cargo())
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_cargo_deb,
        "cargo-deb is missing: install it with `cargo install cargo-deb --locked` \
         (.ci/run does)"
    );
    for tool in ["dpkg", "dpkg-deb"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "the package test needs `{tool}` (Debian's dpkg package)"
        );
    }
    let started = std::time::Instant::now();
    run(Command::new(cargo())
        .args(["deb", "--locked", "--target", TARGET, "--output"])
        .arg(dir)
        .env("CARGO_TARGET_DIR", Path::new(ROOT).join("target/package"))
        .current_dir(ROOT));
    eprintln!("cargo deb took {:?}", started.elapsed());
    let debs: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "one .deb in {}: {debs:?}", dir.display());
    debs.into_iter().next().unwrap()
}

fn repo_file(rel: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn deb_package_installs_what_an_operator_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let deb = build_deb(&tmp.path().join("out"));
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("vipd_{VERSION}-1_")),
        "package file name: {name}"
    );

    // Control information.
    let info = run(Command::new("dpkg").arg("-I").arg(&deb));
    assert!(info.contains("Package: vipd"), "{info}");
    assert!(info.contains(&format!("Version: {VERSION}-1")), "{info}");
    let depends = info
        .lines()
        .find(|l| l.trim_start().starts_with("Depends:"))
        .unwrap_or_else(|| panic!("no Depends: {info}"));
    assert!(
        depends.contains("adduser"),
        "postinst uses adduser: {depends}"
    );
    let conffiles = run(Command::new("dpkg").arg("-I").arg(&deb).arg("conffiles"));
    assert_eq!(
        conffiles.lines().map(str::trim).collect::<Vec<_>>(),
        ["/etc/vipd/vipd.yaml"],
        "conffiles"
    );
    let postinst = run(Command::new("dpkg").arg("-I").arg(&deb).arg("postinst"));
    assert!(
        postinst.contains("adduser --system --group --no-create-home"),
        "{postinst}"
    );
    assert!(
        !postinst.contains("#DEBHELPER#") && postinst.contains("deb-systemd-helper"),
        "cargo-deb fills in its systemd snippet"
    );
    // One snippet per unit: vipd.service and vipd-monitor.service, neither enabled.
    assert_eq!(
        postinst.matches("deb-systemd-helper update-state").count(),
        2,
        "one snippet per unit: {postinst}"
    );
    for unit in ["vipd.service", "vipd-monitor.service"] {
        assert!(postinst.contains(unit), "no snippet for {unit}: {postinst}");
    }
    let pi = tmp.path().join("postinst");
    fs::write(&pi, &postinst).unwrap();
    run(Command::new("sh").arg("-n").arg(&pi));

    // File list: owners and modes.
    let list = run(Command::new("dpkg").arg("-c").arg(&deb));
    let entry = |path: &str| {
        list.lines()
            .find(|l| l.ends_with(&format!(" .{path}")))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{list}"))
            .to_owned()
    };
    let bin = entry("/usr/bin/vipd");
    let owned_by_root = |e: &str| e.contains(" root/root ") || e.contains(" 0/0 ");
    assert!(
        bin.starts_with("-rwxr-xr-x ") && owned_by_root(&bin),
        "{bin}"
    );
    for f in [
        "/usr/lib/systemd/system/vipd.service",
        "/usr/lib/systemd/system/vipd-monitor.service",
        "/usr/share/vipd/vipd-monitor.rules.yml",
        "/etc/vipd/vipd.yaml",
        "/usr/share/vipd/vipd.json",
        "/usr/share/vipd/vipd-monitor.json",
        "/usr/share/vipd/vipd.rules.yml",
        "/usr/share/doc/vipd/README.md",
        "/usr/share/doc/vipd/configuration.md",
        "/usr/share/doc/vipd/runbook.md",
        "/usr/share/doc/vipd/copyright",
    ] {
        let e = entry(f);
        assert!(e.starts_with("-rw-r--r-- ") && owned_by_root(&e), "{e}");
    }

    // Unpacked into a scratch root.
    let root = tmp.path().join("root");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root));
    let bin = root.join("usr/bin/vipd");
    let mode = fs::metadata(&bin).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "executable: {mode:o}");
    let v = run(Command::new(&bin).arg("--version"));
    assert_eq!(v.trim(), format!("vipd {VERSION}"));
    // Static: no program interpreter, no shared library (binutils' readelf judges).
    let elf = run(Command::new("readelf").args(["-l", "-d", "-W"]).arg(&bin));
    assert!(
        !elf.contains("INTERP") && !elf.contains("(NEEDED)"),
        "the packaged vipd is not static:\n{elf}"
    );

    check_man_and_completions(&root);
    for f in [
        "/usr/share/vipd/checks/check_nginx",
        "/usr/share/vipd/checks/check_haproxy",
    ] {
        let e = entry(f);
        assert!(e.starts_with("-rwxr-xr-x ") && owned_by_root(&e), "{e}");
    }

    let monitor_unit =
        fs::read_to_string(root.join("usr/lib/systemd/system/vipd-monitor.service")).unwrap();
    assert_eq!(monitor_unit, repo_file("packaging/vipd-monitor.service"));
    let unit = fs::read_to_string(root.join("usr/lib/systemd/system/vipd.service")).unwrap();
    assert_eq!(unit, repo_file("packaging/vipd.service"));
    assert!(
        unit.lines()
            .any(|l| l.starts_with("ExecStart=/usr/bin/vipd run")),
        "the unit starts the packaged binary:\n{unit}"
    );
    assert!(unit.contains("User=vipd"), "the user postinst creates");

    let cfg = root.join("etc/vipd/vipd.yaml");
    assert_eq!(
        fs::read_to_string(&cfg).unwrap(),
        repo_file("config/vipd.yaml")
    );
    // The packaged binary accepts the packaged example configuration.
    run(Command::new(&bin).arg("check").arg("-c").arg(&cfg));
    packaged_binary_finds_users_known_only_through_nss(tmp.path(), &bin);
    packaged_binary_runs_as_the_unit_runs_it(tmp.path(), &bin);

    for (installed, source) in [
        ("usr/share/vipd/vipd.json", "dashboards/vipd.json"),
        (
            "usr/share/vipd/vipd-monitor.json",
            "dashboards/vipd-monitor.json",
        ),
        ("usr/share/vipd/vipd.rules.yml", "alerts/vipd.rules.yml"),
        ("usr/share/doc/vipd/README.md", "README.md"),
    ] {
        assert_eq!(
            fs::read_to_string(root.join(installed)).unwrap(),
            repo_file(source),
            "{installed}"
        );
    }
    // Every doc page is shipped.
    for e in fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .flatten()
    {
        let n = e.file_name();
        if n.to_string_lossy().ends_with(".md") {
            assert!(
                root.join("usr/share/doc/vipd").join(&n).is_file(),
                "docs/{} missing from /usr/share/doc/vipd",
                n.to_string_lossy()
            );
        }
    }
}

const S: Duration = Duration::from_secs(1);

/// musl reads only /etc/passwd; a user the host knows through NSS (here Debian's
/// libnss-extrausers, standing in for LDAP or sssd: a real NSS module with its own passwd
/// file) must resolve as with glibc, through the host's `getent`. The NSS setup lives in a
/// private mount namespace (`unshare --mount`), so the host's files are not touched.
fn packaged_binary_finds_users_known_only_through_nss(tmp: &Path, bin: &Path) {
    assert!(
        Path::new("/var/lib/extrausers").is_dir(),
        "the package test needs Debian's libnss-extrausers (scripts/test installs it)"
    );
    let dir = tmp.join("nss");
    fs::create_dir_all(dir.join("extrausers")).unwrap();
    fs::write(
        dir.join("nsswitch.conf"),
        "passwd: files extrausers\ngroup: files extrausers\nshadow: files\n",
    )
    .unwrap();
    fs::write(
        dir.join("extrausers/passwd"),
        "vipdnss:x:64999:64999::/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    fs::write(dir.join("extrausers/group"), "vipdnss:x:64999:\n").unwrap();
    let config = |user: &str| {
        let p = dir.join(format!("{user}.yaml"));
        fs::write(
            &p,
            format!(
                "scripts:\n  me: {{command: [/bin/true], user: {user}}}\ninstances:\n  VI_1:\n    \
                 interface: lo\n    vrid: 71\n    virtual_ipaddress: [10.99.0.71/24]\n    \
                 track_scripts: [me]\n"
            ),
        )
        .unwrap();
        p
    };
    let check = |user: &str, with_nss: bool| {
        let cfg = config(user);
        let mut cmd = if with_nss {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-ec"])
                .arg(
                    "mount --bind \"$1/nsswitch.conf\" /etc/nsswitch.conf; \
                     mount --bind \"$1/extrausers\" /var/lib/extrausers; \
                     getent passwd vipdnss >/dev/null; exec \"$2\" check -c \"$3\"",
                )
                .arg("sh")
                .arg(&dir)
                .arg(bin)
                .arg(&cfg);
            c
        } else {
            let mut c = Command::new(bin);
            c.arg("check").arg("-c").arg(&cfg);
            c
        };
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{cmd:?}: {text}");
        text
    };
    let unknown = |text: &str, user: &str| text.contains(&format!("no user `{user}` on this host"));
    // Without the NSS module the name is unknown (so the check below can fail) ...
    assert!(unknown(&check("vipdnss", false), "vipdnss"));
    // ... with it, found; an unknown name is still reported.
    let found = check("vipdnss", true);
    assert!(!unknown(&found, "vipdnss"), "{found}");
    assert!(unknown(&check("vipdnsx", true), "vipdnsx"));
}

/// The lab part of the package test: the unpacked binary on host a, as the unit runs it
/// (uid 65534 with CAP_NET_RAW and CAP_NET_ADMIN, as tests/lab_process.rs does), master of
/// one address while its check script (`user: nobody`, resolved by name) passes; the test build of vipd on host b as the backup. SIGTERM hands the address to b.
fn packaged_binary_runs_as_the_unit_runs_it(tmp: &Path, bin: &Path) {
    labkit::require(&["setpriv", "curl"]);
    // The unprivileged user reaches the unpacked binary and the lab's files.
    fs::set_permissions(tmp, fs::Permissions::from_mode(0o755)).unwrap();
    let mut lab = Lab::new("pkg");
    fs::set_permissions(&lab.dir, fs::Permissions::from_mode(0o755)).unwrap();
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let yaml = |prio: u8, tracking: &str| {
        format!(
            "listen: \"127.0.0.1:9797\"\n{tracking}instances:\n  VI_1:\n    interface: eth0\n    \
             vrid: 71\n    priority: {prio}\n    advert_interval: 100ms\n    \
             virtual_ipaddress: [10.99.0.71/24]\n{}",
            if tracking.is_empty() {
                ""
            } else {
                "    track_scripts: [me]\n"
            }
        )
    };
    // The script passes only when it runs as nobody.
    let a_cfg = lab.file(
        "a.yaml",
        &yaml(
            150,
            "scripts:\n  me: {command: [/bin/sh, -c, 'test \"$(id -u)\" = 65534'], interval: 200ms, user: nobody}\n\
",
        ),
    );
    let b_cfg = lab.file("b.yaml", &yaml(100, ""));
    for f in [&a_cfg, &b_cfg] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let a_cfg = a_cfg.to_str().unwrap();
    let b_cfg = b_cfg.to_str().unwrap();
    let bin = bin.to_str().unwrap();
    let mut args = labkit::as_unit_user();
    args.extend([bin.into(), "run".into(), "-c".into(), a_cfg.into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = lab.spawn("a", "a.log", &args);
    let b = lab.spawn("b", "b.log", &[labkit::VIPD, "run", "-c", b_cfg]);
    lab.wait_holder(&["a", "b"], "10.99.0.71", "a", 10 * S);
    let metrics = |h: &str| lab.http_get(h, "/metrics");
    wait_for(5 * S, "a's script healthy", || {
        metrics("a").contains("vrrp_script_healthy{script=\"me\"} 1")
    });
    let m = metrics("a");
    assert!(
        m.contains("vrrp_script_user_denied_total{script=\"me\"} 0"),
        "user: nobody honoured: {m}"
    );
    lab.signal(a, "TERM");
    lab.wait_holder(&["a", "b"], "10.99.0.71", "b", 5 * S);
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0), "{}", lab.log("a.log"));
    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(b, 10 * S), Some(0), "{}", lab.log("b.log"));
}

/// The postinst's own part (not cargo-deb's systemd snippet), run against stub `getent` and
/// `adduser`: creates user and group once, again is a no-op, and copes with an existing group.
#[test]
fn postinst_creates_the_user_once() {
    let tmp = tempfile::tempdir().unwrap();
    let stubs = tmp.path().join("bin");
    fs::create_dir(&stubs).unwrap();
    let state = tmp.path().join("state");
    let calls = tmp.path().join("calls");
    let stub = |name: &str, body: &str| {
        let p = stubs.join(name);
        fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    // getent DB NAME: known when "DB NAME" is a line of $STATE.
    stub("getent", "grep -qx \"$1 $2\" \"$STATE\"");
    stub(
        "adduser",
        "echo \"$*\" >> \"$CALLS\"\nfor u; do :; done\necho \"passwd $u\" >> \"$STATE\"\n\
         case \" $* \" in *\" --group \"*) echo \"group $u\" >> \"$STATE\";; esac",
    );
    let script = Path::new(ROOT).join("packaging/debian/postinst");
    let configure = || {
        run(Command::new("sh")
            .arg(&script)
            .arg("configure")
            .env("PATH", format!("{}:/usr/bin:/bin", stubs.to_string_lossy()))
            .env("STATE", &state)
            .env("CALLS", &calls));
    };

    fs::write(&state, "").unwrap();
    configure();
    configure();
    let c = fs::read_to_string(&calls).unwrap();
    assert_eq!(c.lines().count(), 1, "adduser once: {c}");
    assert!(
        c.starts_with("--system --group --no-create-home"),
        "a system user with its own group, no home: {c}"
    );
    assert!(c.trim_end().ends_with(" vipd"), "{c}");

    // The group exists already (e.g. made by hand): the user joins it.
    fs::write(&state, "group vipd\n").unwrap();
    fs::write(&calls, "").unwrap();
    configure();
    configure();
    let c = fs::read_to_string(&calls).unwrap();
    assert_eq!(c.lines().count(), 1, "adduser once: {c}");
    assert!(c.contains("--ingroup vipd"), "{c}");

    // Other actions (abort-upgrade, ...) touch nothing.
    fs::write(&state, "").unwrap();
    fs::write(&calls, "").unwrap();
    run(Command::new("sh")
        .arg(&script)
        .arg("abort-upgrade")
        .env("PATH", format!("{}:/usr/bin:/bin", stubs.to_string_lossy()))
        .env("STATE", &state)
        .env("CALLS", &calls));
    assert_eq!(fs::read_to_string(&calls).unwrap(), "");
}

/// The installed path of a man page: cargo-deb may compress it.
fn man_page(root: &Path, name: &str) -> PathBuf {
    let dir = root.join("usr/share/man/man1");
    for candidate in [format!("{name}.gz"), name.to_owned()] {
        let p = dir.join(&candidate);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} not in {}", dir.display());
}

/// Man pages render (man -l, else groff, else the troff header is checked) and the shell
/// completions are where bash-completion, zsh and fish look for them.
fn check_man_and_completions(root: &Path) {
    for sub in [
        "",
        "-run",
        "-check",
        "-status",
        "-monitor",
        "-import-keepalived",
    ] {
        let page = man_page(root, &format!("vipd{sub}.1"));
        let has = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let text = if has("man") {
            run(Command::new("man")
                .arg("-l")
                .arg(&page)
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100"))
        } else {
            let raw = run(Command::new("zcat").arg("-f").arg(&page));
            if has("groff") {
                let f = root.join("page.1");
                fs::write(&f, &raw).unwrap();
                run(Command::new("groff").args(["-man", "-Tutf8"]).arg(&f))
            } else {
                assert!(raw.contains(".TH vipd"), "{raw}");
                raw
            }
        };
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(text.contains(&format!("vipd{sub}")), "{text}");
        if sub.is_empty() {
            assert!(
                text.contains("SUBCOMMANDS") && text.contains("vipd-run(1)"),
                "{text}"
            );
        }
        if sub == "-status" {
            assert!(text.contains("--cacert"), "{text}");
        }
    }
    for (installed, source) in [
        (
            "usr/share/bash-completion/completions/vipd",
            "packaging/completions/vipd.bash",
        ),
        (
            "usr/share/zsh/vendor-completions/_vipd",
            "packaging/completions/_vipd",
        ),
        (
            "usr/share/fish/vendor_completions.d/vipd.fish",
            "packaging/completions/vipd.fish",
        ),
    ] {
        let got =
            fs::read_to_string(root.join(installed)).unwrap_or_else(|e| panic!("{installed}: {e}"));
        assert_eq!(got, repo_file(source), "{installed}");
    }
    // The bash script parses, and completes the subcommands.
    let bash = root.join("usr/share/bash-completion/completions/vipd");
    run(Command::new("bash").arg("-n").arg(&bash));
    let words = run(Command::new("bash").arg("-c").arg(format!(
        "source {}; COMP_WORDS=(vipd st); COMP_CWORD=1; COMP_LINE='vipd st'; COMP_POINT=7; _vipd vipd st vipd; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bash.display()
    )));
    assert!(words.lines().any(|w| w == "status"), "{words}");
}

/// The man pages and completions in packaging/ are what `vipd generate` makes from the
/// current command line (regenerate: `vipd generate man packaging/man` and
/// `vipd generate completions bash > packaging/completions/vipd.bash`, likewise `zsh` to
/// `_vipd` and `fish` to `vipd.fish`).
#[test]
fn shipped_man_pages_and_completions_are_current() {
    let vipd = env!("CARGO_BIN_EXE_vipd");
    let tmp = tempfile::tempdir().unwrap();
    run(Command::new(vipd).args(["generate", "man"]).arg(tmp.path()));
    let mut generated: Vec<String> = fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    let mut shipped: Vec<String> = fs::read_dir(Path::new(ROOT).join("packaging/man"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    shipped.sort();
    assert_eq!(generated, shipped, "regenerate packaging/man");
    for name in &generated {
        assert_eq!(
            fs::read_to_string(tmp.path().join(name)).unwrap(),
            repo_file(&format!("packaging/man/{name}")),
            "packaging/man/{name} is stale: run `vipd generate man packaging/man`"
        );
    }
    let stdout_page = run(Command::new(vipd).args(["generate", "man"]));
    assert!(
        stdout_page.contains(".TH vipd 1") && stdout_page.contains("vipd\\-run(1)"),
        "{stdout_page}"
    );
    for (shell, file) in [
        ("bash", "vipd.bash"),
        ("zsh", "_vipd"),
        ("fish", "vipd.fish"),
    ] {
        assert_eq!(
            run(Command::new(vipd).args(["generate", "completions", shell])),
            repo_file(&format!("packaging/completions/{file}")),
            "packaging/completions/{file} is stale: run `vipd generate completions {shell}`"
        );
    }
}

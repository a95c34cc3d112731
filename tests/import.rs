//! `vipd import-keepalived`: realistic keepalived.conf files (tests/fixtures/keepalived/) are
//! translated, the YAML passes vipd's own validation, and the values that decide the election
//! (priority, version, interval, weights, argv, ...) come out as keepalived reads them. What
//! cannot be translated is listed with its line and changes the exit status. No root needed.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vipd::config::{
    Config, Family, InstanceConfig, TrackFile, TrackInterface, TrackScript, Version,
};
use vipd::import::{self, ImportError, lexer};

const VIPD: &str = env!("CARGO_BIN_EXE_vipd");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(rel)
}

/// Translates a fixture, checks the YAML with `parse_str`, returns the config and translation.
fn translate(rel: &str) -> (Config, import::Translation) {
    let t = import::import_file(&fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let loaded = vipd::config::parse_str(&t.yaml, rel)
        .unwrap_or_else(|d| panic!("{rel}: vipd rejects the translation: {d:?}\n{}", t.yaml));
    (loaded.config, t)
}

fn inst<'a>(c: &'a Config, name: &str) -> &'a InstanceConfig {
    c.instances
        .get(name)
        .unwrap_or_else(|| panic!("no instance {name}: {:?}", c.instances.keys()))
}

fn vips(i: &InstanceConfig) -> Vec<String> {
    i.virtual_ipaddress
        .iter()
        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
        .collect()
}

fn argv(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

/// Runs the command; returns (exit status, stdout, stderr).
fn cli(path: &Path) -> (i32, String, String) {
    let out = Command::new(VIPD)
        .arg("import-keepalived")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn master_backup_with_pass_auth_and_weighted_check_script() {
    for (host, prio, flag) in [("lb1", 100, "lb1.down"), ("lb2", 150, "lb2.down")] {
        let (c, t) = translate(&format!("master-backup/{host}.conf"));
        assert!(t.is_complete(), "{:?}", t.untranslated);
        assert_eq!(c.router_id, host);
        let s = &c.scripts["chk_haproxy"];
        assert_eq!(
            Some(s.command.clone()),
            argv(&[
                "/usr/bin/test",
                "!",
                "-e",
                &format!("/tmp/vipd-import-lab/{flag}")
            ])
        );
        assert_eq!(s.weight, -60);
        assert_eq!((s.interval, s.timeout), (ms(1000), ms(1000)));
        assert_eq!((s.rise, s.fall), (1, 1));
        assert_eq!(s.user.as_deref(), Some("root"), "global script_user");
        let i = inst(&c, "VI_WEB");
        assert_eq!(i.interface, "eth0");
        assert_eq!(i.vrid, 71);
        assert_eq!(i.priority, prio);
        assert_eq!(i.version, Version::V2, "keepalived's default version");
        assert_eq!(i.advert_interval, ms(1000));
        assert!(i.preempt);
        assert_eq!(i.auth_pass.as_ref().map(|p| p.as_str()), Some("s3cret"));
        assert_eq!(vips(i), ["10.99.0.71/24"]);
        assert_eq!(
            i.track_scripts,
            [TrackScript {
                name: "chk_haproxy".into(),
                weight: -60,
                reverse: false,
            }]
        );
        assert_eq!(
            i.notify.master,
            argv(&["/usr/bin/logger", "-t", "keepalived", "VI_WEB is master"])
        );
        assert_eq!(
            i.notify.backup,
            argv(&["/usr/bin/logger", "-t", "keepalived", "VI_WEB is backup"])
        );
        assert_eq!(i.garp.delay, ms(1000), "vrrp_garp_master_delay");
        assert_eq!(i.garp.repeat, 5, "keepalived's and vipd's default");
        // `state` is a hint, said so in a comment; `version` is always explicit.
        let state = if prio == 150 { "MASTER" } else { "BACKUP" };
        assert!(
            t.yaml.contains(&format!(
                "# keepalived `state {state}` ({host}.conf:21) is only a starting hint"
            )),
            "{}",
            t.yaml
        );
        assert!(t.yaml.contains("    version: 2"), "{}", t.yaml);
        assert!(
            t.notes
                .iter()
                .any(|n| n.keyword == "enable_script_security" && n.line == 6),
            "{:?}",
            t.notes
        );
    }
}

#[test]
fn dual_master_two_instances() {
    let (a, ta) = translate("dual-master/lb1.conf");
    let (b, tb) = translate("dual-master/lb2.conf");
    assert!(ta.is_complete() && tb.is_complete());
    for (c, p1, p2) in [(&a, 150, 100), (&b, 100, 150)] {
        assert_eq!(c.instances.len(), 2);
        let (i1, i2) = (inst(c, "VI_1"), inst(c, "VI_2"));
        assert_eq!((i1.vrid, i2.vrid), (81, 82));
        assert_eq!((i1.priority, i2.priority), (p1, p2));
        for i in [i1, i2] {
            assert_eq!(i.version, Version::V3, "global vrrp_version 3");
            assert_eq!(i.advert_interval, ms(200));
            assert_eq!(i.garp.delay, ms(1000));
            assert_eq!(i.garp.repeat, 3);
            assert!(i.track_interfaces.is_empty());
        }
        assert_eq!(vips(i1), ["10.99.0.81/24"]);
        assert_eq!(vips(i2), ["10.99.0.82/24"]);
    }
}

#[test]
fn unicast_peers_and_nopreempt() {
    for (host, prio, me, peer) in [
        ("lb1", 150, "10.99.0.11", "10.99.0.12"),
        ("lb2", 100, "10.99.0.12", "10.99.0.11"),
    ] {
        let (c, t) = translate(&format!("unicast/{host}.conf"));
        assert!(t.is_complete(), "{:?}", t.untranslated);
        let i = inst(&c, "VI_UC");
        assert_eq!(i.priority, prio);
        assert_eq!(i.version, Version::V3, "instance `version 3`");
        assert_eq!(i.advert_interval, ms(100));
        assert!(!i.preempt, "nopreempt");
        assert_eq!(i.unicast_src, Some(me.parse::<IpAddr>().unwrap()));
        assert_eq!(i.unicast_peers, [peer.parse::<IpAddr>().unwrap()]);
        assert_eq!(vips(i), ["10.99.0.91/24"]);
    }
}

#[test]
fn ipv6_version_3() {
    for (host, prio) in [("lb1", 100), ("lb2", 150)] {
        let (c, t) = translate(&format!("ipv6-v3/{host}.conf"));
        assert!(t.is_complete(), "{:?}", t.untranslated);
        let i = inst(&c, "VI_6");
        assert_eq!(i.family, Family::Ipv6);
        assert_eq!(i.version, Version::V3);
        assert_eq!(i.priority, prio);
        assert_eq!(i.advert_interval, ms(100));
        assert_eq!(i.preempt_delay, Duration::ZERO);
        assert_eq!(vips(i), ["fd00:99::96/64"]);
        assert_eq!(i.notify.any, argv(&["/usr/bin/logger", "-t", "keepalived"]));
    }
}

#[test]
fn includes_globs_comments_braces_one_line_blocks_and_quotes() {
    let (c, t) = translate("includes/keepalived.conf");
    assert!(t.is_complete(), "{:?}", t.untranslated);
    assert_eq!(c.router_id, "edge 01", "quoted, comment after it");
    // scripts/check_*.inc
    let web = &c.scripts["chk_web"];
    assert_eq!(
        Some(web.command.clone()),
        argv(&[
            "/usr/bin/curl",
            "-fsS",
            "--max-time",
            "1",
            "http://127.0.0.1/health check"
        ])
    );
    assert_eq!((web.interval, web.timeout), (ms(2000), ms(1000)));
    assert_eq!((web.rise, web.fall, web.weight), (2, 3, -30));
    assert_eq!(web.user.as_deref(), Some("nobody"));
    let db = &c.scripts["chk_db"];
    assert_eq!(
        Some(db.command.clone()),
        argv(&["/usr/bin/pg_isready", "-q", "-h", "db host"]),
        "a one-line vrrp_script block"
    );
    assert_eq!((db.interval, db.weight), (ms(1000), 0), "defaults");
    // conf.d/*.conf, in name order; .hidden.conf and README are not included.
    assert_eq!(
        c.instances.keys().collect::<Vec<_>>(),
        ["VI_DB", "VI_WEB"],
        "{}",
        t.yaml
    );
    let w = inst(&c, "VI_WEB");
    assert_eq!((w.vrid, w.priority), (51, 120));
    assert_eq!(w.version, Version::V2, "global vrrp_version 2");
    assert_eq!(w.auth_pass.as_ref().map(|p| p.as_str()), Some("pa ss"));
    assert_eq!(vips(w), ["10.99.1.10/24"]);
    assert_eq!(
        w.track_scripts,
        [TrackScript {
            name: "chk_web".into(),
            weight: -40,
            reverse: false,
        }],
        "the instance's weight overrides the script's"
    );
    assert_eq!(
        w.track_interfaces,
        [
            TrackInterface {
                name: "eth1".into(),
                weight: Some(-20),
                reverse: false,
            },
            TrackInterface {
                name: "eth2".into(),
                weight: None,
                reverse: false,
            }
        ]
    );
    assert_eq!(w.garp.repeat, 2);
    assert_eq!(
        w.garp.refresh,
        ms(60_000),
        "global vrrp_garp_master_refresh"
    );
    let d = inst(&c, "VI_DB");
    assert_eq!(d.priority, 100, "keepalived's default priority");
    assert_eq!(d.advert_interval, ms(3000));
    assert!(!d.preempt);
    assert_eq!(
        d.preempt_delay,
        Duration::ZERO,
        "keepalived resets preempt_delay with nopreempt"
    );
    assert!(
        t.notes.iter().any(|n| n.keyword == "preempt_delay"
            && n.line == 8
            && n.message.contains("nopreempt")),
        "{:?}",
        t.notes
    );
    assert_eq!(vips(d), ["10.99.1.20/24", "10.99.1.21/32"]);
    assert_eq!(
        d.track_scripts,
        [TrackScript {
            name: "chk_db".into(),
            weight: 0,
            reverse: false,
        }]
    );
    assert_eq!(d.track_files.len(), 1);
    assert_eq!(
        d.track_files[0].path,
        Path::new("/run/keepalived/db_weight")
    );
    assert_eq!(d.track_files[0].weight, 2);
    assert_eq!(
        d.notify.any,
        argv(&["/usr/local/bin/ka-notify.sh", "--cluster", "db main"])
    );
    assert_eq!(d.notify.fault, argv(&["/usr/local/bin/ka-fault.sh"]));
    // The include that matches nothing is a note (keepalived ignores it too): exit 0.
    let (code, out, err) = cli(&fixture("includes/keepalived.conf"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, t.yaml);
    assert!(
        err.contains(
            "includes/keepalived.conf:12: include: note: `missing/*.conf` matches no file"
        ),
        "{err}"
    );
}

#[test]
fn untranslated_items_are_listed_with_lines_and_exit_3() {
    let path = fixture("untranslated/keepalived.conf");
    let (code, out, err) = cli(&path);
    assert_eq!(code, 3, "{err}");
    let p = path.display().to_string();
    for (line, what) in [
        (3, "notification_email"),
        (6, "notification_email_from"),
        (7, "smtp_server"),
        (9, "vrrp_strict"),
        (44, "smtp_alert"),
        (61, "virtual_server 10.99.2.1"),
    ] {
        let want = format!("{p}:{line}: {what}: not translated: ");
        assert!(
            err.lines().any(|l| l.starts_with(&want)),
            "missing `{want}` in:\n{err}"
        );
    }
    // vrrp_strict (line 9) is applied as keepalived 2.2.7 applies it: the AH authentication
    // is dropped (strict mode sends none, before AH is even looked at) and `state MASTER`
    // below priority 255 starts as backup; each is a note at its line.
    for (line, what, says) in [
        (
            30,
            "authentication",
            "Strict mode does not support authentication",
        ),
        (
            25,
            "state MASTER",
            "State MASTER must match being address owner",
        ),
    ] {
        let want = format!("{p}:{line}: {what}: note: strict mode");
        assert!(
            err.lines()
                .any(|l| l.starts_with(&want) && l.contains(says)),
            "missing `{want}` ... `{says}` in:\n{err}"
        );
    }
    assert!(
        err.lines().any(|l| l.starts_with(&format!(
            "{p}:9: vrrp_strict: not translated: partly translated"
        )) && l.contains("accept mode off")),
        "{err}"
    );
    // Every finding line has the documented shape and a non-empty advice.
    let findings: Vec<&str> = err
        .lines()
        .filter(|l| {
            l.strip_prefix(&format!("{p}:"))
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(
        findings
            .iter()
            .filter(|l| l.contains(": not translated: "))
            .count(),
        6,
        "{err}"
    );
    // A label, another `dev`, excluded and static addresses are translated.
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{d:?}\n{out}"))
        .config;
    let a = inst(&c, "VI_A");
    assert_eq!(vips(a), ["10.99.2.1/24", "10.99.2.2/24"]);
    assert_eq!(a.virtual_ipaddress[0].label.as_deref(), Some("eth0:vip"));
    assert_eq!(a.virtual_ipaddress[1].dev.as_deref(), Some("eth1"));
    assert_eq!(
        a.virtual_ipaddress_excluded,
        [vipd::config::Vip::new("10.99.2.3".parse().unwrap(), 24)]
    );
    let s = &c.statics.addresses;
    assert_eq!(
        (s.len(), s[0].addr.to_string(), s[0].dev.as_deref()),
        (1, "10.99.3.1".to_owned(), Some("eth0"))
    );
    for l in &findings {
        let rest = l.strip_prefix(&format!("{p}:")).unwrap();
        let (n, rest) = rest.split_once(": ").unwrap();
        assert!(n.parse::<usize>().is_ok(), "{l}");
        let advice = rest
            .split_once(": not translated: ")
            .or_else(|| rest.split_once(": note: "))
            .map(|x| x.1);
        assert!(advice.is_some_and(|a| a.len() > 10), "{l}");
    }
    // The translation is still valid and keeps what maps.
    let c = vipd::config::parse_str(&out, "out").unwrap().config;
    assert_eq!(c.router_id, "LVS_A");
    let a = inst(&c, "VI_A");
    assert_eq!(
        vips(a),
        ["10.99.2.1/24", "10.99.2.2/24"],
        "the dev eth1 address is translated"
    );
    assert_eq!(a.auth_pass, None, "strict mode: no authentication");
    // chk_lvs has `weight 10 reverse`: translated reversed, never as a plain weight 10; VI_A
    // is in sync group VG_1 (no tracking weight), where keepalived 2.2.7 ignores a weighted
    // script, and so does vipd's validation for a reversed one.
    assert!(
        out.contains("    - name: chk_lvs\n      weight: 10\n      reverse: true\n"),
        "{out}"
    );
    assert!(a.track_scripts.is_empty());
    assert_eq!(inst(&c, "VI_B").priority, 150);
    // The sync group is translated now.
    assert_eq!(c.sync_groups["VG_1"].instances, ["VI_A", "VI_B"]);
    assert!(
        out.contains("# NOT TRANSLATED (6 items"),
        "the YAML says so too: {out}"
    );
}

/// Writes `text` to a temporary keepalived.conf and translates it.
fn import_text(text: &str) -> (tempfile::TempDir, Result<import::Translation, ImportError>) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let r = import::import_file(&p);
    (dir, r)
}

const MINIMAL: &str = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n virtual_ipaddress {\n  10.99.0.7/24\n }\n}\n";

#[test]
fn minimal_instance_gets_keepalived_defaults_explicitly() {
    let (_d, r) = import_text(MINIMAL);
    let t = r.unwrap();
    assert!(t.is_complete());
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    let i = inst(&c, "VI_1");
    assert_eq!(i.version, Version::V2, "keepalived's default, not vipd's 3");
    assert_eq!((i.priority, i.advert_interval), (100, ms(1000)));
    assert!(t.yaml.contains("version: 2"));
    assert!(t.yaml.contains("priority: 100"));
}

#[test]
fn comments_after_values_and_quotes_keep_comment_characters() {
    let text = "global_defs { router_id \"a#b!c\" }   # trailing\n\
                vrrp_instance VI_1 { ! bang comment\n interface eth0 # here\n virtual_router_id 9! no space\n priority 120#x\n virtual_ipaddress { 10.99.0.9 } # done\n}\n";
    let (_d, r) = import_text(text);
    let t = r.unwrap();
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    assert_eq!(c.router_id, "a#b!c");
    let i = inst(&c, "VI_1");
    assert_eq!((i.vrid, i.priority), (9, 120));
    assert_eq!(vips(i), ["10.99.0.9/32"]);
}

#[test]
fn several_keywords_on_one_line_are_read_as_keepalived_reads_them() {
    // keepalived 2.2.7 takes one keyword per line: `auth_pass` here is ignored, so it runs
    // without authentication; the import does the same and says so.
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n authentication { auth_type PASS auth_pass 1111 }\n virtual_ipaddress { 10.99.0.9 10.99.0.10 }\n}\n";
    let (_d, r) = import_text(text);
    let t = r.unwrap();
    assert!(!t.is_complete());
    let kws: Vec<(usize, &str)> = t
        .untranslated
        .iter()
        .map(|f| (f.line, f.keyword.as_str()))
        .collect();
    assert!(kws.contains(&(4, "auth_type")), "{kws:?}");
    assert!(kws.contains(&(4, "authentication")), "{kws:?}");
    assert!(kws.contains(&(5, "virtual_ipaddress 10.99.0.9")), "{kws:?}");
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    let i = inst(&c, "VI_1");
    assert_eq!(i.auth_pass, None);
    assert_eq!(vips(i), ["10.99.0.9/32"]);
}

#[test]
fn shell_syntax_in_a_script_runs_through_sh() {
    let text = "vrrp_script chk { script \"pidof nginx || exit 1\"\n}\n".to_owned() + MINIMAL;
    let (_d, r) = import_text(&text);
    let t = r.unwrap();
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    assert_eq!(
        Some(c.scripts["chk"].command.clone()),
        argv(&["/bin/sh", "-c", "pidof nginx || exit 1"])
    );
    assert!(t.notes.iter().any(|n| n.keyword == "script" && n.line == 1));
}

/// `advert_int TEXT` in MINIMAL (line 3), with `version V`; returns (interval, exit, stderr).
fn advert(text: &str, version: u8) -> (Duration, i32, String) {
    let conf = MINIMAL.replace(
        " interface eth0\n",
        &format!(" interface eth0\n advert_int {text}\n version {version}\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, conf).unwrap();
    let (code, out, err) = cli(&p);
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{text}: {d:?}\n{err}"))
        .config;
    (inst(&c, "VI_1").advert_interval, code, err)
}

#[test]
fn advert_int_is_rounded_and_clamped_as_keepalived_2_2_7_does_and_said_on_stderr() {
    // keepalived 2.2.7: v2 to the nearest second (halves up, at least 1 s); v3 to the nearest
    // 10 ms and at most 40.95 s; outside 0.01..255 s the value is ignored (default 1 s).
    for (text, v, want) in [
        ("1.2", 2, 1000),
        ("2.4", 2, 2000),
        ("2.5", 2, 3000),
        ("0.5", 2, 1000),
        ("0.014", 2, 1000),
        ("0.014", 3, 10),
        ("0.015", 3, 20),
        ("41", 3, 40_950),
        ("0", 2, 1000),
        ("0", 3, 1000),
        ("300", 2, 1000),
    ] {
        let (got, code, err) = advert(text, v);
        assert_eq!(got, ms(want), "advert_int {text} version {v}: {err}");
        assert_eq!(code, 0, "what keepalived runs is what vipd runs: {err}");
        assert!(
            err.lines()
                .any(|l| l.contains("keepalived.conf:3: advert_int: note: ")),
            "advert_int {text} version {v}: what was done is on stderr: {err}"
        );
    }
    // As written: nothing said.
    for (text, v, want) in [("3", 2, 3000), ("0.25", 3, 250)] {
        let (got, code, err) = advert(text, v);
        assert_eq!((got, code), (ms(want), 0));
        assert!(!err.contains("advert_int"), "{err}");
    }
    // keepalived would run 40.96 s and advertise 0 centiseconds: not exact, listed, exit 3.
    let (got, code, err) = advert("40.955", 3);
    assert_eq!((got, code), (ms(40_950), 3), "{err}");
    assert!(
        err.contains("keepalived.conf:3: advert_int: not translated: "),
        "{err}"
    );
}

/// keepalived's `weight N reverse` on scripts, files, processes and interfaces, and the
/// item's `noreverse` overriding the definition's, translate to `reverse` on the entries.
#[test]
fn weight_reverse_tracking_items_translate_to_reverse() {
    let text = "\
vrrp_script chk_up {
  script /bin/true
  weight -20 reverse
}
vrrp_script chk_plain {
  script /bin/true
  weight -10
}
vrrp_track_file tf_rev {
  file /run/tf_rev
  weight 5 reverse
}
vrrp_track_file tf_plain {
  file /run/tf_plain
}
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 7
 virtual_ipaddress {
  10.99.0.7/24
 }
 track_script {
  chk_plain weight -30 reverse
  chk_up
 }
 track_interface {
  eth1 weight -20 reverse
  eth2 weight -20
  eth3 weight 254
  eth4 weight 0 reverse
 }
 track_file {
  tf_rev
  tf_plain weight 3 reverse
 }
}
";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("reverse"), "{err}");
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    let i = inst(&c, "VI_1");
    assert_eq!(
        i.track_scripts,
        [
            TrackScript {
                name: "chk_plain".into(),
                weight: -30,
                reverse: true,
            },
            TrackScript {
                name: "chk_up".into(),
                weight: -20,
                reverse: true,
            }
        ],
        "the item's own reverse, and chk_up's from its definition: {out}"
    );
    assert_eq!(
        i.track_files,
        [
            TrackFile {
                path: "/run/tf_rev".into(),
                weight: 5,
                reverse: true,
            },
            TrackFile {
                path: "/run/tf_plain".into(),
                weight: 3,
                reverse: true,
            }
        ],
        "{out}"
    );
    assert_eq!(
        i.track_interfaces,
        [
            TrackInterface {
                name: "eth1".into(),
                weight: Some(-20),
                reverse: true,
            },
            TrackInterface {
                name: "eth2".into(),
                weight: Some(-20),
                reverse: false,
            },
            TrackInterface {
                name: "eth3".into(),
                weight: Some(253),
                reverse: false,
            },
            TrackInterface {
                name: "eth4".into(),
                weight: Some(0),
                reverse: true,
            }
        ],
        "254 is 253 as keepalived 2.2.7 makes it"
    );
    assert!(
        err.contains("keepalived.conf:29: track_interface eth3 weight: note: "),
        "{err}"
    );
    // `noreverse` on the item overrides the definition's `reverse`; `reverse` not after
    // `weight N` makes keepalived ignore the entry ("unknown track script option").
    let text = text
        .replace("  chk_up\n", "  chk_up weight -5 noreverse\n")
        .replace("  chk_plain weight -30 reverse\n", "  chk_plain reverse\n");
    std::fs::write(&p, &text).unwrap();
    let (_, out, err) = cli(&p);
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    assert_eq!(
        inst(&c, "VI_1").track_scripts,
        [TrackScript {
            name: "chk_up".into(),
            weight: -5,
            reverse: false,
        }],
        "{err}"
    );
    assert!(
        err.contains("keepalived.conf:23: track_script chk_plain: not translated: keepalived ignores this entry"),
        "{err}"
    );
    // The YAML reads back as it was written: a reversed entry carries `reverse: true`, and
    // chk_up's definition (reverse in keepalived) does not turn its `noreverse` entry around.
    assert!(!out.contains("reverse: false"), "{out}");
}

/// An instance (lines 1..) with the given extra lines after `interface eth0` (line 2).
fn instance_with(extra: &str) -> (InstanceConfig, i32, String) {
    let conf = MINIMAL.replace(" interface eth0\n", &format!(" interface eth0\n{extra}"));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, conf).unwrap();
    let (code, out, err) = cli(&p);
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{extra}: {d:?}\n{err}"))
        .config;
    (inst(&c, "VI_1").clone(), code, err)
}

#[test]
fn state_master_clears_nopreempt_and_preempt_delay_as_keepalived_2_2_7_does() {
    let (i, code, err) =
        instance_with(" state MASTER\n priority 150\n nopreempt\n preempt_delay 30\n");
    assert_eq!(code, 0, "translated as keepalived runs it: {err}");
    assert!(i.preempt, "keepalived clears nopreempt with state MASTER");
    assert_eq!(i.preempt_delay, Duration::ZERO, "and preempt_delay");
    for (line, kw, says) in [
        (
            5,
            "nopreempt",
            "(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing",
        ),
        (
            6,
            "preempt_delay",
            "(VI_1) Warning - preempt delay will not work with initial state MASTER - clearing",
        ),
    ] {
        let l = err
            .lines()
            .find(|l| l.contains(&format!("keepalived.conf:{line}: {kw}: note: ")))
            .unwrap_or_else(|| panic!("no note for {kw}: {err}"));
        assert!(l.contains(says), "{l}");
    }
    // state BACKUP keeps both (nopreempt then resets preempt_delay, as in keepalived).
    let (i, _, err) = instance_with(" state BACKUP\n nopreempt\n");
    assert!(!i.preempt, "{err}");
    let (i, _, err) = instance_with(" state BACKUP\n preempt_delay 30\n");
    assert_eq!((i.preempt, i.preempt_delay), (true, ms(30_000)), "{err}");
    let (i, _, err) = instance_with(" state BACKUP\n nopreempt\n preempt_delay 30\n");
    assert_eq!(
        (i.preempt, i.preempt_delay),
        (false, Duration::ZERO),
        "{err}"
    );
    assert!(
        err.contains("preempt_delay is incompatible with nopreempt mode"),
        "{err}"
    );
    // `state BACKUP` after `state MASTER` is ignored by keepalived.
    let (i, _, _) = instance_with(" state MASTER\n state BACKUP\n priority 100\n nopreempt\n");
    assert!(i.preempt);
    // No priority with state MASTER: keepalived makes it the address owner, 255.
    let (i, code, err) = instance_with(" state MASTER\n");
    assert_eq!((i.priority, code), (255, 0), "{err}");
    assert!(
        err.contains("keepalived.conf:3: state MASTER: note: "),
        "{err}"
    );
    let (i, _, _) = instance_with(" state BACKUP\n");
    assert_eq!(i.priority, 100);
    // Priority 255 (no state: initial MASTER) clears nopreempt and preempt_delay.
    let (i, _, err) = instance_with(" priority 255\n nopreempt\n preempt_delay 5\n");
    assert_eq!(
        (i.preempt, i.preempt_delay),
        (true, Duration::ZERO),
        "{err}"
    );
    assert!(err.contains("incompatible with priority 255"), "{err}");
}

#[test]
fn a_duplicate_virtual_address_is_kept_once_and_the_count_mismatch_explained() {
    // As in keepalived's doc/samples/keepalived.conf.vrrp: 192.168.200.18 twice, the second
    // time with a label. keepalived 2.2.7 advertises 4 addresses; vipd refuses duplicates.
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress {\n  192.168.200.16\n  192.168.200.17\n  192.168.200.18\n  192.168.200.18 label eth0:1\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(
        code, 3,
        "the import no longer fails, but needs review: {err}"
    );
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    assert_eq!(
        vips(inst(&c, "VI_1")),
        [
            "192.168.200.16/32",
            "192.168.200.17/32",
            "192.168.200.18/32"
        ]
    );
    let l = err
        .lines()
        .find(|l| {
            l.contains("keepalived.conf:8: virtual_ipaddress 192.168.200.18/32: not translated: ")
        })
        .unwrap_or_else(|| panic!("{err}"));
    for says in [
        "first at keepalived.conf:7",
        "advertises 4 addresses",
        "each once, 3",
        "vrrp_peer_config_mismatch_total{reason=\"address_list\"}",
        "keepalived running the original configuration drops vipd's adverts",
        "remove the duplicate from keepalived's configuration",
    ] {
        assert!(l.contains(says), "`{says}` in {l}");
    }
    // Its label goes with the dropped line (the first one, without a label, is kept).
    assert_eq!(inst(&c, "VI_1").virtual_ipaddress[2].label, None);
}

#[test]
fn mcast_src_ip_is_the_advert_source_unicast_src() {
    let (i, code, err) = instance_with(" mcast_src_ip 10.99.0.11\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(i.unicast_src, Some("10.99.0.11".parse().unwrap()));
    assert!(i.unicast_peers.is_empty(), "still multicast");
    assert!(
        err.contains("keepalived.conf:3: mcast_src_ip: note: written as unicast_src"),
        "{err}"
    );
    // keepalived keeps one source, the last one given.
    let (i, _, err) = instance_with(" unicast_src_ip 10.99.0.11\n mcast_src_ip 10.99.0.12\n");
    assert_eq!(i.unicast_src, Some("10.99.0.12".parse().unwrap()), "{err}");
    assert!(
        err.contains("keepalived.conf:4: mcast_src_ip: note: replaces 10.99.0.11"),
        "{err}"
    );
    // Another family than the addresses': listed, left out.
    let (i, code, err) = instance_with(" mcast_src_ip fd00:99::11\n");
    assert_eq!((i.unicast_src, code), (None, 3), "{err}");
    assert!(
        err.contains("keepalived.conf:3: mcast_src_ip: not translated: "),
        "{err}"
    );
}

#[test]
fn unknown_keywords_and_missing_references_are_listed() {
    let text = MINIMAL.replace(
        " interface eth0\n",
        " interface eth0\n smtp_alert\n frobnicate 3\n track_script {\n  nope\n }\n track_interface {\n  eth0\n }\n",
    );
    let (_d, r) = import_text(&text);
    let t = r.unwrap();
    let kws: Vec<(usize, &str)> = t
        .untranslated
        .iter()
        .map(|f| (f.line, f.keyword.as_str()))
        .collect();
    assert_eq!(
        kws,
        [
            (3, "smtp_alert"),
            (4, "frobnicate"),
            (6, "track_script nope")
        ]
    );
    // keepalived ignores tracking the instance's own interface; the import leaves it out too.
    assert!(
        t.notes
            .iter()
            .any(|n| n.keyword == "track_interface eth0" && n.line == 9),
        "{:?}",
        t.notes
    );
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    assert!(inst(&c, "VI_1").track_interfaces.is_empty());
}

#[test]
fn syntax_errors_and_unreadable_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        (
            "open.conf",
            "vrrp_instance VI_1 {\n interface eth0\n",
            ":1: block `vrrp_instance` is never closed",
        ),
        (
            "close.conf",
            "global_defs {\n}\n}\n",
            ":3: `}` without a matching `{`",
        ),
        (
            "quote.conf",
            "global_defs {\n router_id \"x\n}\n",
            ":2: unterminated quoted string",
        ),
        (
            "brace.conf",
            "{\n}\n",
            ":1: `{` without a keyword before it",
        ),
        (
            "nothing.conf",
            "global_defs {\n router_id x\n}\n",
            "no vrrp_instance could be translated",
        ),
        (
            "badinc.conf",
            "include /nonexistent/vipd-import.conf\n",
            "cannot read",
        ),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (code, out, err) = cli(&p);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(out.is_empty(), "{name}: nothing on stdout: {out}");
        assert!(err.contains(want), "{name}: {err}");
    }
    let (code, _, err) = cli(&dir.path().join("missing.conf"));
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn a_translation_vipd_rejects_exits_3_with_its_messages_and_writes_nothing() {
    // Two instances with the same VRID on one interface: keepalived refuses this too.
    let text = format!(
        "{MINIMAL}{}",
        MINIMAL
            .replace("VI_1", "VI_2")
            .replace("10.99.0.7", "10.99.0.8")
    );
    let (d, r) = import_text(&text);
    match r {
        Err(ImportError::Invalid { diagnostics, .. }) => {
            assert!(!diagnostics.is_empty());
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    // The command emits nothing vipd would reject: exit 3, vipd's reason, no YAML.
    let (code, out, err) = cli(&d.path().join("keepalived.conf"));
    assert_eq!(code, 3, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("the translation is not a valid vipd configuration")
            && err.contains("vrid 7 on eth0 (ipv4) is already used by instance `VI_1`"),
        "{err}"
    );
}

#[test]
fn lexer_globs_and_shell_words() {
    assert!(lexer::glob_match("*.conf", "10-web.conf"));
    assert!(!lexer::glob_match("*.conf", "README"));
    assert!(lexer::glob_match("check_?.inc", "check_a.inc"));
    assert!(lexer::glob_match("[0-9]*", "10-web.conf"));
    assert!(!lexer::glob_match("[!0-9]*", "10-web.conf"));
    assert_eq!(
        import::shell_split(r#"a 'b c' "d \"e\"" f\ g"#),
        Some(vec![
            "a".into(),
            "b c".into(),
            "d \"e\"".into(),
            "f g".into()
        ])
    );
    assert_eq!(import::shell_split("a 'b"), None);
    let lines = lexer::tokenize("a {b} \"c d\" # x\n\n! y\nz", 0, "f").unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].line, 4);
    let words: Vec<&str> = lines[0].words.iter().map(|w| w.text.as_str()).collect();
    assert_eq!(words, ["a", "{", "b", "}", "c d"]);
}

/// The corpus (tests/fixtures/keepalived/corpus/*.conf): our own files, each reproducing the
/// constructs of a public configuration named in its first comment. Every one imports with
/// exit 0 or 3, the YAML passes vipd's validation, and every item left out is listed with a
/// line of the file it is on (the line holds what the finding names).
#[test]
fn corpus_imports_validate_and_list_what_is_left_out_with_its_line() {
    let dir = fixture("corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    let mut exits = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let head = text.lines().next().unwrap_or_default();
        assert!(
            head.contains("Our own file"),
            "{name}: must say it is ours and name its source: {head}"
        );
        let (code, out, err) = cli(f);
        assert!(code == 0 || code == 3, "{name}: exit {code}\n{err}");
        vipd::config::parse_str(&out, &name)
            .unwrap_or_else(|d| panic!("{name}: vipd rejects the translation: {d:?}\n{out}"));
        let mut listed = 0;
        for l in err.lines() {
            let Some((at, rest)) = l.split_once(": ") else {
                continue;
            };
            let Some((path, line)) = at.rsplit_once(':') else {
                continue;
            };
            if !rest.contains(": not translated: ") && !rest.contains(": note: ") {
                continue;
            }
            let n: usize = line
                .parse()
                .unwrap_or_else(|_| panic!("{name}: no line number in `{l}`"));
            let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{l}: {e}"));
            let src_line = src
                .lines()
                .nth(n.wrapping_sub(1))
                .unwrap_or_else(|| panic!("{name}: line {n} is past the end: {l}"));
            let keyword = rest.split(": ").next().unwrap();
            assert!(
                keyword
                    .split_whitespace()
                    .map(|w| w.split('/').next().unwrap())
                    .any(|w| src_line.contains(w)),
                "{name}: line {n} (`{src_line}`) does not hold `{keyword}`: {l}"
            );
            if rest.contains(": not translated: ") {
                listed += 1;
            }
        }
        assert_eq!(
            code == 3,
            listed > 0,
            "{name}: exit {code}, {listed} listed\n{err}"
        );
        if listed > 0 {
            assert!(
                err.contains(&format!(
                    "{listed} item{} not translated",
                    if listed == 1 { "" } else { "s" }
                )),
                "{name}: {err}"
            );
            assert!(
                out.contains(&format!("# NOT TRANSLATED ({listed} item")),
                "{name}"
            );
        }
        exits.push((name, code, listed));
    }
    // Spot checks on what the corpus is there for.
    let (c, _) = translate("corpus/01-sample-vrrp.conf");
    assert_eq!(
        vips(inst(&c, "VI_1")),
        ["198.51.100.16/32", "198.51.100.17/32", "198.51.100.18/32"],
        "the sample's duplicate address, kept once"
    );
    let (c, _) = translate("corpus/12-v3-subsecond-globals.conf");
    assert_eq!(inst(&c, "VI_FAST").advert_interval, ms(10));
    assert_eq!(inst(&c, "VI_MID").advert_interval, ms(130));
    assert_eq!(inst(&c, "VI_SLOW").advert_interval, ms(40_950));
    let (c, _) = translate("corpus/18-reverse-and-v2-rounding.conf");
    let i = inst(&c, "VI_REV");
    assert_eq!(i.advert_interval, ms(1000), "1.2 s -> 1 s, not 2 s");
    // `weight 20 reverse` on the script: its entry is reversed.
    let s = &i.track_scripts[0];
    assert_eq!(
        (s.name.as_str(), s.weight, s.reverse),
        ("chk_primary_up", 20, true)
    );
    let ifs: Vec<(&str, Option<i32>, bool)> = i
        .track_interfaces
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.reverse))
        .collect();
    assert_eq!(ifs, [("eth1", Some(30), true), ("eth2", Some(-10), false)]);
    assert_eq!(
        (i.track_files[0].weight, i.track_files[0].reverse),
        (5, false)
    );
    let (c, _) = translate("corpus/16-includes.conf");
    let i = inst(&c, "VI_DB");
    assert_eq!(
        i.unicast_src,
        Some("10.161.0.11".parse().unwrap()),
        "mcast_src_ip"
    );
    assert_eq!(i.track_files[0].weight, -100);

    // Process-only checks become tracked processes with the script's weight, and the
    // instances' track_script references become track_processes (no script is left).
    for (file, script, process, weight) in [
        (
            "19-redhat-cop-haproxy-killall.conf",
            "chk_haproxy",
            "haproxy",
            2,
        ),
        ("23-pihole-ps-check.conf", "chk_ftl", "pihole-FTL", -10),
        ("23-pihole-ps-check.conf", "chk_unbound", "unbound", -5),
        ("24-kube-api-lb-pidof.conf", "check_haproxy", "haproxy", 2),
        ("26-aws-eip-no-vip.conf", "chk_nginx", "nginx", 0),
    ] {
        let (c, t) = translate(&format!("corpus/{file}"));
        assert!(
            !c.scripts.contains_key(script),
            "{file}: {script} kept as a script"
        );
        let p = &c.processes[script];
        assert_eq!(p.matcher.name, process, "{file}");
        assert!(
            !p.matcher.full_command && p.matcher.params.is_none(),
            "{file}"
        );
        assert_eq!((p.quorum, p.weight), (1, weight), "{file}");
        assert!(
            c.instances
                .values()
                .any(|i| i.track_processes.iter().any(|t| t.name == script)),
            "{file}: no instance tracks {script}"
        );
        assert!(
            c.instances
                .values()
                .all(|i| i.track_scripts.iter().all(|t| t.name != script)),
            "{file}"
        );
        assert!(
            t.notes
                .iter()
                .any(|n| n.message.contains("track_processes")),
            "{file}: {:?}",
            t.notes
        );
    }
    // A check that does more than test a process stays a script.
    let (c, _) = translate("corpus/22-pihole-unindented.conf");
    assert!(c.processes.is_empty() && !c.scripts.is_empty());

    // Instances without addresses: VRRPv2 is translated, VRRPv3 refused as keepalived does.
    let (c, _) = translate("corpus/26-aws-eip-no-vip.conf");
    let i = inst(&c, "EIP_FAILOVER");
    assert!(i.virtual_ipaddress.is_empty() && i.version == Version::V2);
    assert_eq!(i.notify.master, argv(&["/etc/keepalived/eip.sh", "MASTER"]));
    let (c, t) = translate("corpus/27-aws-eni-v3-and-v2.conf");
    assert_eq!(c.instances.keys().collect::<Vec<_>>(), ["ENI_V2"]);
    assert!(
        t.untranslated
            .iter()
            .any(|f| f.keyword == "vrrp_instance ENI_V3")
    );
    // keepalived's own default configuration has vrrp_strict: its PASS authentication is
    // dropped, as strict mode does; AH without strict mode is listed.
    let (c, t) = translate("corpus/25-keepalived-default-strict.conf");
    assert_eq!(inst(&c, "VI_1").auth_pass, None);
    assert!(t.untranslated.iter().any(|f| f.keyword == "vrrp_strict"));
    let (c, t) = translate("corpus/31-sample-scripts-ah.conf");
    assert_eq!(inst(&c, "VI_1").auth_pass, None);
    assert!(
        t.untranslated
            .iter()
            .any(|f| f.keyword == "authentication auth_type AH"
                && f.line == 21
                // Why (the RFC that removed it), what a mixed pair does, what to do.
                && f.message.contains("removed from VRRP by RFC 3768 (section 5.3.6")
                && f.message.contains("both become master")
                && f.message.contains("Switch every keepalived router to no authentication")),
        "{:?}",
        t.untranslated
    );
    // vrrp_track_process blocks become `processes:` with keepalived's rules (first non-zero
    // weight, parameters imply exact full-command matching, delay sets both delays), and the
    // instances' track_process items become track_processes with their own weights.
    let (c, t) = translate("corpus/32-track-process-haproxy.conf");
    let p = &c.processes["haproxy"];
    assert_eq!((p.matcher.name.as_str(), p.weight), ("haproxy", -30));
    assert_eq!(p.fork_delay, Duration::from_secs(2));
    assert_eq!(p.terminate_delay, Duration::from_secs(2));
    let m = &c.processes["haproxy_master"].matcher;
    assert_eq!(m.name, "/usr/sbin/haproxy");
    assert_eq!(
        m.params,
        Some((
            ["-Ws", "-f", "/etc/haproxy/haproxy.cfg"]
                .map(String::from)
                .to_vec(),
            vipd::track::ParamMatch::Exact
        ))
    );
    let w = &c.processes["workers"];
    assert_eq!((w.quorum, w.quorum_max), (2, 8));
    assert_eq!(
        w.matcher.params.as_ref().unwrap().1,
        vipd::track::ParamMatch::Partial
    );
    assert!(!c.processes.contains_key("long_name"));
    let tracked: Vec<(&str, i32, bool)> = inst(&c, "VI_PROC")
        .track_processes
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.reverse))
        .collect();
    assert_eq!(
        tracked,
        [
            ("haproxy", -30, false),
            ("haproxy_master", -60, false),
            ("workers", 10, true)
        ]
    );
    for (line, kw) in [
        (33, "vrrp_track_process long_name"),
        (51, "track_process missing_one"),
    ] {
        assert!(
            t.untranslated
                .iter()
                .any(|f| f.keyword == kw && f.line == line),
            "{kw}: {:?}",
            t.untranslated
        );
    }
    assert!(
        t.notes
            .iter()
            .any(|f| f.keyword == "weight" && f.line == 13)
    );
    // keepalived's `via A or B`: a multipath route over both gateways.
    let (c, t) = translate("corpus/30-sample-vrrp-routes.conf");
    assert!(t.is_complete(), "{:?}", t.untranslated);
    let or: Vec<_> = c
        .instances
        .values()
        .flat_map(|i| &i.virtual_routes)
        .filter(|r| r.or.is_some())
        .map(|r| (r.via.unwrap().to_string(), r.or.unwrap().to_string()))
        .collect();
    assert_eq!(or, [("192.0.2.253".to_owned(), "192.0.2.252".to_owned())]);
    // Announcement spacing: global per family, a garp_group for its interfaces.
    let (c, t) = translate("corpus/33-garp-interval-group.conf");
    assert!(t.is_complete(), "{:?}", t.untranslated);
    for (name, interval) in [("V4_ETH0", 10), ("V4_ETH1", 100), ("V6_ETH0", 20)] {
        assert_eq!(inst(&c, name).garp.interval, ms(interval), "{name}");
    }
    // keepalived refuses `vrrp_garp_interval 0` and keeps no spacing: a note.
    let (c, t) = translate("corpus/21-k8s-ansible-haproxy-unicast.conf");
    assert!(c.instances.values().all(|i| i.garp.interval.is_zero()));
    assert!(
        t.notes
            .iter()
            .any(|n| n.keyword == "vrrp_garp_interval" && n.line == 10)
    );
    eprintln!("corpus: {exits:?}");
}

/// The cloud pattern: no `virtual_ipaddress`, notify_master moves an elastic IP.
const NO_VIP: &str = "vrrp_instance EIP {\n interface eth0\n virtual_router_id 8\n priority 150\n unicast_src_ip 10.99.0.11\n unicast_peer {\n  10.99.0.12\n }\n notify_master \"/usr/local/bin/move-eip.sh up\"\n}\n";

#[test]
fn an_instance_without_virtual_addresses_is_translated_as_keepalived_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, NO_VIP).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("keepalived.conf:1: vrrp_instance EIP: note: has no virtual_ipaddress"),
        "{err}"
    );
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{d:?}\n{out}"))
        .config;
    let i = inst(&c, "EIP");
    assert!(i.virtual_ipaddress.is_empty());
    assert_eq!(
        (i.version, i.family, i.priority),
        (Version::V2, Family::Ipv4, 150)
    );
    assert_eq!(i.notify.master, argv(&["/usr/local/bin/move-eip.sh", "up"]));
    assert!(!out.contains("virtual_ipaddress:"), "{out}");

    // VRRPv3 without addresses: keepalived 2.2.7 refuses the instance, so does the import.
    std::fs::write(
        &p,
        NO_VIP.replace(" priority 150\n", " priority 150\n version 3\n"),
    )
    .unwrap();
    let (code, _, err) = cli(&p);
    assert_eq!(code, 2, "nothing left to translate: {err}");
    assert!(
        err.contains("keepalived.conf:1: vrrp_instance EIP: not translated: has no virtual_ipaddress and is VRRPv3")
            && err.contains("No VIP specified; at least one is required"),
        "{err}"
    );

    // Addresses that were written but none translated: left out, never run without them.
    let bad = NO_VIP.replace(
        " priority 150\n",
        " priority 150\n virtual_ipaddress {\n  10.99.0.8-9/24\n }\n",
    );
    std::fs::write(&p, bad).unwrap();
    let (code, _, err) = cli(&p);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("none of its virtual_ipaddress entries could be translated"),
        "{err}"
    );
}

#[test]
fn vrrp_strict_is_applied_as_keepalived_2_2_7_applies_it_and_the_rest_is_listed() {
    let conf = "global_defs {\n vrrp_strict\n}\nvrrp_instance VI_1 {\n state MASTER\n interface eth0\n virtual_router_id 7\n priority 150\n nopreempt\n preempt_delay 10\n authentication {\n  auth_type PASS\n  auth_pass 1111\n }\n virtual_ipaddress {\n  10.99.0.7/24\n }\n}\nvrrp_instance VI_U {\n interface eth0\n virtual_router_id 9\n unicast_peer {\n  10.99.0.12\n }\n virtual_ipaddress {\n  10.99.0.9/24\n }\n}\nvrrp_instance VI_N {\n interface eth0\n virtual_router_id 10\n}\nvrrp_instance VI_OFF {\n strict_mode off\n interface eth0\n virtual_router_id 11\n preempt_delay 5\n virtual_ipaddress {\n  10.99.0.11/24\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, conf).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 3, "{err}");
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{d:?}\n{out}"))
        .config;
    let i = inst(&c, "VI_1");
    assert_eq!(i.auth_pass, None, "strict mode sends no authentication");
    assert_eq!(
        i.preempt_delay,
        Duration::ZERO,
        "strict mode resets preempt_delay"
    );
    assert!(
        !i.preempt,
        "state MASTER below 255 is refused, so nopreempt is not cleared"
    );
    assert_eq!(
        c.instances.keys().collect::<Vec<_>>(),
        ["VI_1", "VI_OFF"],
        "unicast and address-less instances are refused in strict mode"
    );
    assert_eq!(
        inst(&c, "VI_OFF").preempt_delay,
        ms(5000),
        "strict_mode off"
    );
    // IPv6 in strict mode: a first address that is not link-local is reported, and run.
    let v6 = "global_defs {\n vrrp_strict\n}\nvrrp_instance V6 {\n interface eth0\n virtual_router_id 6\n virtual_ipaddress {\n  fd00:99::6/64\n }\n}\n";
    std::fs::write(&p, v6).unwrap();
    let (code, out, err6) = cli(&p);
    assert_eq!(code, 3, "{err6}");
    let c6 = vipd::config::parse_str(&out, "x").unwrap().config;
    assert_eq!(inst(&c6, "V6").version, Version::V3);
    assert!(
        err6.contains("keepalived.conf:4: vrrp_instance V6: note: strict mode")
            && err6.contains("the first IPv6 VIP address must be link local"),
        "{err6}"
    );
    for (line, what) in [
        (2, "vrrp_strict: not translated: partly translated"),
        (5, "state MASTER: note: strict mode"),
        (10, "preempt_delay: note: strict mode"),
        (11, "authentication: note: strict mode"),
        (
            19,
            "vrrp_instance VI_U: not translated: has unicast_peer in strict mode",
        ),
        (
            29,
            "vrrp_instance VI_N: not translated: has no virtual_ipaddress, which keepalived 2.2.7 refuses under vrrp_strict",
        ),
    ] {
        let want = format!("keepalived.conf:{line}: {what}");
        assert!(err.contains(&want), "missing `{want}` in:\n{err}");
    }
}

/// keepalived's `vrrp_sync_group` becomes `sync_groups:` with its hooks; keepalived's load
/// rules are kept (unknown members and second memberships left out, groups of fewer than two
/// not written), each a note at its line; smtp_alert in a group is a note, tracking in a
/// group is listed (vipd tracks per instance).
#[test]
fn vrrp_sync_group_translates_with_keepalived_load_rules() {
    let (c, t) = translate("corpus/04-sample-sync-group.conf");
    let g = &c.sync_groups["SG_FRONT"];
    assert_eq!(g.instances, ["VI_OUT", "VI_IN"]);
    assert_eq!(
        g.notify.master,
        argv(&["/usr/local/sbin/sg-state", "master", "front"])
    );
    assert_eq!(
        g.notify.fault,
        argv(&["/usr/local/sbin/sg-state", "fault", "front"])
    );
    assert!(!g.tracking_weight);
    assert!(
        t.yaml
            .contains("SG_FRONT:  # vrrp_sync_group (04-sample-sync-group.conf:5)")
    );

    let conf = "vrrp_sync_group A {\n group {\n  VI_1\n  VI_2 NOPE\n }\n notify \"/bin/ka-notify grp\"\n smtp_alert\n sync_group_tracking_weight\n track_interface {\n  eth9\n }\n}\nvrrp_sync_group B {\n group {\n  VI_2\n }\n}\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.99.1.1/24\n }\n}\nvrrp_instance VI_2 {\n interface eth1\n virtual_router_id 2\n virtual_ipaddress {\n  10.99.2.1/24\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, conf).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 3, "{err}");
    let c = vipd::config::parse_str(&out, "out.yaml").unwrap().config;
    let a = &c.sync_groups["A"];
    assert_eq!(a.instances, ["VI_1", "VI_2"]);
    assert_eq!(a.notify.any, argv(&["/bin/ka-notify", "grp"]));
    assert!(a.tracking_weight);
    assert!(
        !c.sync_groups.contains_key("B"),
        "a group of one is not written"
    );
    let ps = p.display().to_string();
    for want in [
        format!("{ps}:4: vrrp_sync_group A NOPE: note: no translated vrrp_instance"),
        format!("{ps}:7: smtp_alert: note: ignored"),
        format!("{ps}:9: track_interface: not translated: vipd tracks per instance"),
        format!("{ps}:15: vrrp_sync_group B VI_2: note: already in vrrp_sync_group A"),
        format!("{ps}:13: vrrp_sync_group B: note: has 0 translated member(s)"),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(&want)),
            "missing `{want}` in:\n{err}"
        );
    }
}

#[test]
fn routes_rules_excluded_and_static_items_are_translated_and_the_rest_listed() {
    let text = "static_ipaddress {\n 10.99.9.1/24 dev eth1\n}\nstatic_routes {\n 10.99.8.0/24 via 10.99.9.254 dev eth1 track_group G\n}\n\
        vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n accept\n\
        virtual_ipaddress {\n  10.99.0.1/24\n  10.99.1.1/24 dev eth1 scope link label eth1:v\n }\n\
        virtual_ipaddress_excluded {\n  10.99.2.1/24\n  fd00:99::2/64\n }\n\
        virtual_routes {\n  src 10.99.0.1 to 10.99.3.0/24 via 10.99.0.254 dev eth0 table 100 metric 5\n  blackhole 10.99.4.0/24\n  0.0.0.0/0 gw 10.99.0.254 table main\n  10.99.5.0/24 via 10.99.0.254 or 10.99.0.253\n }\n\
        virtual_rules {\n  from 10.99.6.0/24 table 100 priority 1000\n  to 10.99.7.0/24 lookup 100 fwmark 0x10/0xff\n  from 10.99.6.0/24 table 100 goto 3\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 3, "{err}");
    let c = vipd::config::parse_str(&out, "x")
        .unwrap_or_else(|d| panic!("{d:?}\n{out}"))
        .config;
    let i = inst(&c, "VI_1");
    let v = &i.virtual_ipaddress[1];
    assert_eq!(
        (v.dev.as_deref(), v.label.as_deref(), v.scope),
        (
            Some("eth1"),
            Some("eth1:v"),
            Some(vipd::config::Scope::Link)
        )
    );
    assert_eq!(i.virtual_ipaddress_excluded.len(), 2);
    let r = &i.virtual_routes;
    assert_eq!(r.len(), 4, "{r:?}\n{err}");
    assert_eq!(
        (r[3].via, r[3].or),
        (
            Some("10.99.0.254".parse().unwrap()),
            Some("10.99.0.253".parse().unwrap())
        ),
        "keepalived's `or`: a second nexthop"
    );
    assert_eq!(
        (r[0].src, r[0].table, r[0].metric, r[0].dev.as_deref()),
        (
            Some("10.99.0.1".parse().unwrap()),
            Some(100),
            Some(5),
            Some("eth0")
        )
    );
    assert_eq!(r[1].kind, vipd::config::RouteType::Blackhole);
    assert_eq!((r[2].to.1, r[2].table), (0, Some(254)));
    assert_eq!(i.virtual_rules.len(), 2);
    assert_eq!(i.virtual_rules[1].fwmark, Some((0x10, Some(0xff))));
    assert_eq!(c.statics.addresses.len(), 1);
    assert_eq!(c.statics.routes.len(), 1);
    for (line, what) in [
        (5, "static_routes track_group"),
        (28, "virtual_rules from 10.99.6.0/24 table 100 goto 3"),
    ] {
        assert!(
            err.contains(&format!("keepalived.conf:{line}: {what}: not translated: ")),
            "{line} {what}:\n{err}"
        );
    }
    assert!(err.contains("accept: note:"), "{err}");
}

#[test]
fn use_vmac_and_vmac_xmit_base_are_translated() {
    let (i, code, err) = instance_with(" use_vmac\n");
    assert_eq!(code, 0, "{err}");
    let v = i.vmac.expect("use_vmac translated");
    assert_eq!(
        v.name,
        format!("vrrp.{}", i.vrid),
        "keepalived's default name"
    );
    assert!(!v.xmit_base);
    let (i, code, err) = instance_with(" use_vmac gw0\n vmac_xmit_base\n");
    assert_eq!(code, 0, "{err}");
    let v = i.vmac.expect("use_vmac translated");
    assert_eq!((v.name.as_str(), v.xmit_base), ("gw0", true));
    // Alone, vmac_xmit_base does nothing (keepalived ignores it too).
    let (i, code, err) = instance_with(" vmac_xmit_base\n");
    assert_eq!((i.vmac, code), (None, 0), "{err}");
    // With unicast peers vipd has no virtual MAC: listed, the rest translated.
    let (i, code, err) = instance_with(" use_vmac\n unicast_peer {\n  10.99.0.2\n }\n");
    assert_eq!((i.vmac, code), (None, 3), "{err}");
    assert!(err.contains("use_vmac: not translated"), "{err}");
}

#[test]
fn use_vmac_ipv6_advertises_the_configured_addresses_only_as_keepalived_does() {
    let conf = "vrrp_instance VI_6 {\n interface eth0\n use_vmac\n version 3\n virtual_router_id 8\n virtual_ipaddress {\n  fd00:99::8/64\n }\n}\n";
    let (_d, r) = import_text(conf);
    let t = r.unwrap();
    assert!(t.yaml.contains("vmac_link_local: false"), "{}", t.yaml);
    let c = vipd::config::parse_str(&t.yaml, "x").unwrap().config;
    let i = inst(&c, "VI_6");
    assert!(!i.vmac.as_ref().unwrap().link_local);
    assert_eq!(
        vipd::router::vmac::vips(i).len(),
        1,
        "no derived link-local"
    );
}

/// Translates `text` (written to a temporary keepalived.conf) with the options; the config
/// (which must pass vipd's validation) and the translation.
fn translate_text(text: &str, opts: &import::Options) -> (Config, import::Translation) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let t = import::import_file_with(&p, opts).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let c = vipd::config::parse_str(&t.yaml, "x")
        .unwrap_or_else(|d| panic!("{d:?}\n{}", t.yaml))
        .config;
    (c, t)
}

fn id(s: &str) -> import::Options {
    import::Options {
        config_id: Some(s.to_owned()),
    }
}

#[test]
fn conditional_lines_are_read_for_the_config_id_as_keepalived_2_2_7_reads_them() {
    let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 7\n@lb1 priority 150\n@lb2 priority 50\n@^lb1 advert_int 2\n@lb1\n virtual_ipaddress {\n  10.99.0.7/24\n }\n}\n";
    for (node, priority, interval) in [("lb1", 150, 1), ("lb2", 50, 2), ("lb3", 100, 2)] {
        let (c, t) = translate_text(text, &id(node));
        assert!(t.is_complete(), "{node}: {:?}", t.untranslated);
        let i = inst(&c, "VI_1");
        assert_eq!(i.priority, priority, "{node}");
        assert_eq!(i.advert_interval, Duration::from_secs(interval), "{node}");
        let n = t
            .notes
            .iter()
            .find(|n| n.keyword == "@lb1" && n.line == 4)
            .unwrap_or_else(|| panic!("{node}: {:?}", t.notes));
        assert!(
            n.message.contains(&format!("config id `{node}`")) && n.message.contains("--config-id"),
            "{n}"
        );
        assert!(
            t.yaml.contains(&format!("config id `{node}`")),
            "{}",
            t.yaml
        );
    }
    // `@lb1` alone on its line is dropped even for lb1 (keepalived needs something after it).
    let (_, t) = translate_text(text, &id("lb1"));
    let n = t.notes.iter().find(|n| n.keyword == "@lb1").unwrap();
    assert!(n.message.contains("kept line 4 ("), "{n}");
    assert!(n.message.contains("left out lines 5, 6, 7"), "{n}");

    // The command line: --config-id / -i, else the short host name, said on stderr.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    for args in [&["--config-id", "lb2"][..], &["-i", "lb2"]] {
        let out = Command::new(VIPD)
            .arg("import-keepalived")
            .arg(&p)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains("priority: 50"), "{stdout}");
        assert!(
            stderr.contains("config id `lb2` (from --config-id"),
            "{stderr}"
        );
    }
    let host = import::short_hostname();
    let (_, _, err) = cli(&p);
    assert!(
        err.contains(&format!("config id `{host}` (from the short host name")),
        "{err}"
    );
    assert!(!host.contains('.'), "{host}");
}

#[test]
fn process_settings_become_systemd_unit_lines_in_a_commented_drop_in() {
    let text = format!(
        "global_defs {{\n vrrp_priority -5\n vrrp_rt_priority 20\n vrrp_no_swap\n vrrp_cpu_affinity 0-1 3\n vrrp_rlimit_rttime 10000\n}}\nnet_namespace blue\n{MINIMAL}"
    );
    let (_, t) = translate_text(&text, &id("x"));
    assert!(t.is_complete(), "{:?}", t.untranslated);
    for (line, kw, unit) in [
        (2, "vrrp_priority", "Nice=-5"),
        (3, "vrrp_rt_priority", "CPUSchedulingPriority=20"),
        (4, "vrrp_no_swap", "MemorySwapMax=0"),
        (5, "vrrp_cpu_affinity", "CPUAffinity=0-1 3"),
        (6, "vrrp_rlimit_rttime", "LimitRTTIME=10000"),
        (8, "net_namespace", "NetworkNamespacePath=/run/netns/blue"),
    ] {
        assert!(
            t.yaml
                .lines()
                .any(|l| l.starts_with("#   ") && l.contains(unit) && l.contains(kw)),
            "{unit}\n{}",
            t.yaml
        );
        let n = t
            .notes
            .iter()
            .find(|n| n.keyword == kw && n.line == line)
            .unwrap_or_else(|| panic!("{kw}: {:?}", t.notes));
        assert!(n.message.contains("translated to the systemd unit"), "{n}");
        assert!(n.message.contains(unit), "{n}");
    }
    assert!(t.yaml.contains("#   [Service]\n"));
    assert!(t.yaml.contains("CPUSchedulingPolicy=rr"));
    // A value keepalived refuses is listed, not written.
    let (_, t) = translate_text(
        &format!("global_defs {{\n vrrp_priority -30\n}}\n{MINIMAL}"),
        &id("x"),
    );
    assert!(
        t.untranslated
            .iter()
            .any(|f| f.keyword == "vrrp_priority" && f.line == 2)
    );
    assert!(!t.yaml.contains("Nice="));
}

#[test]
fn switches_that_need_nothing_in_vipd_are_notes_saying_why() {
    let text = "global_defs {\n vrrp_skip_check_adv_addr\n vrrp_iptables\n}\nvrrp_instance V6 {\n interface eth0\n virtual_router_id 9\n native_ipv6\n skip_check_adv_addr\n debug 2\n virtual_ipaddress {\n  fd00:99::9/64\n }\n}\n";
    let (c, t) = translate_text(text, &id("x"));
    assert!(t.is_complete(), "{:?}", t.untranslated);
    let i = inst(&c, "V6");
    assert_eq!((i.family, i.version), (Family::Ipv6, Version::V3));
    for (line, kw, why) in [
        (
            2,
            "vrrp_skip_check_adv_addr",
            "vrrp_peer_config_mismatch_total{reason=\"address_list\"}",
        ),
        (3, "vrrp_iptables", "adds no firewall rules"),
        (8, "native_ipv6", "always runs IPv6 as VRRPv3"),
        (
            9,
            "skip_check_adv_addr",
            "never drops an advert over its address list",
        ),
        (10, "debug", "does nothing with it"),
    ] {
        let n = t
            .notes
            .iter()
            .find(|n| n.keyword == kw && n.line == line)
            .unwrap_or_else(|| panic!("{kw}: {:?}", t.notes));
        assert!(n.message.contains(why), "{n}");
    }
    // native_ipv6 with IPv4 addresses: ignored, as keepalived ignores it.
    let (c, t) = translate_text(&MINIMAL.replace(" }\n}", " }\n native_ipv6\n}"), &id("x"));
    assert_eq!(inst(&c, "VI_1").family, Family::Ipv4);
    assert!(
        t.notes
            .iter()
            .any(|n| n.keyword == "native_ipv6" && n.message.contains("ignored"))
    );
    // native_ipv6 without addresses: IPv6 VRRPv3 without addresses, refused by keepalived.
    let no_vip = "vrrp_instance E {\n interface eth0\n virtual_router_id 8\n native_ipv6\n unicast_peer {\n  10.99.0.12\n }\n}\n";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.conf");
    std::fs::write(&p, no_vip).unwrap();
    assert!(matches!(
        import::import_file_with(&p, &id("x")),
        Err(ImportError::Nothing { .. })
    ));
}

#[test]
fn check_unicast_src_is_translated_for_unicast_instances() {
    let unicast = " unicast_src_ip 10.99.0.11\n unicast_peer {\n  10.99.0.12\n }\n";
    // Global switch: every unicast instance; a multicast one has nothing to check.
    let text = format!(
        "global_defs {{\n vrrp_check_unicast_src\n}}\n{}{}",
        MINIMAL.replace(" interface eth0\n", &format!(" interface eth0\n{unicast}")),
        MINIMAL
            .replace("VI_1", "VI_2")
            .replace("virtual_router_id 7", "virtual_router_id 8")
            .replace("10.99.0.7/24", "10.99.0.8/24")
    );
    let (c, t) = translate_text(&text, &id("x"));
    assert!(t.is_complete(), "{:?}", t.untranslated);
    assert!(inst(&c, "VI_1").check_unicast_src);
    assert!(!inst(&c, "VI_2").check_unicast_src);
    assert!(t.yaml.contains("check_unicast_src: true"));
    assert!(
        t.notes
            .iter()
            .any(|n| n.keyword == "vrrp_check_unicast_src" && n.line == 2)
    );
    // The instance's own keyword.
    let (i, code, err) = instance_with(&format!("{unicast} check_unicast_src\n"));
    assert_eq!(code, 0, "{err}");
    assert!(i.check_unicast_src);
    let (i, code, err) = instance_with(" check_unicast_src\n");
    assert_eq!(code, 0, "{err}");
    assert!(!i.check_unicast_src);
    assert!(err.contains("no unicast_peer"), "{err}");
}

#[test]
fn noprefixroute_is_kept_on_the_address() {
    let (i, code, err) = instance_with(
        " virtual_ipaddress {\n  10.99.0.9/24 noprefixroute\n  10.99.0.10/24 dev eth1 noprefixroute\n }\n",
    );
    assert_eq!(code, 0, "{err}");
    let flags: Vec<(String, bool)> = i
        .virtual_ipaddress
        .iter()
        .map(|v| (v.addr.to_string(), v.noprefixroute))
        .collect();
    assert_eq!(
        flags,
        [
            ("10.99.0.9".to_owned(), true),
            ("10.99.0.10".to_owned(), true),
            ("10.99.0.7".to_owned(), false)
        ]
    );
    assert_eq!(i.virtual_ipaddress[1].dev.as_deref(), Some("eth1"));
    let (c, t) = translate("corpus/11-ipv6-v3.conf");
    assert!(
        c.instances
            .values()
            .flat_map(|i| &i.virtual_ipaddress)
            .any(|v| v.addr == "2001:db8:66::3".parse::<IpAddr>().unwrap() && v.noprefixroute)
    );
    assert!(t.untranslated.is_empty(), "{:?}", t.untranslated);
}

/// keepalived's `unicast_peer { A min_ttl N max_ttl M }`: the peer's TTL range, which also
/// turns the source check on, as keepalived 2.2.7 does; a range that drops everything, or a
/// value out of 0..255, is listed.
#[test]
fn unicast_peer_ttl_range_translates() {
    let text = "\
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 7
 unicast_src_ip 10.99.0.1
 unicast_peer {
  10.99.0.2 min_ttl 250 max_ttl 254
  10.99.0.3 max_ttl 64
  10.99.0.4
 }
 virtual_ipaddress {
  10.99.0.7/24
 }
}
";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 0, "{err}");
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    let i = inst(&c, "VI_1");
    assert_eq!(i.unicast_peers.len(), 3);
    assert!(i.check_unicast_src);
    let r: Vec<(String, u8, u8)> = i
        .unicast_peer_ttl
        .iter()
        .map(|(a, r)| (a.to_string(), r.min, r.max))
        .collect();
    assert_eq!(
        r,
        [("10.99.0.2".into(), 250, 254), ("10.99.0.3".into(), 0, 64)]
    );
    assert!(
        err.contains("keepalived.conf:6: unicast_peer 10.99.0.2 min_ttl/max_ttl: note: "),
        "{err}"
    );
    // min above max: keepalived drops every advert of the peer; listed, left out.
    let text = text.replace("max_ttl 64", "min_ttl 70 max_ttl 64");
    std::fs::write(&p, &text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, import::EXIT_INCOMPLETE as i32, "{err}");
    assert!(
        err.contains("keepalived.conf:7: unicast_peer 10.99.0.3 min_ttl: not translated: min_ttl 70 is above max_ttl 64"),
        "{err}"
    );
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    assert_eq!(inst(&c, "VI_1").unicast_peer_ttl.len(), 1);
}

/// keepalived's `notify_x "cmd" user [group]`, on instances and sync groups: the hook's
/// `{command, user, group}` form.
#[test]
fn notify_hooks_with_a_user_translate() {
    let text = "\
vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 7
 virtual_ipaddress {
  10.99.0.7/24
 }
 notify_master \"/bin/true master\" nobody
 notify_backup \"/bin/true backup\" nobody daemon
 notify_fault /bin/true
}
vrrp_instance VI_2 {
 interface eth1
 virtual_router_id 8
 virtual_ipaddress {
  10.99.1.8/24
 }
}
vrrp_sync_group GW {
 group {
  VI_1
  VI_2
 }
 notify \"/bin/true group\" nobody
}
";
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("keepalived.conf");
    std::fs::write(&p, text).unwrap();
    let (code, out, err) = cli(&p);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("(user)"), "{err}");
    let c = vipd::config::parse_str(&out, "x").unwrap().config;
    let n = &inst(&c, "VI_1").notify;
    assert_eq!(n.master.as_deref().unwrap(), ["/bin/true", "master"]);
    assert_eq!(
        (
            n.run_as["master"].user.as_str(),
            n.run_as["master"].group.as_deref()
        ),
        ("nobody", None)
    );
    assert_eq!(
        (
            n.run_as["backup"].user.as_str(),
            n.run_as["backup"].group.as_deref()
        ),
        ("nobody", Some("daemon"))
    );
    assert!(!n.run_as.contains_key("fault"));
    assert_eq!(c.sync_groups["GW"].notify.run_as["any"].user, "nobody");
    // Words past the group are listed.
    let text = text.replace("nobody daemon", "nobody daemon extra");
    std::fs::write(&p, &text).unwrap();
    let (code, _, err) = cli(&p);
    assert_eq!(code, import::EXIT_INCOMPLETE as i32, "{err}");
    assert!(
        err.contains("keepalived.conf:8: notify_backup (user): not translated: keepalived takes a user and a group"),
        "{err}"
    );
}

//! Tests for config parsing and validation.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

fn ok(yaml: &str) -> Loaded {
    match parse_str(yaml, "t.yaml") {
        Ok(l) => l,
        Err(e) => panic!(
            "unexpected errors:\n{}",
            e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Errors (not warnings) as (line, column, message).
fn errs(yaml: &str) -> Vec<(usize, usize, String)> {
    match parse_str(yaml, "t.yaml") {
        Ok(_) => panic!("expected errors for:\n{yaml}"),
        Err(e) => e
            .into_iter()
            .filter(|d| !d.warning)
            .map(|d| (d.line, d.column, d.message))
            .collect(),
    }
}

/// Exactly one error, at `line:col`, whose message contains `needle`.
fn one_err(yaml: &str, line: usize, col: usize, needle: &str) {
    let e = errs(yaml);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].0, e[0].1), (line, col), "{e:#?}");
    assert!(e[0].2.contains(needle), "{:?} lacks {needle:?}", e[0].2);
}

const MINIMAL: &str = "\
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
";

#[test]
fn defaults_applied() {
    let l = ok(MINIMAL);
    assert!(l.warnings.is_empty());
    let c = l.config;
    assert_eq!(c.router_id, default_router_id());
    assert!(!c.router_id.is_empty());
    assert_eq!(c.listen, "0.0.0.0:9797".parse().unwrap());
    let i = &c.instances["VI_1"];
    assert_eq!(
        *i,
        InstanceConfig {
            name: "VI_1".into(),
            interface: "eth0".into(),
            vrid: 13,
            priority: 100,
            version: Version::V3,
            family: Family::Ipv4,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            auth_pass: None,
            virtual_ipaddress: vec![Vip::new("192.168.192.13".parse().unwrap(), 24)],
            virtual_ipaddress_excluded: vec![],
            virtual_routes: vec![],
            virtual_rules: vec![],
            unicast_peers: vec![],
            unicast_peer_ttl: Default::default(),
            unicast_src: None,
            check_unicast_src: false,
            track_interfaces: vec![],
            track_scripts: vec![],
            track_files: vec![],
            track_processes: vec![],
            notify: Notify::default(),
            garp: Garp::default(),
            v3_checksum: ChecksumForm::PseudoHeader,
            group: None,
            vmac: None,
        }
    );
}

#[test]
fn full_instance() {
    let l = ok("\
router_id: lb-11
listen: \"[::1]:9000\"
instances:
  a.b-c_1:
    interface: eth0
    vrid: 7
    priority: 255
    version: 2
    advert_interval: 3
    preempt: false
    preempt_delay: 1.5s
    authentication: { type: pass, password: 0011 }
    virtual_ipaddress: [10.0.0.1, 10.0.0.2/8]
    unicast_peers: [10.0.0.9, 10.0.0.1]
    unicast_src: 10.0.0.3
    track_interfaces: [eth1, {name: eth2, weight: -30}, {name: eth3}]
    garp: { delay: 0s, repeat: 1, refresh: 2m }
    v3_checksum: rfc9568
  six:
    interface: eth0
    vrid: 7
    advert_interval: 10ms
    virtual_ipaddress: [\"fe80::1/64\", 2001:db8::1]
");
    let c = &l.config;
    assert_eq!(c.router_id, "lb-11");
    assert_eq!(c.listen, "[::1]:9000".parse().unwrap());
    let i = &c.instances["a.b-c_1"];
    assert_eq!(i.priority, 255);
    assert_eq!(i.version, Version::V2);
    assert_eq!(i.advert_interval, Duration::from_secs(3));
    assert!(!i.preempt);
    assert_eq!(i.preempt_delay, Duration::from_millis(1500));
    assert_eq!(i.auth_pass.as_ref().map(|p| p.as_str()), Some("0011"));
    assert_eq!(i.virtual_ipaddress[0].prefix_len, 32);
    assert_eq!(i.virtual_ipaddress[1].prefix_len, 8);
    assert_eq!(i.unicast_src, Some("10.0.0.3".parse().unwrap()));
    assert_eq!(
        i.track_interfaces,
        vec![
            TrackInterface {
                name: "eth1".into(),
                weight: None,
                reverse: false,
            },
            TrackInterface {
                name: "eth2".into(),
                weight: Some(-30),
                reverse: false,
            },
            TrackInterface {
                name: "eth3".into(),
                weight: None,
                reverse: false,
            },
        ]
    );
    assert_eq!(
        i.garp,
        Garp {
            delay: Duration::ZERO,
            repeat: 1,
            refresh: Duration::from_secs(120),
            interval: Duration::ZERO,
        }
    );
    assert_eq!(i.v3_checksum, ChecksumForm::MessageOnly);
    let six = &c.instances["six"];
    assert_eq!(six.family, Family::Ipv6);
    assert_eq!(six.advert_interval, Duration::from_millis(10));
    assert_eq!(six.virtual_ipaddress[1].prefix_len, 128);

    // Three warnings: owner with a tracking weight (7:15), owner with preempt false (10:14),
    // peer that is our own VIP (14:31).
    let w: Vec<_> = l
        .warnings
        .iter()
        .map(|d| (d.line, d.column, d.warning))
        .collect();
    assert_eq!(
        w,
        vec![(7, 15, true), (10, 14, true), (14, 31, true)],
        "{:#?}",
        l.warnings
    );
    assert!(l.warnings[0].message.contains("never changed by tracking"));
    assert!(
        l.warnings[1]
            .to_string()
            .starts_with("t.yaml:10:14: warning: ")
    );
}

#[test]
fn display_format() {
    let d = Diagnostic {
        path: "x.yaml".into(),
        line: 3,
        column: 7,
        message: "boom".into(),
        warning: false,
    };
    assert_eq!(d.to_string(), "x.yaml:3:7: boom");
}

#[test]
fn unknown_keys() {
    one_err(
        &format!("listen: \"0.0.0.0:1\"\nfoo: 1\n{MINIMAL}"),
        2,
        1,
        "unknown key `foo`",
    );
    let e = errs(
        "\
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
    prio: 5
    garp: { dely: 1s }
",
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[0].0, e[0].1), (6, 5));
    assert!(e[0].2.contains("unknown key `prio`"), "{}", e[0].2);
    assert!(
        e[0].2.contains("expected one of `interface`, `vrid`"),
        "{}",
        e[0].2
    );
    assert_eq!((e[1].0, e[1].1), (7, 13));
    assert!(e[1].2.contains("unknown key `dely`"));
}

#[test]
fn syntax_error_has_position() {
    one_err("instances:\n  a: 1\n   b: [\n", 3, 5, "invalid YAML");
    // Duplicate keys are rejected by the parser.
    let e = errs("instances: {}\ninstances: {}\n");
    assert_eq!((e[0].0, e[0].1), (2, 1));
}

#[test]
fn empty_and_missing() {
    one_err("", 1, 1, "`instances` is required");
    one_err("router_id: x\n", 1, 1, "missing required key `instances`");
    one_err("instances: {}\n", 1, 1, "at least one instance");
    let e = errs("instances:\n  VI_1:\n    vrid: 1\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!((e[0].0, e[0].1), (2, 3));
    assert!(e[0].2.contains("missing required key `interface`"));
    assert!(
        e[1].2
            .contains("with version 3 at least one address is required"),
        "{e:#?}"
    );
}

#[test]
fn an_instance_without_addresses_is_vrrpv2_over_ipv4() {
    // The cloud pattern: notify hooks move an elastic IP, VRRP only elects.
    for vips in ["", "    virtual_ipaddress: []\n"] {
        let yaml = format!(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 1\n    version: 2\n{vips}    unicast_peers: [10.0.0.2]\n    notify: {{master: [/usr/local/bin/move-eip]}}\n"
        );
        let c = parse_str(&yaml, "t").unwrap().config;
        let i = &c.instances["VI_1"];
        assert!(i.virtual_ipaddress.is_empty());
        assert_eq!(i.family, Family::Ipv4);
        assert_eq!(i.version, Version::V2);
    }
    // VRRPv3 (vipd's default) needs one: RFC 9568 and keepalived 2.2.7 both say so.
    one_err(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 1\n",
        2,
        3,
        "add `version: 2`",
    );
    one_err(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 1\n    version: 3\n    virtual_ipaddress: []\n",
        6,
        24,
        "RFC 9568",
    );
    // Without addresses the family is IPv4: an IPv6 peer is an error.
    one_err(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 1\n    version: 2\n    unicast_peers: [fd00:99::2]\n",
        6,
        21,
        "not ipv4",
    );
}

#[test]
fn field_values() {
    let base = |line: &str| format!("{MINIMAL}    {line}\n");
    one_err(&base("priority: 0"), 6, 15, "out of range 1..255");
    one_err(&base("version: 4"), 6, 14, "must be 2 or 3");
    one_err(&base("preempt: yes"), 6, 14, "expected true or false");
    // Durations in messages read as written: `0s`, not Debug's `0ns`.
    one_err(
        &base("preempt_delay: 1001s"),
        6,
        20,
        "preempt_delay: 1001s is out of range 0s..1000s",
    );
    one_err(
        &base("advert_interval: 0s"),
        6,
        22,
        "advert_interval: 0s is invalid",
    );
    one_err(
        &base("advert_interval: 1500us"),
        6,
        22,
        "advert_interval: 1.5ms is invalid",
    );
    one_err(
        &base("advert_interval: fast"),
        6,
        22,
        "invalid duration `fast`",
    );
    one_err(&base("garp: {repeat: 0}"), 6, 20, "out of range 1..100");
    one_err(
        &base("v3_checksum: crc"),
        6,
        18,
        "expected `pseudo-header` or `rfc9568`",
    );
    one_err(&base("unicast_src: 2001:db8::1"), 6, 18, "not ipv4");
    one_err(
        &base("unicast_src: 192.168.192.13"),
        6,
        18,
        "unicast_src: 192.168.192.13 is one of this instance's virtual addresses",
    );
    one_err(
        &base("unicast_peers: [10.0.0.1, 10.0.0.1]"),
        6,
        31,
        "listed twice",
    );
    one_err(
        &base("track_interfaces: [{name: eth1, weight: 254}]"),
        6,
        45,
        "out of range -253..253",
    );
    one_err(
        "listen: nope\ninstances: {}\n"
            .replace(
                "{}",
                "\n  VI_1: {interface: eth0, vrid: 1, virtual_ipaddress: [10.0.0.1]}",
            )
            .as_str(),
        1,
        9,
        "not an address:port",
    );
    one_err(
        "instances:\n  VI_1:\n    interface: eth0\n    vrid: 256\n    virtual_ipaddress: [10.0.0.1]\n",
        4,
        11,
        "out of range 1..255",
    );
    one_err(
        "instances:\n  VI_1:\n    interface: averyveryverylongname\n    vrid: 1\n    virtual_ipaddress: [10.0.0.1]\n",
        3,
        16,
        "limit is 15",
    );
    one_err(
        "instances:\n  \"bad name\":\n    interface: eth0\n    vrid: 1\n    virtual_ipaddress: [10.0.0.1]\n",
        2,
        3,
        "instance name",
    );
}

#[test]
fn vip_rules() {
    let with = |vips: &str| {
        format!(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 1\n    virtual_ipaddress: {vips}\n"
        )
    };
    one_err(&with("[]"), 5, 24, "at least one address");
    one_err(
        &with("[10.0.0.1, 2001:db8::1]"),
        5,
        35,
        "use one instance per family",
    );
    one_err(&with("[10.0.0.1, 10.0.0.1/24]"), 5, 35, "listed twice");
    one_err(&with("[0.0.0.0]"), 5, 25, "unspecified");
    one_err(&with("[224.0.0.18]"), 5, 25, "multicast");
    one_err(&with("[127.0.0.1]"), 5, 25, "loopback");
    one_err(&with("[\"::1\"]"), 5, 25, "loopback");
    one_err(&with("[10.0.0.1/33]"), 5, 25, "prefix length");
    one_err(&with("[10.0.0.300]"), 5, 25, "not an IP address");
    // All errors of one list are reported.
    assert_eq!(errs(&with("[0.0.0.0, 127.0.0.1, x]")).len(), 3);
}

#[test]
fn rule_a_duplicate_vrid_same_family() {
    let e = errs(
        "\
instances:
  A:
    interface: eth0
    vrid: 5
    virtual_ipaddress: [10.0.0.1]
  B:
    interface: eth0
    vrid: 5
    virtual_ipaddress: [10.0.0.2]
",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].0, e[0].1), (8, 11));
    assert!(
        e[0].2.contains("already used by instance `A`"),
        "{}",
        e[0].2
    );

    // Other family or other interface: fine.
    ok("\
instances:
  A: {interface: eth0, vrid: 5, virtual_ipaddress: [10.0.0.1]}
  B: {interface: eth0, vrid: 5, virtual_ipaddress: [\"2001:db8::1\"]}
  C: {interface: eth1, vrid: 5, virtual_ipaddress: [10.0.0.3]}
");
}

#[test]
fn rule_b_v2_ipv6() {
    one_err(
        "\
instances:
  A:
    interface: eth0
    vrid: 5
    version: 2
    virtual_ipaddress: [\"2001:db8::1\"]
",
        5,
        14,
        "IPv6 requires version 3",
    );
}

#[test]
fn rule_c_auth_on_v3() {
    one_err(
        &format!("{MINIMAL}    authentication: {{type: pass, password: x}}\n"),
        6,
        5,
        "not supported with version 3",
    );
    // v2: password length and type checks.
    let v2 = "instances:\n  A:\n    interface: eth0\n    vrid: 5\n    version: 2\n    virtual_ipaddress: [10.0.0.1]\n";
    one_err(
        &format!("{v2}    authentication: {{type: pass, password: \"123456789\"}}\n"),
        7,
        44,
        "1 to 8 bytes",
    );
    one_err(
        &format!("{v2}    authentication: {{type: md5}}\n"),
        7,
        28,
        "`pass` or `none`",
    );
    let l = ok(&format!("{v2}    authentication: {{type: none}}\n"));
    assert_eq!(l.config.instances["A"].auth_pass, None);
}

#[test]
fn rule_d_v2_interval() {
    let v2 = "instances:\n  A:\n    interface: eth0\n    vrid: 5\n    version: 2\n    virtual_ipaddress: [10.0.0.1]\n";
    one_err(
        &format!("{v2}    advert_interval: 1500ms\n"),
        7,
        22,
        "whole seconds",
    );
    one_err(
        &format!("{v2}    advert_interval: 256\n"),
        7,
        22,
        "whole seconds",
    );
    ok(&format!("{v2}    advert_interval: 2s\n"));
}

#[test]
fn rule_e_v3_interval() {
    one_err(
        &format!("{MINIMAL}    advert_interval: 15ms\n"),
        6,
        22,
        "multiple of 10ms",
    );
    one_err(
        &format!("{MINIMAL}    advert_interval: 41s\n"),
        6,
        22,
        "multiple of 10ms",
    );
    one_err(
        &format!("{MINIMAL}    advert_interval: 0s\n"),
        6,
        22,
        "multiple of 10ms",
    );
    one_err(
        &format!("{MINIMAL}    advert_interval: 1.5\n"),
        6,
        22,
        "needs a unit",
    );
    let l = ok(&format!("{MINIMAL}    advert_interval: 40.95s\n"));
    assert_eq!(
        l.config.instances["VI_1"].advert_interval,
        Duration::from_millis(40950)
    );
}

#[test]
fn rule_f_vip_in_two_instances() {
    let e = errs(
        "\
instances:
  A:
    interface: eth0
    vrid: 5
    virtual_ipaddress: [10.0.0.1/24]
  B:
    interface: eth1
    vrid: 6
    virtual_ipaddress:
      - 10.0.0.2
      - 10.0.0.1/32
",
    );
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0].0, e[0].1), (11, 9));
    assert!(e[0].2.contains("already in instance `A`"), "{}", e[0].2);
}

#[test]
fn errors_from_all_instances() {
    let e = errs(
        "\
instances:
  A: {interface: eth0, vrid: 0, virtual_ipaddress: [10.0.0.1]}
  B: {interface: eth0, vrid: 6, priority: 300, virtual_ipaddress: [10.0.0.2]}
",
    );
    let pos: Vec<_> = e.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(pos, vec![(2, 30), (3, 43)], "{e:#?}");
}

#[test]
fn unreadable_file() {
    let e = load(std::path::Path::new("/nonexistent/vipd.yaml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].column), (0, 0));
    assert!(e[0].message.starts_with("cannot read: "));
    // The path and the OS error, no `:0:0` position.
    assert_eq!(
        e[0].to_string(),
        "/nonexistent/vipd.yaml: cannot read: No such file or directory (os error 2)"
    );
    let dir = std::env::temp_dir();
    let e = load(&dir).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        format!(
            "{}: cannot read: Is a directory (os error 21)",
            dir.display()
        )
    );
}

#[test]
fn examples_parse() {
    let examples = [
        (
            "master-backup/lb1.yaml",
            include_str!("../../config/master-backup/lb1.yaml"),
        ),
        (
            "master-backup/lb2.yaml",
            include_str!("../../config/master-backup/lb2.yaml"),
        ),
        (
            "dual-master/lb1.yaml",
            include_str!("../../config/dual-master/lb1.yaml"),
        ),
        (
            "dual-master/lb2.yaml",
            include_str!("../../config/dual-master/lb2.yaml"),
        ),
        ("vipd.yaml", include_str!("../../config/vipd.yaml")),
    ];
    for (name, text) in examples {
        let l = parse_str(text, name).unwrap_or_else(|e| {
            panic!(
                "{name}: {}",
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        assert!(l.warnings.is_empty(), "{name}: {:?}", l.warnings);
    }
    let mb1 = parse_str(examples[0].1, "x").unwrap().config;
    let mb2 = parse_str(examples[1].1, "x").unwrap().config;
    assert_eq!(mb1.instances["VI_1"].priority, 150);
    assert_eq!(mb2.instances["VI_1"].priority, 100);
    let vip: IpAddr = "192.168.100.10".parse().unwrap();
    assert_eq!(mb1.instances["VI_1"].virtual_ipaddress[0].addr, vip);

    // vipd.yaml shows the defaults: it equals the minimal config with the same essentials.
    let full = parse_str(examples[4].1, "x").unwrap().config;
    let minimal = parse_str(
        "router_id: lb-11\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    virtual_ipaddress: [192.168.100.10/24]\n",
        "x",
    )
    .unwrap()
    .config;
    assert_eq!(full, minimal);
}

// ---- Tracking: scripts, track_scripts, track_files, notify ----

const TRACKED: &str = "\
scripts:
  check_nginx:
    command: [\"true\", \"--quiet\"]
    interval: 2s
    weight: -20
    rise: 2
    fall: 3
    init_fail: true
  vital:
    command: [\"true\"]
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
    track_scripts: [check_nginx, {name: vital}, {name: check_nginx_b, weight: 5}]
    track_files: [{path: /run/vipd/prio}, {path: /run/vipd/stop, weight: 0}, /run/vipd/x]
    notify:
      master: [\"true\", master]
      any: [\"true\"]
";

#[test]
fn tracking_keys() {
    // check_nginx_b is not defined: an error at its name, listing the defined scripts.
    one_err(TRACKED, 16, 56, "unknown script `check_nginx_b`");
    let e = errs(TRACKED);
    assert!(
        e[0].2.contains("defined scripts: `check_nginx`, `vital`"),
        "{}",
        e[0].2
    );

    let l = ok(&TRACKED.replace(", {name: check_nginx_b, weight: 5}", ""));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    assert_eq!(
        c.scripts["check_nginx"],
        ScriptConfig {
            command: vec!["true".into(), "--quiet".into()],
            interval: Duration::from_secs(2),
            // Default: the interval.
            timeout: Duration::from_secs(2),
            weight: -20,
            rise: 2,
            fall: 3,
            user: None,
            init_fail: true,
            reverse: false,
        }
    );
    // Defaults.
    assert_eq!(
        c.scripts["vital"],
        ScriptConfig {
            command: vec!["true".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            weight: 0,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            reverse: false,
        }
    );
    let i = &c.instances["VI_1"];
    // A plain name takes the script's weight.
    assert_eq!(
        i.track_scripts,
        vec![
            TrackScript {
                name: "check_nginx".into(),
                weight: -20,
                reverse: false,
            },
            TrackScript {
                name: "vital".into(),
                weight: 0,
                reverse: false,
            },
        ]
    );
    assert_eq!(
        i.track_files,
        vec![
            TrackFile {
                path: "/run/vipd/prio".into(),
                weight: 1,
                reverse: false,
            },
            TrackFile {
                path: "/run/vipd/stop".into(),
                weight: 0,
                reverse: false,
            },
            TrackFile {
                path: "/run/vipd/x".into(),
                weight: 1,
                reverse: false,
            },
        ]
    );
    assert_eq!(
        i.notify,
        Notify {
            master: Some(vec!["true".into(), "master".into()]),
            any: Some(vec!["true".into()]),
            ..Notify::default()
        }
    );
}

#[test]
fn tracking_values() {
    let l = ok("\
scripts:
  a: { command: [\"true\"], weight: -20, timeout: 500ms, user: root }
  b: { command: [\"true\"] }
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
    track_scripts: [a, {name: b, weight: 5}]
");
    let c = &l.config;
    assert_eq!(c.scripts["a"].timeout, Duration::from_millis(500));
    assert_eq!(c.scripts["a"].user.as_deref(), Some("root"));
    // An entry's weight overrides the script's.
    assert_eq!(
        c.instances["VI_1"].track_scripts,
        vec![
            TrackScript {
                name: "a".into(),
                weight: -20,
                reverse: false,
            },
            TrackScript {
                name: "b".into(),
                weight: 5,
                reverse: false,
            },
        ]
    );
    // The defaults: nothing tracked, no hooks.
    let m = ok(MINIMAL).config;
    assert!(m.scripts.is_empty());
    let i = &m.instances["VI_1"];
    assert!(i.track_scripts.is_empty() && i.track_files.is_empty() && i.notify.is_empty());
    // An empty `scripts:` is fine.
    assert!(
        ok(&format!("scripts: {{}}\n{MINIMAL}"))
            .config
            .scripts
            .is_empty()
    );
}

/// One instance after a `scripts:` block; `extra` lines are instance keys (4 spaces indent).
fn with_scripts(scripts: &str, extra: &str) -> String {
    format!(
        "scripts:\n{scripts}instances:\n  VI_1:\n    interface: eth0\n    vrid: 13\n    virtual_ipaddress: [192.168.192.13/24]\n{extra}"
    )
}

#[test]
fn tracking_errors() {
    let s = "  a:\n    command: [\"true\"]\n";
    // Unknown script, at the name (line 9 = first instance extra line).
    one_err(
        &with_scripts(s, "    track_scripts: [nope]\n"),
        9,
        21,
        "unknown script `nope`; defined scripts: `a`",
    );
    one_err(
        &with_scripts(s, "    track_scripts: [{name: nope, weight: 1}]\n"),
        9,
        28,
        "unknown script `nope`",
    );
    one_err(
        &format!("{MINIMAL}    track_scripts: [x]\n"),
        6,
        21,
        "no scripts are defined",
    );
    one_err(
        &with_scripts(s, "    track_scripts: [a, a]\n"),
        9,
        24,
        "`a` is listed twice",
    );
    one_err(
        &with_scripts(s, "    track_scripts: [{name: a, weight: 254}]\n"),
        9,
        39,
        "254 is out of range -253..253",
    );
    one_err(
        &with_scripts(s, "    track_scripts: [{name: a, wieght: 1}]\n"),
        9,
        31,
        "unknown key `wieght`",
    );
    // Script definitions.
    one_err(
        &with_scripts("  a:\n    command: /bin/true\n", ""),
        3,
        14,
        "expected a list (argv",
    );
    one_err(
        &with_scripts("  a:\n    command: []\n", ""),
        3,
        14,
        "must name a program",
    );
    one_err(
        &with_scripts("  a: {}\n", ""),
        2,
        3,
        "missing required key `command`",
    );
    one_err(
        &with_scripts("  a:\n    command: [\"true\"]\n    interval: 0s\n", ""),
        4,
        15,
        "must be more than 0s",
    );
    one_err(
        &with_scripts("  a:\n    command: [\"true\"]\n    rise: 0\n", ""),
        4,
        11,
        "0 is out of range 1..1000",
    );
    one_err(
        &with_scripts("  a:\n    command: [\"true\"]\n    weight: -254\n", ""),
        4,
        13,
        "-254 is out of range -253..253",
    );
    one_err(
        &with_scripts("  a:\n    command: [\"true\"]\n    init_fail: yes\n", ""),
        4,
        16,
        "expected true or false",
    );
    one_err(
        &with_scripts("  \"a b\":\n    command: [\"true\"]\n", ""),
        2,
        3,
        "script name `a b`",
    );
    one_err(
        &with_scripts("  a:\n    command: [\"true\"]\n    shell: true\n", ""),
        4,
        5,
        "unknown key `shell` in script `a`",
    );
    // A broken script is reported once, not again as "unknown" where it is used.
    one_err(
        &with_scripts("  a:\n    command: []\n", "    track_scripts: [a]\n"),
        3,
        14,
        "must name a program",
    );
    // Files.
    one_err(
        &format!("{MINIMAL}    track_files: [{{path: run/prio}}]\n"),
        6,
        26,
        "must be an absolute path",
    );
    one_err(
        &format!("{MINIMAL}    track_files: [/a, {{path: /a, weight: 2}}]\n"),
        6,
        30,
        "`/a` is listed twice",
    );
    one_err(
        &format!("{MINIMAL}    track_files: [{{path: /a, weight: 255}}]\n"),
        6,
        38,
        "255 is out of range -254..254",
    );
    // Notify.
    one_err(
        &format!("{MINIMAL}    notify:\n      master_up: [\"true\"]\n"),
        7,
        7,
        "unknown key `master_up`",
    );
    one_err(
        &format!("{MINIMAL}    notify:\n      any: \"true\"\n"),
        7,
        12,
        "expected a list",
    );
    one_err(
        &format!("{MINIMAL}    notify:\n      stop: [\"\"]\n"),
        7,
        14,
        "the program must not be empty",
    );
}

fn warnings(yaml: &str) -> Vec<(usize, usize, String)> {
    ok(yaml)
        .warnings
        .into_iter()
        .map(|d| {
            assert!(d.warning);
            (d.line, d.column, d.message)
        })
        .collect()
}

#[test]
fn tracking_warnings_about_programs() {
    // A missing program, at argv[0].
    let w = warnings(&with_scripts(
        "  a:\n    command: [/nonexistent/check, x]\n",
        "",
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1), (3, 15));
    assert!(
        w[0].2
            .contains("script `a`: command: `/nonexistent/check` cannot be used"),
        "{}",
        w[0].2
    );
    let w = warnings(&with_scripts(
        "  a:\n    command: [vipd-no-such-check]\n",
        "",
    ));
    assert!(w[0].2.contains("not found in PATH"), "{}", w[0].2);
    // Not executable.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.sh");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let w = warnings(&with_scripts(
        &format!("  a:\n    command: [\"{}\"]\n", plain.display()),
        "",
    ));
    assert!(w[0].2.contains("is not executable"), "{}", w[0].2);
    // Writable by others: refused as root unless a non-root user is set.
    use std::os::unix::fs::PermissionsExt;
    let open = dir.path().join("open.sh");
    std::fs::write(&open, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let w = warnings(&with_scripts(
        &format!("  a:\n    command: [\"{}\"]\n", open.display()),
        "",
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].2.contains("vipd refuses to run it as root"),
        "{}",
        w[0].2
    );
    let w = warnings(&with_scripts(
        &format!(
            "  a:\n    command: [\"{}\"]\n    user: nobody\n",
            open.display()
        ),
        "",
    ));
    assert!(w.is_empty(), "{w:?}");
    // Notify hooks are checked the same way (they run as root).
    let w = warnings(&format!(
        "{MINIMAL}    notify:\n      backup: [\"{}\", backup]\n",
        open.display()
    ));
    assert_eq!((w.len(), w[0].0, w[0].1), (1, 7, 16), "{w:?}");
    assert!(w[0].2.contains("notify: backup:"), "{}", w[0].2);
    // An unknown user.
    let w = warnings(&with_scripts(
        "  a:\n    command: [\"true\"]\n    user: vipd-no-such-user\n",
        "",
    ));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1), (4, 11));
    assert!(w[0].2.contains("no user `vipd-no-such-user`"), "{}", w[0].2);
}

#[test]
fn tracking_warnings_about_weights() {
    let s = "  a:\n    command: [\"true\"]\n    weight: -20\n  b:\n    command: [\"true\"]\n";
    let inst =
        |prio: u32, tracks: &str| with_scripts(s, &format!("    priority: {prio}\n    {tracks}\n"));
    // 150 - 20 = 130: a backup at 100 never takes over. Blamed on the priority.
    let w = warnings(&inst(150, "track_scripts: [a]"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1), (12, 15));
    assert!(
        w[0].2.contains("priority 150 stays at 130 or more")
            && w[0].2.contains("default priority 100"),
        "{}",
        w[0].2
    );
    // Dropping to exactly 100 still ties: no takeover either.
    assert_eq!(
        warnings(&inst(150, "track_scripts: [{name: a, weight: -50}]")).len(),
        1
    );
    // Enough: 150 - 51 = 99, and weights add up (interfaces too).
    assert!(warnings(&inst(150, "track_scripts: [{name: a, weight: -51}]")).is_empty());
    assert!(
        warnings(&inst(
            150,
            "track_scripts: [a]\n    track_interfaces: [{name: eth1, weight: -40}]"
        ))
        .is_empty()
    );
    // Positive weights only: failing, this node stays at 150; a backup at 100 with the same
    // script healthy reaches 110.
    let w = warnings(&inst(150, "track_scripts: [{name: b, weight: 10}]"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].2.contains("priority 150 stays at 150 or more")
            && w[0]
                .2
                .contains("at most 110 with the same positive weights healthy")
            && w[0].2.contains("more than 150 - 100 = 50"),
        "{}",
        w[0].2
    );
    // The textbook setup: master 101, backup 100, `weight: 2` on both. The master's script
    // failing leaves it at 101 while the healthy backup is at 102: it fails over, no warning.
    assert!(warnings(&inst(101, "track_scripts: [{name: b, weight: 2}]")).is_empty());
    // 102 against 100 + 2: a tie, which does not preempt; 103: never.
    for prio in [102, 103] {
        let w = warnings(&inst(prio, "track_scripts: [{name: b, weight: 2}]"));
        assert_eq!(w.len(), 1, "{prio}: {w:?}");
        assert!(
            w[0].2
                .contains(&format!("priority {prio} stays at {prio} or more")),
            "{}",
            w[0].2
        );
    }
    // Positive and negative weights both count: 150 - 21 = 129 < 100 + 30; 150 - 20 = 130 ties.
    let mixed = |neg: i32| {
        inst(
            150,
            &format!("track_scripts: [{{name: a, weight: {neg}}}, {{name: b, weight: 30}}]"),
        )
    };
    assert!(warnings(&mixed(-21)).is_empty());
    assert_eq!(warnings(&mixed(-20)).len(), 1);
    // Positive interface weights too.
    assert!(warnings(&inst(110, "track_interfaces: [{name: eth1, weight: 11}]")).is_empty());
    // At or below the default priority: not a master over default backups, no opinion.
    assert!(warnings(&inst(100, "track_scripts: [{name: a, weight: -1}]")).is_empty());
    // weight 0 (Fault) only: nothing to check.
    assert!(warnings(&inst(150, "track_scripts: [b]")).is_empty());
    // A weighted file can move the priority by up to 254: no static bound.
    assert!(
        warnings(&inst(
            150,
            "track_scripts: [a]\n    track_files: [{path: /run/p, weight: 1}]"
        ))
        .is_empty()
    );
    // The owner is never changed by tracking.
    let w = warnings(&inst(255, "track_scripts: [a]"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].2.contains("never changed by tracking"), "{}", w[0].2);
}

#[test]
fn log_format_text_default_json_and_errors() {
    let base =
        "instances:\n  V:\n    interface: eth0\n    vrid: 1\n    virtual_ipaddress: [10.0.0.1]\n";
    let c = parse_str(base, "t.yaml").unwrap().config;
    assert_eq!(c.log_format, LogFormat::Text);
    let c = parse_str(&format!("log: {{format: json}}\n{base}"), "t.yaml")
        .unwrap()
        .config;
    assert_eq!(c.log_format, LogFormat::Json);
    let e = parse_str(&format!("log:\n  format: xml\n{base}"), "t.yaml").unwrap_err();
    assert_eq!(
        e[0].to_string(),
        "t.yaml:2:11: log.format: expected `text` or `json`, found `xml`"
    );
    let e = parse_str(&format!("log:\n  level: debug\n{base}"), "t.yaml").unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("t.yaml:2:3: unknown key `level` in log"),
        "{}",
        e[0]
    );
}

#[test]
fn otlp_endpoint_optional_validated_with_position() {
    let base =
        "instances:\n  V:\n    interface: eth0\n    vrid: 1\n    virtual_ipaddress: [10.0.0.1]\n";
    assert_eq!(parse_str(base, "t.yaml").unwrap().config.otlp, None);
    let c = parse_str(
        &format!("otlp: {{endpoint: \"http://127.0.0.1:4318/\"}}\n{base}"),
        "t.yaml",
    )
    .unwrap()
    .config;
    assert_eq!(
        c.otlp,
        Some(Otlp {
            endpoint: "http://127.0.0.1:4318".to_owned()
        })
    );
    let c = parse_str(
        &format!("otlp:\n  endpoint: http://collector.example:4318\n{base}"),
        "t.yaml",
    )
    .unwrap()
    .config;
    assert_eq!(c.otlp.unwrap().endpoint, "http://collector.example:4318");
    // The gRPC port is accepted with a warning that names it, at the value's position.
    let l = parse_str(
        &format!("otlp:\n  endpoint: http://127.0.0.1:4317\n{base}"),
        "t.yaml",
    )
    .unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    let w = &l.warnings[0];
    assert_eq!((w.line, w.column, w.warning), (2, 13, true));
    assert!(
        w.message
            .starts_with("otlp.endpoint: `http://127.0.0.1:4317`: 4317 is the OTLP/gRPC port"),
        "{w:?}"
    );
    // An explicit null is the same as absent.
    assert_eq!(
        parse_str(&format!("otlp:\n{base}"), "t.yaml")
            .unwrap()
            .config
            .otlp,
        None
    );

    let e = parse_str(
        &format!("otlp:\n  endpoint: 127.0.0.1:4318\n{base}"),
        "t.yaml",
    )
    .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].to_string()
            .starts_with("t.yaml:2:13: otlp.endpoint: `127.0.0.1:4318` is not an http:// URL"),
        "{}",
        e[0]
    );
    one_err(
        &format!("otlp:\n  endpoint: \"http://collector\"\n{base}"),
        2,
        13,
        "missing port",
    );
    one_err(
        &format!("otlp:\n  endpoint: \"http://:4318\"\n{base}"),
        2,
        13,
        "missing host",
    );
    one_err(
        &format!("otlp:\n  endpoint: \"http://h:99999\"\n{base}"),
        2,
        13,
        "bad port",
    );
    one_err(
        &format!("otlp:\n  endpoint: \"https://h:4318\"\n{base}"),
        2,
        13,
        "https is not supported",
    );
    one_err(
        &format!("otlp:\n  endpoint: 4318\n{base}"),
        2,
        13,
        "not an http:// URL",
    );
    one_err(
        &format!("otlp: {{}}\n{base}"),
        1,
        1,
        "otlp: missing required key `endpoint`",
    );
    let e = errs(&format!("otlp:\n  url: \"http://h:1\"\n{base}"));
    assert_eq!(
        e,
        [
            (1, 1, "otlp: missing required key `endpoint`".to_owned()),
            (
                2,
                3,
                "unknown key `url` in otlp, expected one of `endpoint`".to_owned()
            )
        ]
    );
    one_err(
        &format!("otlp: \"http://h:1\"\n{base}"),
        1,
        7,
        "otlp: expected a mapping",
    );
}

/// An instance with `n` virtual addresses, one per line: address `i` is on line `6 + i` (with
/// `extra` being one line), column 9.
fn many_vips(n: usize, addr: impl Fn(usize) -> String, extra: &str) -> String {
    let mut s = format!(
        "instances:\n  V:\n    interface: eth0\n    vrid: 1\n{extra}    virtual_ipaddress:\n"
    );
    for i in 0..n {
        s += &format!("      - \"{}\"\n", addr(i));
    }
    s
}

fn v4(i: usize) -> String {
    format!("10.1.{}.{}", i / 250, i % 250 + 1)
}

fn v6(i: usize) -> String {
    if i == 0 {
        "fe80::1".to_owned()
    } else {
        format!("2001:db8::{i:x}")
    }
}

#[test]
fn at_most_255_addresses_in_an_advert() {
    let l = ok(&many_vips(255, v4, ""));
    assert_eq!(l.config.instances["V"].virtual_ipaddress.len(), 255);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    // The 256th is blamed: the count is one byte.
    one_err(
        &many_vips(256, v4, ""),
        6 + 255,
        9,
        "instance `V`: virtual_ipaddress: at most 255 addresses fit in a VRRP advert (the count \
         is one byte); found 256",
    );
}

#[test]
fn advert_larger_than_a_1500_byte_mtu() {
    // IPv6: 40 + 8 + 16 * 90 = 1488 bytes fit; the 91st address does not.
    assert!(warnings(&many_vips(90, v6, "")).is_empty());
    let w = warnings(&many_vips(91, v6, ""));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].0, w[0].1), (6 + 90, 9));
    assert_eq!(
        w[0].2,
        "instance `V`: virtual_ipaddress: an advert with all 91 addresses is 1504 bytes, more \
         than a standard 1500-byte MTU, where 90 fit (IPv6 header 40 + VRRP 8 + 16 per \
         address); addresses beyond what fits the interface MTU are added but not advertised"
    );
    // IPv4 v2 (with its 8 bytes of authentication data): 366 fit, so only past the count limit.
    let e = parse_str(&many_vips(400, v4, "    version: 2\n"), "t.yaml").unwrap_err();
    let w: Vec<_> = e.iter().filter(|d| d.warning).collect();
    assert_eq!(w.len(), 1, "{e:#?}");
    assert_eq!((w[0].line, w[0].column), (7 + 366, 9));
    assert!(
        w[0].message.contains(
            "400 addresses is 1636 bytes, more than a standard 1500-byte MTU, where 366 fit \
             (IPv4 header 20 + VRRP 8 + authentication 8 + 4 per address)"
        ),
        "{}",
        w[0].message
    );
    assert_eq!(e.iter().filter(|d| !d.warning).count(), 1, "{e:#?}");
}

#[test]
fn ipv6_first_address_should_be_link_local() {
    let w = warnings(&many_vips(2, |i| format!("2001:db8::{}", i + 1), ""));
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!((w[0].0, w[0].1), (6, 9));
    assert!(
        w[0].2.starts_with(
            "instance `V`: virtual_ipaddress: the first address 2001:db8::1 is not link-local \
             (fe80::/10); RFC 9568 5.2.9 (erratum 8300)"
        ) && w[0].2.contains("vipd still accepts adverts")
            && w[0].2.contains("keepalived sends them"),
        "{}",
        w[0].2
    );
    // A link-local address later in the list does not count: the first one is advertised first.
    assert_eq!(
        warnings(&many_vips(
            2,
            |i| ["2001:db8::1", "fe80::1"][i].to_owned(),
            ""
        ))
        .len(),
        1
    );
    // Link-local first (anywhere in fe80::/10): fine. IPv4 is not concerned.
    assert!(warnings(&many_vips(2, v6, "")).is_empty());
    assert!(warnings(&many_vips(1, |_| "febf::1".to_owned(), "")).is_empty());
    assert_eq!(
        warnings(&many_vips(1, |_| "fec0::1".to_owned(), "")).len(),
        1
    );
    assert!(warnings(&many_vips(1, v4, "")).is_empty());
}

#[test]
fn garp_timing_that_floods_the_segment() {
    let base = |garp: &str| format!("{MINIMAL}    garp: {garp}\n");
    // `refresh: 1us` once sent 1.4 million announcements in 5 s: below 1 s is an error.
    one_err(
        &base("{refresh: 1us}"),
        6,
        21,
        "garp: refresh: 1us is below 1s: a burst of 5 every 1us is 5000000 announcements \
         per second per address",
    );
    one_err(
        &base("{repeat: 3, refresh: 500ms}"),
        6,
        32,
        "a burst of 3 every 500ms is 6 announcements per second per address",
    );
    // keepalived's bounds: garp_master_delay up to UINT_MAX / TIMER_HZ = 4294 s.
    one_err(
        &base("{delay: 4295s}"),
        6,
        19,
        "garp: delay: 4295s is out of range 0s..4294s",
    );
    one_err(&base("{repeat: 101}"), 6, 20, "out of range 1..100");
    // Accepted without a word: off, the shortest refresh, keepalived-like settings.
    for g in [
        "{refresh: 0s}",
        "{refresh: 1s}",
        "{repeat: 10, refresh: 1s}",
        "{repeat: 100, refresh: 10s}",
        "{delay: 0s, repeat: 1, refresh: 2m}",
        "{delay: 4294s}",
        "{delay: 500ms}",
    ] {
        assert!(warnings(&base(g)).is_empty(), "{g}");
    }
    // More than 10 per second per address on average: a warning at `refresh`.
    let w = warnings(&base("{repeat: 11, refresh: 1s}"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].0, w[0].1), (6, 33));
    assert!(
        w[0].2.starts_with(
            "instance `VI_1`: garp: refresh: a burst of 11 every 1s is 11 announcements per \
             second per address on average while master (more than 10)"
        ),
        "{}",
        w[0].2
    );
    let w = warnings(&base("{repeat: 100, refresh: 1.5s}"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].2.contains("every 1.5s is 66.7 announcements"),
        "{}",
        w[0].2
    );
}

#[test]
fn garp_interval_spaces_announcements_like_keepalived_garp_interval() {
    let base = |garp: &str| format!("{MINIMAL}    garp: {garp}\n");
    let l = ok(&base("{interval: 10ms}"));
    let i = l.config.instances.values().next().unwrap();
    assert_eq!(i.garp.interval, Duration::from_millis(10));
    assert!(l.warnings.is_empty());
    let y = crate::config::to_yaml(i);
    assert!(y.contains("interval: 10ms"), "{y}");
    assert_eq!(
        ok(MINIMAL)
            .config
            .instances
            .values()
            .next()
            .unwrap()
            .garp
            .interval,
        Duration::ZERO
    );
    // keepalived logs "very large" from 1 s; vipd warns, and stops at 10 s.
    let w = warnings(&base("{interval: 1s}"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].2.contains("a burst of 5 takes 4s"), "{}", w[0].2);
    one_err(&base("{interval: 11s}"), 6, 22, "out of range 0s..10s");
}

fn with_processes(processes: &str, extra: &str) -> String {
    format!(
        "processes:\n{processes}instances:\n  VI_1:\n    interface: eth0\n    vrid: 13\n    priority: 150\n    virtual_ipaddress: [192.168.192.13/24]\n{extra}"
    )
}

#[test]
fn processes_and_track_processes() {
    use crate::track::{ParamMatch, ProcessMatch};
    let l = ok(&with_processes(
        "  nginx: {name: nginx, args: \"\", quorum: 1, weight: -60, delay: 0s}\n  \
         lb: {name: /usr/sbin/haproxy, args: \"-f /etc/h.cfg\", param_match: partial, quorum: 2, quorum_max: 4, fork_delay: 1s, terminate_delay: 250ms}\n  \
         never: {name: telnetd, quorum_max: 0}\n",
        "    track_processes: [nginx, {name: lb, weight: -70}, never]\n",
    ));
    let p = &l.config.processes;
    assert_eq!(p["nginx"].matcher, ProcessMatch::name("nginx"));
    assert_eq!((p["nginx"].quorum, p["nginx"].quorum_max), (1, u32::MAX));
    assert_eq!(p["nginx"].weight, -60);
    assert_eq!(
        p["lb"].matcher,
        ProcessMatch {
            name: "/usr/sbin/haproxy".into(),
            full_command: true,
            params: Some((vec!["-f".into(), "/etc/h.cfg".into()], ParamMatch::Partial)),
        }
    );
    assert_eq!((p["lb"].quorum, p["lb"].quorum_max), (2, 4));
    assert_eq!(p["lb"].fork_delay, Duration::from_secs(1));
    assert_eq!(p["lb"].terminate_delay, Duration::from_millis(250));
    // keepalived: quorum_max 0 (quorum left out) means the process must not run.
    assert_eq!((p["never"].quorum, p["never"].quorum_max), (0, 0));
    // keepalived 2.2.7's default weight is 0 (its man page says 1; the parser leaves 0).
    assert_eq!(p["never"].weight, 0);
    let t = &l.config.instances["VI_1"].track_processes;
    assert_eq!(
        t.iter()
            .map(|t| (t.name.as_str(), t.weight))
            .collect::<Vec<_>>(),
        vec![("nginx", -60), ("lb", -70), ("never", 0)]
    );
}

#[test]
fn process_errors_and_warnings() {
    let inst = "    track_processes: [a]\n";
    one_err(
        &with_processes("  a: {name: nginx, quorum: 0}\n", inst),
        2,
        28,
        "quorum: must be at least 1 (for a process that must not run, use `quorum_max: 0`)",
    );
    one_err(
        &with_processes("  a: {name: nginx, quorum: 3, quorum_max: 2}\n", inst),
        2,
        43,
        "quorum_max: 2 is less than `quorum` (3)",
    );
    one_err(
        &with_processes("  a: {name: nginx, weight: 254}\n", inst),
        2,
        28,
        "254 is out of range -253..253",
    );
    one_err(
        &with_processes("  a: {name: nginx, delay: 2h}\n", inst),
        2,
        27,
        "out of range 0s..1h",
    );
    one_err(
        &with_processes("  a: {name: nginx, param_match: fuzzy}\n", inst),
        2,
        33,
        "expected `exact`, `partial` or `initial`, found `fuzzy`",
    );
    one_err(
        &with_processes("  a: {name: a-very-long-daemon-name}\n", inst),
        2,
        13,
        "the kernel keeps only the first 15 of a process name (comm), so it would never match: use `a-very-long-dae`",
    );
    one_err(
        &with_processes("  a: {args: x}\n", inst),
        2,
        3,
        "process `a`: missing required key `name`",
    );
    one_err(
        &with_processes("  a: {name: nginx}\n", "    track_processes: [b]\n"),
        9,
        23,
        "unknown process `b`; defined processes: `a`",
    );
    one_err(
        &format!("{MINIMAL}    track_processes: [nginx]\n"),
        6,
        23,
        "no processes are defined under the top-level `processes:`",
    );
    one_err(
        &with_processes(
            "  a: {name: nginx}\n",
            "    track_processes: [a, {name: a, weight: 2}]\n",
        ),
        9,
        33,
        "`a` is listed twice",
    );
    // A broken process is reported once, not again as unknown where it is used.
    one_err(
        &with_processes("  a: {name: nginx, quorum: x}\n", inst),
        2,
        28,
        "quorum",
    );
    // A path as the name: comm is the file name only.
    let l = ok(&with_processes(
        "  a: {name: /usr/sbin/nginx, weight: -60}\n",
        inst,
    ));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("use `nginx`, or `full_command: true`")),
        "{:?}",
        l.warnings
    );
    // Process weights count in the weight check like script weights.
    let l = ok(&with_processes("  a: {name: nginx, weight: -20}\n", inst));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("would never take over")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn group_label_key() {
    let base = |line: &str| format!("{MINIMAL}    {line}\n");
    assert_eq!(ok(MINIMAL).config.instances["VI_1"].group, None);
    let l = ok(&base("group: web-lan1/10.99.0.0:v4"));
    assert_eq!(
        l.config.instances["VI_1"].group.as_deref(),
        Some("web-lan1/10.99.0.0:v4")
    );
    one_err(&base("group: \"\""), 6, 12, "group: must not be empty");
    one_err(
        &base(&format!("group: {}", "g".repeat(65))),
        6,
        12,
        "is 65 bytes long, the limit is 64",
    );
    one_err(&base("group: \"a,b\""), 6, 12, "`,` is not allowed");
    one_err(&base("group: \"a b\""), 6, 12, "` ` is not allowed");
    one_err(&base("group: \"é\""), 6, 12, "is not allowed");
}

const VMAC_BASE: &str = "instances:\n  VI_1:\n    interface: eth0\n    vrid: 21\n    virtual_ipaddress: [10.99.0.21/24]\n";

#[test]
fn use_vmac_true_takes_keepalived_default_name() {
    let c = ok(&format!("{VMAC_BASE}    use_vmac: true\n")).config;
    let v = c.instances["VI_1"].vmac.clone().unwrap();
    assert_eq!(v.name, "vrrp.21");
    assert!(!v.xmit_base);
    let c = ok(&format!(
        "{VMAC_BASE}    use_vmac: gw0\n    vmac_xmit_base: true\n"
    ))
    .config;
    let v = c.instances["VI_1"].vmac.clone().unwrap();
    assert_eq!((v.name.as_str(), v.xmit_base), ("gw0", true));
    let c = ok(&format!("{VMAC_BASE}    use_vmac: false\n")).config;
    assert_eq!(c.instances["VI_1"].vmac, None);
}

#[test]
fn vmac_link_local_is_on_by_default_and_can_be_turned_off_for_ipv6() {
    let v6 = "instances:\n  VI_6:\n    interface: eth0\n    vrid: 6\n    priority: 100\n    virtual_ipaddress: [fd00:99::5/64]\n    use_vmac: true\n";
    let c = ok(v6).config;
    assert!(c.instances["VI_6"].vmac.as_ref().unwrap().link_local);
    assert_eq!(crate::router::vmac::vips(&c.instances["VI_6"]).len(), 2);
    let off = ok(&format!("{v6}    vmac_link_local: false\n")).config;
    assert!(!off.instances["VI_6"].vmac.as_ref().unwrap().link_local);
    assert_eq!(crate::router::vmac::vips(&off.instances["VI_6"]).len(), 1);
    let again = ok(&to_yaml(&off)).config;
    assert_eq!(again.instances["VI_6"].vmac, off.instances["VI_6"].vmac);
    let l = ok(&v6.replace("    use_vmac: true\n", "    vmac_link_local: false\n"));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.to_string().contains("has no effect without `use_vmac`")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn use_vmac_round_trips_through_yaml() {
    for extra in [
        "    use_vmac: true\n",
        "    use_vmac: gw0\n    vmac_xmit_base: true\n",
    ] {
        let c = ok(&format!("{VMAC_BASE}{extra}")).config;
        let text = to_yaml(&c);
        let again = ok(&text).config;
        assert_eq!(
            again.instances["VI_1"].vmac, c.instances["VI_1"].vmac,
            "{text}"
        );
    }
}

#[test]
fn use_vmac_bad_values_are_errors_with_positions() {
    one_err(
        &format!("{VMAC_BASE}    use_vmac: [a]\n"),
        6,
        15,
        "use_vmac",
    );
    one_err(
        &format!("{VMAC_BASE}    use_vmac: averyveryverylongname\n"),
        6,
        15,
        "the limit is 15",
    );
    one_err(
        &format!("{VMAC_BASE}    use_vmac: eth0\n"),
        6,
        15,
        "own interface",
    );
    one_err(
        &format!("{VMAC_BASE}    use_vmac: true\n    unicast_peers: [10.99.0.2]\n"),
        6,
        15,
        "unicast_peers",
    );
    one_err(
        &format!("{VMAC_BASE}    vmac_xmit_base: 1\n"),
        6,
        21,
        "expected true or false",
    );
}

#[test]
fn two_instances_cannot_share_a_macvlan() {
    let y = "instances:
  A:
    interface: eth0
    vrid: 21
    use_vmac: true
    virtual_ipaddress: [10.99.0.21/24]
  B:
    interface: eth0
    vrid: 21
    use_vmac: true
    virtual_ipaddress: ['fd00:99::21/64']
";
    one_err(y, 10, 15, "vrrp6.21");
}

#[test]
fn vmac_xmit_base_without_use_vmac_is_a_warning() {
    let l = ok(&format!("{VMAC_BASE}    vmac_xmit_base: true\n"));
    assert!(
        l.warnings.iter().any(|w| w.message.contains("no effect")),
        "{:?}",
        l.warnings
    );
}

/// keepalived's `weight N reverse`: `reverse` on a script or process is the default of its
/// entries, an entry's own `reverse` (true or false, keepalived's `noreverse`) wins; files and
/// interfaces take it per entry.
#[test]
fn reverse_on_definitions_and_entries() {
    let l = ok("\
scripts:
  up: { command: [\"true\"], weight: 20, reverse: true }
  plain: { command: [\"true\"], weight: -10 }
processes:
  web: { name: nginx, weight: 10, reverse: true }
instances:
  VI_1:
    interface: eth0
    vrid: 13
    priority: 150
    virtual_ipaddress: [192.168.192.13/24]
    track_scripts: [up, {name: plain, reverse: true}]
    track_processes: [{name: web, weight: 5, reverse: false}]
    track_files: [{path: /run/a, weight: 0, reverse: true}, /run/b]
    track_interfaces: [{name: eth1, weight: 30, reverse: true}, {name: eth2, reverse: true}, eth3]
  VI_2:
    interface: eth0
    vrid: 14
    virtual_ipaddress: [192.168.192.14/24]
    track_scripts: [{name: up, reverse: false}]
");
    let c = &l.config;
    assert!(c.scripts["up"].reverse && !c.scripts["plain"].reverse);
    assert!(c.processes["web"].reverse);
    let i = &c.instances["VI_1"];
    let s: Vec<(&str, i32, bool)> = i
        .track_scripts
        .iter()
        .map(|t| (t.name.as_str(), t.weight, t.reverse))
        .collect();
    assert_eq!(s, [("up", 20, true), ("plain", -10, true)]);
    assert_eq!(
        i.track_processes,
        [TrackProcess {
            name: "web".into(),
            weight: 5,
            reverse: false
        }]
    );
    let f: Vec<(i32, bool)> = i
        .track_files
        .iter()
        .map(|t| (t.weight, t.reverse))
        .collect();
    assert_eq!(f, [(0, true), (1, false)]);
    let t: Vec<(Option<i32>, bool)> = i
        .track_interfaces
        .iter()
        .map(|t| (t.weight, t.reverse))
        .collect();
    assert_eq!(t, [(Some(30), true), (None, true), (None, false)]);
    assert!(!c.instances["VI_2"].track_scripts[0].reverse);
    // Written back, the entries carry the resolved `reverse`, and read back the same.
    let again = ok(&to_yaml(c)).config;
    for n in ["VI_1", "VI_2"] {
        assert_eq!(again.instances[n], c.instances[n], "{}", to_yaml(c));
    }
}

#[test]
fn reverse_must_be_a_boolean() {
    let e = errs(
        "\
scripts:
  up: { command: [\"true\"], reverse: yes please }
instances:
  VI_1:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
    track_files: [{path: /run/a, reverse: 1}]
",
    );
    assert!(
        e.iter().any(|(_, _, m)| m.contains("script `up`: reverse")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|(_, _, m)| m.contains("track_files: reverse")),
        "{e:?}"
    );
}

/// The weight warning still checks reversed weights: +20 reversed (-20 while up) cannot
/// take 150 below a backup at 100, +60 reversed can.
#[test]
fn reversed_weights_in_the_weight_warning() {
    let yaml = |w: i32| {
        format!(
            "\
scripts:
  up: {{ command: [\"true\"], weight: {w}, reverse: true }}
instances:
  VI_1:
    interface: eth0
    vrid: 13
    priority: 150
    virtual_ipaddress: [192.168.192.13/24]
    track_scripts: [up]
"
        )
    };
    assert!(ok(&yaml(60)).warnings.is_empty());
    assert!(!ok(&yaml(20)).warnings.is_empty());
}

/// `unicast_peers` entries in the mapping form with keepalived's `min_ttl` / `max_ttl`.
#[test]
fn unicast_peer_ttl_ranges() {
    let base = |peers: &str, extra: &str| {
        format!(
            "instances:\n  VI_1:\n    interface: eth0\n    vrid: 13\n    virtual_ipaddress: [192.168.192.13/24]\n    unicast_peers: {peers}\n{extra}"
        )
    };
    let l = ok(&base(
        "[192.168.192.2, {address: 192.168.192.3, min_ttl: 250}, {address: 192.168.192.4, min_ttl: 0, max_ttl: 255}]",
        "",
    ));
    let i = &l.config.instances["VI_1"];
    assert_eq!(i.unicast_peers.len(), 3);
    assert!(i.check_unicast_src, "a range implies check_unicast_src");
    let r: Vec<(String, u8, u8)> = i
        .unicast_peer_ttl
        .iter()
        .map(|(a, r)| (a.to_string(), r.min, r.max))
        .collect();
    assert_eq!(
        r,
        [
            ("192.168.192.3".to_owned(), 250, 255),
            ("192.168.192.4".to_owned(), 0, 255)
        ]
    );
    // Written back and read again: the same instance.
    let again = ok(&to_yaml(&l.config)).config;
    assert_eq!(again.instances["VI_1"], *i, "{}", to_yaml(&l.config));
    // Without a range nothing changes: no source check.
    assert!(!ok(&base("[192.168.192.2]", "")).config.instances["VI_1"].check_unicast_src);

    let e = errs(&base(
        "[{address: 192.168.192.3, min_ttl: 200, max_ttl: 100}]",
        "",
    ));
    assert!(
        e.iter()
            .any(|(_, _, m)| m.contains("min_ttl 200 is above max_ttl 100")),
        "{e:?}"
    );
    let e = errs(&base("[{address: 192.168.192.3, max_ttl: 256}]", ""));
    assert!(e.iter().any(|(_, _, m)| m.contains("max_ttl")), "{e:?}");
    let e = errs(&base("[{address: 192.168.192.3, ttl: 1}]", ""));
    assert!(e.iter().any(|(_, _, m)| m.contains("ttl")), "{e:?}");
    let e = errs(&base(
        "[{address: 192.168.192.3, min_ttl: 1}]",
        "    check_unicast_src: false\n",
    ));
    assert!(
        e.iter()
            .any(|(_, _, m)| m.contains("cannot be false with a unicast peer's `min_ttl`")),
        "{e:?}"
    );
}

/// A notify hook's mapping form `{command, user, group}`, for instances and sync groups.
#[test]
fn notify_hooks_with_a_user() {
    let l = ok("\
instances:
  A:
    interface: eth0
    vrid: 13
    virtual_ipaddress: [192.168.192.13/24]
    notify:
      master: {command: [/bin/true, up], user: nobody}
      backup: {command: [/bin/true], user: nobody, group: daemon}
      any: [/bin/true]
  B:
    interface: eth1
    vrid: 14
    virtual_ipaddress: [192.168.193.14/24]
sync_groups:
  GW:
    instances: [A, B]
    notify: {fault: {command: [/bin/true], user: nobody}}
");
    let n = &l.config.instances["A"].notify;
    assert_eq!(
        n.master.as_deref(),
        Some(&["/bin/true".to_owned(), "up".to_owned()][..])
    );
    assert_eq!(
        n.run_as["master"],
        RunAs {
            user: "nobody".into(),
            group: None
        }
    );
    assert_eq!(n.run_as["backup"].group.as_deref(), Some("daemon"));
    assert!(!n.run_as.contains_key("any"));
    assert_eq!(
        l.config.sync_groups["GW"].notify.run_as["fault"].user,
        "nobody"
    );
    // Written back in the same form and read again.
    let again = ok(&to_yaml(&l.config)).config;
    assert_eq!(again.instances["A"].notify, *n);
    assert_eq!(
        again.sync_groups["GW"].notify,
        l.config.sync_groups["GW"].notify
    );

    let base = |hook: &str| {
        format!(
            "instances:\n  A:\n    interface: eth0\n    vrid: 13\n    virtual_ipaddress: [192.168.192.13/24]\n    notify:\n      master: {hook}\n"
        )
    };
    // An unknown user is named at its line by `vipd check` (a warning, as for a check
    // script's `user`: the host that checks may not be the one that runs it).
    let w = ok(&base("{command: [/bin/true], user: vipd-no-such-user}")).warnings;
    assert!(
        w.iter().any(|d| d.line == 7
            && d.message
                .contains("notify: master: user: no user `vipd-no-such-user` on this host")),
        "{w:?}"
    );
    for (hook, says) in [
        (
            "{command: [/bin/true], group: daemon}",
            "`group` needs `user`",
        ),
        (
            "{command: [/bin/true], user: \"\"}",
            "user: must not be empty",
        ),
        ("{user: nobody}", "command"),
        ("{command: [/bin/true], uid: 0}", "uid"),
    ] {
        let e = errs(&base(hook));
        assert!(e.iter().any(|(_, _, m)| m.contains(says)), "{hook}: {e:?}");
    }
}

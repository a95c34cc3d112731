//! vipd against keepalived 2.2.7 on a LAN of network namespaces (root): each implementation as
//! master and as backup, for VRRPv2 (IPv4, simple-text authentication), VRRPv3 over IPv4 and
//! VRRPv3 over IPv6. The higher priority wins whichever implementation has it, only one host
//! holds the address at a time, and failover and preemption work in both directions.

mod labkit;

use std::time::{Duration, Instant};

use labkit::{Keepalived, Lab, tshark};

const S: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    /// VRRPv2, IPv4, 1 s, auth PASS "1111".
    V2,
    /// VRRPv3, IPv4, 100 ms.
    V3v4,
    /// VRRPv3, IPv6, 100 ms.
    V3v6,
}

impl Proto {
    /// The virtual address (without prefix length) for virtual router `vrid`.
    fn vip(self, vrid: u8) -> String {
        match self {
            Proto::V3v6 => format!("fd00:99::{vrid}"),
            _ => format!("10.99.0.{vrid}"),
        }
    }

    fn vip_with_len(self, vrid: u8) -> String {
        match self {
            Proto::V3v6 => format!("{}/64", self.vip(vrid)),
            _ => format!("{}/24", self.vip(vrid)),
        }
    }

    /// The advertisement interval.
    fn interval(self) -> Duration {
        match self {
            Proto::V2 => S,
            _ => Duration::from_millis(100),
        }
    }

    /// RFC Master_Down_Interval for a backup of priority `prio`.
    fn master_down(self, prio: u32) -> Duration {
        let i = self.interval();
        3 * i + i * (256 - prio) / 256
    }

    /// Generous bound for an election or failover that waits for Master_Down_Interval.
    fn timeout(self) -> Duration {
        match self {
            Proto::V2 => 7 * S,
            _ => 3 * S,
        }
    }
}

/// vipd's YAML for one instance.
fn vipd_cfg(p: Proto, vrid: u8, prio: u8) -> String {
    let proto = match p {
        Proto::V2 => {
            "    version: 2\n    advert_interval: 1s\n    authentication: {type: pass, password: \"1111\"}\n"
        }
        _ => "    advert_interval: 100ms\n",
    };
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: {vrid}\n    priority: {prio}\n{proto}    garp: {{delay: 1s}}\n    virtual_ipaddress: [\"{}\"]\n",
        p.vip_with_len(vrid)
    )
}

/// keepalived's configuration for the same instance.
fn ka_cfg(p: Proto, router_id: &str, vrid: u8, prio: u8) -> String {
    let (global, proto) = match p {
        Proto::V2 => (
            "",
            "    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n",
        ),
        _ => ("    vrrp_version 3\n", "    advert_int 0.1\n"),
    };
    format!(
        "global_defs {{\n    router_id {router_id}\n    vrrp_garp_master_delay 1\n{global}}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n{proto}\
         \x20   virtual_ipaddress {{\n        {}\n    }}\n}}\n",
        p.vip_with_len(vrid)
    )
}

/// Neither side rejected anything the other sent: vipd dropped no advert and keepalived logged
/// none of its receive-side complaints (bad version, TTL, auth, interval, addresses, length).
fn no_complaints(lab: &Lab, vipd_host: &str, ka_host: &str) {
    let vlog = lab.log(&format!("{vipd_host}.log"));
    assert!(vlog.contains("new peer"), "vipd saw keepalived: {vlog}");
    assert!(
        !vlog.contains("advert dropped"),
        "vipd dropped keepalived's adverts: {vlog}"
    );
    let klog = lab.log(&format!("{ka_host}.log"));
    let bad = [
        "invalid",
        "mismatch",
        "wrong",
        "expect",
        "not present",
        "checksum",
        "packet too",
    ];
    for l in klog.lines() {
        let lower = l.to_lowercase();
        assert!(
            !bad.iter().any(|b| lower.contains(b)),
            "keepalived complains: {l}\n{klog}"
        );
    }
}

fn pair(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    lab.host("b", "10.99.0.12", Some("fd00:99::12"));
    lab
}

const HOSTS: [&str; 2] = ["a", "b"];

/// keepalived on a (priority 150) and vipd on b (priority 100): keepalived wins; it loses its
/// link (or is stopped, for IPv6) and vipd takes over; it comes back and preempts.
fn keepalived_master_vipd_backup(prefix: &str, p: Proto, vrid: u8) {
    // Declared before the lab so it is dropped after it: reaps what the lab's drop left.
    let mut ka = Keepalived::new();
    let mut lab = pair(prefix);
    let vip = p.vip(vrid);
    let capture = (p == Proto::V3v4).then(|| lab.capture("b", "adverts", "ip proto 112"));
    let ka_conf = ka_cfg(p, &format!("ka_{prefix}_a"), vrid, 150);
    // The higher priority starts first; vipd, joining, must stay backup.
    let mut kpid = ka.start(&mut lab, "a", &ka_conf);
    lab.wait_holder(&["a"], &vip, "a", p.timeout());
    lab.vipd("b", &vipd_cfg(p, vrid, 100));

    lab.wait_holder(&HOSTS, &vip, "a", p.timeout());
    lab.hold_steady(&HOSTS, &vip, "a", 2 * S);
    assert!(
        lab.log("b.log").contains("INIT -> BACKUP"),
        "{}",
        lab.log("b.log")
    );
    assert!(
        !lab.log("b.log").contains("-> MASTER"),
        "vipd never became master: {}",
        lab.log("b.log")
    );

    if p == Proto::V3v6 {
        // keepalived resigns with priority 0: vipd takes over after Skew_Time.
        lab.signal(kpid, "TERM");
        let took = lab.wait_holder(&HOSTS, &vip, "b", p.timeout());
        ka.wait_stopped(&mut lab, kpid);
        assert!(
            took < p.master_down(100),
            "handover after keepalived's priority 0 took {took:?}"
        );
        assert!(
            lab.log("b.log").contains("resigned (priority 0)"),
            "{}",
            lab.log("b.log")
        );
        eprintln!("{prefix}: keepalived stopped, vipd master after {took:?}");
        lab.hold_steady(&HOSTS, &vip, "b", S);
        kpid = ka.start(&mut lab, "a", &ka_conf);
    } else {
        // keepalived's link fails: vipd takes over after Master_Down_Interval; keepalived
        // enters FAULT and releases the address.
        lab.link("a", false);
        let took = lab.wait_holder(&["b"], &vip, "b", p.timeout());
        assert!(
            took + p.interval() + Duration::from_millis(50) >= p.master_down(100),
            "vipd waits Master_Down_Interval (from keepalived's last advert): {took:?}"
        );
        labkit::wait_for(3 * S, "keepalived to release the address", || {
            !lab.has_addr("a", &vip)
        });
        assert!(
            lab.log("a.log").contains("Entering FAULT STATE"),
            "{}",
            lab.log("a.log")
        );
        eprintln!("{prefix}: keepalived link down, vipd master after {took:?}");
        lab.link("a", true);
    }

    // keepalived is back as backup, sees vipd's lower priority and preempts.
    let t = Instant::now();
    let took = lab.wait_holder(&HOSTS, &vip, "a", p.timeout());
    eprintln!(
        "{prefix}: keepalived preempted back after {took:?} ({:?})",
        t.elapsed()
    );
    lab.hold_steady(&HOSTS, &vip, "a", S);
    let blog = lab.log("b.log");
    assert_eq!(
        blog.matches("BACKUP -> MASTER").count(),
        1,
        "one takeover by vipd: {blog}"
    );
    assert!(
        blog.contains("MASTER -> BACKUP"),
        "vipd stepped down for keepalived: {blog}"
    );

    if let Some((cap, pcap)) = capture {
        lab.stop_capture(cap);
        // Both implementations' v3 adverts have a correct checksum (tshark uses the
        // pseudo-header form, as keepalived 2.2.7 and vipd by default do).
        let rows = tshark(
            &pcap,
            "vrrp",
            &[
                "ip.src",
                "vrrp.version",
                "vrrp.virt_rtr_id",
                "vrrp.prio",
                "vrrp.checksum.status",
            ],
        );
        let mut seen = [0, 0];
        for r in &rows {
            let f: Vec<&str> = r.split(',').collect();
            assert_eq!(&f[1..3], ["3", &vrid.to_string()], "{r}");
            assert_eq!(f[4], "1", "tshark says the checksum is correct: {r}");
            match (f[0], f[3]) {
                ("10.99.0.11", "150") => seen[0] += 1,
                ("10.99.0.12", "100") => seen[1] += 1,
                _ => panic!("unexpected advert {r}"),
            }
        }
        assert!(
            seen[0] > 10 && seen[1] > 3,
            "adverts from keepalived and vipd: {seen:?}"
        );
        let peer = blog
            .lines()
            .find(|l| l.contains("new peer") && l.contains("10.99.0.11"))
            .unwrap_or_else(|| panic!("vipd logs keepalived as a new peer: {blog}"));
        assert!(
            peer.contains("checksum=\"pseudo_header\"") || peer.contains("checksum=pseudo_header"),
            "{peer}"
        );
    }
    no_complaints(&lab, "b", "a");
    ka.stop(&mut lab, kpid);
}

/// vipd on a (priority 150) and keepalived on b (priority 100): vipd wins; SIGTERM makes it
/// resign with priority 0 so keepalived takes over after Skew_Time; restarted, vipd preempts.
fn vipd_master_keepalived_backup(prefix: &str, p: Proto, vrid: u8) {
    let mut ka = Keepalived::new();
    let mut lab = pair(prefix);
    let vip = p.vip(vrid);
    // The higher priority starts first; keepalived, joining, must stay backup.
    let vpid = lab.vipd("a", &vipd_cfg(p, vrid, 150));
    lab.wait_holder(&["a"], &vip, "a", p.timeout());
    let kpid = ka.start(
        &mut lab,
        "b",
        &ka_cfg(p, &format!("ka_{prefix}_b"), vrid, 100),
    );

    lab.wait_holder(&HOSTS, &vip, "a", p.timeout());
    lab.hold_steady(&HOSTS, &vip, "a", 2 * S);
    let klog = lab.log("b.log");
    assert!(
        !klog.contains("Entering MASTER STATE"),
        "keepalived never became master: {klog}"
    );

    // vipd resigns: keepalived sees priority 0 and takes over after Skew_Time, well before
    // its Master_Down_Interval.
    let t = Instant::now();
    lab.signal(vpid, "TERM");
    let took = lab.wait_holder(&HOSTS, &vip, "b", p.timeout());
    assert_eq!(
        lab.wait_exit(vpid, 5 * S),
        Some(0),
        "vipd exits 0 after SIGTERM"
    );
    eprintln!("{prefix}: vipd stopped, keepalived master after {took:?}");
    assert!(
        took < p.master_down(100),
        "handover took {took:?}, not Skew_Time"
    );
    let klog = lab.log("b.log");
    assert!(
        klog.contains("priority 0"),
        "keepalived saw the priority 0 advert: {klog}"
    );
    lab.hold_steady(&HOSTS, &vip, "b", S);

    // vipd comes back as backup, sees keepalived's lower priority and preempts.
    lab.vipd("a", &vipd_cfg(p, vrid, 150));
    let took = lab.wait_holder(&HOSTS, &vip, "a", p.timeout());
    eprintln!(
        "{prefix}: vipd restarted, preempted back after {took:?} ({:?} since stop)",
        t.elapsed()
    );
    lab.hold_steady(&HOSTS, &vip, "a", S);
    let alog = lab.log("a.log");
    assert!(
        alog.contains("preempting lower priority 100 from"),
        "{alog}"
    );
    no_complaints(&lab, "a", "b");
    ka.stop(&mut lab, kpid);
}

#[test]
fn v2_keepalived_master_vipd_backup() {
    keepalived_master_vipd_backup("k2", Proto::V2, 31);
}

#[test]
fn v2_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup("i2", Proto::V2, 32);
}

#[test]
fn v3_ipv4_keepalived_master_vipd_backup_and_checksums_on_the_wire() {
    keepalived_master_vipd_backup("k3", Proto::V3v4, 33);
}

#[test]
fn v3_ipv4_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup("i3", Proto::V3v4, 34);
}

#[test]
fn v3_ipv6_keepalived_master_vipd_backup() {
    keepalived_master_vipd_backup("k6", Proto::V3v6, 35);
}

#[test]
fn v3_ipv6_vipd_master_keepalived_backup() {
    vipd_master_keepalived_backup("i6", Proto::V3v6, 36);
}

//! `use_vmac` on a real kernel (root): the master's adverts and gratuitous ARPs carry the
//! virtual router MAC (tshark judges the wire), its addresses live on the macvlan, a
//! failover moves them to the other node's macvlan while the client's neighbour entry keeps
//! the same MAC, a crash's leftover macvlan is replaced on start, and shutdown removes the
//! macvlan and restores the base interface's ARP settings. The client's outage across a
//! failover is printed with and without the virtual MAC (a figure, not an assertion). FRR 8.4's
//! vrrpd is a full peer of vipd with `use_vmac` (v3, IPv4 and IPv6), in both roles.

mod labkit;

use std::time::{Duration, Instant};

use labkit::frr::Frr;
use labkit::{Keepalived, Lab, sh, sh_ok, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
const VRID: u8 = 61;
const VIP: &str = "10.99.0.61";
const VMAC: &str = "00:00:5e:00:01:3d";
const DEV: &str = "vrrp.61";

fn cfg(prio: u8, vmac: bool) -> String {
    let vmac = if vmac { "    use_vmac: true\n" } else { "" };
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: {VRID}\n    priority: {prio}\n    advert_interval: 100ms\n{vmac}    virtual_ipaddress: [{VIP}/24]\n"
    )
}

/// `ip` inside host `h`'s namespace.
fn ip(lab: &Lab, h: &str, args: &[&str]) -> String {
    let ns = lab.ns(h);
    let mut a = vec!["ip", "-n", ns.as_str()];
    a.extend_from_slice(args);
    sh(&a)
}

fn exists(lab: &Lab, h: &str, dev: &str) -> bool {
    sh_ok(&["ip", "-n", &lab.ns(h), "link", "show", "dev", dev])
}

/// Whether `dev` on `h` carries `addr`.
fn dev_has(lab: &Lab, h: &str, dev: &str, addr: &str) -> bool {
    exists(lab, h, dev)
        && ip(lab, h, &["-o", "addr", "show", "dev", dev])
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
}

fn sysctl(lab: &Lab, h: &str, path: &str) -> String {
    sh(&["ip", "netns", "exec", &lab.ns(h), "cat", path])
        .trim()
        .to_string()
}

/// The MAC the client's neighbour table has for the VIP (after one ping).
fn client_mac(lab: &Lab) -> String {
    let out = ip(lab, "c", &["neigh", "show", VIP, "dev", "eth0"]);
    out.split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .unwrap_or("")
        .to_string()
}

/// Pings the VIP from `c` every 10 ms (vipd's own pinger, `vipd demo --ping`, one
/// `reply SEQ` line per answer) until stopped; returns its pid and log.
fn pinger(lab: &mut Lab, name: &str) -> (u32, String) {
    let log = format!("{name}.ping.log");
    let pid = lab.spawn("c", &log, &[labkit::VIPD, "demo", "--ping", VIP]);
    (pid, log)
}

/// Sequence numbers answered, from a pinger's log.
fn replies(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("reply "))
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// The longest run of unanswered pings, in ms (10 ms apart).
fn outage_ms(text: &str) -> u64 {
    replies(text)
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0] + 1))
        .max()
        .unwrap_or(0)
        * 10
}

/// Two nodes and a client; `a` (150) master, then its link dies and `b` takes over while the
/// client pings. Returns the client's outage and the neighbour MACs before/after.
fn failover(lab: &mut Lab, vmac: bool) -> (u64, String, String) {
    let a = lab.vipd("a", &cfg(150, vmac));
    wait_for(5 * S, "a master", || lab.log("a.log").contains("MASTER"));
    let b = lab.vipd("b", &cfg(100, vmac));
    let held = |lab: &Lab, h: &str| {
        if vmac {
            dev_has(lab, h, DEV, VIP)
        } else {
            lab.has_addr(h, VIP)
        }
    };
    wait_for(5 * S, "a holds the VIP", || held(lab, "a"));
    std::thread::sleep(S);
    assert!(!held(lab, "b"), "b is backup");
    let (p, log) = pinger(lab, if vmac { "vmac" } else { "plain" });
    wait_for(5 * S, "the client's pings answered", || {
        replies(&lab.log(&log)).len() > 20
    });
    let before = client_mac(lab);
    let t = Instant::now();
    lab.link("a", false);
    wait_for(5 * S, "b takes over", || held(lab, "b"));
    let took = t.elapsed();
    let seen = replies(&lab.log(&log)).len();
    wait_for(5 * S, "the client's pings answered again", || {
        replies(&lab.log(&log)).len() > seen + 50
    });
    lab.signal(p, "TERM");
    lab.wait_exit(p, 10 * S);
    let out = outage_ms(&lab.log(&log));
    let after = client_mac(lab);
    println!(
        "client outage across a failover (link of the master cut, 100 ms adverts), {}: {out} ms (takeover seen after {} ms)",
        if vmac { "use_vmac" } else { "no vmac" },
        took.as_millis()
    );
    lab.link("a", true);
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 20 * S), Some(0));
    }
    (out, before, after)
}

#[test]
fn vmac_pair_sends_from_the_virtual_mac_and_failover_keeps_the_clients_entry() {
    let mut lab = Lab::new("vx");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.host("c", "10.99.0.13", None);
    // A crash's leftover on b: a macvlan of that name holding the VIP.
    ip(
        &lab,
        "b",
        &[
            "link", "add", DEV, "link", "eth0", "address", VMAC, "type", "macvlan", "mode",
            "private",
        ],
    );
    ip(
        &lab,
        "b",
        &["addr", "add", &format!("{VIP}/24"), "dev", DEV],
    );
    let leftover = ip(&lab, "b", &["-o", "link", "show", "dev", DEV]);
    let (cap, pcap) = lab.capture("c", "vmac", "vrrp or arp");

    let (out, before, after) = failover(&mut lab, true);
    lab.stop_capture(cap);
    assert_eq!(
        before, VMAC,
        "the client resolved the VIP to the virtual MAC"
    );
    assert_eq!(after, VMAC, "no neighbour update needed");
    let _ = out;

    // Both nodes' adverts came from the virtual MAC, with their own source addresses.
    for src in ["10.99.0.11", "10.99.0.12"] {
        let rows = tshark(
            &pcap,
            &format!("vrrp && ip.src == {src}"),
            &["eth.src", "vrrp.prio"],
        );
        assert!(!rows.is_empty(), "no adverts from {src}");
        for r in &rows {
            assert!(r.starts_with(VMAC), "advert from {src}: {r}");
        }
    }
    // Gratuitous ARPs for the VIP: from the virtual MAC, naming it as the sender.
    let garps = tshark(
        &pcap,
        &format!("arp.isgratuitous == 1 && arp.src.proto_ipv4 == {VIP}"),
        &["eth.src", "arp.src.hw_mac"],
    );
    assert!(!garps.is_empty(), "no GARP for {VIP}");
    for g in &garps {
        assert_eq!(g, &format!("{VMAC},{VMAC}"), "GARP: {g}");
    }
    // Nothing on the wire claims the VIP with a node's own MAC.
    let real = tshark(
        &pcap,
        &format!("arp.src.proto_ipv4 == {VIP} && arp.src.hw_mac != {VMAC}"),
        &["eth.src"],
    );
    assert!(real.is_empty(), "VIP announced with a real MAC: {real:?}");

    // Shut down: the macvlans are gone, the base's ARP settings restored.
    for h in ["a", "b"] {
        assert!(!exists(&lab, h, DEV), "{h}: {DEV} removed on exit");
        for key in ["arp_ignore", "arp_filter", "arp_announce"] {
            assert_eq!(
                sysctl(&lab, h, &format!("/proc/sys/net/ipv4/conf/eth0/{key}")),
                "0",
                "{h}: {key} restored"
            );
        }
    }
    // b's leftover was replaced (a new macvlan, without the stale address), seen in its log.
    let blog = lab.log("b.log");
    assert!(blog.contains("virtual MAC interface ready"), "{blog}");
    assert!(!leftover.is_empty());
}

#[test]
fn vmac_runtime_state_on_the_kernel() {
    let mut lab = Lab::new("vxk");
    lab.host("a", "10.99.0.21", None);
    lab.host("b", "10.99.0.22", None);
    let a = lab.vipd("a", &cfg(150, true));
    let b = lab.vipd("b", &cfg(100, true));
    wait_for(5 * S, "a holds the VIP on its macvlan", || {
        dev_has(&lab, "a", DEV, VIP)
    });
    std::thread::sleep(S);
    // The macvlan: private mode, the virtual MAC, up, on both nodes (kept in backup).
    for h in ["a", "b"] {
        let d = ip(&lab, h, &["-d", "-o", "link", "show", "dev", DEV]);
        assert!(d.contains(&format!("link/ether {VMAC}")), "{h}: {d}");
        assert!(d.contains("macvlan mode private"), "{h}: {d}");
        assert!(d.contains("state UP") || d.contains(",UP"), "{h}: {d}");
        assert_eq!(
            sysctl(
                &lab,
                h,
                &format!("/proc/sys/net/ipv4/conf/{DEV}/arp_ignore")
            ),
            "1"
        );
        assert_eq!(
            sysctl(&lab, h, "/proc/sys/net/ipv4/conf/eth0/arp_ignore"),
            "1"
        );
        assert_eq!(
            sysctl(&lab, h, "/proc/sys/net/ipv4/conf/eth0/arp_announce"),
            "2"
        );
        assert_eq!(
            sysctl(
                &lab,
                h,
                &format!("/proc/sys/net/ipv6/conf/{DEV}/disable_ipv6")
            ),
            "1"
        );
        assert!(!lab.has_addr(h, VIP), "{h}: never on eth0");
    }
    assert!(!dev_has(&lab, "b", DEV, VIP), "backup holds nothing");
    // Someone deletes the master's macvlan: it is re-created and the VIP put back.
    ip(&lab, "a", &["link", "del", DEV]);
    wait_for(10 * S, "the VIP back on a re-created macvlan", || {
        dev_has(&lab, "a", DEV, VIP) || dev_has(&lab, "b", DEV, VIP)
    });
    wait_for(10 * S, "a master again", || dev_has(&lab, "a", DEV, VIP));
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 20 * S), Some(0));
    }
    for h in ["a", "b"] {
        assert!(!exists(&lab, h, DEV));
    }
}

#[test]
fn client_outage_with_and_without_vmac() {
    let mut results = Vec::new();
    for vmac in [false, true] {
        let mut lab = Lab::new(if vmac { "vxo" } else { "vxp" });
        lab.host("a", "10.99.0.31", None);
        lab.host("b", "10.99.0.32", None);
        lab.host("c", "10.99.0.33", None);
        let (out, before, after) = failover(&mut lab, vmac);
        if vmac {
            assert_eq!((before.as_str(), after.as_str()), (VMAC, VMAC));
        } else {
            assert_ne!(before, after, "without vmac the client's entry must change");
        }
        results.push((vmac, out));
    }
    for (vmac, out) in results {
        println!("outage summary: use_vmac={vmac}: {out} ms");
    }
}

/// FRR's vrrpd (v3, IPv4, 100 ms) master at priority 200, vipd with `use_vmac` backup at 100;
/// FRR's priority drops to 50, vipd preempts and FRR follows as backup. Both send from the
/// virtual MAC; each accepts the other's adverts.
#[test]
fn frr_and_vipd_with_vmac_both_roles_ipv4() {
    const FVIP: &str = "10.99.0.75";
    const FMAC: &str = "00:00:5e:00:01:4b";
    let mut lab = Lab::new("vxf");
    lab.host("f", "10.99.0.71", None);
    lab.host("v", "10.99.0.72", None);
    let (cap, pcap) = lab.capture("v", "frr", "vrrp");
    let conf = "interface eth0\n vrrp 75 version 3\n vrrp 75 priority 200\n vrrp 75 advertisement-interval 100\n vrrp 75 ip 10.99.0.75\n";
    let frr = Frr::start(&mut lab, "f", 75, &format!("{FVIP}/24"), None, conf);
    wait_for(10 * S, "FRR master", || frr.state_v4(&lab, 75) == "Master");
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 75\n    priority: 100\n    advert_interval: 100ms\n    use_vmac: true\n    virtual_ipaddress: [{FVIP}/24]\n"
    );
    let v = lab.vipd("v", &yaml);
    wait_for(5 * S, "vipd backup", || {
        lab.log("v.log").contains("INIT -> BACKUP")
    });
    std::thread::sleep(S);
    assert!(!dev_has(&lab, "v", "vrrp.75", FVIP), "vipd stays backup");
    assert!(
        !lab.log("v.log").contains("-> MASTER"),
        "{}",
        lab.log("v.log")
    );
    assert_eq!(frr.state_v4(&lab, 75), "Master");

    frr.vtysh(&lab, &["conf t", "interface eth0", "vrrp 75 priority 50"]);
    wait_for(5 * S, "vipd master", || dev_has(&lab, "v", "vrrp.75", FVIP));
    wait_for(5 * S, "FRR backup", || frr.state_v4(&lab, 75) == "Backup");
    std::thread::sleep(S);
    assert_eq!(
        frr.state_v4(&lab, 75),
        "Backup",
        "FRR accepts vipd's adverts"
    );
    lab.stop_capture(cap);
    for src in ["10.99.0.71", "10.99.0.72"] {
        let rows = tshark(&pcap, &format!("vrrp && ip.src == {src}"), &["eth.src"]);
        assert!(!rows.is_empty(), "no adverts from {src}");
        assert!(rows.iter().all(|r| r == FMAC), "{src}: {rows:?}");
    }
    lab.signal(v, "TERM");
    assert_eq!(lab.wait_exit(v, 20 * S), Some(0));
    // FRR takes over again once vipd resigned.
    wait_for(5 * S, "FRR master again", || {
        frr.state_v4(&lab, 75) == "Master"
    });
}

/// IPv6 with `use_vmac`: the master's adverts come from 00:00:5e:00:02:{VRID} with the base's
/// link-local as source, list the link-local derived from the virtual MAC first (checksum
/// valid), and both addresses live on the master's macvlan only; the backup accepts them.
#[test]
fn vmac_ipv6_adverts_start_with_the_virtual_link_local() {
    const V6MAC: &str = "00:00:5e:00:02:51";
    const LL: &str = "fe80::200:5eff:fe00:251";
    let mut lab = Lab::new("vx6");
    lab.host("a", "10.99.0.41", Some("fd00:99::41"));
    lab.host("b", "10.99.0.42", Some("fd00:99::42"));
    let (cap, pcap) = lab.capture("b", "v6", "ip6 proto 112");
    let cfg = |p: u8| {
        format!(
            "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: 81\n    priority: {p}\n    advert_interval: 100ms\n    use_vmac: true\n    virtual_ipaddress: [\"fd00:99::81/64\"]\n"
        )
    };
    let a = lab.vipd("a", &cfg(150));
    wait_for(10 * S, "a holds the VIP on its macvlan", || {
        dev_has(&lab, "a", "vrrp.81", "fd00:99::81")
    });
    let b = lab.vipd("b", &cfg(100));
    std::thread::sleep(2 * S);
    assert!(
        dev_has(&lab, "a", "vrrp.81", LL),
        "the virtual link-local on the macvlan"
    );
    assert!(!dev_has(&lab, "b", "vrrp.81", "fd00:99::81"), "b is backup");
    assert!(
        !lab.log("b.log").contains("-> MASTER"),
        "{}",
        lab.log("b.log")
    );
    lab.stop_capture(cap);
    let rows = tshark(
        &pcap,
        "vrrp && eth.src == 00:00:5e:00:02:51",
        &["ipv6.src", "vrrp.ipv6_addr", "vrrp.checksum.status"],
    );
    assert!(!rows.is_empty(), "no adverts from {V6MAC}");
    for r in &rows {
        assert!(r.starts_with("fe80::"), "link-local source: {r}");
        assert!(
            r.contains(&format!(",{LL},fd00:99::81,1")),
            "virtual link-local first, checksum good: {r}"
        );
    }
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 20 * S), Some(0));
    }
}

/// With `vmac_xmit_base` the adverts use eth0 but the addresses live on the macvlan: the
/// backup is a member of their solicited-node groups on the macvlan, before it holds them (so a
/// new master answers the first neighbour solicitation; see docs/design.md).
#[test]
fn a_backup_with_vmac_xmit_base_joins_the_solicited_node_group_on_its_macvlan() {
    let mut lab = Lab::new("vxs");
    lab.host("a", "10.99.0.43", Some("fd00:99::43"));
    lab.host("b", "10.99.0.44", Some("fd00:99::44"));
    let cfg = |p: u8| {
        format!(
            "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: 83\n    priority: {p}\n    advert_interval: 100ms\n    use_vmac: true\n    vmac_xmit_base: true\n    virtual_ipaddress: [\"fd00:99::83/64\"]\n"
        )
    };
    let a = lab.vipd("a", &cfg(150));
    wait_for(10 * S, "a holds the VIP on its macvlan", || {
        dev_has(&lab, "a", "vrrp.83", "fd00:99::83")
    });
    let b = lab.vipd("b", &cfg(100));
    // ff02::1:ff00:83, as /proc/net/igmp6 prints it.
    let group = "ff0200000000000000000001ff000083";
    wait_for(
        10 * S,
        "b in the VIP's solicited-node group on vrrp.83",
        || {
            lab.lan
                .exec("b", &["cat", "/proc/net/igmp6"])
                .is_ok_and(|t| {
                    t.lines()
                        .any(|l| l.contains(" vrrp.83 ") && l.contains(group))
                })
        },
    );
    assert!(!dev_has(&lab, "b", "vrrp.83", "fd00:99::83"), "b is backup");
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 20 * S), Some(0));
    }
}

/// FRR and vipd with `use_vmac`, v3 over IPv6: FRR master, vipd backup; then vipd preempts and
/// FRR follows as backup.
#[test]
fn frr_and_vipd_with_vmac_both_roles_ipv6() {
    const V6VIP: &str = "fd00:99::76";
    let mut lab = Lab::new("vxg");
    lab.host("f", "10.99.0.73", Some("fd00:99::73"));
    lab.host("v", "10.99.0.74", Some("fd00:99::74"));
    let (cap, pcap) = lab.capture("v", "frr6", "ip6 proto 112");
    let conf = "interface eth0\n vrrp 76 version 3\n vrrp 76 priority 200\n vrrp 76 advertisement-interval 100\n vrrp 76 ipv6 fd00:99::76\n";
    let frr = Frr::start(
        &mut lab,
        "f",
        76,
        "10.99.0.76/24",
        Some(&format!("{V6VIP}/64")),
        conf,
    );
    wait_for(10 * S, "FRR master (v6)", || {
        frr.state(&lab, 76, "v6") == "Master"
    });
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: 76\n    priority: 100\n    advert_interval: 100ms\n    use_vmac: true\n    virtual_ipaddress: [\"{V6VIP}/64\"]\n"
    );
    let v = lab.vipd("v", &yaml);
    wait_for(5 * S, "vipd backup", || {
        lab.log("v.log").contains("INIT -> BACKUP")
    });
    std::thread::sleep(S);
    assert!(!dev_has(&lab, "v", "vrrp.76", V6VIP), "vipd stays backup");
    assert!(
        !lab.log("v.log").contains("-> MASTER"),
        "{}",
        lab.log("v.log")
    );
    frr.vtysh(&lab, &["conf t", "interface eth0", "vrrp 76 priority 50"]);
    wait_for(5 * S, "vipd master", || {
        dev_has(&lab, "v", "vrrp.76", V6VIP)
    });
    wait_for(5 * S, "FRR backup (v6)", || {
        frr.state(&lab, 76, "v6") == "Backup"
    });
    std::thread::sleep(S);
    assert_eq!(
        frr.state(&lab, 76, "v6"),
        "Backup",
        "FRR accepts vipd's adverts"
    );
    lab.stop_capture(cap);
    let rows = tshark(&pcap, "vrrp && eth.src == 00:00:5e:00:02:4c", &["ipv6.src"]);
    assert!(rows.len() > 10, "adverts from the virtual MAC: {rows:?}");
    lab.signal(v, "TERM");
    assert_eq!(lab.wait_exit(v, 20 * S), Some(0));
}

/// Why FRR cannot peer with vipd using `vmac_xmit_base` (nor with keepalived 2.2.7, whose
/// socket is on the base interface too): FRR always sends from the virtual MAC, and frames
/// whose source MAC is that of a private-mode macvlan on the receiving host are handed to the
/// macvlan only. So FRR's adverts reach v's eth0 on the wire (tcpdump taps before the macvlan
/// handler) and v's macvlan, but never vipd's socket on eth0: vipd goes Master beside FRR
/// (two masters). The other way works: FRR hears vipd's adverts from eth0's own MAC and
/// becomes Backup once its priority is lower. docs/configuration.md (Virtual MAC) says so.
#[test]
fn frr_cannot_peer_with_vmac_xmit_base_its_adverts_go_to_the_private_macvlan() {
    const FVIP: &str = "10.99.0.77";
    let mut lab = Lab::new("d2f");
    lab.host("f", "10.99.0.78", None);
    lab.host("v", "10.99.0.79", None);
    let conf = "interface eth0\n vrrp 77 version 3\n vrrp 77 priority 200\n vrrp 77 advertisement-interval 100\n vrrp 77 ip 10.99.0.77\n";
    let frr = Frr::start(&mut lab, "f", 77, &format!("{FVIP}/24"), None, conf);
    wait_for(10 * S, "FRR master", || frr.state_v4(&lab, 77) == "Master");
    let (cap, pcap) = lab.capture("v", "frrxb", "vrrp");
    let yaml = format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 77\n    priority: 100\n    advert_interval: 100ms\n    use_vmac: true\n    vmac_xmit_base: true\n    virtual_ipaddress: [{FVIP}/24]\n"
    );
    let v = lab.vipd("v", &yaml);
    wait_for(5 * S, "vipd's macvlan", || exists(&lab, "v", "vrrp.77"));
    let mpcap = lab.dir.join("macvlan.pcap");
    let mp = mpcap.to_str().unwrap().to_owned();
    let mcap = lab.spawn(
        "v",
        "macvlan.tcpdump.log",
        &["tcpdump", "-i", "vrrp.77", "-U", "-n", "-w", &mp, "vrrp"],
    );
    // vipd (100) hears nothing of FRR (200) and takes the address beside it.
    wait_for(5 * S, "vipd master beside FRR", || {
        dev_has(&lab, "v", "vrrp.77", FVIP)
    });
    std::thread::sleep(S);
    assert_eq!(frr.state_v4(&lab, 77), "Master", "two masters");
    lab.stop_capture(cap);
    lab.stop_capture(mcap);
    let filter = "vrrp && ip.src == 10.99.0.78 && eth.src == 00:00:5e:00:01:4d";
    let on_eth0 = tshark(&pcap, filter, &["vrrp.prio"]);
    let on_macvlan = tshark(&mpcap, filter, &["vrrp.prio"]);
    assert!(on_eth0.len() > 5, "FRR's adverts on v's eth0: {on_eth0:?}");
    assert!(on_macvlan.len() > 5, "and on the macvlan: {on_macvlan:?}");
    let mode = ip(&lab, "v", &["-d", "link", "show", "vrrp.77"]);
    assert!(mode.contains("macvlan mode private"), "{mode}");
    // The other way: FRR at 50 hears vipd's adverts (from eth0's MAC) and backs off.
    frr.vtysh(&lab, &["conf t", "interface eth0", "vrrp 77 priority 50"]);
    wait_for(5 * S, "FRR backup", || frr.state_v4(&lab, 77) == "Backup");
    lab.signal(v, "TERM");
    assert_eq!(lab.wait_exit(v, 20 * S), Some(0));
}

/// The link-local address of host `h`'s eth0.
fn link_local(lab: &Lab, h: &str) -> String {
    let out = ip(
        lab,
        h,
        &["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
    );
    out.split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local on {h}: {out}"))
        .to_string()
}

/// An IPv6 instance's macvlan exists in every state and carries eth0's link-local, so the
/// kernel joins ff02::12 and that address's solicited-node group on it: a *backup* sends MLD
/// reports from the virtual MAC, vipd's (b) when it starts and, like keepalived 2.2.7's (k),
/// whenever a querier asks. docs/configuration.md (Virtual MAC) says what it means.
#[test]
fn a_backups_ipv6_macvlan_sends_mld_reports_from_the_virtual_mac() {
    const V6MAC: &str = "00:00:5e:00:02:52";
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("d2m");
    lab.host("a", "10.99.0.81", Some("fd00:99::81"));
    lab.host("b", "10.99.0.82", Some("fd00:99::82"));
    lab.host("c", "10.99.0.83", Some("fd00:99::83"));
    lab.host("k", "10.99.0.84", Some("fd00:99::84"));
    let cfg = |p: u8| {
        format!(
            "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: 82\n    priority: {p}\n    advert_interval: 100ms\n    use_vmac: true\n    virtual_ipaddress: [\"fd00:99::85/64\"]\n"
        )
    };
    let a = lab.vipd("a", &cfg(150));
    wait_for(10 * S, "a master", || {
        dev_has(&lab, "a", "vrrp.82", "fd00:99::85")
    });
    // `ip6`, not `icmp6`: MLD has a hop-by-hop header, which tcpdump's `icmp6` misses.
    let (cap, pcap) = lab.capture("c", "mld", "ip6 and not ip6 proto 112");
    let k = ka.start(&mut lab, "k", KA_MLD);
    let b = lab.vipd("b", &cfg(100));
    wait_for(5 * S, "b backup", || {
        lab.log("b.log").contains("INIT -> BACKUP")
    });
    std::thread::sleep(3 * S);
    // An MLD querier on the switch: every listener answers, from the interface that joined.
    let t_query = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    sh(&[
        "ip",
        "-n",
        &lab.ns("sw"),
        "link",
        "set",
        "br0",
        "type",
        "bridge",
        "mcast_snooping",
        "1",
        "mcast_querier",
        "1",
        "mcast_query_response_interval",
        "100",
    ]);
    std::thread::sleep(3 * S);
    lab.stop_capture(cap);
    assert!(
        !lab.log("b.log").contains("-> MASTER"),
        "{}",
        lab.log("b.log")
    );
    assert!(
        !lab.log("k.log").contains("Entering MASTER"),
        "{}",
        lab.log("k.log")
    );
    assert!(!dev_has(&lab, "k", "vrrp.82", "fd00:99::85"), "k is backup");
    // MLDv2 (143) or MLDv1 (131) reports: (time, source MAC, source address).
    let rows: Vec<(f64, String, String)> = tshark(
        &pcap,
        "icmpv6.type == 143 || icmpv6.type == 131",
        &["frame.time_epoch", "eth.src", "ipv6.src"],
    )
    .iter()
    .map(|r| {
        let f: Vec<&str> = r.split(',').collect();
        (
            f[0].parse().unwrap_or(0.0),
            f[1].to_owned(),
            f[2].to_owned(),
        )
    })
    .collect();
    let from_vmac = |ll: &str, after: f64, until: f64| {
        rows.iter()
            .any(|(t, mac, src)| *t >= after && *t < until && mac == V6MAC && src == ll)
    };
    let (b_ll, k_ll) = (link_local(&lab, "b"), link_local(&lab, "k"));
    assert!(
        from_vmac(&b_ll, 0.0, t_query),
        "vipd's backup reports from the virtual MAC when it starts: {rows:#?}"
    );
    assert!(
        from_vmac(&b_ll, t_query, f64::MAX),
        "vipd's backup answers the query from the virtual MAC: {rows:#?}"
    );
    assert!(
        from_vmac(&k_ll, t_query, f64::MAX),
        "keepalived's backup answers the query from the virtual MAC: {rows:#?}"
    );
    ka.stop(&mut lab, k);
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 20 * S), Some(0));
    }
}

/// keepalived 2.2.7 as a backup with `use_vmac`, IPv6 (v3), beside vipd's VI_6 above; it
/// lists the virtual link-local vipd puts first in its adverts (without it keepalived drops
/// vipd's adverts: "unexpected ip number count 2, expected 1").
const KA_MLD: &str = "global_defs {
  vrrp_version 3
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 82
  priority 50
  advert_int 1
  use_vmac
  virtual_ipaddress {
    fe80::200:5eff:fe00:252/64
    fd00:99::85/64
  }
}
";

/// A mixed pair as the importer writes it: keepalived 2.2.7 with `use_vmac`, IPv6, listing
/// only its global address (as every keepalived configuration does), and vipd with
/// `use_vmac` and `vmac_link_local: false`. Both roles, one master at a time: keepalived
/// accepts vipd's adverts (with the RFC 9568 link-local first it drops them, "unexpected ip
/// number count 2, expected 1", and becomes master too).
#[test]
fn keepalived_and_vipd_with_vmac_ipv6_elect_one_master_without_the_link_local() {
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("d2k");
    lab.host("a", "10.99.0.91", Some("fd00:99::91"));
    lab.host("k", "10.99.0.94", Some("fd00:99::94"));
    let cfg = |p: u8| {
        format!(
            "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: 83\n    priority: {p}\n    advert_interval: 1s\n    use_vmac: true\n    vmac_link_local: false\n    virtual_ipaddress: [\"fd00:99::95/64\"]\n"
        )
    };
    // vipd master, keepalived backup.
    let a = lab.vipd("a", &cfg(150));
    wait_for(10 * S, "a master", || {
        dev_has(&lab, "a", "vrrp.83", "fd00:99::95")
    });
    let k = ka.start(&mut lab, "k", KA_V6_PLAIN);
    std::thread::sleep(5 * S);
    let klog = lab.log("k.log");
    assert!(!klog.contains("Entering MASTER"), "{klog}");
    assert!(!klog.contains("unexpected ip number count"), "{klog}");
    assert!(!dev_has(&lab, "k", "vrrp.83", "fd00:99::95"), "k is backup");
    // vipd leaves: keepalived takes over; vipd back at a lower priority stays backup.
    lab.signal(a, "TERM");
    assert_eq!(lab.wait_exit(a, 20 * S), Some(0));
    wait_for(10 * S, "k master", || {
        dev_has(&lab, "k", "vrrp.83", "fd00:99::95")
    });
    let c2 = lab.file("a2.yaml", &cfg(40));
    let a2 = lab.spawn(
        "a",
        "a2.log",
        &[labkit::VIPD, "run", "-c", c2.to_str().unwrap()],
    );
    std::thread::sleep(5 * S);
    let a2log = lab.log("a2.log");
    assert!(a2log.contains("INIT -> BACKUP"), "{a2log}");
    assert!(!a2log.contains("-> MASTER"), "{a2log}");
    assert!(
        dev_has(&lab, "k", "vrrp.83", "fd00:99::95"),
        "k still master"
    );
    ka.stop(&mut lab, k);
    lab.signal(a2, "TERM");
    assert_eq!(lab.wait_exit(a2, 20 * S), Some(0));
}

/// keepalived 2.2.7 with `use_vmac`, IPv6 (v3), its global address only.
const KA_V6_PLAIN: &str = "global_defs {
  vrrp_version 3
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 83
  priority 100
  advert_int 1
  use_vmac
  virtual_ipaddress {
    fd00:99::95/64
  }
}
";

//! Addresses on another device, on a real kernel (root, lab): a and b have `eth0` on the
//! VRRP LAN (10.99.0.0/24) and `eth1` on a second bridge (LAN 2, 10.99.2.0/24), where the
//! client `c` lives. The instance runs on eth0; one advertised address and two excluded ones
//! (IPv4 and IPv6) live on eth1. What c sees on LAN 2: gratuitous ARPs and unsolicited NAs
//! for those addresses from the master's eth1 MAC (a's at start, b's after a failover; never
//! the eth0 address), which re-point c's neighbour entry. Then `ip addr del` of each on the
//! master: they come back within one advert interval, announced again, counted in
//! `vrrp_vip_restored_total` and logged; `vrrp_vip_present` follows them on their device;
//! eth1 deleted and created again on the master gets them back.

mod labkit;
mod observekit;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use labkit::{Lab, sh, tshark, wait_for};
use observekit::{scrape, value};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VIP: &str = "10.99.0.81";
/// Advertised, on eth1.
const OTHER: &str = "10.99.2.1";
/// Excluded, on eth1.
const EX4: &str = "10.99.2.2";
const EX6: &str = "fd00:99::2:1";

fn cfg(prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:{}\"
instances:
  VI_1:
    interface: eth0
    vrid: 81
    priority: {prio}
    advert_interval: 1s
    garp: {{delay: 0s}}
    virtual_ipaddress:
      - {VIP}/24
      - {{address: {OTHER}/24, dev: eth1}}
    virtual_ipaddress_excluded:
      - {{address: {EX4}/24, dev: eth1}}
      - {{address: {EX6}/64, dev: eth1}}
",
        observekit::PORT
    )
}

fn ip(lab: &Lab, h: &str, args: &[&str]) -> String {
    let ns = lab.ns(h);
    let mut all = vec!["ip", "-n", &ns];
    all.extend(args);
    sh(&all)
}

/// LAN 2: a bridge `br1` in the switch namespace, `eth1` of a and b on it (10.99.2.x/24),
/// and the client c's port moved from br0 to it.
fn lan2(lab: &Lab) {
    let sw = lab.ns("sw");
    sh(&[
        "ip",
        "-n",
        &sw,
        "link",
        "add",
        "br1",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
    ]);
    sh(&["ip", "-n", &sw, "link", "set", "br1", "up"]);
    for (h, n) in [("a", 11), ("b", 12)] {
        eth1(lab, h, n);
    }
    sh(&["ip", "-n", &sw, "link", "set", "pc", "master", "br1"]);
}

/// Host `h`'s `eth1` (10.99.2.`n`/24) on LAN 2.
fn eth1(lab: &Lab, h: &str, n: u8) {
    let sw = lab.ns("sw");
    let ns = lab.ns(h);
    let port = format!("q{h}");
    sh(&[
        "ip", "link", "add", "eth1", "netns", &ns, "type", "veth", "peer", "name", &port, "netns",
        &sw,
    ]);
    sh(&["ip", "-n", &sw, "link", "set", &port, "master", "br1", "up"]);
    // No DAD: the excluded IPv6 address is usable (and its NA sent) at once.
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "sysctl",
        "-qw",
        "net.ipv6.conf.eth1.accept_dad=0",
    ]);
    sh(&["ip", "-n", &ns, "link", "set", "eth1", "up"]);
    ip(
        lab,
        h,
        &["addr", "add", &format!("10.99.2.{n}/24"), "dev", "eth1"],
    );
}

/// The MAC of host `h`'s `dev`.
fn mac(lab: &Lab, h: &str, dev: &str) -> String {
    let out = ip(lab, h, &["link", "show", "dev", dev]);
    let w: Vec<&str> = out.split_whitespace().collect();
    let i = w.iter().position(|x| *x == "link/ether").expect("ether");
    w[i + 1].to_owned()
}

fn on_eth1(lab: &Lab, h: &str) -> [bool; 3] {
    let v4 = ip(lab, h, &["-4", "addr", "show", "dev", "eth1"]);
    let v6 = ip(lab, h, &["-6", "addr", "show", "dev", "eth1"]);
    [
        v4.contains(&format!("{OTHER}/24")),
        v4.contains(&format!("{EX4}/24")),
        v6.contains(&format!("{EX6}/64")),
    ]
}

fn present(lab: &Lab, h: &str, addr: &str) -> Option<f64> {
    value(&scrape(lab, h), "vrrp_vip_present", &[("address", addr)])
}

fn restored(lab: &Lab, h: &str) -> f64 {
    value(
        &scrape(lab, h),
        "vrrp_vip_restored_total",
        &[("vr", "VI_1")],
    )
    .unwrap_or(-1.0)
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// c's neighbour entry for `addr` names `mac`.
fn neigh_is(lab: &Lab, addr: &str, mac: &str) -> bool {
    ip(lab, "c", &["neigh", "show", addr]).contains(mac)
}

#[test]
fn addresses_on_another_device_are_announced_there_and_restored() {
    let mut lab = Lab::new("d2");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.host("c", "10.99.2.100", None);
    lan2(&lab);
    let (mac_a, mac_b) = (mac(&lab, "a", "eth1"), mac(&lab, "b", "eth1"));
    let (cap, pcap) = lab.capture("c", "lan2", "arp or icmp6");
    let a = lab.vipd("a", &cfg(150));
    let b = lab.vipd("b", &cfg(100));
    let logs = |lab: &Lab| format!("--- a\n{}\n--- b\n{}", lab.log("a.log"), lab.log("b.log"));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    wait_for(5 * S, "a's addresses on eth1", || {
        on_eth1(&lab, "a") == [true; 3]
    });
    assert_eq!(on_eth1(&lab, "b"), [false; 3]);
    // c learns the address on LAN 2 (a's MAC) by asking: a TCP connection attempt (refused
    // by a) resolves it.
    let _ = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("c"),
            "curl",
            "-s",
            "--max-time",
            "2",
        ])
        .arg(format!("http://{OTHER}:9/"))
        .output();
    assert!(
        neigh_is(&lab, OTHER, &mac_a),
        "{}",
        ip(&lab, "c", &["neigh"])
    );
    wait_for(5 * S, "vrrp_vip_present on each device", || {
        present(&lab, "a", OTHER) == Some(1.0)
            && present(&lab, "a", EX6) == Some(1.0)
            && present(&lab, "b", OTHER) == Some(0.0)
            && present(&lab, "b", EX4) == Some(0.0)
    });
    // Past the neighbour entry's locktime (1 s), so the gratuitous ARP may re-point it.
    std::thread::sleep(2 * S);

    // Failover: b announces the eth1 addresses on eth1, from eth1's MAC.
    let t_failover = now_unix();
    lab.link("a", false);
    lab.wait_holder(&HOSTS, VIP, "b", 10 * S);
    wait_for(5 * S, "b's addresses on eth1", || {
        on_eth1(&lab, "b") == [true; 3]
    });
    wait_for(
        5 * S,
        "c's entry for the eth1 address re-pointed at b",
        || neigh_is(&lab, OTHER, &mac_b),
    );
    wait_for(5 * S, "vrrp_vip_present 1 on b, 0 on a", || {
        [OTHER, EX4, EX6]
            .iter()
            .all(|x| present(&lab, "b", x) == Some(1.0) && present(&lab, "a", x) == Some(0.0))
    });

    // Deleted by hand on the master: back within one advert interval (1 s), counted.
    let before = restored(&lab, "b");
    assert_eq!(before, 0.0);
    let t_del = now_unix();
    for (fam, addr) in [
        ("-4", format!("{OTHER}/24")),
        ("-4", format!("{EX4}/24")),
        ("-6", format!("{EX6}/64")),
    ] {
        ip(&lab, "b", &[fam, "addr", "del", &addr, "dev", "eth1"]);
    }
    let t = Instant::now();
    wait_for(S, "the deleted addresses back on b's eth1", || {
        on_eth1(&lab, "b") == [true; 3]
    });
    eprintln!("deleted addresses back after {:?}", t.elapsed());
    wait_for(3 * S, "vrrp_vip_restored_total +3", || {
        restored(&lab, "b") == 3.0
    });
    for x in [OTHER, EX4, EX6] {
        assert_eq!(present(&lab, "b", x), Some(1.0), "{x}");
    }
    let log = lab.log("b.log");
    for x in [OTHER, EX4, EX6] {
        assert!(
            log.lines()
                .any(|l| l.contains("removed from the interface by someone else")
                    && l.contains(&format!("address={x}"))),
            "{}",
            logs(&lab)
        );
    }
    std::thread::sleep(S);
    lab.stop_capture(cap);

    // What c saw on LAN 2.
    let garps = tshark(
        &pcap,
        "arp.isgratuitous",
        &[
            "frame.time_epoch",
            "eth.src",
            "arp.src.hw_mac",
            "arp.src.proto_ipv4",
        ],
    );
    let nas = tshark(
        &pcap,
        "icmpv6.type == 136",
        &[
            "frame.time_epoch",
            "eth.src",
            "icmpv6.nd.na.target_address",
            "icmpv6.opt.linkaddr",
        ],
    );
    let count = |rows: &[String], from: &str, addr: &str, after: f64, until: f64| {
        rows.iter()
            .filter(|r| {
                let f: Vec<&str> = r.split(',').collect();
                let at: f64 = f[0].parse().unwrap_or(0.0);
                at >= after
                    && at < until
                    && f[1] == from
                    && f[2..].iter().all(|x| *x == from || *x == addr)
                    && f[2..].contains(&addr)
            })
            .count()
    };
    let rows = format!(
        "gratuitous ARPs:\n{}\nNAs:\n{}",
        garps.join("\n"),
        nas.join("\n")
    );
    let end = f64::MAX;
    // a at start (before the failover), b after it: a burst of 5 each (garp.repeat).
    for addr in [OTHER, EX4] {
        assert!(
            count(&garps, &mac_a, addr, 0.0, t_failover) >= 5,
            "a's {addr}\n{rows}"
        );
        assert!(
            count(&garps, &mac_b, addr, t_failover, t_del) >= 5,
            "b's {addr}\n{rows}"
        );
        assert!(
            count(&garps, &mac_b, addr, t_del, end) >= 5,
            "b's {addr} after the restore\n{rows}"
        );
    }
    assert!(
        count(&nas, &mac_a, EX6, 0.0, t_failover) >= 5,
        "a's NA\n{rows}"
    );
    assert!(
        count(&nas, &mac_b, EX6, t_failover, t_del) >= 5,
        "b's NA\n{rows}"
    );
    assert!(
        count(&nas, &mac_b, EX6, t_del, end) >= 5,
        "b's NA after restore\n{rows}"
    );
    // The eth0 address is announced on eth0 only.
    assert!(
        !garps.iter().any(|r| r.contains(VIP)),
        "{VIP} on LAN 2\n{rows}"
    );

    // eth1 deleted and created again on the master: its addresses go back on the new one.
    ip(&lab, "b", &["link", "del", "eth1"]);
    eth1(&lab, "b", 12);
    wait_for(3 * S, "b's addresses on the new eth1", || {
        on_eth1(&lab, "b") == [true; 3]
    });

    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(b, 10 * S), Some(0));
    assert_eq!(
        on_eth1(&lab, "b"),
        [false; 3],
        "b released its eth1 addresses"
    );
    lab.signal(a, "TERM");
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0));
}

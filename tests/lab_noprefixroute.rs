//! `noprefixroute` on a virtual address, on a real kernel (root, lab): the master adds the
//! address with IFA_F_NOPREFIXROUTE, so `ip addr` shows the flag and the kernel adds no
//! route for its prefix; the same address without the option gets its prefix route. IPv6
//! and IPv4 (the flag works for both, keepalived 2.2.7 accepts it for both). And a route with
//! `or` (keepalived's `via A or B`) installed as a multipath route, a nexthop via each.

mod labkit;

use std::time::Duration;

use labkit::{Lab, sh, wait_for};

const S: Duration = Duration::from_secs(1);

const CFG: &str = "listen: \"127.0.0.1:9797\"
instances:
  V6:
    interface: eth0
    vrid: 81
    priority: 255
    advert_interval: 100ms
    virtual_ipaddress:
      - {address: fd00:99::8101/120, noprefixroute: true}
      - fd00:99::8201/120
  V4:
    interface: eth0
    vrid: 82
    priority: 255
    advert_interval: 100ms
    virtual_ipaddress:
      - {address: 10.99.81.1/24, noprefixroute: true}
      - 10.99.82.1/24
";

fn ip(lab: &Lab, args: &[&str]) -> String {
    let ns = lab.ns("a");
    let mut all = vec!["ip", "-n", &ns];
    all.extend(args);
    sh(&all)
}

/// The `ip addr` line of `addr` on eth0, if present.
fn addr_line(lab: &Lab, family: &str, addr: &str) -> Option<String> {
    ip(lab, &[family, "addr", "show", "dev", "eth0"])
        .lines()
        .find(|l| l.contains("inet") && l.contains(addr))
        .map(str::to_owned)
}

#[test]
fn noprefixroute_addresses_are_added_without_their_prefix_route() {
    let mut lab = Lab::new("i2n");
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    let pid = lab.vipd("a", CFG);
    let all = [
        "fd00:99::8101/120",
        "fd00:99::8201/120",
        "10.99.81.1/24",
        "10.99.82.1/24",
    ];
    wait_for(10 * S, "the master's addresses", || {
        all.iter().all(|a| {
            let fam = if a.contains(':') { "-6" } else { "-4" };
            addr_line(&lab, fam, a).is_some()
        })
    });
    for (fam, flagged, plain, route_flagged, route_plain) in [
        (
            "-6",
            "fd00:99::8101/120",
            "fd00:99::8201/120",
            "fd00:99::8100/120",
            "fd00:99::8200/120",
        ),
        (
            "-4",
            "10.99.81.1/24",
            "10.99.82.1/24",
            "10.99.81.0/24",
            "10.99.82.0/24",
        ),
    ] {
        let f = addr_line(&lab, fam, flagged).unwrap();
        assert!(f.contains("noprefixroute"), "{f}");
        let p = addr_line(&lab, fam, plain).unwrap();
        assert!(!p.contains("noprefixroute"), "{p}");
        let routes = ip(&lab, &[fam, "route", "show", "dev", "eth0"]);
        assert!(
            !routes.lines().any(|l| l.starts_with(route_flagged)),
            "{flagged}: a prefix route was added\n{routes}"
        );
        assert!(
            routes.lines().any(|l| l.starts_with(route_plain)),
            "{plain}: no prefix route\n{routes}"
        );
    }
    lab.signal(pid, "TERM");
    assert_eq!(lab.wait_exit(pid, 10 * S), Some(0), "{}", lab.log("a.log"));
    for a in all {
        let fam = if a.contains(':') { "-6" } else { "-4" };
        assert!(addr_line(&lab, fam, a).is_none(), "{a} left behind");
    }
}

/// keepalived's `via A or B` (vipd's `or`): a multipath route, a nexthop via each gateway,
/// read back with `ip route` while master and gone after exit.
#[test]
fn an_or_route_is_installed_with_a_nexthop_via_each_gateway() {
    let mut lab = Lab::new("i2o");
    lab.host("a", "10.99.0.11", None);
    let cfg = "listen: \"127.0.0.1:9797\"
instances:
  V4:
    interface: eth0
    vrid: 83
    priority: 255
    advert_interval: 100ms
    virtual_ipaddress: [10.99.0.83/24]
    virtual_routes:
      - {to: 10.99.83.0/24, via: 10.99.0.253, or: 10.99.0.252, dev: eth0}
";
    let pid = lab.vipd("a", cfg);
    let show = |lab: &Lab| ip(lab, &["-4", "route", "show", "10.99.83.0/24"]);
    wait_for(10 * S, "the multipath route", || !show(&lab).is_empty());
    let r = show(&lab);
    let hops: Vec<&str> = r
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("nexthop"))
        .collect();
    assert_eq!(hops.len(), 2, "{r}");
    assert!(hops[0].contains("via 10.99.0.253 dev eth0"), "{r}");
    assert!(hops[1].contains("via 10.99.0.252 dev eth0"), "{r}");
    assert!(r.contains("proto keepalived"), "{r}");
    lab.signal(pid, "TERM");
    assert_eq!(lab.wait_exit(pid, 10 * S), Some(0), "{}", lab.log("a.log"));
    assert!(show(&lab).is_empty(), "left behind: {}", show(&lab));
}

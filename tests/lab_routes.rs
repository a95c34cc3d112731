//! What moves with the master beside the advertised addresses, on a real kernel (root, lab):
//! an address on another device (`dev`, with a label), `virtual_ipaddress_excluded`,
//! `virtual_routes` (via, blackhole, another table with `src` and `metric`) and
//! `virtual_rules`, all read back with `ip`; and `static_ipaddress` / `static_routes`,
//! present whatever the state. Then the adverts of keepalived 2.2.7 and of vipd running the
//! same configuration, compared with tshark: addresses with another `dev` are advertised,
//! excluded ones are not.

mod labkit;

use std::time::Duration;

use labkit::{Keepalived, Lab, sh, tshark};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VIP: &str = "10.99.0.71";

/// Gives host `h` a second interface `eth1` (a veth whose peer stays in the namespace), up.
fn eth1(lab: &Lab, h: &str) {
    let ns = lab.ns(h);
    sh(&[
        "ip", "-n", &ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p",
    ]);
    sh(&["ip", "-n", &ns, "link", "set", "eth1", "up"]);
    sh(&["ip", "-n", &ns, "link", "set", "eth1p", "up"]);
}

fn ip(lab: &Lab, h: &str, args: &[&str]) -> String {
    let ns = lab.ns(h);
    let mut all = vec!["ip", "-n", &ns];
    all.extend(args);
    sh(&all)
}

fn cfg(n: u8, prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:9797\"
static_ipaddress:
  - {{address: 10.99.71.{n}/24, dev: eth1}}
static_routes:
  - {{to: 10.99.72.0/24, via: 10.99.71.254, dev: eth1}}
instances:
  VI_1:
    interface: eth0
    vrid: 71
    priority: {prio}
    advert_interval: 100ms
    virtual_ipaddress:
      - {VIP}/24
      - {{address: 10.99.73.1/24, dev: eth1, label: \"eth1:vip\"}}
    virtual_ipaddress_excluded: [10.99.74.1/24]
    virtual_routes:
      - {{to: 10.99.75.0/24, via: 10.99.0.254, dev: eth0}}
      - {{to: 10.99.76.0/24, type: blackhole}}
      - {{to: 10.99.77.0/24, dev: eth0, table: 100, src: {VIP}, metric: 5}}
    virtual_rules:
      - {{from: 10.99.78.0/24, table: 100, priority: 1000}}
"
    )
}

/// What host `h` holds of the master's items: (address on eth1 with its label, excluded
/// address, each of the three routes, the rule).
fn master_items(lab: &Lab, h: &str) -> Vec<bool> {
    let eth1 = ip(lab, h, &["-4", "addr", "show", "dev", "eth1"]);
    let eth0 = ip(lab, h, &["-4", "addr", "show", "dev", "eth0"]);
    let main = ip(lab, h, &["-4", "route", "show", "proto", "keepalived"]);
    // Table 100 does not exist while it is empty: read every table.
    let all = ip(
        lab,
        h,
        &["-4", "route", "show", "table", "all", "proto", "keepalived"],
    );
    let rules = ip(lab, h, &["-4", "rule", "show"]);
    vec![
        eth1.lines()
            .any(|l| l.contains("10.99.73.1/24") && l.contains("eth1:vip")),
        eth0.contains("10.99.74.1/24"),
        main.contains("10.99.75.0/24 via 10.99.0.254 dev eth0"),
        main.contains("blackhole 10.99.76.0/24"),
        all.lines().any(|l| {
            l.contains("10.99.77.0/24 dev eth0 table 100")
                && l.contains("src 10.99.0.71")
                && l.contains("metric 5")
        }),
        rules
            .lines()
            .any(|l| l.starts_with("1000:") && l.contains("from 10.99.78.0/24 lookup 100")),
    ]
}

fn statics(lab: &Lab, h: &str, n: u8) -> bool {
    ip(lab, h, &["-4", "addr", "show", "dev", "eth1"]).contains(&format!("10.99.71.{n}/24"))
        && ip(lab, h, &["-4", "route", "show", "proto", "keepalived"])
            .contains("10.99.72.0/24 via 10.99.71.254 dev eth1")
}

fn wait_items(lab: &Lab, h: &str, want: bool, what: &str) {
    let all = vec![want; 6];
    let t = std::time::Instant::now();
    while master_items(lab, h) != all {
        assert!(
            t.elapsed() < 5 * S,
            "{what}: {h} holds {:?}, wanted all {want}\n{}\n{}\n{}",
            master_items(lab, h),
            ip(lab, h, &["addr"]),
            ip(lab, h, &["route", "show", "table", "all"]),
            lab.log(&format!("{h}.log"))
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn routes_rules_and_extra_addresses_follow_the_master_and_statics_stay() {
    let mut lab = Lab::new("rt");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    for h in HOSTS {
        eth1(&lab, h);
    }
    let a = lab.vipd("a", &cfg(11, 150));
    let b = lab.vipd("b", &cfg(12, 100));
    lab.wait_holder(&HOSTS, VIP, "a", 5 * S);
    wait_items(&lab, "a", true, "a master");
    wait_items(&lab, "b", false, "b backup");
    assert!(statics(&lab, "a", 11) && statics(&lab, "b", 12), "statics");

    // Fault on the master: everything moves to b; the statics stay where they are.
    lab.link("a", false);
    lab.wait_holder(&HOSTS, VIP, "b", 5 * S);
    wait_items(&lab, "b", true, "b master after a's fault");
    wait_items(&lab, "a", false, "a in fault");
    assert!(statics(&lab, "a", 11), "statics on a in fault");
    lab.link("a", true);
    lab.wait_holder(&HOSTS, VIP, "a", 5 * S);
    wait_items(&lab, "a", true, "a preempts back");
    wait_items(&lab, "b", false, "b backup again");

    // A crash leaves everything behind; a restart as backup removes it before joining.
    lab.signal(a, "KILL");
    lab.wait_exit(a, 5 * S);
    // Both hold the address now: a's copy is a leftover of the crash.
    labkit::wait_for(5 * S, "b to take over", || lab.has_addr("b", VIP));
    wait_items(&lab, "b", true, "b master after a's crash");
    assert_eq!(master_items(&lab, "a"), vec![true; 6], "a crashed");
    let a = lab.vipd("a", &cfg(11, 50));
    lab.wait_holder(&HOSTS, VIP, "b", 5 * S);
    wait_items(&lab, "a", false, "a restarted as backup");
    assert!(statics(&lab, "a", 11), "statics after restart");

    // Exit: the master releases everything, statics included (keepalived 2.2.7 does too).
    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(b, 10 * S), Some(0));
    wait_items(&lab, "b", false, "b exited");
    assert!(!statics(&lab, "b", 12), "b's statics after exit");
    lab.wait_holder(&HOSTS, VIP, "a", 5 * S);
    wait_items(&lab, "a", true, "a master after b's exit");
    lab.signal(a, "TERM");
    assert_eq!(lab.wait_exit(a, 10 * S), Some(0));
    wait_items(&lab, "a", false, "a exited");
}

const KA_CONF: &str = "vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 72
  priority 150
  advert_int 1
  virtual_ipaddress {
    10.99.0.72/24
    10.99.73.2/24 dev eth1 scope link label eth1:v
    10.99.0.73/24 brd 10.99.0.255
  }
  virtual_ipaddress_excluded {
    10.99.74.2/24
  }
}
";

const VIPD_CONF: &str = "listen: \"127.0.0.1:9797\"
instances:
  VI_1:
    interface: eth0
    vrid: 72
    priority: PRIO
    version: 2
    advert_interval: 1s
    virtual_ipaddress:
      - 10.99.0.72/24
      - {address: 10.99.73.2/24, dev: eth1, scope: link, label: \"eth1:v\"}
      - {address: 10.99.0.73/24, brd: 10.99.0.255}
    virtual_ipaddress_excluded: [10.99.74.2/24]
";

#[test]
fn adverts_list_addresses_on_other_devices_as_keepalived_does() {
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("rtk");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.host("w", "10.99.0.100", None);
    for h in HOSTS {
        eth1(&lab, h);
    }
    let (cap, pcap) = lab.capture("w", "adverts", "ip proto 112");
    // `keepalived -t` runs outside the lab's namespaces, where eth1 does not exist.
    let k = ka.start_allowing(
        &mut lab,
        "a",
        KA_CONF,
        &["doesn't exist", "Non-existent interface"],
    );
    let v = lab.vipd("b", &VIPD_CONF.replace("PRIO", "100"));
    lab.wait_holder(&HOSTS, "10.99.0.72", "a", 10 * S);
    // keepalived put the address with `dev` on eth1, with its scope and label.
    let a1 = ip(&lab, "a", &["-4", "addr", "show", "dev", "eth1"]);
    assert!(
        a1.contains("10.99.73.2/24 scope link eth1:v"),
        "keepalived: {a1}"
    );
    std::thread::sleep(2 * S);
    ka.stop(&mut lab, k);
    lab.wait_holder(&HOSTS, "10.99.0.72", "b", 10 * S);
    labkit::wait_for(5 * S, "vipd to put 10.99.73.2 on eth1", || {
        // (vipd also sets the broadcast address, as for every IPv4 virtual address.)
        ip(&lab, "b", &["-4", "addr", "show", "dev", "eth1"])
            .lines()
            .any(|l| l.contains("10.99.73.2/24") && l.trim_end().ends_with("scope link eth1:v"))
    });
    let b0 = ip(&lab, "b", &["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        b0.contains("10.99.0.73/24 brd 10.99.0.255") && b0.contains("10.99.74.2/24"),
        "vipd: {b0}"
    );
    // A few of vipd's adverts as master (1 s interval).
    std::thread::sleep(2 * S);
    lab.stop_capture(cap);
    let rows = tshark(
        &pcap,
        "vrrp.prio > 0",
        &["ip.src", "vrrp.addr_count", "vrrp.ip_addr"],
    );
    let of = |src: &str| -> Vec<String> {
        let mut seen: Vec<String> = rows
            .iter()
            .filter(|r| r.starts_with(&format!("{src},")))
            .map(|r| r[src.len() + 1..].to_owned())
            .collect();
        seen.dedup();
        seen
    };
    let (from_ka, from_vipd) = (of("10.99.0.11"), of("10.99.0.12"));
    assert_eq!(
        from_ka,
        ["3,10.99.0.72,10.99.73.2,10.99.0.73"],
        "keepalived's adverts: {rows:?}"
    );
    assert_eq!(from_vipd, from_ka, "vipd's adverts against keepalived's");
    lab.signal(v, "TERM");
    assert_eq!(lab.wait_exit(v, 10 * S), Some(0));
}

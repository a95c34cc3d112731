//! Faults on a real kernel (root, lab): what an operator or another program does to a running
//! master, and what vipd does about it.

mod labkit;
mod observekit;

use std::time::{Duration, Instant};

use labkit::{Lab, sh};
use observekit::{samples, scrape, value};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];
const VIP: &str = "10.99.0.31";

fn cfg(prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:9797\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 31\n    priority: {prio}\n    advert_interval: 1s\n    virtual_ipaddress: [\"{VIP}/24\"]\n"
    )
}

/// The value of `name` for instance VI_1 in host `h`'s /metrics.
fn metric(lab: &Lab, h: &str, name: &str) -> Option<f64> {
    value(&scrape(lab, h), name, &[("vr", "VI_1")])
}

#[test]
fn a_virtual_address_deleted_by_hand_comes_back_within_one_advert_interval() {
    labkit::require(&["curl"]);
    let mut lab = Lab::new("fv");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.vipd("a", &cfg(150));
    lab.vipd("b", &cfg(100));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    assert_eq!(metric(&lab, "a", "vrrp_vip_restored_total"), Some(0.0));

    let ns = lab.ns("a");
    let t = Instant::now();
    sh(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "ip",
        "addr",
        "del",
        &format!("{VIP}/24"),
        "dev",
        "eth0",
    ]);
    let mut back = None;
    while t.elapsed() < 3 * S {
        if lab.has_addr("a", VIP) {
            back = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let back = back.unwrap_or_else(|| panic!("VIP not restored:\n{}", lab.log("a.log")));
    eprintln!("VIP deleted by hand on the master: back after {back:?} (advert interval 1 s)");
    assert!(
        back < S,
        "restored after {back:?}, more than one advert interval"
    );
    // Still one master, and it says what happened.
    lab.hold_steady(&HOSTS, VIP, "a", 2 * S);
    labkit::wait_for(3 * S, "vrrp_vip_restored_total to count it", || {
        metric(&lab, "a", "vrrp_vip_restored_total") == Some(1.0)
    });
    let log = lab.log("a.log");
    assert!(
        log.contains("removed from the interface by someone else"),
        "{log}"
    );

    // On the backup, a removal by hand is none of its business (it holds nothing).
    assert_eq!(metric(&lab, "b", "vrrp_vip_restored_total"), Some(0.0));
}

#[test]
fn link_flapping_ten_times_in_five_seconds_settles_to_one_master() {
    labkit::require(&["curl"]);
    let mut lab = Lab::new("ff");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let pa = lab.vipd("a", &cfg(150));
    lab.vipd("b", &cfg(100));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    let to_fault = |lab: &Lab| -> f64 {
        samples(&scrape(lab, "a"))
            .iter()
            .filter(|x| x.name == "vrrp_instance_transitions_total")
            .filter(|x| x.labels.iter().any(|(k, v)| k == "to" && v == "fault"))
            .map(|x| x.value)
            .sum()
    };
    let before = to_fault(&lab);
    for _ in 0..10 {
        lab.link("a", false);
        std::thread::sleep(Duration::from_millis(250));
        lab.link("a", true);
        std::thread::sleep(Duration::from_millis(250));
    }
    // Settled: a (150) preempts back and stays the only master.
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    lab.hold_steady(&HOSTS, VIP, "a", 3 * S);
    let faults = to_fault(&lab) - before;
    eprintln!("10 link flaps in 5 s: {faults} transitions to FAULT counted on a");
    assert!(faults >= 10.0, "every link loss is a fault: {faults}");
    // vipd is still running on a.
    assert!(
        std::path::Path::new(&format!("/proc/{pa}")).exists(),
        "{}",
        lab.log("a.log")
    );
}

/// The sum of `vrrp_instance_transitions_total{to=...}` for VI_1 on host `h`.
fn transitions_to(lab: &Lab, h: &str, to: &str) -> f64 {
    samples(&scrape(lab, h))
        .iter()
        .filter(|x| x.name == "vrrp_instance_transitions_total")
        .filter(|x| x.labels.iter().any(|(k, v)| k == "to" && v == to))
        .map(|x| x.value)
        .sum()
}

#[test]
fn the_masters_interface_deleted_and_recreated_faults_then_recovers() {
    labkit::require(&["curl"]);
    let mut lab = Lab::new("fz");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    lab.vipd("a", &cfg(150));
    lab.vipd("b", &cfg(100));
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    let (ns, sw) = (lab.ns("a"), lab.ns("sw"));
    let faults = transitions_to(&lab, "a", "fault");

    // The veth is deleted from the switch's side: a's eth0 disappears with it.
    sh(&["ip", "-n", &sw, "link", "del", "pa"]);
    // (a has no eth0 now, so `wait_holder` cannot look at it.)
    labkit::wait_for(5 * S, "b to take the VIP over", || lab.has_addr("b", VIP));
    labkit::wait_for(3 * S, "a to count the fault", || {
        transitions_to(&lab, "a", "fault") > faults
    });
    let state = |lab: &Lab, st: &str| {
        value(
            &scrape(lab, "a"),
            "vrrp_instance_state",
            &[("vr", "VI_1"), ("state", st)],
        )
    };
    assert_eq!(state(&lab, "fault"), Some(1.0), "{}", lab.log("a.log"));

    // Re-created with the same name (a new ifindex), re-attached to the bridge, its own
    // address put back as ifupdown would.
    sh(&[
        "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", "pa", "netns",
        &sw,
    ]);
    sh(&["ip", "-n", &sw, "link", "set", "pa", "master", "br0", "up"]);
    sh(&["ip", "-n", &ns, "addr", "add", "10.99.0.11/24", "dev", "eth0"]);
    sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
    let t = Instant::now();
    // a (150) preempts back on the new interface and stays the only master: its adverts
    // reach b (else b would take the address back).
    lab.wait_holder(&HOSTS, VIP, "a", 10 * S);
    eprintln!(
        "interface deleted and recreated: a master again {:?} after the new link came up",
        t.elapsed()
    );
    lab.hold_steady(&HOSTS, VIP, "a", 3 * S);
    assert_eq!(state(&lab, "master"), Some(1.0), "{}", lab.log("a.log"));
    // The VIP on the new interface is watched too: deleted by hand, it comes back.
    sh(&[
        "ip", "-n", &ns, "addr", "del", &format!("{VIP}/24"), "dev", "eth0",
    ]);
    labkit::wait_for(3 * S, "the VIP restored on the recreated interface", || {
        lab.has_addr("a", VIP)
    });
}

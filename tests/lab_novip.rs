//! Instances without virtual addresses on the wire (root): the cloud pattern, where VRRP only
//! elects and `notify_master` moves an elastic IP. keepalived 2.2.7 runs such an instance on
//! host a (VRRPv2, adverts with an address count of 0); vipd runs the translation
//! (`vipd import-keepalived`) of the same file with another priority on host b. Both roles
//! are shown: vipd master with keepalived backup, keepalived master with vipd backup; each
//! side accepts the other's count-0 adverts (nobody becomes master by timeout), the notify
//! hooks run on both, no address appears anywhere, and vipd's /status and metrics show the
//! instance.

mod labkit;
mod observekit;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use labkit::{Keepalived, Lab, VIPD};

const S: Duration = Duration::from_secs(1);

/// keepalived.conf of host `h`: one VRRPv2 instance without `virtual_ipaddress`, unicast
/// to the other host (as in a cloud without multicast), with notify hooks that append the
/// state to `<dir>/<h>.states`.
fn conf(dir: &Path, h: &str, me: &str, peer: &str, prio: u8) -> String {
    let hook = dir.join("hook.sh");
    let states = dir.join(format!("{h}.states"));
    let (hook, states) = (hook.display(), states.display());
    format!(
        "! Cloud pattern: no virtual_ipaddress, the hook moves the address.\n\
         global_defs {{\n\
         \x20   script_user root\n\
         \x20   enable_script_security\n\
         }}\n\
         vrrp_instance EIP {{\n\
         \x20   state BACKUP\n\
         \x20   interface eth0\n\
         \x20   virtual_router_id 44\n\
         \x20   priority {prio}\n\
         \x20   advert_int 1\n\
         \x20   unicast_src_ip {me}\n\
         \x20   unicast_peer {{\n\
         \x20       {peer}\n\
         \x20   }}\n\
         \x20   notify_master \"{hook} {states} MASTER\"\n\
         \x20   notify_backup \"{hook} {states} BACKUP\"\n\
         }}\n"
    )
}

/// `vipd import-keepalived` on `text`: must be complete (exit 0) and say that the instance
/// has no addresses.
fn translate(lab: &Lab, text: &str) -> String {
    let p = lab.file("b.keepalived.conf", text);
    let out = Command::new(VIPD)
        .arg("import-keepalived")
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("has no virtual_ipaddress"), "{err}");
    String::from_utf8(out.stdout).unwrap()
}

/// The states the hooks of host `h` recorded, in order.
fn states(lab: &Lab, h: &str) -> Vec<String> {
    lab.log(&format!("{h}.states"))
        .lines()
        .map(str::to_owned)
        .collect()
}

fn wait_state(lab: &Lab, h: &str, state: &str, n: usize, timeout: Duration) {
    labkit::wait_for(
        timeout,
        &format!("{h}'s hook to record {state} #{n}"),
        || states(lab, h).iter().filter(|s| *s == state).count() >= n,
    );
}

/// Neither host has anything but its own address on eth0.
fn no_addresses(lab: &Lab) {
    for (h, own) in [("a", "10.99.0.11/"), ("b", "10.99.0.12/")] {
        let out = labkit::sh(&["ip", "-n", &lab.ns(h), "-4", "-o", "addr", "show", "eth0"]);
        let addrs: Vec<&str> = out
            .split_whitespace()
            .filter(|w| w.contains('/') && w.contains('.'))
            .collect();
        assert!(addrs.iter().all(|a| a.starts_with(own)), "{h}: {out}");
    }
}

/// vipd's view of the instance: its state in /status (with no addresses) and in the metrics.
fn vipd_state(lab: &Lab, state: &str) {
    let st = observekit::status(lab, "b");
    let i = observekit::status_inst(&st, "EIP");
    assert_eq!(i["state"], state, "{i:#}");
    assert_eq!(i["addresses"], serde_json::json!([]), "{i:#}");
    let t = observekit::wait_metrics(
        lab,
        "b",
        &format!("vrrp_instance_state {state}"),
        3 * S,
        |t| {
            observekit::samples(t).iter().any(|s| {
                s.name == "vrrp_instance_state"
                    && s.value == 1.0
                    && s.labels.iter().any(|(k, v)| k == "state" && v == state)
            })
        },
    );
    // A master sends (count-0 adverts); a backup receives keepalived's.
    let counter = if state == "master" {
        "vrrp_adverts_sent_total"
    } else {
        "vrrp_adverts_received_total"
    };
    assert!(
        observekit::samples(&t)
            .iter()
            .any(|s| s.name == counter && s.value > 0.0),
        "{counter}:\n{t}"
    );
}

#[test]
fn keepalived_and_vipd_elect_without_addresses_both_roles() {
    let mut ka = Keepalived::new();
    let mut lab = Lab::new("iv");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let hook = lab.file("hook.sh", "#!/bin/sh\necho \"$2\" >> \"$1\"\n");
    labkit::sh(&["chmod", "755", hook.to_str().unwrap()]);
    let dir = lab.dir.clone();

    // Every advert on the segment, from both sides, for the wire check at the end.
    let (cap, pcap) = lab.capture("b", "vrrp", "ip proto 112");

    // Role 1: vipd (150) master, keepalived (100) backup.
    let yaml = translate(&lab, &conf(&dir, "b", "10.99.0.12", "10.99.0.11", 150));
    assert!(!yaml.contains("virtual_ipaddress:"), "{yaml}");
    // keepalived 2.2.7 reports the missing VIP as a configuration error (`-t` fails) and
    // runs the instance.
    let kpid = ka.start_allowing(
        &mut lab,
        "a",
        &conf(&dir, "a", "10.99.0.11", "10.99.0.12", 100),
        &["No VIP specified; at least one is sensible"],
    );
    let vpid = lab.vipd("b", &yaml);
    wait_state(&lab, "b", "MASTER", 1, 10 * S);
    wait_state(&lab, "a", "BACKUP", 1, 5 * S);
    // Steady: keepalived keeps accepting vipd's count-0 adverts (3 s is 3 adverts, past
    // keepalived's master-down interval of 3.6 s from the last one it accepted).
    std::thread::sleep(5 * S);
    assert!(
        !states(&lab, "a").contains(&"MASTER".to_owned()),
        "{:?}",
        states(&lab, "a")
    );
    vipd_state(&lab, "master");
    no_addresses(&lab);

    // Role 2: vipd resigns (priority 0): keepalived becomes master.
    lab.signal(vpid, "TERM");
    wait_state(&lab, "a", "MASTER", 1, 5 * S);
    assert_eq!(lab.wait_exit(vpid, 5 * S), Some(0));

    // vipd again, now below keepalived (50 < 100): it stays backup, i.e. it accepts
    // keepalived's count-0 adverts.
    let yaml = translate(&lab, &conf(&dir, "b", "10.99.0.12", "10.99.0.11", 50));
    lab.vipd("b", &yaml);
    wait_state(&lab, "b", "BACKUP", 1, 10 * S);
    std::thread::sleep(5 * S);
    assert_eq!(
        states(&lab, "b").iter().filter(|s| *s == "MASTER").count(),
        1,
        "vipd never took over from keepalived: {:?}",
        states(&lab, "b")
    );
    assert_eq!(
        states(&lab, "a").iter().filter(|s| *s == "MASTER").count(),
        1,
        "{:?}",
        states(&lab, "a")
    );
    vipd_state(&lab, "backup");
    no_addresses(&lab);

    let klog = lab.log("a.log");
    for bad in [
        "ip number count",
        "vips but received",
        "mismatch",
        "invalid",
    ] {
        assert!(
            !klog.to_lowercase().contains(bad),
            "keepalived complains ({bad}): {klog}"
        );
    }
    ka.stop(&mut lab, kpid);

    // On the wire: VRRPv2 adverts with an address count of 0 from both routers (vipd's at
    // 150 and, after the resignation, keepalived's at 100), checksums good.
    lab.stop_capture(cap);
    let rows = labkit::tshark(
        &pcap,
        "vrrp",
        &[
            "ip.src",
            "vrrp.version",
            "vrrp.addr_count",
            "vrrp.prio",
            "vrrp.checksum.status",
        ],
    );
    for (src, prio) in [("10.99.0.12", "150"), ("10.99.0.11", "100")] {
        assert!(
            rows.iter()
                .any(|r| r.as_str() == format!("{src},2,0,{prio},1").as_str()),
            "no count-0 v2 advert from {src} at {prio}: {rows:?}"
        );
    }
    assert!(
        rows.iter().all(|r| r.split(',').nth(2) == Some("0")),
        "every advert carries no address: {rows:?}"
    );
}

//! `vipd import-keepalived` proven on the wire (root): for each pair of keepalived.conf files in
//! tests/fixtures/keepalived/{master-backup,dual-master,unicast,ipv6-v3}, keepalived 2.2.7 runs
//! `lb1.conf` on host a and vipd runs the translation of `lb2.conf` on host b. The election and
//! the failovers come out as they would with keepalived on both hosts: the higher configured
//! priority is master, check-script weights move the master, each dual-master host owns its
//! address, `nopreempt` keeps the current master, and the other host takes over when the
//! master's link goes down or it is stopped.

mod labkit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use labkit::{Keepalived, Lab, VIPD};

const S: Duration = Duration::from_secs(1);
const HOSTS: [&str; 2] = ["a", "b"];

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keepalived")
        .join(rel)
}

/// The text of fixture `rel` (keepalived runs a copy of it).
fn fixture_text(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap()
}

/// `vipd import-keepalived` on a fixture: must be complete (exit 0).
fn translate(rel: &str) -> String {
    let out = Command::new(VIPD)
        .arg("import-keepalived")
        .arg(fixture(rel))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{rel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn pair(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    lab.host("a", "10.99.0.11", Some("fd00:99::11"));
    lab.host("b", "10.99.0.12", Some("fd00:99::12"));
    lab
}

/// The maintenance flags the master-backup fixtures' check scripts look at; removed on drop.
struct Flags;

const FLAG_DIR: &str = "/tmp/vipd-import-lab";

impl Flags {
    fn new() -> Flags {
        let _ = std::fs::remove_dir_all(FLAG_DIR);
        std::fs::create_dir_all(FLAG_DIR).unwrap();
        Flags
    }
    fn set(&self, name: &str, on: bool) {
        let p = Path::new(FLAG_DIR).join(name);
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            std::fs::remove_file(p).unwrap();
        }
    }
}

impl Drop for Flags {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(FLAG_DIR);
    }
}

/// VRRPv2 with PASS authentication: vipd (lb2, 150) wins over keepalived (lb1, 100); its check
/// script failing (weight -60 -> 90) hands the address to keepalived, recovering takes it back,
/// and stopping vipd hands it over again.
#[test]
fn master_backup_v2_pass_auth_and_check_script_weight() {
    let flags = Flags::new();
    let mut ka = Keepalived::new();
    let mut lab = pair("ia");
    let vip = "10.99.0.71";
    let yaml = translate("master-backup/lb2.conf");
    let kpid = ka.start(&mut lab, "a", &fixture_text("master-backup/lb1.conf"));
    let vpid = lab.vipd("b", &yaml);
    lab.wait_holder(&HOSTS, vip, "b", 10 * S);
    lab.hold_steady(&HOSTS, vip, "b", 2 * S);

    // lb2's check fails: 150 - 60 = 90 < 100, keepalived preempts.
    flags.set("lb2.down", true);
    let took = lab.wait_holder(&HOSTS, vip, "a", 8 * S);
    eprintln!("check script failed on vipd: keepalived master after {took:?}");
    flags.set("lb2.down", false);
    let took = lab.wait_holder(&HOSTS, vip, "b", 8 * S);
    eprintln!("check script recovered: vipd master again after {took:?}");

    // vipd stops (resigns with priority 0): keepalived takes over.
    lab.signal(vpid, "TERM");
    let took = lab.wait_holder(&HOSTS, vip, "a", 5 * S);
    eprintln!("vipd stopped: keepalived master after {took:?}");
    assert_eq!(lab.wait_exit(vpid, 5 * S), Some(0));
    let klog = lab.log("a.log");
    for bad in ["password", "auth", "invalid", "mismatch"] {
        assert!(
            !klog
                .lines()
                .any(|l| l.to_lowercase().contains(bad) && !l.contains("Opening file")),
            "keepalived complains ({bad}): {klog}"
        );
    }
    ka.stop(&mut lab, kpid);
}

/// VRRPv3 (200 ms), two instances: each host is master of its own; when b's link goes down
/// a holds both, when it comes back b takes its address back; keepalived stopping leaves both
/// with vipd.
#[test]
fn dual_master_v3_each_host_owns_its_address() {
    let mut ka = Keepalived::new();
    let mut lab = pair("ib");
    let (v1, v2) = ("10.99.0.81", "10.99.0.82");
    let yaml = translate("dual-master/lb2.conf");
    let kpid = ka.start(&mut lab, "a", &fixture_text("dual-master/lb1.conf"));
    lab.vipd("b", &yaml);
    lab.wait_holder(&HOSTS, v1, "a", 5 * S);
    lab.wait_holder(&HOSTS, v2, "b", 5 * S);
    lab.hold_steady(&HOSTS, v1, "a", S);
    lab.hold_steady(&HOSTS, v2, "b", S);

    lab.link("b", false);
    let took = lab.wait_holder(&HOSTS, v2, "a", 3 * S);
    eprintln!("b's link down: keepalived holds VI_2 after {took:?}");
    lab.hold_steady(&HOSTS, v1, "a", S / 2);
    lab.link("b", true);
    let took = lab.wait_holder(&HOSTS, v2, "b", 3 * S);
    eprintln!("b's link up: vipd took VI_2 back after {took:?}");
    lab.hold_steady(&HOSTS, v1, "a", S / 2);

    ka.stop(&mut lab, kpid);
    let took = lab.wait_holder(&HOSTS, v1, "b", 3 * S);
    eprintln!("keepalived stopped: vipd holds VI_1 after {took:?}");
    lab.hold_steady(&HOSTS, v2, "b", S / 2);
}

/// Unicast VRRPv3 (100 ms) with `state BACKUP` + `nopreempt` on both: keepalived (150) is
/// master first; its link fails and vipd (100) takes over; with its link back keepalived does
/// not preempt; vipd stopping hands the address back.
#[test]
fn unicast_v3_nopreempt() {
    let mut ka = Keepalived::new();
    let mut lab = pair("ic");
    let vip = "10.99.0.91";
    let yaml = translate("unicast/lb2.conf");
    let kpid = ka.start(&mut lab, "a", &fixture_text("unicast/lb1.conf"));
    lab.wait_holder(&["a"], vip, "a", 3 * S);
    let vpid = lab.vipd("b", &yaml);
    lab.hold_steady(&HOSTS, vip, "a", 2 * S);
    let blog = lab.log("b.log");
    assert!(blog.contains("new peer"), "vipd hears keepalived: {blog}");

    lab.link("a", false);
    let took = lab.wait_holder(&HOSTS, vip, "b", 3 * S);
    eprintln!("keepalived's link down: vipd master after {took:?}");
    lab.link("a", true);
    // nopreempt: the higher-priority keepalived stays backup.
    labkit::wait_for(3 * S, "keepalived to leave FAULT", || {
        lab.log("a.log").matches("Entering BACKUP STATE").count() >= 2
    });
    lab.hold_steady(&HOSTS, vip, "b", 2 * S);

    lab.signal(vpid, "TERM");
    let took = lab.wait_holder(&HOSTS, vip, "a", 3 * S);
    eprintln!("vipd stopped: keepalived master after {took:?}");
    ka.stop(&mut lab, kpid);
}

/// VRRPv3 over IPv6 (100 ms): vipd (150) is master over keepalived (100); stopped, keepalived
/// takes over; restarted, vipd preempts back.
#[test]
fn ipv6_v3_failover_and_preemption() {
    let mut ka = Keepalived::new();
    let mut lab = pair("id");
    let vip = "fd00:99::96";
    let yaml = translate("ipv6-v3/lb2.conf");
    let kpid = ka.start(&mut lab, "a", &fixture_text("ipv6-v3/lb1.conf"));
    let vpid = lab.vipd("b", &yaml);
    lab.wait_holder(&HOSTS, vip, "b", 3 * S);
    lab.hold_steady(&HOSTS, vip, "b", S);

    lab.signal(vpid, "TERM");
    let took = lab.wait_holder(&HOSTS, vip, "a", 3 * S);
    eprintln!("vipd stopped: keepalived master after {took:?}");
    assert_eq!(lab.wait_exit(vpid, 5 * S), Some(0));
    lab.hold_steady(&HOSTS, vip, "a", S);

    lab.vipd("b", &yaml);
    let took = lab.wait_holder(&HOSTS, vip, "b", 3 * S);
    eprintln!("vipd restarted: preempted after {took:?}");
    lab.hold_steady(&HOSTS, vip, "b", S);
    ka.stop(&mut lab, kpid);
}

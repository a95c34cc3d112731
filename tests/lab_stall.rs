//! A backup whose engine was away for longer than Master_Down_Interval while its master's
//! adverts kept arriving (root lab test): the adverts wait in the backup's socket, and they
//! count before the timer that expired meanwhile. The backup must not take over.
//!
//! The stall is made with SIGSTOP and SIGCONT (what a busy host, a VM pause or a long
//! start-up does to the engine's thread): 600 ms, against a Master_Down_Interval of 180.5 ms
//! (50 ms adverts, priority 100: wide enough that a hiccup of the unstalled master on a loaded
//! machine is no takeover), with the master's 12 adverts of that time queued in the kernel. On SIGCONT the engine's timer and the socket are ready together; the port reader
//! is a task of the engine's thread that has not run yet, so before the engine read the
//! sockets itself on a late wake (`Ports::read_now`) the backup took over at once (one advert
//! and a GARP burst) and went back on the master's next advert.
//!
//! keepalived 2.2.7, a second backup of the same virtual router (priority 90, its VRRP child
//! stopped and continued with vipd's), is the reference in the same run: it does not take over
//! either.

mod labkit;

use std::thread::sleep;
use std::time::Duration;

use labkit::{Keepalived, Lab, wait_for};

const VIP: &str = "10.99.0.73";

fn conf(prio: u8) -> String {
    format!(
        "listen: \"127.0.0.1:9797\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 73\n    priority: {prio}\n    advert_interval: 50ms\n    virtual_ipaddress: [\"{VIP}/24\"]\n"
    )
}

#[test]
fn a_backup_stalled_past_its_master_down_interval_reads_the_waiting_adverts_and_stays_backup() {
    let mut lab = Lab::new("stl");
    lab.host("m", "10.99.0.71", None);
    lab.host("b", "10.99.0.72", None);
    lab.vipd("m", &conf(150));
    wait_for(Duration::from_secs(5), "m holds the VIP", || {
        lab.has_addr("m", VIP)
    });
    let b = lab.vipd("b", &conf(100));
    wait_for(Duration::from_secs(5), "b is backup", || {
        lab.log("b.log").contains("INIT -> BACKUP")
    });
    lab.host("k", "10.99.0.74", None);
    let mut ka = Keepalived::new();
    let ka_parent = ka.start(
        &mut lab,
        "k",
        &format!(
            "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  state BACKUP\n  virtual_router_id 73\n  priority 90\n  advert_int 0.05\n  virtual_ipaddress {{\n    {VIP}/24\n  }}\n}}\n"
        ),
    );
    wait_for(Duration::from_secs(5), "keepalived is backup", || {
        lab.log("k.log").contains("Entering BACKUP STATE")
    });
    let ka_vrrp: u32 = std::fs::read_to_string(lab.dir.join("ka-k.vrrp.pid"))
        .expect("keepalived's VRRP pid file")
        .trim()
        .parse()
        .expect("a pid");
    sleep(Duration::from_millis(500));
    for round in 0..5 {
        lab.signal(b, "STOP");
        lab.signal(ka_vrrp, "STOP");
        sleep(Duration::from_millis(600));
        lab.signal(b, "CONT");
        lab.signal(ka_vrrp, "CONT");
        sleep(Duration::from_millis(500));
        let ka_log = lab.log("k.log");
        assert!(
            !ka_log.contains("Entering MASTER STATE"),
            "round {round}: the reference, keepalived, took over after the stall:\n{ka_log}"
        );
        let log = lab.log("b.log");
        assert!(
            !log.contains("BACKUP -> MASTER"),
            "round {round}: the stalled backup took over although its master's adverts were waiting:\n{log}"
        );
        assert!(!lab.has_addr("b", VIP), "round {round}: b holds {VIP}");
        assert!(lab.has_addr("m", VIP), "round {round}: m lost {VIP}");
    }
    ka.stop(&mut lab, ka_parent);
}

/// 250 instances at 50 ms: a 600 ms stall leaves 3,000 adverts in the backup's socket, the
/// newest of each instance at the end. Reading only what the port's receive batches hold
/// (128 packets) would reach the first 128 instances and let the other 122 time out: the
/// late-wake read drains the socket.
#[test]
fn a_backup_of_250_instances_stalled_reads_every_waiting_advert_and_stays_backup_on_all() {
    const N: u32 = 250;
    let conf = |prio: u8| {
        let mut s = String::from("listen: \"127.0.0.1:9797\"\ninstances:\n");
        for i in 1..=N {
            s.push_str(&format!(
                "  VI_{i}:\n    interface: eth0\n    vrid: {i}\n    priority: {prio}\n    advert_interval: 50ms\n    virtual_ipaddress: [\"10.99.1.{i}/24\"]\n"
            ));
        }
        s
    };
    let mut lab = Lab::new("stm");
    lab.host("m", "10.99.0.81", None);
    lab.host("b", "10.99.0.82", None);
    lab.vipd("m", &conf(150));
    wait_for(Duration::from_secs(10), "m holds every VIP", || {
        lab.has_addr("m", "10.99.1.1") && lab.has_addr("m", &format!("10.99.1.{N}"))
    });
    let b = lab.vipd("b", &conf(100));
    wait_for(
        Duration::from_secs(10),
        "b is backup of every instance",
        || lab.log("b.log").matches("INIT -> BACKUP").count() == N as usize,
    );
    sleep(Duration::from_millis(500));
    for round in 0..3 {
        lab.signal(b, "STOP");
        sleep(Duration::from_millis(600));
        lab.signal(b, "CONT");
        sleep(Duration::from_millis(500));
        let log = lab.log("b.log");
        let took = log.matches("BACKUP -> MASTER").count();
        assert_eq!(
            took, 0,
            "round {round}: the stalled backup took over {took} of {N} instances although their master's adverts were waiting"
        );
        assert!(
            lab.has_addr("m", &format!("10.99.1.{N}")),
            "round {round}: m lost an address"
        );
    }
}

//! vipd's takeover timing against keepalived 2.2.7's, in the same test, with the same
//! configuration, measured on the wire (root): a third host captures the adverts and tshark
//! reads their frame times, so neither implementation's own clock or log is trusted.
//!
//! - v2 Skew_Time (RFC 3768 6.1: `(256 - Priority) / 256` seconds, independent of the advert
//!   interval): keepalived master (priority 100, `advert_int 2`) and a backup of priority 80,
//!   keepalived in one run and vipd in the other. The master resigns (SIGTERM: priority 0), the
//!   backup's first advert follows after Skew_Time = 0.6875 s; or the master's link goes down,
//!   and it follows the master's last advert after Master_Down_Interval = 3 x 2 + 0.6875 s.
//!   The backup is what is timed, so it is the implementation under test; the master is
//!   keepalived in both runs.
//! - v3 fault resignation: a master of priority 150 tracking a file with weight 0 enters Fault
//!   when the file says 1 while its link stays up. keepalived then sends a priority-0 advert,
//!   so the backup (priority 100, 1 s adverts) takes over after Skew_Time (~0.61 s) instead of
//!   Master_Down_Interval (~3.6 s). The master is what is timed (keepalived in one run, vipd in
//!   the other); the backup is keepalived in both runs, so its Skew_Time and
//!   Master_Down_Interval are the same constants in both and only the master's behaviour can
//!   make the figures differ. The figure runs from the master's priority-0 advert to the
//!   backup's first advert; a master that sends none is measured from its last advert of
//!   priority 150 (what the backup's Master_Down_Interval counts from). The time from the file
//!   change is printed too but not compared: keepalived watches the file with inotify, vipd
//!   reads it every 500 ms.
//!
//! Each run has its own master and backup hosts; both masters start together (below priority
//! 255 each waits its own Master_Down_Interval before it is master), then the two runs follow
//! one another. Each figure of vipd must be within 50 ms of keepalived's in the same test.

mod labkit;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use labkit::{Keepalived, Lab, tshark, wait_for};

const S: Duration = Duration::from_secs(1);
/// How far vipd's figure may be from keepalived's (seconds).
const TOLERANCE: f64 = 0.050;
/// How far keepalived's figure may be from the RFC's before the measurement itself is suspect.
const REFERENCE_SLACK: f64 = 0.250;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Impl {
    Keepalived,
    Vipd,
}

/// The hosts and virtual router of one run. Each run has its own pair of hosts (so both logs
/// survive for a failure message, and a later run's master can start early).
#[derive(Clone, Copy)]
struct Run {
    master: &'static str,
    master_ip: &'static str,
    backup: &'static str,
    backup_ip: &'static str,
    vrid: u8,
}

/// The run whose figure is keepalived's.
const REFERENCE: Run = Run {
    master: "m1",
    master_ip: "10.99.0.11",
    backup: "b1",
    backup_ip: "10.99.0.12",
    vrid: 41,
};

/// The run whose figure is vipd's.
const UNDER_TEST: Run = Run {
    master: "m2",
    master_ip: "10.99.0.21",
    backup: "b2",
    backup_ip: "10.99.0.22",
    vrid: 42,
};

impl Run {
    fn vip(&self) -> String {
        format!("10.99.0.{}", self.vrid)
    }

    fn hosts(&self) -> [&'static str; 2] {
        [self.master, self.backup]
    }
}

/// The hosts of both runs and the observer `obs` (10.99.0.100), which captures every advert.
fn lan(prefix: &str) -> Lab {
    let mut lab = Lab::new(prefix);
    for r in [REFERENCE, UNDER_TEST] {
        lab.host(r.master, r.master_ip, None);
        lab.host(r.backup, r.backup_ip, None);
    }
    lab.host("obs", "10.99.0.100", None);
    lab
}

/// Now, in seconds since the epoch (the clock tcpdump stamps frames with).
fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One advert seen on the wire.
#[derive(Debug)]
struct Advert {
    t: f64,
    src: String,
    prio: u32,
}

/// The adverts of virtual router `vrid` in the capture, in order.
fn adverts(pcap: &Path, vrid: u8) -> Vec<Advert> {
    tshark(
        pcap,
        &format!("vrrp && vrrp.virt_rtr_id == {vrid}"),
        &["frame.time_epoch", "ip.src", "vrrp.prio"],
    )
    .iter()
    .map(|r| {
        let f: Vec<&str> = r.split(',').collect();
        Advert {
            t: f[0].parse().unwrap_or_else(|_| panic!("time in {r}")),
            src: f[1].to_owned(),
            prio: f[2].parse().unwrap_or_else(|_| panic!("priority in {r}")),
        }
    })
    .collect()
}

fn show(ads: &[Advert]) -> String {
    let t0 = ads.first().map_or(0.0, |a| a.t);
    ads.iter()
        .map(|a| format!("  +{:.4} {} prio {}\n", a.t - t0, a.src, a.prio))
        .collect()
}

/// keepalived's configuration for the one instance `VI_1` of virtual router `vrid`: VRRPv2
/// with 2 s adverts, or VRRPv3 with 1 s adverts; optionally tracking a file with weight 0.
fn ka_cfg(
    router_id: &str,
    vrid: u8,
    state: &str,
    prio: u8,
    v3: bool,
    track: Option<&Path>,
) -> String {
    let (version, advert_int) = if v3 {
        ("    vrrp_version 3\n", 1)
    } else {
        ("", 2)
    };
    let (track_def, track) = match track {
        Some(f) => (
            format!(
                "track_file fail {{\n    file \"{}\"\n    weight 0\n}}\n",
                f.display()
            ),
            "    track_file {\n        fail weight 0\n    }\n",
        ),
        None => (String::new(), ""),
    };
    format!(
        "global_defs {{\n    router_id {router_id}\n{version}}}\n{track_def}\
         vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    virtual_router_id {vrid}\n\
         \x20   priority {prio}\n    advert_int {advert_int}\n{track}\
         \x20   virtual_ipaddress {{\n        10.99.0.{vrid}/24\n    }}\n}}\n"
    )
}

/// vipd's YAML for the same instance.
fn vipd_cfg(vrid: u8, prio: u8, v3: bool, track: Option<&Path>) -> String {
    let (version, advert_int) = if v3 { (3, 1) } else { (2, 2) };
    let track = track.map_or(String::new(), |f| {
        format!(
            "    track_files: [{{path: \"{}\", weight: 0}}]\n",
            f.display()
        )
    });
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: {vrid}\n\
         \x20   version: {version}\n    priority: {prio}\n    advert_interval: {advert_int}s\n\
         {track}    virtual_ipaddress: [\"10.99.0.{vrid}/24\"]\n"
    )
}

/// Starts vipd on `h` and waits until its instance is a backup.
fn start_vipd_backup(lab: &mut Lab, h: &str, yaml: &str) -> u32 {
    let pid = lab.vipd(h, yaml);
    let log = format!("{h}.log");
    wait_for(5 * S, "vipd to become backup", || {
        lab.log(&log).contains("INIT -> BACKUP")
    });
    pid
}

/// Stops vipd by pid (SIGTERM) and checks it exits 0. A master with nobody left to take
/// over keeps its addresses for the hold bound first (make-before-break: 3 x 2 s + 255/256 s
/// in v2 at 2 s), never longer than vipd's 15 s stop limit.
fn stop_vipd(lab: &mut Lab, pid: u32) {
    lab.signal(pid, "TERM");
    assert_eq!(
        lab.wait_exit(pid, 16 * S),
        Some(0),
        "vipd exits 0 on SIGTERM"
    );
}

/// How the v2 master goes away.
#[derive(Clone, Copy, PartialEq)]
enum Loss {
    /// SIGTERM: keepalived resigns with a priority-0 advert.
    Resign,
    /// Its link goes down: it just falls silent.
    LinkDown,
}

/// keepalived's v2 master (priority 100) of run `r`; it becomes master after its own
/// Master_Down_Interval.
fn start_v2_master(lab: &mut Lab, ka: &mut Keepalived, r: Run) -> u32 {
    let conf = ka_cfg(
        &format!("{}_{}", lab.prefix, r.master),
        r.vrid,
        "BACKUP",
        100,
        false,
        None,
    );
    ka.start(lab, r.master, &conf)
}

/// One v2 run: `backup` (priority 80) joins the keepalived master `mpid` of run `r` (2 s
/// adverts), which then goes away. Returns the time on the wire from the master's priority-0
/// advert (`Resign`) or its last advert (`LinkDown`) to the backup's first advert.
fn v2_takeover(
    lab: &mut Lab,
    ka: &mut Keepalived,
    r: Run,
    mpid: u32,
    backup: Impl,
    loss: Loss,
) -> f64 {
    let vip = r.vip();
    let (cap, pcap) = lab.capture("obs", &format!("v2-{}", r.vrid), "ip proto 112");
    lab.wait_holder(&[r.master], &vip, r.master, 10 * S);
    let bpid = match backup {
        Impl::Keepalived => {
            let router = format!("{}_{}", lab.prefix, r.backup);
            let conf = ka_cfg(&router, r.vrid, "BACKUP", 80, false, None);
            ka.start(lab, r.backup, &conf)
        }
        Impl::Vipd => start_vipd_backup(lab, r.backup, &vipd_cfg(r.vrid, 80, false, None)),
    };
    let backup_ready = epoch();
    // At least one of the master's adverts reaches the backup (so its Master_Down_Interval
    // counts from an advert on the wire, not from its start).
    lab.hold_steady(&r.hosts(), &vip, r.master, 2 * S + S / 2);
    match loss {
        Loss::Resign => ka.stop(lab, mpid),
        Loss::LinkDown => lab.link(r.master, false),
    }
    lab.wait_holder(&[r.backup], &vip, r.backup, 12 * S);
    // The backup's first advert leaves as it adds the address: let the capture see it.
    std::thread::sleep(S / 4);
    lab.stop_capture(cap);
    let blog = lab.log(&format!("{}.log", r.backup));
    match backup {
        Impl::Keepalived => ka.stop(lab, bpid),
        Impl::Vipd => stop_vipd(lab, bpid),
    }
    if loss == Loss::LinkDown {
        ka.stop(lab, mpid);
    }

    let ads = adverts(&pcap, r.vrid);
    let what = format!(
        "{backup:?} backup, vrid {}:\n{}--- backup's log\n{blog}",
        r.vrid,
        show(&ads)
    );
    let first_backup = ads
        .iter()
        .position(|a| a.src == r.backup_ip)
        .unwrap_or_else(|| panic!("no advert from the backup; {what}"));
    let before = &ads[..first_backup];
    assert!(
        before.iter().all(|a| a.src == r.master_ip),
        "only the master advertises before the takeover; {what}"
    );
    assert_eq!(ads[first_backup].prio, 80, "{what}");
    assert!(
        before
            .iter()
            .any(|a| a.prio == 100 && a.t > backup_ready + 0.01),
        "the master advertised while the backup was up; {what}"
    );
    let from = match loss {
        Loss::Resign => before
            .iter()
            .find(|a| a.prio == 0)
            .unwrap_or_else(|| panic!("a priority-0 advert from the master; {what}")),
        Loss::LinkDown => {
            assert!(
                before.iter().all(|a| a.prio == 100),
                "no priority 0 when the link goes down; {what}"
            );
            before.last().unwrap()
        }
    };
    ads[first_backup].t - from.t
}

/// A keepalived master with a keepalived backup, then a keepalived master with a vipd backup:
/// the same configuration, the same loss of the master, and the figures compared. Both masters
/// start at once (each needs its own Master_Down_Interval to become master); the runs follow
/// one another.
fn v2_compare(prefix: &str, loss: Loss, rfc: f64) {
    let mut ka = Keepalived::new();
    let mut lab = lan(prefix);
    let m1 = start_v2_master(&mut lab, &mut ka, REFERENCE);
    let m2 = start_v2_master(&mut lab, &mut ka, UNDER_TEST);
    let reference = v2_takeover(&mut lab, &mut ka, REFERENCE, m1, Impl::Keepalived, loss);
    let vipd = v2_takeover(&mut lab, &mut ka, UNDER_TEST, m2, Impl::Vipd, loss);
    let event = match loss {
        Loss::Resign => "priority-0 advert",
        Loss::LinkDown => "master's last advert (link down)",
    };
    eprintln!(
        "{prefix}: v2, 2 s adverts, backup priority 80, {event} -> backup's first advert: \
         keepalived {reference:.4} s, vipd {vipd:.4} s (RFC 3768: {rfc:.4} s)"
    );
    assert!(
        (reference - rfc).abs() < REFERENCE_SLACK,
        "keepalived's backup took {reference:.4} s, RFC 3768 says {rfc:.4} s: the measurement \
         is off, not vipd"
    );
    assert!(
        (vipd - reference).abs() <= TOLERANCE,
        "vipd's backup took {vipd:.4} s, keepalived's {reference:.4} s (RFC 3768: {rfc:.4} s); \
         more than {TOLERANCE} s apart"
    );
}

#[test]
fn v2_skew_time_after_priority_zero_matches_keepalived() {
    // Skew_Time = (256 - 80) / 256 s.
    v2_compare("tsk", Loss::Resign, 0.6875);
}

#[test]
fn v2_master_down_interval_after_link_loss_matches_keepalived() {
    // Master_Down_Interval = 3 x 2 s + (256 - 80) / 256 s.
    v2_compare("tsl", Loss::LinkDown, 6.6875);
}

/// What one fault-resignation run saw on the wire.
struct Resignation {
    /// Whether the master sent a priority-0 advert before the backup's first advert.
    zero: bool,
    /// From the master's priority-0 advert (or, without one, its last advert of priority
    /// above 0) to the backup's first advert.
    took: f64,
    /// From the master's last advert of priority above 0 to the backup's first advert.
    from_last: f64,
    /// From the write to the tracked file to the backup's first advert.
    from_change: f64,
}

/// The v3 master (priority 150) of run `r`, tracking `flag` with weight 0; it becomes master
/// after its own Master_Down_Interval.
fn start_fault_master(
    lab: &mut Lab,
    ka: &mut Keepalived,
    r: Run,
    master: Impl,
    flag: &Path,
) -> u32 {
    match master {
        Impl::Keepalived => {
            let router = format!("{}_{}", lab.prefix, r.master);
            let conf = ka_cfg(&router, r.vrid, "BACKUP", 150, true, Some(flag));
            ka.start(lab, r.master, &conf)
        }
        Impl::Vipd => lab.vipd(r.master, &vipd_cfg(r.vrid, 150, true, Some(flag))),
    }
}

/// One v3 run: keepalived (priority 100) joins `master` (pid `mpid`) of run `r` as its
/// backup (1 s adverts); then the master's tracked file `flag` is set to 1 while its link
/// stays up.
fn fault_resignation(
    lab: &mut Lab,
    ka: &mut Keepalived,
    r: Run,
    mpid: u32,
    master: Impl,
    flag: &Path,
) -> Resignation {
    let vip = r.vip();
    let (cap, pcap) = lab.capture("obs", &format!("v3-{}", r.vrid), "ip proto 112");
    lab.wait_holder(&[r.master], &vip, r.master, 10 * S);
    let router = format!("{}_{}", lab.prefix, r.backup);
    let conf = ka_cfg(&router, r.vrid, "BACKUP", 100, true, None);
    let bpid = ka.start(lab, r.backup, &conf);
    let backup_ready = epoch();
    lab.hold_steady(&r.hosts(), &vip, r.master, S + S / 2);

    let changed = epoch();
    std::fs::write(flag, "1\n").unwrap();
    lab.wait_holder(&r.hosts(), &vip, r.backup, 10 * S);
    std::thread::sleep(S / 4);
    lab.stop_capture(cap);
    let mlog = lab.log(&format!("{}.log", r.master));
    ka.stop(lab, bpid);
    match master {
        Impl::Keepalived => ka.stop(lab, mpid),
        Impl::Vipd => stop_vipd(lab, mpid),
    }

    let ads = adverts(&pcap, r.vrid);
    let what = format!(
        "{master:?} master, vrid {}:\n{}--- master's log\n{mlog}",
        r.vrid,
        show(&ads)
    );
    let fault = match master {
        Impl::Keepalived => "Entering FAULT STATE",
        Impl::Vipd => "-> FAULT",
    };
    assert!(mlog.contains(fault), "the master entered Fault; {what}");
    let first_backup = ads
        .iter()
        .position(|a| a.src == r.backup_ip)
        .unwrap_or_else(|| panic!("no advert from the backup; {what}"));
    let before = &ads[..first_backup];
    assert!(
        before.iter().all(|a| a.src == r.master_ip),
        "only the master advertises before the takeover; {what}"
    );
    assert_eq!(ads[first_backup].prio, 100, "{what}");
    assert!(
        before
            .iter()
            .any(|a| a.prio == 150 && a.t > backup_ready + 0.01),
        "the master advertised while the backup was up; {what}"
    );
    let last = before
        .iter()
        .rfind(|a| a.prio > 0)
        .unwrap_or_else(|| panic!("no advert of the master; {what}"));
    // keepalived sends its priority-0 advert on entering Fault twice, back to back.
    let zero = before.iter().find(|a| a.prio == 0);
    let t1 = ads[first_backup].t;
    Resignation {
        zero: zero.is_some(),
        took: t1 - zero.unwrap_or(last).t,
        from_last: t1 - last.t,
        from_change: t1 - changed,
    }
}

#[test]
fn v3_fault_resignation_matches_keepalived() {
    let mut ka = Keepalived::new();
    let mut lab = lan("tfr");
    let flags = [REFERENCE, UNDER_TEST].map(|r| lab.file(&format!("fail-{}", r.vrid), "0\n"));
    // Both masters start at once (each needs its own Master_Down_Interval to become master);
    // the runs follow one another.
    let m1 = start_fault_master(&mut lab, &mut ka, REFERENCE, Impl::Keepalived, &flags[0]);
    let m2 = start_fault_master(&mut lab, &mut ka, UNDER_TEST, Impl::Vipd, &flags[1]);
    let reference = fault_resignation(
        &mut lab,
        &mut ka,
        REFERENCE,
        m1,
        Impl::Keepalived,
        &flags[0],
    );
    let vipd = fault_resignation(&mut lab, &mut ka, UNDER_TEST, m2, Impl::Vipd, &flags[1]);
    for (name, r) in [("keepalived", &reference), ("vipd", &vipd)] {
        eprintln!(
            "tfr: v3, 1 s adverts, {name} master enters Fault: priority-0 advert sent: {}; \
             backup's first advert {:.4} s after {}, {:.4} s after the master's last advert of \
             priority 150, {:.4} s after the tracked file changed",
            r.zero,
            r.took,
            if r.zero {
                "the priority-0 advert"
            } else {
                "the master's last advert (no priority 0)"
            },
            r.from_last,
            r.from_change
        );
    }
    // keepalived's backup of priority 100: Skew_Time = (256 - 100) / 256 x 1 s.
    let skew = 156.0 / 256.0;
    assert!(
        reference.zero && (reference.took - skew).abs() < REFERENCE_SLACK,
        "keepalived, entering Fault, resigns with priority 0 and its backup takes over after \
         Skew_Time ({skew:.4} s); measured {:.4} s (priority 0 seen: {}): the measurement is \
         off, not vipd",
        reference.took,
        reference.zero
    );
    assert!(
        (vipd.took - reference.took).abs() <= TOLERANCE,
        "backup took over {:.4} s after vipd's {} but {:.4} s after keepalived's priority-0 \
         advert; more than {TOLERANCE} s apart",
        vipd.took,
        if vipd.zero {
            "priority-0 advert"
        } else {
            "last advert (vipd sent no priority 0 on entering Fault)"
        },
        reference.took
    );
}

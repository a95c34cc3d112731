//! Sync groups on a real kernel (root): a two-leg gateway. a and b each have an outside leg
//! (eth0, LAN 10.99.0.0/24, instance OUT) and an inside leg (eth1, a second bridge, LAN
//! 10.99.1.0/24, instance IN), both instances in sync group GW. a (priority 150) is master
//! of both; its inside link goes down: IN goes to Fault, OUT follows it, and b takes both
//! addresses together. The group's notify hooks run with keepalived's argv (`GROUP GW STATE
//! 0` for `any`) and `vrrp_sync_group_state` shows the group's state on each node.

mod labkit;
mod observekit;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use labkit::{Lab, wait_for};
use observekit::{PORT, scrape, status, value};
use vipd::netlab::ip;

const S: Duration = Duration::from_secs(1);
const VIP_OUT: &str = "10.99.0.61";
const VIP_IN: &str = "10.99.1.62";

/// The inside leg: a second bridge `br1` in the switch namespace and `eth1` on each host
/// (10.99.1.x/24), torn down with the namespaces.
fn inside_leg(lab: &Lab, hosts: &[(&str, &str)]) {
    let sw = lab.ns("sw");
    let run = |args: &[&str]| ip(args).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
    run(&[
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
    run(&["-n", &sw, "link", "set", "br1", "up"]);
    for (h, addr) in hosts {
        let ns = lab.ns(h);
        let port = format!("q{h}");
        run(&[
            "link", "add", "eth1", "netns", &ns, "type", "veth", "peer", "name", &port, "netns",
            &sw,
        ]);
        run(&["-n", &sw, "link", "set", &port, "master", "br1", "up"]);
        run(&["-n", &ns, "link", "set", "eth1", "up"]);
        run(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth1",
        ]);
    }
}

/// Whether `addr` is on host `h`'s `dev`.
fn has(lab: &Lab, h: &str, dev: &str, addr: &str) -> bool {
    let out = ip(&["-n", &lab.ns(h), "addr", "show", "dev", dev]).unwrap_or_default();
    out.contains(&format!("inet {addr}/"))
}

/// Who holds both addresses: `Some(host)` when exactly one host holds both and the other
/// neither.
fn both_on(lab: &Lab) -> Option<&'static str> {
    let holds = |h| (has(lab, h, "eth0", VIP_OUT), has(lab, h, "eth1", VIP_IN));
    match (holds("a"), holds("b")) {
        ((true, true), (false, false)) => Some("a"),
        ((false, false), (true, true)) => Some("b"),
        _ => None,
    }
}

/// The group hook: appends `<node> $@ | $VIPD_GROUP $VIPD_STATE` to `<lab dir>/group.log`.
fn hook(lab: &Lab) -> (PathBuf, PathBuf) {
    let out = lab.dir.join("group.log");
    let p = lab.file(
        "group.sh",
        &format!(
            "#!/bin/sh\necho \"$@ | $VIPD_GROUP $VIPD_STATE\" >> {}\n",
            out.display()
        ),
    );
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    (p, out)
}

fn config(node: &str, prio: u8, hook: &str) -> String {
    format!(
        "listen: \"127.0.0.1:{PORT}\"
instances:
  OUT:
    interface: eth0
    vrid: 61
    priority: {prio}
    advert_interval: 100ms
    virtual_ipaddress: [\"{VIP_OUT}/24\"]
  IN:
    interface: eth1
    vrid: 62
    priority: {prio}
    advert_interval: 100ms
    virtual_ipaddress: [\"{VIP_IN}/24\"]
sync_groups:
  GW:
    instances: [OUT, IN]
    notify:
      master: [\"{hook}\", {node}, master]
      fault: [\"{hook}\", {node}, fault]
      any: [\"{hook}\", {node}]
"
    )
}

fn lines(out: &PathBuf) -> Vec<String> {
    fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn group_state(lab: &Lab, h: &str, state: &str) -> Option<f64> {
    value(
        &scrape(lab, h),
        "vrrp_sync_group_state",
        &[("group", "GW"), ("state", state)],
    )
}

#[test]
fn inside_link_down_moves_both_addresses_together_with_group_hooks_and_metric() {
    let mut lab = Lab::new("sg");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    inside_leg(&lab, &[("a", "10.99.1.11"), ("b", "10.99.1.12")]);
    let (hook, out) = hook(&lab);
    let h = hook.display().to_string();
    lab.vipd("a", &config("a", 150, &h));
    lab.vipd("b", &config("b", 100, &h));
    let logs = |lab: &Lab| {
        format!(
            "--- a\n{}\n--- b\n{}\n--- hooks\n{:#?}",
            lab.log("a.log"),
            lab.log("b.log"),
            lines(&out)
        )
    };

    // a is master of both legs, b backup of both.
    wait_for(5 * S, "a holds both addresses", || {
        both_on(&lab) == Some("a")
    });
    wait_for(3 * S, "group hooks of the election", || {
        let l = lines(&out);
        l.contains(&"a master | GW MASTER".to_owned())
            && l.contains(&"a GROUP GW MASTER 0 | GW MASTER".to_owned())
            && l.contains(&"b GROUP GW BACKUP 0 | GW BACKUP".to_owned())
    });
    assert_eq!(
        group_state(&lab, "a", "master"),
        Some(1.0),
        "{}",
        logs(&lab)
    );
    assert_eq!(group_state(&lab, "a", "backup"), Some(0.0));
    assert_eq!(group_state(&lab, "b", "backup"), Some(1.0));

    // a's inside link dies: both addresses move to b together.
    let before = lines(&out).len();
    ip(&["-n", &lab.ns("a"), "link", "set", "eth1", "down"]).unwrap();
    let t = Instant::now();
    let end = t + 5 * S;
    loop {
        match both_on(&lab) {
            Some("b") => break,
            // On the way: an address may be nowhere for a moment, never on both hosts, and
            // a never keeps OUT once IN is gone.
            _ => {
                assert!(
                    !(has(&lab, "a", "eth0", VIP_OUT) && has(&lab, "b", "eth0", VIP_OUT)),
                    "{VIP_OUT} on both hosts"
                );
                assert!(Instant::now() < end, "b never held both:\n{}", logs(&lab));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("both addresses on b after {:?}", t.elapsed());
    // And they stay there, together.
    let steady = Instant::now() + S;
    while Instant::now() < steady {
        assert_eq!(both_on(&lab), Some("b"), "{}", logs(&lab));
        std::thread::sleep(Duration::from_millis(25));
    }
    wait_for(3 * S, "group hooks of the failover", || {
        let l = lines(&out)[before..].to_vec();
        l.contains(&"a fault | GW FAULT".to_owned())
            && l.contains(&"a GROUP GW FAULT 0 | GW FAULT".to_owned())
            && l.contains(&"b master | GW MASTER".to_owned())
            && l.contains(&"b GROUP GW MASTER 0 | GW MASTER".to_owned())
    });
    assert_eq!(group_state(&lab, "a", "fault"), Some(1.0), "{}", logs(&lab));
    assert_eq!(group_state(&lab, "a", "master"), Some(0.0));
    assert_eq!(group_state(&lab, "b", "master"), Some(1.0));
    // OUT's own link never failed: it followed its group.
    let a = scrape(&lab, "a");
    assert_eq!(
        value(
            &a,
            "vrrp_instance_state",
            &[("vr", "OUT"), ("state", "fault")]
        ),
        Some(1.0),
        "{a}"
    );
    assert!(
        lab.log("a.log").contains("sync group GW: MASTER -> FAULT"),
        "{}",
        logs(&lab)
    );
    // /status carries the group and its members; `vipd status` prints them below the table.
    let st = status(&lab, "a");
    let g = &st["sync_groups"][0];
    assert_eq!(
        (&g["name"], &g["state"]),
        (&"GW".into(), &"fault".into()),
        "{st:#}"
    );
    let members: Vec<(String, String)> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().into(),
                m["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("OUT".into(), "fault".into()),
            ("IN".into(), "fault".into())
        ],
        "{st:#}"
    );
    assert_eq!(status(&lab, "b")["sync_groups"][0]["state"], "master");
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("b"), labkit::VIPD, "status"])
        .args(["--url", &format!("http://127.0.0.1:{PORT}")])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    let row = table
        .lines()
        .skip_while(|l| !l.starts_with("SYNC GROUP"))
        .nth(1);
    assert_eq!(
        row.map(|r| r.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["GW", "MASTER", "OUT=MASTER,IN=MASTER"]),
        "{table}"
    );
}

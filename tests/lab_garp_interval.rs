//! `garp.interval` on a real kernel (root, lab): a new master's gratuitous ARPs, captured on
//! another host. Every announcement of the burst arrives (3 rounds of each address of both
//! instances on the interface); the gaps between consecutive ARPs, measured in the capture,
//! are printed (a figure for the docs, not asserted: tests assert no timing). The spacing
//! rule itself is `router::pace`'s unit test.

mod labkit;

use std::time::Duration;

use labkit::{Lab, tshark, wait_for};

const S: Duration = Duration::from_secs(1);

const CFG: &str = "listen: \"127.0.0.1:9797\"
instances:
  ONE:
    interface: eth0
    vrid: 85
    priority: 255
    advert_interval: 100ms
    garp: {repeat: 3, delay: 0s, interval: 50ms}
    virtual_ipaddress: [10.99.0.85/24, 10.99.0.86/24]
  TWO:
    interface: eth0
    vrid: 86
    priority: 255
    advert_interval: 100ms
    garp: {repeat: 3, delay: 0s, interval: 50ms}
    virtual_ipaddress: [10.99.0.87/24]
";

#[test]
fn spaced_announcements_all_arrive_and_their_gaps_are_measured() {
    let mut lab = Lab::new("i2g");
    lab.host("a", "10.99.0.11", None);
    lab.host("b", "10.99.0.12", None);
    let (cap, pcap) = lab.capture("b", "garp", "arp");
    let pid = lab.vipd("a", CFG);
    // 3 rounds of 2 + 3 rounds of 1, at least 50 ms apart: about 400 ms.
    wait_for(10 * S, "the addresses", || {
        ["10.99.0.85", "10.99.0.86", "10.99.0.87"]
            .iter()
            .all(|v| lab.has_addr("a", v))
    });
    std::thread::sleep(2 * S);
    lab.stop_capture(cap);
    let garps = tshark(
        &pcap,
        "arp.src.proto_ipv4 == arp.dst.proto_ipv4 && arp.src.proto_ipv4 != 10.99.0.11",
        &["frame.time_relative", "arp.src.proto_ipv4"],
    );
    let mut per_addr = std::collections::BTreeMap::new();
    let mut times = Vec::new();
    for g in &garps {
        let (t, a) = g.split_once(',').unwrap();
        *per_addr.entry(a.to_owned()).or_insert(0) += 1;
        times.push(t.parse::<f64>().unwrap());
    }
    assert_eq!(
        per_addr.into_iter().collect::<Vec<_>>(),
        [
            ("10.99.0.85".to_owned(), 3),
            ("10.99.0.86".to_owned(), 3),
            ("10.99.0.87".to_owned(), 3)
        ],
        "{garps:?}\n{}",
        lab.log("a.log")
    );
    let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect();
    let min = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let max = gaps.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "garp.interval 50ms, 9 GARPs of two instances on one interface: gaps min {min:.1} ms, max {max:.1} ms, all {gaps:.1?}"
    );
    lab.signal(pid, "TERM");
    assert_eq!(lab.wait_exit(pid, 10 * S), Some(0), "{}", lab.log("a.log"));
}

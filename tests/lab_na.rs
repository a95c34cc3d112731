//! vipd's unsolicited neighbour advertisements on a real kernel (root): the Router flag is set
//! exactly when the interface forwards IPv6 (RFC 9568 6.4.1/6.4.2, as keepalived does), with
//! tshark judging what is on the wire.

mod labkit;

use std::time::Duration;

use labkit::{Lab, sh, tshark};

const S: Duration = Duration::from_secs(1);

fn cfg(vrid: u8, vip: &str) -> String {
    format!(
        "listen: \"127.0.0.1:0\"\ninstances:\n  VI_6:\n    interface: eth0\n    vrid: {vrid}\n    priority: 150\n    advert_interval: 100ms\n    virtual_ipaddress: [\"{vip}/64\"]\n"
    )
}

fn set_forwarding(lab: &Lab, h: &str, on: bool) {
    let v = if on { "1" } else { "0" };
    sh(&[
        "ip",
        "netns",
        "exec",
        &lab.ns(h),
        "sysctl",
        "-qw",
        &format!("net.ipv6.conf.eth0.forwarding={v}"),
    ]);
    let read = sh(&[
        "ip",
        "netns",
        "exec",
        &lab.ns(h),
        "cat",
        "/proc/sys/net/ipv6/conf/eth0/forwarding",
    ]);
    assert_eq!(read.trim(), v, "forwarding on {h}");
}

/// Two lone masters on one LAN, `r` forwarding IPv6 and `h` not; `c` captures. `r`'s NAs for
/// its VIP carry Router and Override, `h`'s only Override; neither is Solicited.
#[test]
fn unsolicited_na_router_flag_follows_ipv6_forwarding() {
    let mut lab = Lab::new("nr");
    lab.host("r", "10.99.0.41", Some("fd00:99::41"));
    lab.host("h", "10.99.0.42", Some("fd00:99::42"));
    lab.host("c", "10.99.0.43", Some("fd00:99::43"));
    set_forwarding(&lab, "r", true);
    set_forwarding(&lab, "h", false);
    let (cap, pcap) = lab.capture("c", "na", "icmp6 and ip6[40] == 136");
    lab.vipd("r", &cfg(44, "fd00:99::44"));
    lab.vipd("h", &cfg(45, "fd00:99::45"));
    lab.wait_holder(&["r", "h"], "fd00:99::44", "r", 3 * S);
    lab.wait_holder(&["r", "h"], "fd00:99::45", "h", 3 * S);
    std::thread::sleep(Duration::from_millis(500));
    lab.stop_capture(cap);

    let fields = [
        "ipv6.src",
        "ipv6.dst",
        "ipv6.hlim",
        "icmpv6.nd.na.flag.r",
        "icmpv6.nd.na.flag.s",
        "icmpv6.nd.na.flag.o",
        "icmpv6.checksum.status",
    ];
    let routed = tshark(
        &pcap,
        "icmpv6.type == 136 && icmpv6.nd.na.target_address == fd00:99::44",
        &fields,
    );
    assert!(
        !routed.is_empty(),
        "no NA for fd00:99::44\n{}",
        lab.log("r.log")
    );
    for r in &routed {
        assert_eq!(r, "fd00:99::44,ff02::1,255,1,0,1,1", "forwarding host: {r}");
    }
    let plain = tshark(
        &pcap,
        "icmpv6.type == 136 && icmpv6.nd.na.target_address == fd00:99::45",
        &fields,
    );
    assert!(
        !plain.is_empty(),
        "no NA for fd00:99::45\n{}",
        lab.log("h.log")
    );
    for r in &plain {
        assert_eq!(r, "fd00:99::45,ff02::1,255,0,0,1,1", "host: {r}");
    }
}

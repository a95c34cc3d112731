//! Lab test of `vipd::net` against the real kernel. Needs root, iproute2, tcpdump and tshark:
//! it FAILS (does not skip) without them.
//!
//! Each test builds its own LAN with `vipd::netlab` (the harness of every lab test and of
//! `vipd demo`): namespaces `vnet-<pid>-<test>-a` / `-b` on the switch `vnet-<pid>-<test>-sw`,
//! with `va` (10.99.0.1/24, fd00:99::1/64) and `vb` (10.99.0.2/24, fd00:99::2/64). Test code
//! runs inside a namespace on a dedicated thread (setns + its own current_thread tokio
//! runtime). The LAN is torn down on drop, also when a test fails.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc as std_mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use vipd::config::Family;
use vipd::net::{
    Announcer, IfaceInfo, LinkEvent, NetError, NetEvent, Netlink, VRRP_V4_GROUP, VRRP_V6_GROUP,
    VrrpSocket, garp_frame, na_body, net_events,
};
use vipd::netlab::{Host, Lan};

mod labkit;

const MAC_A: [u8; 6] = [0x02, 0x99, 0x00, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x99, 0x00, 0x00, 0x00, 0x0b];
const A4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const B4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x99, 0, 0, 0, 0, 0, 2);
const WAIT: Duration = Duration::from_secs(5);

/// Runs a command; panics with its output if it fails.
fn run(args: &[&str]) -> String {
    labkit::sh(args)
}

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Hosts `a` (`va`) and `b` (`vb`) on a LAN built by `vipd::netlab`; torn down on drop.
struct Lab {
    a: String,
    b: String,
    lan: Lan,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        labkit::require(&["ip", "tcpdump", "tshark"]);
        let mut lan = Lan::create(&format!("vnet-{}-{tag}-", std::process::id()))
            .unwrap_or_else(|e| panic!("{e}"));
        for (h, dev, mac, v4, v6) in [("a", "va", MAC_A, A4, A6), ("b", "vb", MAC_B, B4, B6)] {
            let host = Host::new(h).dev(dev).mac(&mac_str(mac)).v4(v4).v6(v6);
            lan.add(&host).unwrap_or_else(|e| panic!("host {h}: {e}"));
        }
        Lab {
            a: lan.ns("a"),
            b: lan.ns("b"),
            lan,
        }
    }

    /// Runs `f` inside namespace `ns` on its own thread with its own tokio runtime.
    fn spawn_in<F, Fut, T>(&self, ns: &str, f: F) -> thread::JoinHandle<T>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{ns}");
        thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(f())
        })
    }

    fn run_in<F, Fut, T>(&self, ns: &str, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        join(self.spawn_in(ns, f))
    }
}

/// Joins, re-raising the thread's panic in this thread.
fn join<T>(h: thread::JoinHandle<T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

async fn iface(name: &str) -> IfaceInfo {
    Netlink::new()
        .expect("netlink")
        .iface(name, &[])
        .await
        .unwrap_or_else(|e| panic!("iface {name}: {e}"))
}

/// One received packet: header facts and the VRRP bytes.
type Got = (IpAddr, IpAddr, u8, Vec<u8>);

async fn recv_one(sock: &VrrpSocket) -> Got {
    let mut buf = [0u8; 2048];
    let r = tokio::time::timeout(WAIT, sock.recv(&mut buf))
        .await
        .expect("timed out waiting for a VRRP packet")
        .expect("recv");
    (
        r.src,
        r.dst,
        r.ttl,
        buf[r.offset..r.offset + r.len].to_vec(),
    )
}

#[test]
fn vrrp_socket_send_and_receive() {
    let lab = Lab::new("sock");
    let payload4 = b"\x31\x15\x96\x02\x00\x32\x00\x00vipd-v4-test".to_vec();
    let payload6 = b"\x31\x16\xc8\x01\x00\x64\x00\x00vipd-v6-test".to_vec();

    let (ready_tx, ready_rx) = std_mpsc::channel::<()>();
    let receiver = lab.spawn_in(&lab.b, move || async move {
        let info = iface("vb").await;
        let s4 = VrrpSocket::open(&info, Family::Ipv4).expect("open v4");
        let s6 = VrrpSocket::open(&info, Family::Ipv6).expect("open v6");
        ready_tx.send(()).unwrap();
        let v4 = [recv_one(&s4).await, recv_one(&s4).await];
        let v6 = [recv_one(&s6).await, recv_one(&s6).await];
        (info, v4, v6)
    });
    ready_rx.recv_timeout(WAIT).expect("receiver ready");

    let (p4, p6) = (payload4.clone(), payload6.clone());
    let (a_info, a_own) = lab.run_in(&lab.a, move || async move {
        let info = iface("va").await;
        let ll = info.ipv6_link_local.expect("link-local on va");
        let s4 = VrrpSocket::open(&info, Family::Ipv4).expect("open v4");
        let s6 = VrrpSocket::open(&info, Family::Ipv6).expect("open v6");
        s4.send(&p4, A4.into(), VRRP_V4_GROUP.into())
            .expect("send v4 multicast");
        s4.send(&p4, A4.into(), B4.into()).expect("send v4 unicast");
        s6.send(&p6, ll.into(), VRRP_V6_GROUP.into())
            .expect("send v6 multicast");
        s6.send(&p6, ll.into(), B6.into()).expect("send v6 unicast");
        // Family mismatch is refused, not sent.
        assert!(s4.send(&p4, A6.into(), B6.into()).is_err());
        // Multicast loop is off: the sender does not hear itself.
        let mut buf = [0u8; 2048];
        let own = tokio::time::timeout(Duration::from_millis(300), s4.recv(&mut buf)).await;
        (info, own.is_ok())
    });
    assert!(!a_own, "multicast loop should be off");

    let (b_info, v4, v6) = join(receiver);
    assert_eq!(b_info.mac, MAC_B);
    let a_ll = IpAddr::V6(a_info.ipv6_link_local.unwrap());
    assert_eq!(
        v4[0],
        (A4.into(), VRRP_V4_GROUP.into(), 255, payload4.clone())
    );
    assert_eq!(v4[1], (A4.into(), B4.into(), 255, payload4));
    assert_eq!(v6[0], (a_ll, VRRP_V6_GROUP.into(), 255, payload6.clone()));
    assert_eq!(v6[1], (a_ll, B6.into(), 255, payload6));
}

#[test]
fn netlink_interfaces_and_addresses() {
    let lab = Lab::new("addr");
    let ns = lab.a.clone();
    let index: u32 = run(&["ip", "-n", &ns, "-o", "link", "show", "va"])
        .split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ns2 = ns.clone();
    lab.run_in(&ns, move || async move {
        let nl = Netlink::new().expect("netlink");
        let info = nl.iface("va", &[]).await.expect("iface va");
        assert_eq!(info.index, index);
        assert_eq!(info.name, "va");
        assert_eq!(info.mac, MAC_A);
        assert!(info.up);
        assert_eq!(info.ipv4_primary, Some(A4));
        // EUI-64 from 02:99:00:00:00:0a.
        assert_eq!(
            info.ipv6_link_local,
            Some("fe80::99:ff:fe00:a".parse().unwrap())
        );
        assert_eq!(info.mtu, 1500, "veth default MTU");
        assert!(!info.ipv6_forwarding);
        // MTU from IFLA_MTU; forwarding from this namespace's sysctl.
        run(&["ip", "-n", &ns2, "link", "set", "va", "mtu", "1400"]);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns2,
            "sysctl",
            "-qw",
            "net.ipv6.conf.va.forwarding=1",
        ]);
        let info = nl.iface("va", &[]).await.expect("iface va");
        assert_eq!(info.mtu, 1400);
        assert!(info.ipv6_forwarding);
        run(&["ip", "-n", &ns2, "link", "set", "va", "mtu", "1500"]);
        run(&[
            "ip",
            "netns",
            "exec",
            &ns2,
            "sysctl",
            "-qw",
            "net.ipv6.conf.va.forwarding=0",
        ]);
        assert!(!nl.iface("va", &[]).await.unwrap().ipv6_forwarding);

        match nl.iface("nonexistent0", &[]).await {
            Err(NetError::NoSuchInterface(n)) => assert_eq!(n, "nonexistent0"),
            other => panic!("expected NoSuchInterface, got {other:?}"),
        }

        // A VIP in the interface's subnet (secondary) and one in another subnet (primary).
        let vip_sec = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 50));
        let vip_pri = IpAddr::V4(Ipv4Addr::new(10, 99, 1, 1));
        let vip6 = IpAddr::V6("fd00:99::50".parse().unwrap());
        for _ in 0..2 {
            // The second round checks that "already present" is success.
            nl.add_address(index, vip_sec, 24)
                .await
                .expect("add v4 secondary");
            nl.add_address(index, vip_pri, 32)
                .await
                .expect("add v4 other subnet");
            nl.add_address(index, vip6, 64).await.expect("add v6");
        }
        let v6_line = run(&["ip", "-n", &ns2, "-6", "addr", "show", "dev", "va"]);
        let v6_line = v6_line
            .lines()
            .find(|l| l.contains("fd00:99::50/64"))
            .unwrap_or_else(|| panic!("fd00:99::50 missing: {v6_line}"));
        assert!(v6_line.contains("nodad"), "{v6_line}");
        assert!(!v6_line.contains("tentative"), "{v6_line}");

        let addrs = nl.addresses(index).await.expect("addresses");
        for want in [
            (vip_sec, 24),
            (vip_pri, 32),
            (vip6, 64),
            (A4.into(), 24),
            (A6.into(), 64),
        ] {
            assert!(addrs.contains(&want), "{want:?} not in {addrs:?}");
        }
        assert!(
            addrs
                .iter()
                .any(|(a, p)| *p == 64 && a.to_string().starts_with("fe80:"))
        );

        // Primary selection: secondaries never, excluded addresses skipped.
        let i = nl.iface("va", &[A4.into()]).await.unwrap();
        assert_eq!(i.ipv4_primary, Some(Ipv4Addr::new(10, 99, 1, 1)));
        let i = nl.iface("va", &[A4.into(), vip_pri]).await.unwrap();
        assert_eq!(i.ipv4_primary, None);

        for _ in 0..2 {
            // The second round checks that "not present" is success.
            nl.del_address(index, vip_sec, 24)
                .await
                .expect("del v4 secondary");
            nl.del_address(index, vip_pri, 32)
                .await
                .expect("del v4 other subnet");
            nl.del_address(index, vip6, 64).await.expect("del v6");
        }
        let addrs = nl.addresses(index).await.expect("addresses");
        for gone in [vip_sec, vip_pri, vip6] {
            assert!(
                !addrs.iter().any(|(a, _)| *a == gone),
                "{gone} still in {addrs:?}"
            );
        }
        assert!(addrs.contains(&(A4.into(), 24)), "primary lost: {addrs:?}");

        // Errors carry context.
        let err = nl
            .add_address(99_999, vip_sec, 24)
            .await
            .expect_err("add to a missing ifindex");
        let msg = err.to_string();
        assert!(
            msg.contains("10.99.0.50/24") && msg.contains("99999"),
            "{msg}"
        );
        assert_eq!(
            err.io_error().and_then(|e| e.raw_os_error()),
            Some(libc::ENODEV)
        );
    });
}

/// Waits for an event about `name` with the given state, skipping others.
async fn wait_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<NetEvent>,
    name: &str,
    up: bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no link event {name} up={up}"))
            .expect("link event channel closed");
        if let NetEvent::Link(ev) = ev
            && ev.name == name
            && ev.up == up
        {
            return ev;
        }
    }
}

/// Waits for an address event about `addr` on `index`, skipping others.
async fn wait_address(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<NetEvent>,
    index: u32,
    addr: std::net::IpAddr,
    present: bool,
) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no address event {addr} present={present}"))
            .expect("event channel closed");
        if ev
            == (NetEvent::Address {
                index,
                addr,
                present,
            })
        {
            return;
        }
    }
}

#[test]
fn link_and_address_events_follow_the_kernel() {
    let lab = Lab::new("link");
    let (a, sw) = (lab.a.clone(), lab.lan.ns("sw"));
    lab.run_in(&a.clone(), move || async move {
        let info = iface("va").await;
        let mut rx = net_events().expect("net_events");

        // An address added and removed by hand (IPv4 and IPv6).
        for (addr, len) in [("10.99.0.77", "24"), ("fd00:99::77", "64")] {
            let ip: std::net::IpAddr = addr.parse().unwrap();
            let p = format!("{addr}/{len}");
            let mut add = vec!["ip", "-n", &a, "addr", "add", &p, "dev", "va"];
            if ip.is_ipv6() {
                add.push("nodad");
            }
            run(&add);
            wait_address(&mut rx, info.index, ip, true).await;
            run(&["ip", "-n", &a, "addr", "del", &p, "dev", "va"]);
            wait_address(&mut rx, info.index, ip, false).await;
        }

        // Administrative down / up.
        run(&["ip", "-n", &a, "link", "set", "va", "down"]);
        let ev = wait_event(&mut rx, "va", false).await;
        assert_eq!(ev.index, info.index);
        run(&["ip", "-n", &a, "link", "set", "va", "up"]);
        wait_event(&mut rx, "va", true).await;

        // Carrier loss: the peer (a's port on the switch) goes down in the other namespace.
        run(&["ip", "-n", &sw, "link", "set", "pa", "down"]);
        wait_event(&mut rx, "va", false).await;
        run(&["ip", "-n", &sw, "link", "set", "pa", "up"]);
        wait_event(&mut rx, "va", true).await;

        // A deleted link is reported down (a veth pair: this kernel may lack `dummy`).
        run(&[
            "ip", "-n", &a, "link", "add", "vdel", "type", "veth", "peer", "name", "vdelp",
        ]);
        run(&["ip", "-n", &a, "link", "set", "vdelp", "up"]);
        run(&["ip", "-n", &a, "link", "set", "vdel", "up"]);
        wait_event(&mut rx, "vdel", true).await;
        run(&["ip", "-n", &a, "link", "del", "vdel"]);
        wait_event(&mut rx, "vdel", false).await;
    });
}

/// Frames of a classic pcap file (what `tcpdump -w` writes).
fn pcap_frames(path: &PathBuf) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).expect("read pcap");
    assert!(data.len() >= 24, "pcap too short");
    let le = match &data[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("not a pcap file: magic {m:x?}"),
    };
    let u32_at = |i: usize| {
        let b: [u8; 4] = data[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut frames = Vec::new();
    let mut i = 24;
    while i + 16 <= data.len() {
        let incl = u32_at(i + 8) as usize;
        frames.push(data[i + 16..i + 16 + incl].to_vec());
        i += 16 + incl;
    }
    frames
}

#[test]
fn announcer_sends_garp_and_na() {
    let mut lab = Lab::new("ann");
    let vip4 = Ipv4Addr::new(10, 99, 0, 21);
    let vip6: Ipv6Addr = "fd00:99::21".parse().unwrap();
    let pcap = std::env::temp_dir().join(format!("{}-ann.pcap", lab.b));
    let _ = std::fs::remove_file(&pcap);

    // Capture in B: our gratuitous ARP and neighbour advertisement only. The LAN ends it by
    // pid if the test fails.
    let mut cmd = lab.lan.command("b", "tcpdump");
    cmd.args(["-i", "vb", "-n", "-U", "-Z", "root", "-c", "2"])
        .arg("-w")
        .arg(&pcap)
        .arg("arp or (icmp6 and ip6[40] == 136)")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let tcpdump = lab.lan.spawn(cmd).expect("start tcpdump");
    let stderr = tcpdump.stderr.take().unwrap();
    let tcpdump = tcpdump.id();
    let (tx, rx) = std_mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("tcpdump did not start: {e}"));
        if line.contains("listening on") {
            break;
        }
    }

    let info = lab.run_in(&lab.a, move || async move {
        let nl = Netlink::new().unwrap();
        let info = nl.iface("va", &[]).await.unwrap();
        // The NA is sent from the VIP, so it must be on the interface (as the daemon does).
        nl.add_address(info.index, vip6.into(), 64).await.unwrap();
        let ann = Announcer::open(&info).expect("announcer");
        ann.garp(vip4).expect("garp");
        ann.unsolicited_na(vip6, false).expect("na");
        info
    });

    let status = lab
        .lan
        .wait_exit(tcpdump, Duration::from_secs(10))
        .expect("tcpdump did not see both announcements");
    assert!(status.success(), "tcpdump: {status}");

    // Byte for byte: the frames the kernel put on the wire carry exactly our payloads.
    let frames = pcap_frames(&pcap);
    assert_eq!(frames.len(), 2, "{frames:x?}");
    let arp = frames
        .iter()
        .find(|f| f[12..14] == [0x08, 0x06])
        .expect("ARP frame");
    let na = frames
        .iter()
        .find(|f| f[12..14] == [0x86, 0xdd])
        .expect("NA frame");
    assert_eq!(&arp[..6], &[0xff; 6]);
    assert_eq!(&arp[6..12], &MAC_A);
    assert_eq!(&arp[14..42], &garp_frame(info.mac, vip4));
    assert_eq!(&na[..6], &[0x33, 0x33, 0, 0, 0, 1]);
    assert_eq!(&na[6..12], &MAC_A);
    assert_eq!(na[21], 255, "hop limit");
    assert_eq!(&na[22..38], &vip6.octets(), "source is the VIP");
    assert_eq!(
        &na[54..],
        &na_body(info.mac, vip6, false)[..],
        "kernel checksum equals ours"
    );

    // And as tshark reads them.
    let text = run(&["tshark", "-r", pcap.to_str().unwrap(), "-V"]);
    let _ = std::fs::remove_file(&pcap);
    for want in [
        "Opcode: request (1)",
        "[Is gratuitous: True]",
        "Sender MAC address: 02:99:00:00:00:0a",
        "Sender IP address: 10.99.0.21",
        "Target MAC address: Broadcast (ff:ff:ff:ff:ff:ff)",
        "Target IP address: 10.99.0.21",
        "Source Address: fd00:99::21",
        "Destination Address: ff02::1",
        "Hop Limit: 255",
        "Type: Neighbor Advertisement (136)",
        "[Checksum Status: Good]",
        "Flags: 0x20000000, Override",
        "Router: Not set",
        "Solicited: Not set",
        "Override: Set",
        "Target Address: fd00:99::21",
        "Link-layer address: 02:99:00:00:00:0a",
    ] {
        assert!(text.contains(want), "tshark output lacks {want:?}:\n{text}");
    }
}

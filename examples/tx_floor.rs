//! The floor of a VRRP master's send path: what sending the adverts costs before vipd decides
//! anything (issue 14, `bench/run.sh scale` with the `txfloor-*` cases).
//!
//!     tx_floor MODE CONFIG ADDR     (root, inside the namespace of a master)
//!
//! CONFIG is a vipd configuration (the bench's own for the master): every instance's advert
//! is encoded once from it (VRID, priority, interval, addresses; v3 with the pseudo-header
//! checksum, from ADDR to 224.0.0.18), and the whole round is sent every advertisement
//! interval of the first instance, at absolute deadlines. ADDR is the interface's IPv4
//! address. MODE is one of:
//!
//! - `sendto`: a plain raw IP protocol 112 socket (bound to the interface, TTL 255, multicast
//!   loop off, the kernel building the IP header), one `sendto` per advert: what a daemon that
//!   sends one advert per system call (keepalived) cannot go below.
//! - `sendmmsg`: vipd's own socket ([`VrrpSocket::send_batch`]: `sendmmsg` in batches of
//!   [`vipd::net::BATCH`], the source set per advert with `IP_PKTINFO`): vipd's master without
//!   the router core, the timers, the metrics or the logs.
//!
//! The kernel's work after the send (the veth pair, the lab's bridge, the delivery to every
//! listener on the LAN) runs in the sender's softirq context and is charged to it; it is part of
//! both floors, as it is part of vipd's and keepalived's figures in the same run.
//!
//! Runs until killed; prints the adverts sent every 5 s on stderr. Measures nothing itself: the
//! bench reads its CPU time from /proc.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use vipd::config::{Family, Version};
use vipd::net::{IfaceInfo, VrrpSocket};
use vipd::packet::{AdvertSpec, ChecksumForm, encode};

fn usage() -> ! {
    eprintln!("usage: tx_floor sendto|sendmmsg CONFIG ADDR");
    std::process::exit(2)
}

fn fail(what: impl std::fmt::Display) -> ! {
    eprintln!("tx_floor: {what}");
    std::process::exit(1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, path, addr] = args.as_slice() else {
        usage()
    };
    let Ok(addr) = addr.parse::<Ipv4Addr>() else {
        usage()
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
    let config = match vipd::config::parse_str(&text, path) {
        Ok(l) => l.config,
        Err(d) => fail(format!("{path}: {d:?}")),
    };
    let Some(first) = config.instances.values().next() else {
        fail(format!("{path}: no instance"))
    };
    let ifname = first.interface.clone();
    let interval = first.advert_interval;
    let index = nix::net::if_::if_nametoindex(ifname.as_str())
        .unwrap_or_else(|e| fail(format!("interface {ifname}: {e}")));
    let src = IpAddr::V4(addr);
    let dst = IpAddr::V4(vipd::net::VRRP_V4_GROUP);
    // The round, encoded once.
    let adverts: Vec<Vec<u8>> = config
        .instances
        .values()
        .map(|i| {
            let addresses: Vec<IpAddr> = i.virtual_ipaddress.iter().map(|v| v.addr).collect();
            let spec = AdvertSpec {
                version: Version::V3,
                vrid: i.vrid,
                priority: i.priority,
                interval: u16::try_from(i.advert_interval.as_millis() / 10).unwrap_or(100),
                auth: None,
                addresses: &addresses,
            };
            let mut out = Vec::new();
            encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut out);
            out
        })
        .collect();
    let iface = IfaceInfo {
        index,
        name: ifname,
        mac: [0; 6],
        up: true,
        ipv4_primary: Some(addr),
        ipv6_link_local: None,
        mtu: 1500,
        ipv6_forwarding: false,
    };
    let r = match mode.as_str() {
        "sendto" => sendto(&iface, &adverts, interval),
        "sendmmsg" => sendmmsg(&iface, &adverts, src, dst, interval),
        _ => usage(),
    };
    if let Err(e) = r {
        fail(e)
    }
}

/// Every `REPORT`, the count so far on stderr (the bench's log shows the floor sent).
const REPORT: Duration = Duration::from_secs(5);

/// Sleeps until each round's deadline (absolute, so a late round does not shift the next) and
/// runs `round`; reports the adverts sent.
fn rounds(interval: Duration, mut round: impl FnMut() -> std::io::Result<usize>) -> ! {
    let mut next = Instant::now();
    let mut report = next + REPORT;
    let mut sent = 0u64;
    loop {
        match round() {
            Ok(n) => sent += n as u64,
            Err(e) => eprintln!("tx_floor: send: {e}"),
        }
        next += interval;
        let now = Instant::now();
        if now >= report {
            eprintln!("tx_floor: {sent} adverts sent");
            report = now + REPORT;
        }
        if let Some(wait) = next.checked_duration_since(now) {
            std::thread::sleep(wait);
        }
    }
}

fn sendto(iface: &IfaceInfo, adverts: &[Vec<u8>], interval: Duration) -> std::io::Result<()> {
    let sock = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(vipd::net::vrrp_socket::IPPROTO_VRRP)),
    )?;
    sock.bind_device(Some(iface.name.as_bytes()))?;
    sock.set_multicast_ttl_v4(255)?;
    sock.set_multicast_loop_v4(false)?;
    sock.set_multicast_if_v4(&iface.ipv4_primary.unwrap_or(Ipv4Addr::UNSPECIFIED))?;
    let group = SockAddr::from(SocketAddrV4::new(vipd::net::VRRP_V4_GROUP, 0));
    rounds(interval, || {
        for a in adverts {
            sock.send_to(a, &group)?;
        }
        Ok(adverts.len())
    })
}

fn sendmmsg(
    iface: &IfaceInfo,
    adverts: &[Vec<u8>],
    src: IpAddr,
    dst: IpAddr,
    interval: Duration,
) -> std::io::Result<()> {
    // VrrpSocket registers with tokio; the rounds block this (only) thread, nothing else runs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _guard = rt.enter();
    let sock = VrrpSocket::open(iface, Family::Ipv4)?;
    rounds(interval, || {
        let (n, err) = sock.send_batch(adverts.iter().map(|a| (a.as_slice(), src, dst)));
        match err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    })
}

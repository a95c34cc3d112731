//! The floor of a VRRP backup's receive path: what receiving adverts costs before vipd does
//! anything with them (issue 14, `bench/run.sh scale` with the `floor-*` cases).
//!
//!     rx_floor MODE CONFIG ADDR     (root, inside the namespace of a backup)
//!
//! CONFIG is a vipd configuration (the bench's own for the backup): its instances give the
//! interface and the VRIDs of the socket's filter. ADDR is the interface's IPv4 address.
//! MODE is one of:
//!
//! - `blocking`: a blocking raw IP protocol 112 socket, bound to the interface, joined to
//!   224.0.0.18, with vipd's VRID filter; one `read` per advert and nothing else. This is the
//!   least any daemon reading adverts from a raw socket can spend: the kernel's delivery, one
//!   system call and one sleep per advert. keepalived reads the same way.
//! - `poll1ms`: the same socket, non-blocking, drained with `recvmmsg` until empty, then a
//!   1 ms sleep, and again: one wake-up a millisecond whatever the rate (about 25 adverts a
//!   wake-up at 25,000 a second), each advert up to a millisecond late, and a thousand
//!   wake-ups a second when there are none. Measured, it costs more than `blocking`
//!   (docs/benchmarks.md, section 12): the wake-ups are not what the floor is made of.
//! - `tokio`: vipd's own socket (`VrrpSocket`) on a current-thread tokio runtime, read with
//!   `recvmmsg` batches (`recv_batch`) and each slot parsed, as vipd's reader does.
//! - `core`: as `tokio`, and every advert handed to a router core built from CONFIG
//!   (`Router::handle_packet`), its due timers run and its effects dropped: vipd without the
//!   shell (metrics, logs, the wire tap, the kernel's addresses).
//!
//! Runs until killed; prints the adverts received every 5 s on stderr. Measures nothing
//! itself: the bench reads its CPU time from /proc.

use std::io::Read;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use vipd::config::{Config, Family};
use vipd::net::{IfaceInfo, VrrpSocket};
use vipd::router::{Packet, PortId, Router};

fn usage() -> ! {
    eprintln!("usage: rx_floor blocking|poll1ms|tokio|core CONFIG ADDR");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, path, addr] = args.as_slice() else {
        usage()
    };
    let Ok(addr) = addr.parse::<Ipv4Addr>() else {
        usage()
    };
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("rx_floor: {path}: {e}");
        std::process::exit(1)
    });
    let config = match vipd::config::parse_str(&text, path) {
        Ok(l) => l.config,
        Err(d) => {
            eprintln!("rx_floor: {path}: {d:?}");
            std::process::exit(1)
        }
    };
    let Some(first) = config.instances.values().next() else {
        eprintln!("rx_floor: {path}: no instance");
        std::process::exit(1)
    };
    let ifname = first.interface.clone();
    let index = match nix::net::if_::if_nametoindex(ifname.as_str()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rx_floor: interface {ifname}: {e}");
            std::process::exit(1)
        }
    };
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
    let vrids: Vec<u8> = config.instances.values().map(|i| i.vrid).collect();
    let r = match mode.as_str() {
        "blocking" => blocking(&iface, &vrids, false),
        "poll1ms" => blocking(&iface, &vrids, true),
        "tokio" => batched(&iface, &vrids, None),
        "core" => batched(&iface, &vrids, Some(config)),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("rx_floor: {e}");
        std::process::exit(1)
    }
}

/// Every `REPORT`, the count so far on stderr (the bench's log shows the floor received).
const REPORT: Duration = Duration::from_secs(5);

struct Counter {
    n: u64,
    at: Instant,
}

impl Counter {
    fn new() -> Counter {
        Counter {
            n: 0,
            at: Instant::now() + REPORT,
        }
    }

    fn add(&mut self, k: usize) {
        self.n += k as u64;
        if self.n % 4096 < k as u64 {
            let now = Instant::now();
            if now >= self.at {
                eprintln!("rx_floor: {} adverts received", self.n);
                self.at = now + REPORT;
            }
        }
    }
}

/// The raw socket read without tokio: one blocking `read` per advert, or (`poll`) drained
/// with `recvmmsg` every millisecond.
fn blocking(iface: &IfaceInfo, vrids: &[u8], poll: bool) -> std::io::Result<()> {
    let sock = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(vipd::net::vrrp_socket::IPPROTO_VRRP)),
    )?;
    sock.bind_device(Some(iface.name.as_bytes()))?;
    sock.set_multicast_all_v4(false)?;
    sock.join_multicast_v4_n(
        &vipd::net::VRRP_V4_GROUP,
        &socket2::InterfaceIndexOrAddress::Index(iface.index),
    )?;
    sock.set_recv_buffer_size(vipd::net::vrrp_socket::RCVBUF)?;
    let site = vipd::net::vrrp_socket::FilterSite {
        family: Family::Ipv4,
        ip_header: true,
        packet_socket: false,
    };
    sock.attach_filter(&vipd::net::vrrp_socket::vrid_filter(site, vrids))?;
    let mut c = Counter::new();
    if poll {
        sock.set_nonblocking(true)?;
        let mut batch = vipd::net::RecvBatch::new(VrrpSocket::slot_size(Family::Ipv4));
        loop {
            loop {
                match batch.recv(&sock) {
                    Ok(n) => {
                        for i in 0..n {
                            std::hint::black_box(batch.get(i).data);
                        }
                        c.add(n);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut buf = [0u8; 1500];
    let mut reader = &sock;
    loop {
        let n = reader.read(&mut buf)?;
        std::hint::black_box(&buf[..n]);
        c.add(1);
    }
}

fn batched(iface: &IfaceInfo, vrids: &[u8], core: Option<Config>) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sock = VrrpSocket::open(iface, Family::Ipv4)?;
        sock.set_vrid_filter(vrids)?;
        let mut router = core.map(|config| {
            let t0 = Instant::now();
            let mut r = Router::new(config, t0);
            r.handle_iface(t0, &iface.name, Ok(iface.clone()));
            while r.poll_effect().is_some() {}
            r
        });
        let mut batch = sock.batch();
        let mut c = Counter::new();
        loop {
            let n = sock.recv_batch(&mut batch).await?;
            let now = Instant::now();
            for i in 0..batch.len() {
                let slot = batch.get(i);
                let Ok(rx) = sock.parse(&slot) else { continue };
                let bytes = &slot.data[rx.offset..rx.offset + rx.len];
                match router.as_mut() {
                    None => {
                        std::hint::black_box(bytes);
                    }
                    Some(r) => r.handle_packet(
                        now,
                        Packet {
                            port: PortId(0),
                            src: rx.src,
                            dst: rx.dst,
                            ttl: rx.ttl,
                            bytes,
                        },
                    ),
                }
            }
            if let Some(r) = router.as_mut() {
                if r.poll_timeout().is_some_and(|t| t <= now) {
                    r.handle_timeout(now);
                }
                while r.poll_effect().is_some() {}
            }
            c.add(n);
        }
    })
}

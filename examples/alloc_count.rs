//! Allocations per advert on the hot path, counted by a global allocator (issue 14).
//!
//!     cargo run --release --example alloc_count          # core only, any user
//!     sudo cargo run --release --example alloc_count     # also the sockets (a namespace)
//!
//! 1. The router core, timer-driven sends: a master of 250 v3 instances at 10 ms, driven by
//!    a virtual clock (`handle_timeout` at each `poll_timeout`, every effect polled and
//!    dropped as the shell does after carrying it out).
//! 2. The router core, received adverts: a backup of the same 250 instances handed the
//!    master's adverts (`handle_packet`), timers run as they fall due.
//! 3. As root, the socket path: in a network namespace of its own (`pf-alloc-<pid>`, a veth
//!    pair, 10.99.0.11 and 10.99.0.12), 250 adverts per round sent with `sendmmsg`
//!    (`VrrpSocket::send_batch`) and received with `recvmmsg` (`VrrpSocket::recv_batch`,
//!    `parse`) into one reused batch.
//!
//! Counts after a warm-up (first encodings, tables and queues growing to their steady size).
//! Prints figures; asserts nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd::config::parse_str;
use vipd::net::IfaceInfo;
use vipd::router::{Effect, Packet, PortId, Router};

// Counted by dhat's allocator in testing mode (no profile file is written): every allocation
// and reallocation is a block.
#[global_allocator]
static A: dhat::Alloc = dhat::Alloc;

fn allocs() -> u64 {
    dhat::HeapStats::get().total_blocks
}

const N: usize = 250;

fn config(priority: u8) -> vipd::config::Config {
    let mut y = String::from("instances:\n");
    for i in 1..=N {
        y.push_str(&format!(
            "  VI_{i}:\n    interface: eth0\n    vrid: {i}\n    priority: {priority}\n    advert_interval: 10ms\n    virtual_ipaddress: [10.99.1.{i}/16]\n"
        ));
    }
    match parse_str(&y, "alloc_count.yaml") {
        Ok(l) => l.config,
        Err(d) => panic!("{d:?}"),
    }
}

fn iface(v4: Ipv4Addr, index: u32) -> IfaceInfo {
    IfaceInfo {
        index,
        name: "eth0".into(),
        mac: [2, 0, 0, 0, 0, v4.octets()[3]],
        up: true,
        ipv4_primary: Some(v4),
        ipv6_link_local: None,
        mtu: 1500,
        ipv6_forwarding: false,
    }
}

/// A started router: lookups answered, every effect but adverts dropped.
fn router(priority: u8, v4: Ipv4Addr, t0: Instant) -> Router {
    let mut r = Router::new(config(priority), t0);
    r.handle_iface(t0, "eth0", Ok(iface(v4, 2)));
    while r.poll_effect().is_some() {}
    r
}

/// Runs `r`'s timers from `*now` to `until`; adverts go to `sent` (when given).
fn run(
    r: &mut Router,
    now: &mut Instant,
    until: Instant,
    mut sent: Option<&mut Vec<Vec<u8>>>,
) -> u64 {
    let mut n = 0;
    while let Some(t) = r.poll_timeout() {
        if t > until {
            break;
        }
        *now = t;
        r.handle_timeout(t);
        while let Some(e) = r.poll_effect() {
            if let Effect::Send { bytes, .. } = e {
                n += 1;
                if let Some(s) = sent.as_deref_mut() {
                    s.push(bytes.to_vec());
                }
            }
        }
    }
    *now = until;
    n
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let t0 = Instant::now();
    let master_ip = Ipv4Addr::new(10, 99, 0, 11);
    let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

    // 1. Timer-driven sends.
    let mut m = router(150, master_ip, t0);
    let mut now = t0;
    run(&mut m, &mut now, t0 + Duration::from_secs(2), None); // becomes master, warms up
    let before = allocs();
    let sent = run(&mut m, &mut now, t0 + Duration::from_secs(12), None);
    let a = allocs() - before;
    println!(
        "core, timer-driven sends: {sent} adverts in 10 s (virtual), {a} allocations, {:.4} per advert; adverts encoded in all: {}",
        a as f64 / sent as f64,
        m.adverts_encoded()
    );

    // 2. Received adverts: one round of the master's 250 adverts at a time.
    let mut round = Vec::with_capacity(N);
    let until = now + Duration::from_millis(10);
    run(&mut m, &mut now, until, Some(&mut round));
    let mut b = router(100, Ipv4Addr::new(10, 99, 0, 12), t0);
    let mut bnow = t0;
    let step = Duration::from_millis(10);
    let feed = |b: &mut Router, bnow: &mut Instant, rounds: usize| -> (u64, u64) {
        let (mut pk, mut other) = (0, 0);
        for _ in 0..rounds {
            for bytes in &round {
                b.handle_packet(
                    *bnow,
                    Packet {
                        port: PortId(0),
                        src: IpAddr::V4(master_ip),
                        dst: group,
                        ttl: 255,
                        bytes,
                    },
                );
                pk += 1;
                while b.poll_effect().is_some() {}
            }
            let until = *bnow + step;
            other += run(b, bnow, until, None);
        }
        (pk, other)
    };
    feed(&mut b, &mut bnow, 200); // peers learnt, tables at size
    let before = allocs();
    let (received, backup_sent) = feed(&mut b, &mut bnow, 1000);
    let a = allocs() - before;
    println!(
        "core, received adverts: {received} adverts, {a} allocations, {:.4} per advert (backup sent {backup_sent})",
        a as f64 / received as f64
    );

    // 3. The sockets, as root.
    if nix::unistd::geteuid().is_root() {
        match sockets(&round) {
            Ok(()) => {}
            Err(e) => println!("sockets: not measured: {e}"),
        }
    } else {
        println!("sockets: not measured (needs root for a network namespace and raw sockets)");
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Deletes the namespace when dropped.
struct Ns(String);

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

fn sockets(round: &[Vec<u8>]) -> Result<(), String> {
    use vipd::config::Family;
    use vipd::net::VrrpSocket;
    let ns = Ns(format!("pf-alloc-{}", std::process::id()));
    ip(&["netns", "add", &ns.0])?;
    let n = ns.0.as_str();
    ip(&[
        "-n", n, "link", "add", "pfa", "type", "veth", "peer", "name", "pfb",
    ])?;
    ip(&["-n", n, "addr", "add", "10.99.0.11/24", "dev", "pfa"])?;
    ip(&["-n", n, "addr", "add", "10.99.0.12/24", "dev", "pfb"])?;
    ip(&["-n", n, "link", "set", "pfa", "up"])?;
    ip(&["-n", n, "link", "set", "pfb", "up"])?;
    // Both ends are in one namespace: let pfb accept a source address that is local.
    for k in ["all", "pfb"] {
        ip(&[
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{k}.accept_local=1"),
        ])?;
        ip(&[
            "netns",
            "exec",
            n,
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{k}.rp_filter=0"),
        ])?;
    }
    let f = std::fs::File::open(format!("/run/netns/{n}")).map_err(|e| e.to_string())?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let index = |name: &str| -> Result<u32, String> {
            nix::net::if_::if_nametoindex(name).map_err(|e| format!("{name}: {e}"))
        };
        let mut ia = iface(Ipv4Addr::new(10, 99, 0, 11), index("pfa")?);
        ia.name = "pfa".into();
        let mut ib = iface(Ipv4Addr::new(10, 99, 0, 12), index("pfb")?);
        ib.name = "pfb".into();
        let tx = VrrpSocket::open(&ia, Family::Ipv4).map_err(|e| e.to_string())?;
        let rx = VrrpSocket::open(&ib, Family::Ipv4).map_err(|e| e.to_string())?;
        let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
        let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        let mut batch = rx.batch();
        let (mut sent, mut got, mut calls) = (0usize, 0usize, 0usize);
        let (mut send_allocs, mut recv_allocs) = (0u64, 0u64);
        for r in 0..120 {
            let a0 = allocs();
            let (done, err) = tx.send_batch(round.iter().map(|b| (&b[..], src, group)));
            let a1 = allocs();
            if let Some(e) = err {
                return Err(format!("send: {e}"));
            }
            let mut this = 0;
            while this < done {
                let a2 = allocs();
                let k = match tokio::time::timeout(Duration::from_secs(1), rx.recv_batch(&mut batch)).await {
                    Ok(Ok(k)) => k,
                    Ok(Err(e)) => return Err(format!("receive: {e}")),
                    Err(_) => break,
                };
                for i in 0..k {
                    let slot = batch.get(i);
                    let p = rx.parse(&slot).map_err(|e| e.to_string())?;
                    std::hint::black_box(&slot.data[p.offset..p.offset + p.len]);
                }
                let a3 = allocs();
                this += k;
                if r >= 20 {
                    recv_allocs += a3 - a2;
                    calls += 1;
                }
            }
            if r >= 20 {
                sent += done;
                got += this;
                send_allocs += a1 - a0;
            }
        }
        println!(
            "sockets, sendmmsg: {sent} adverts, {send_allocs} allocations, {:.4} per advert",
            send_allocs as f64 / sent as f64
        );
        println!(
            "sockets, recvmmsg + parse: {got} adverts in {calls} calls ({:.1} per call), {recv_allocs} allocations, {:.4} per advert",
            got as f64 / calls.max(1) as f64,
            recv_allocs as f64 / got.max(1) as f64
        );
        Ok::<(), String>(())
    })
}

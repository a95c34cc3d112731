//! Micro-benchmarks of the hot path (issue 14), in ns per operation:
//!
//!     cargo bench --bench hot_path
//!
//! decode and encode of one v3 advert, and one core step each way: the router handling a
//! received advert (a backup of 250 instances), and a timer-driven send (a master of 250
//! instances, one deadline's worth of `handle_timeout` plus polling its effects); and a
//! backup's round of 250 received adverts with and without the daemon's observer (metrics).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vipd::config::{Config, Version, parse_str};
use vipd::net::IfaceInfo;
use vipd::packet::vrrp::{self, AdvertSpec, ChecksumForm};
use vipd::router::{Packet, PortId, Router};

fn main() {
    divan::main();
}

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
const N: usize = 250;

fn advert(vrid: u8) -> Vec<u8> {
    let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 1, vrid))];
    let spec = AdvertSpec {
        version: Version::V3,
        vrid,
        priority: 150,
        interval: 1,
        auth: None,
        addresses: &addrs,
    };
    let mut b = Vec::new();
    vrrp::encode(&spec, SRC, GROUP, ChecksumForm::PseudoHeader, &mut b);
    b
}

#[divan::bench]
fn decode_v3(b: divan::Bencher) {
    let msg = advert(7);
    b.bench(|| vrrp::decode(divan::black_box(&msg), SRC, GROUP).map(|(a, _)| a.priority));
}

#[divan::bench]
fn encode_v3(b: divan::Bencher) {
    let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 1, 7))];
    let mut out = Vec::with_capacity(64);
    b.bench_local(|| {
        let spec = AdvertSpec {
            version: Version::V3,
            vrid: 7,
            priority: divan::black_box(150),
            interval: 1,
            auth: None,
            addresses: &addrs,
        };
        vrrp::encode(&spec, SRC, GROUP, ChecksumForm::PseudoHeader, &mut out);
        out.len()
    });
}

fn config(priority: u8) -> Config {
    let mut y = String::from("instances:\n");
    for i in 1..=N {
        y.push_str(&format!(
            "  VI_{i}:\n    interface: eth0\n    vrid: {i}\n    priority: {priority}\n    advert_interval: 10ms\n    virtual_ipaddress: [10.99.1.{i}/16]\n"
        ));
    }
    parse_str(&y, "bench.yaml")
        .map(|l| l.config)
        .unwrap_or_else(|d| panic!("{d:?}"))
}

fn router(priority: u8, v4: Ipv4Addr, t0: Instant) -> Router {
    router_with(priority, v4, t0, |_, _| {})
}

/// The router after start-up; each start-up effect handed to `effect`.
fn router_with(
    priority: u8,
    v4: Ipv4Addr,
    t0: Instant,
    mut effect: impl FnMut(&Router, vipd::router::Effect),
) -> Router {
    let mut r = Router::new(config(priority), t0);
    r.handle_iface(
        t0,
        "eth0",
        Ok(IfaceInfo {
            index: 2,
            name: "eth0".into(),
            mac: [2, 0, 0, 0, 0, 1],
            up: true,
            ipv4_primary: Some(v4),
            ipv6_link_local: None,
            mtu: 1500,
            ipv6_forwarding: false,
        }),
    );
    while let Some(e) = r.poll_effect() {
        effect(&r, e);
    }
    r
}

/// One advert from the master `SRC` to the group, into the router.
fn receive(r: &mut Router, now: Instant, bytes: &[u8]) {
    r.handle_packet(
        now,
        Packet {
            port: PortId(0),
            src: SRC,
            dst: GROUP,
            ttl: 255,
            bytes,
        },
    );
}

/// The router of a backup handling one received advert (cycling over its 250 VRIDs),
/// effects polled.
#[divan::bench]
fn core_receive_advert(b: divan::Bencher) {
    let t0 = Instant::now();
    let mut r = router(100, Ipv4Addr::new(10, 99, 0, 12), t0);
    let adverts: Vec<Vec<u8>> = (1..=N as u8).map(advert).collect();
    let mut i = 0usize;
    let mut now = t0;
    b.bench_local(|| {
        i = (i + 1) % N;
        if i == 0 {
            now += Duration::from_millis(10);
        }
        receive(&mut r, now, &adverts[i]);
        while r.poll_effect().is_some() {}
    });
}

/// The router of a master of 250 instances at its next deadline: `handle_timeout`, then
/// every effect polled (reported per advert sent: divide by the adverts per deadline,
/// printed once).
#[divan::bench]
fn core_timer_send(b: divan::Bencher) {
    let t0 = Instant::now();
    let mut r = router(150, Ipv4Addr::new(10, 99, 0, 11), t0);
    let mut now = t0;
    // Until master.
    while now < t0 + Duration::from_secs(2) {
        let Some(t) = r.poll_timeout() else { break };
        now = t;
        r.handle_timeout(now);
        while r.poll_effect().is_some() {}
    }
    b.bench_local(|| {
        let Some(t) = r.poll_timeout() else { return 0 };
        now = t;
        r.handle_timeout(now);
        let mut sent = 0;
        while let Some(e) = r.poll_effect() {
            sent += usize::from(matches!(e, vipd::router::Effect::Send { .. }));
        }
        sent
    });
}

/// One round of a backup of 250 instances: one advert for each (as every 10 ms at 250 x
/// 10 ms), effects polled, and with `observed` each fact applied by the daemon's observer
/// (metrics), as the daemon does. Throughput is per advert: divan's `item/s`.
fn receive_round(b: divan::Bencher, observed: bool) {
    let t0 = Instant::now();
    let metrics = vipd::observe::Metrics::new("bench", "bench");
    let mut obs = vipd::daemon::observer::Observer::new(metrics);
    // The instances' series exist before the measured rounds (as in a running daemon).
    let mut r = router_with(100, Ipv4Addr::new(10, 99, 0, 12), t0, |r, e| {
        if let vipd::router::Effect::Fact(f) = e {
            obs.apply(r, f);
        }
    });
    let adverts: Vec<Vec<u8>> = (1..=N as u8).map(advert).collect();
    let mut now = t0;
    let mut step = |r: &mut Router, now: Instant| {
        for a in &adverts {
            receive(r, now, a);
            while let Some(e) = r.poll_effect() {
                if let (true, vipd::router::Effect::Fact(f)) = (observed, e) {
                    obs.apply(r, f);
                }
            }
        }
    };
    step(&mut r, now);
    b.counter(divan::counter::ItemsCount::new(N))
        .bench_local(|| {
            now += Duration::from_millis(10);
            step(&mut r, now);
        });
}

#[divan::bench]
fn receive_round_core(b: divan::Bencher) {
    receive_round(b, false);
}

#[divan::bench]
fn receive_round_observed(b: divan::Bencher) {
    receive_round(b, true);
}

//! Codec against real captures (keepalived 2.2.7, FRR 8.4.4): decode every advert, check
//! its checksum form, and re-encode it byte for byte. Plus property tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vipd::config::model::{Family, Version};
use vipd::packet::vrrp::{self, AdvertSpec, ChecksumForm};

/// One IP packet carrying protocol 112, pulled out of an Ethernet pcap.
struct Captured {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    msg: Vec<u8>,
}

fn read_pcap(name: &str) -> Vec<Captured> {
    let path = format!("{}/tests/fixtures/pcap/{name}", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian microsecond pcap"
    );
    assert_eq!(
        u32::from_le_bytes(data[20..24].try_into().unwrap()),
        1,
        "Ethernet link type"
    );
    let mut out = vec![];
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen = u32::from_le_bytes(data[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &data[off + 16..off + 16 + caplen];
        off += 16 + caplen;
        let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
        let ip = &frame[14..];
        match ethertype {
            0x0800 if ip[9] == 112 => {
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
                let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
                out.push(Captured {
                    src: src.into(),
                    dst: dst.into(),
                    ttl: ip[8],
                    msg: ip[ihl..total].to_vec(),
                });
            }
            0x86dd if ip[6] == 112 => {
                let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                let src: [u8; 16] = ip[8..24].try_into().unwrap();
                let dst: [u8; 16] = ip[24..40].try_into().unwrap();
                out.push(Captured {
                    src: Ipv6Addr::from(src).into(),
                    dst: Ipv6Addr::from(dst).into(),
                    ttl: ip[7],
                    msg: ip[40..40 + plen].to_vec(),
                });
            }
            _ => {}
        }
    }
    out
}

#[test]
fn keepalived_2_2_7_adverts_decode_and_reencode_byte_for_byte() {
    let pkts = read_pcap("keepalived-2.2.7-master-then-stop.pcap");
    assert_eq!(pkts.len(), 10, "10 adverts in the capture");
    let mut seen = std::collections::BTreeSet::new();
    for p in &pkts {
        assert_eq!(p.ttl, 255);
        let (a, form) = vrrp::decode(&p.msg, p.src, p.dst).expect("keepalived advert decodes");
        let mut again = Vec::new();
        vrrp::reencode(&a, p.src, p.dst, form, &mut again);
        assert_eq!(again, p.msg, "re-encoded VRID {} byte for byte", a.vrid);
        let addrs: Vec<IpAddr> = a.addresses().collect();
        match a.vrid {
            21 => {
                assert_eq!(
                    (a.version, a.family, a.interval),
                    (Version::V3, Family::Ipv4, 50)
                );
                assert_eq!(
                    form,
                    ChecksumForm::PseudoHeader,
                    "keepalived v3/IPv4 default"
                );
                assert!(a.priority == 150 || a.priority == 0);
                assert_eq!(
                    addrs,
                    vec![IpAddr::from([10, 99, 0, 21]), IpAddr::from([10, 99, 0, 22])]
                );
            }
            22 => {
                assert_eq!(
                    (a.version, a.family, a.interval),
                    (Version::V3, Family::Ipv6, 100)
                );
                assert_eq!(form, ChecksumForm::PseudoHeader);
                assert!(a.priority == 200 || a.priority == 0);
                assert!(
                    matches!(p.src, IpAddr::V6(s) if s.segments()[0] == 0xfe80),
                    "link-local source"
                );
                assert_eq!(
                    addrs,
                    vec!["fd00:99::21".parse::<IpAddr>().unwrap()],
                    "global VIP first: accepted"
                );
            }
            13 => {
                assert_eq!(
                    (a.version, a.family, a.interval),
                    (Version::V2, Family::Ipv4, 1)
                );
                assert_eq!(form, ChecksumForm::MessageOnly);
                assert_eq!(a.auth_type, vrrp::AUTH_PASS);
                assert_eq!(a.auth_data, vrrp::auth_data("1111"));
                assert_eq!(addrs, vec![IpAddr::from([10, 99, 0, 13])]);
            }
            v => panic!("unexpected VRID {v}"),
        }
        seen.insert((a.vrid, a.priority));
    }
    // Each instance advertised, then resigned with priority 0 on SIGTERM.
    for v in [(21, 150), (21, 0), (22, 200), (22, 0), (13, 100), (13, 0)] {
        assert!(seen.contains(&v), "{v:?} in capture");
    }
}

#[test]
fn frr_8_4_4_adverts_decode_and_reencode_byte_for_byte() {
    let pkts = read_pcap("frr-8.4.4-vrrpd-v3.pcap");
    assert_eq!(pkts.len(), 4);
    for p in &pkts {
        let (a, form) = vrrp::decode(&p.msg, p.src, p.dst).expect("FRR advert decodes");
        assert_eq!(
            (a.version, a.vrid, a.priority, a.interval),
            (Version::V3, 21, 100, 50)
        );
        assert_eq!(form, ChecksumForm::PseudoHeader, "FRR v3/IPv4 default");
        let mut again = Vec::new();
        vrrp::reencode(&a, p.src, p.dst, form, &mut again);
        assert_eq!(again, p.msg);
        // Our own encoder, from the fields alone, writes the same bytes.
        let addrs: Vec<IpAddr> = a.addresses().collect();
        let spec = AdvertSpec {
            version: Version::V3,
            vrid: 21,
            priority: 100,
            interval: 50,
            auth: None,
            addresses: &addrs,
        };
        let mut ours = Vec::new();
        vrrp::encode(&spec, p.src, p.dst, ChecksumForm::PseudoHeader, &mut ours);
        assert_eq!(ours, p.msg);
    }
}

#[test]
fn a_corrupted_fixture_byte_is_always_caught() {
    for p in read_pcap("keepalived-2.2.7-master-then-stop.pcap") {
        for i in 0..p.msg.len() {
            for bit in 0..8 {
                let mut m = p.msg.clone();
                m[i] ^= 1 << bit;
                // A single flipped bit never yields a packet that passes as valid with the
                // same meaning: it is rejected, or (reserved bits) decodes with a bad checksum.
                if let Ok((a, _)) = vrrp::decode(&m, p.src, p.dst) {
                    panic!("bit {bit} of byte {i} flipped still decodes: {a:?}");
                }
            }
        }
    }
}

fn arb_v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(IpAddr::from)
}
fn arb_v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(IpAddr::from)
}

proptest! {
    #[test]
    fn v3_ipv4_roundtrip(vrid in 1u8..=255, prio in 0u8..=255, interval in 1u16..=4095,
                         addrs in prop::collection::vec(arb_v4(), 1..20), src in arb_v4(),
                         rfc in any::<bool>()) {
        let dst = IpAddr::from([224, 0, 0, 18]);
        let form = if rfc { ChecksumForm::MessageOnly } else { ChecksumForm::PseudoHeader };
        let spec = AdvertSpec { version: Version::V3, vrid, priority: prio, interval, auth: None, addresses: &addrs };
        let mut b = Vec::new();
        vrrp::encode(&spec, src, dst, form, &mut b);
        let (a, got) = vrrp::decode(&b, src, dst).unwrap();
        prop_assert_eq!((a.vrid, a.priority, a.interval), (vrid, prio, interval));
        prop_assert_eq!(a.addresses().collect::<Vec<_>>(), addrs);
        // Message-only and pseudo-header sums can coincide; the pseudo-header form is tried first.
        if got != form { prop_assert_eq!(got, ChecksumForm::PseudoHeader); }
    }

    #[test]
    fn v3_ipv6_roundtrip(vrid in 1u8..=255, prio in 0u8..=255, interval in 1u16..=4095,
                         addrs in prop::collection::vec(arb_v6(), 1..10), src in arb_v6()) {
        let dst: IpAddr = "ff02::12".parse().unwrap();
        let spec = AdvertSpec { version: Version::V3, vrid, priority: prio, interval, auth: None, addresses: &addrs };
        let mut b = Vec::new();
        vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
        let (a, form) = vrrp::decode(&b, src, dst).unwrap();
        prop_assert_eq!(form, ChecksumForm::PseudoHeader);
        prop_assert_eq!((a.vrid, a.priority, a.interval), (vrid, prio, interval));
        prop_assert_eq!(a.addresses().collect::<Vec<_>>(), addrs);
    }

    #[test]
    fn v2_roundtrip(vrid in 1u8..=255, prio in 0u8..=255, interval in 1u16..=255,
                    addrs in prop::collection::vec(arb_v4(), 1..20), pass in "[a-z0-9]{0,8}") {
        let src = IpAddr::from([10, 99, 0, 11]);
        let dst = IpAddr::from([224, 0, 0, 18]);
        let auth = (!pass.is_empty()).then(|| vrrp::auth_data(&pass));
        let spec = AdvertSpec { version: Version::V2, vrid, priority: prio, interval, auth, addresses: &addrs };
        let mut b = Vec::new();
        vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
        let (a, _) = vrrp::decode(&b, src, dst).unwrap();
        prop_assert_eq!((a.vrid, a.priority, a.interval), (vrid, prio, interval));
        prop_assert_eq!(*a.auth_data.expose(), auth.map_or([0; 8], |s| *s.expose()));
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), v6 in any::<bool>()) {
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap())
        } else {
            ([10, 99, 0, 11].into(), [224, 0, 0, 18].into())
        };
        if let Ok((a, _)) = vrrp::decode(&bytes, src, dst) {
            // Whatever decodes re-encodes to the same bytes.
            let mut again = Vec::new();
            let form = if v6 { ChecksumForm::PseudoHeader } else { ChecksumForm::MessageOnly };
            vrrp::reencode(&a, src, dst, form, &mut again);
            prop_assert_eq!(a.count(), a.addresses().len());
        }
    }
}

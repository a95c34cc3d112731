//! Receive checks (RFC 3768 7.1, RFC 9568 7.1) that need more than the bytes: the TTL rule,
//! and the agreement of an advert with the instance's configuration.

use std::net::IpAddr;

use crate::config::{InstanceConfig, Version};
use crate::net::{VRRP_V4_GROUP, VRRP_V6_GROUP};
use crate::packet::vrrp::{self, Advert, DropReason};

/// TTL / hop limit rule. Multicast adverts must arrive with 255 (RFC 3768 7.1, RFC 9568
/// 7.1: they never crossed a router). Unicast adverts (keepalived's `unicast_peer`, outside
/// the RFCs) are accepted with any TTL, as keepalived 2.2.7 does: a unicast pair may sit on
/// two routed subnets.
pub fn ttl_ok(dst: IpAddr, ttl: u8) -> bool {
    ttl == 255 || !is_vrrp_group(dst)
}

/// The VRRP multicast group of either family.
pub fn is_vrrp_group(dst: IpAddr) -> bool {
    dst == IpAddr::V4(VRRP_V4_GROUP) || dst == IpAddr::V6(VRRP_V6_GROUP)
}

/// keepalived's `check_unicast_src`: when it is on, an advert whose source is not one of the
/// instance's `unicast_peers` is dropped (keepalived 2.2.7 logs "unicast source address ...
/// not a unicast peer" and drops it). Off, any source is taken, as by default in keepalived.
pub fn unicast_src_ok(cfg: &InstanceConfig, src: IpAddr) -> bool {
    !cfg.check_unicast_src || cfg.unicast_peers.contains(&src)
}

/// keepalived's `unicast_peer { A min_ttl N max_ttl M }`: an advert from a peer with a TTL
/// range must arrive with a TTL / hop limit within it (keepalived 2.2.7 logs "TTL/HL N not
/// in range MIN - MAX" and drops it). Checked after [`unicast_src_ok`], for a source that
/// is a peer; a peer without a range, or a source that is no peer, passes.
pub fn unicast_ttl_ok(cfg: &InstanceConfig, src: IpAddr, ttl: u8) -> bool {
    cfg.unicast_peer_ttl
        .get(&src)
        .is_none_or(|r| r.contains(ttl))
}

/// What an advert that decoded means for an instance's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The address list differs from ours: logged and counted, not dropped.
    pub address_list_differs: bool,
    /// IPv6: the first address is not link-local (RFC 9568 5.2.9, erratum 8300). keepalived
    /// sends such adverts; they are counted and accepted.
    pub first_not_link_local: bool,
}

/// Checks an advert against the instance's configuration. `Err` is a disagreement: the
/// sender is a router of this VRID whose configuration differs from ours (RFC says drop).
pub fn agree(cfg: &InstanceConfig, a: &Advert<'_>) -> Result<Agreement, DropReason> {
    if a.version != cfg.version {
        return Err(DropReason::Version);
    }
    if cfg.version == Version::V2 {
        let want = if cfg.auth_pass.is_some() {
            vrrp::AUTH_PASS
        } else {
            vrrp::AUTH_NONE
        };
        if a.auth_type != want {
            return Err(DropReason::AuthType);
        }
        if let Some(p) = &cfg.auth_pass
            && a.auth_data != vrrp::auth_data(p)
        {
            return Err(DropReason::AuthFailure);
        }
        if u64::from(a.interval) != cfg.advert_interval.as_secs() {
            return Err(DropReason::Interval);
        }
    }
    // A v2 advert without addresses (RFC 3768 allows it; keepalived sends it for an instance
    // without VIPs) agrees only with an instance that has none either.
    if a.count() == 0 && !cfg.virtual_ipaddress.is_empty() {
        return Err(DropReason::AddressCount);
    }
    let mut ours = cfg.virtual_ipaddress.iter().map(|v| v.addr);
    let address_list_differs =
        a.count() != cfg.virtual_ipaddress.len() || !ours.all(|o| a.addresses().any(|x| x == o));
    let first_not_link_local = match a.addresses().next() {
        Some(IpAddr::V6(v6)) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        _ => false,
    };
    Ok(Agreement {
        address_list_differs,
        first_not_link_local,
    })
}

/// The drop reasons that mean "a router of this VRID disagrees with our configuration"
/// (as opposed to noise: bad checksum, length, TTL).
pub fn is_disagreement(r: DropReason) -> bool {
    matches!(
        r,
        DropReason::Version | DropReason::AuthType | DropReason::AuthFailure | DropReason::Interval
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::vrrp::{AdvertSpec, ChecksumForm};

    fn cfg(yaml: &str) -> InstanceConfig {
        let c = crate::config::parse_str(yaml, "t.yaml")
            .expect("valid")
            .config;
        c.instances.into_values().next().unwrap()
    }

    fn encoded(
        version: Version,
        interval: u16,
        auth: Option<crate::security::Secret<[u8; 8]>>,
        addrs: &[IpAddr],
    ) -> Vec<u8> {
        let spec = AdvertSpec {
            version,
            vrid: 13,
            priority: 100,
            interval,
            auth,
            addresses: addrs,
        };
        let mut b = Vec::new();
        let (src, dst) = (IpAddr::from([10, 99, 0, 11]), IpAddr::from([224, 0, 0, 18]));
        vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
        b
    }

    fn check(c: &InstanceConfig, b: &[u8]) -> Result<Agreement, DropReason> {
        let (src, dst) = (IpAddr::from([10, 99, 0, 11]), IpAddr::from([224, 0, 0, 18]));
        agree(c, &vrrp::decode(b, src, dst).unwrap().0)
    }

    #[test]
    fn check_unicast_src_drops_adverts_from_outside_the_peer_list() {
        let base = "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n    virtual_ipaddress: [10.99.0.13]\n    unicast_peers: [10.99.0.11, 10.99.0.12]\n";
        let off = cfg(base);
        let on = cfg(&format!("{base}    check_unicast_src: true\n"));
        let peer = IpAddr::from([10, 99, 0, 12]);
        let stranger = IpAddr::from([10, 99, 0, 66]);
        assert!(
            unicast_src_ok(&off, stranger),
            "off: any source, as keepalived's default"
        );
        assert!(unicast_src_ok(&on, peer));
        assert!(!unicast_src_ok(&on, stranger));
        assert!(!is_disagreement(DropReason::UnicastSrc));
    }

    /// keepalived's `unicast_peer { A min_ttl N max_ttl M }`, both families, the bounds
    /// inclusive, the defaults 0 and 255; peers without a range take any TTL.
    #[test]
    fn unicast_peer_ttl_range() {
        let c = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n    virtual_ipaddress: [10.99.0.13]\n    unicast_peers: [{address: 10.99.0.11, min_ttl: 250, max_ttl: 254}, {address: 10.99.0.12, min_ttl: 64}, 10.99.0.14]\n",
        );
        assert!(c.check_unicast_src, "a TTL range implies the source check");
        let (a, b, plain) = (
            IpAddr::from([10, 99, 0, 11]),
            IpAddr::from([10, 99, 0, 12]),
            IpAddr::from([10, 99, 0, 14]),
        );
        assert!(!unicast_ttl_ok(&c, a, 249));
        assert!(unicast_ttl_ok(&c, a, 250));
        assert!(unicast_ttl_ok(&c, a, 254));
        assert!(!unicast_ttl_ok(&c, a, 255), "above max_ttl");
        assert!(!unicast_ttl_ok(&c, b, 63));
        assert!(unicast_ttl_ok(&c, b, 255), "max_ttl defaults to 255");
        for ttl in [0, 1, 128, 255] {
            assert!(unicast_ttl_ok(&c, plain, ttl));
        }
        assert!(!is_disagreement(DropReason::UnicastTtl));
        let v6 = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    virtual_ipaddress: [\"fd00:99::13\"]\n    unicast_peers: [{address: \"fd00:99::11\", max_ttl: 1}]\n",
        );
        let p: IpAddr = "fd00:99::11".parse().unwrap();
        assert!(unicast_ttl_ok(&v6, p, 0) && unicast_ttl_ok(&v6, p, 1));
        assert!(!unicast_ttl_ok(&v6, p, 2));
    }

    #[test]
    fn rfc3768_7_1_v2_auth_and_interval_checks() {
        let c = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n    authentication: {type: pass, password: \"1111\"}\n    virtual_ipaddress: [10.99.0.13]\n",
        );
        let addrs = [IpAddr::from([10, 99, 0, 13])];
        let ok = encoded(Version::V2, 1, Some(vrrp::auth_data("1111")), &addrs);
        assert!(check(&c, &ok).is_ok());
        let b = encoded(Version::V2, 1, None, &addrs);
        assert_eq!(check(&c, &b), Err(DropReason::AuthType));
        let b = encoded(Version::V2, 1, Some(vrrp::auth_data("2222")), &addrs);
        assert_eq!(check(&c, &b), Err(DropReason::AuthFailure));
        let b = encoded(Version::V2, 2, Some(vrrp::auth_data("1111")), &addrs);
        assert_eq!(check(&c, &b), Err(DropReason::Interval));
        let b = encoded(Version::V3, 100, None, &addrs);
        assert_eq!(check(&c, &b), Err(DropReason::Version));
        for r in [
            DropReason::AuthType,
            DropReason::AuthFailure,
            DropReason::Interval,
            DropReason::Version,
        ] {
            assert!(is_disagreement(r));
        }
        for r in [
            DropReason::Checksum,
            DropReason::Length,
            DropReason::Ttl,
            DropReason::Type,
        ] {
            assert!(!is_disagreement(r));
        }
    }

    #[test]
    fn address_list_mismatch_is_reported_not_dropped() {
        let c = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    virtual_ipaddress: [10.99.0.21]\n",
        );
        let b = encoded(Version::V3, 100, None, &[IpAddr::from([10, 99, 0, 99])]);
        assert_eq!(
            check(&c, &b),
            Ok(Agreement {
                address_list_differs: true,
                first_not_link_local: false
            })
        );
    }

    #[test]
    fn v2_count_zero_agrees_only_with_an_instance_without_addresses() {
        let none = cfg("instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n");
        let some = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n    virtual_ipaddress: [10.99.0.13]\n",
        );
        let empty = encoded(Version::V2, 1, None, &[]);
        assert_eq!(
            check(&none, &empty),
            Ok(Agreement {
                address_list_differs: false,
                first_not_link_local: false
            })
        );
        assert_eq!(check(&some, &empty), Err(DropReason::AddressCount));
        // Addresses where we have none: counted as a list mismatch, like any other.
        let one = encoded(Version::V2, 1, None, &[IpAddr::from([10, 99, 0, 13])]);
        assert!(check(&none, &one).unwrap().address_list_differs);
    }

    #[test]
    fn rfc9568_7_1_ttl_applies_to_multicast_only() {
        assert!(ttl_ok(IpAddr::from([224, 0, 0, 18]), 255));
        assert!(!ttl_ok(IpAddr::from([224, 0, 0, 18]), 254));
        assert!(!ttl_ok("ff02::12".parse().unwrap(), 1));
        assert!(ttl_ok(IpAddr::from([10, 99, 1, 12]), 62));
    }
}

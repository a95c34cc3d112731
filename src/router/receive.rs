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

//! The validated configuration: plain values the daemon diffs on reload.
//! Produced by `config::load` / `config::parse_str` from YAML; every field here has already been checked.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Whole daemon configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Name of this node (defaults to the hostname).
    pub router_id: String,
    /// HTTP listen address for /metrics etc.
    pub listen: SocketAddr,
    /// Instances by name (the YAML map key), sorted for stable output.
    pub instances: BTreeMap<String, InstanceConfig>,
}

/// VRRP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

/// Address family of an instance (derived from its virtual addresses; never mixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// How VRRPv3 over IPv4 computes its checksum when sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum V3Checksum {
    /// Include the IPv4 pseudo-header (keepalived 2.2.7 and FRR 8.4 default).
    PseudoHeader,
    /// The VRRP message only, as RFC 9568 says.
    Rfc9568,
}

/// A virtual address with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// A tracked interface: down means Fault (weight None) or a priority change (weight).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    pub weight: Option<i32>,
}

/// Gratuitous ARP / unsolicited NA schedule on becoming master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Garp {
    /// Delay before the second burst (keepalived `garp_master_delay`, default 5 s; 0 = none).
    pub delay: Duration,
    /// Announcements per burst (default 5).
    pub repeat: u32,
    /// Period of refresh bursts while master (default 0 = off).
    pub refresh: Duration,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: Duration::ZERO,
        }
    }
}

/// One VRRP instance (virtual router on one interface).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceConfig {
    /// The YAML key, e.g. "VI_1".
    pub name: String,
    pub interface: String,
    /// 1..=255.
    pub vrid: u8,
    /// 1..=255 (255 = address owner).
    pub priority: u8,
    pub version: Version,
    /// Derived from `virtual_ipaddress` (all the same family).
    pub family: Family,
    /// v2: whole seconds; v3: a multiple of 10 ms in 10 ms..=40.95 s.
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// v2 simple-text password (auth type 1), at most 8 bytes. None = auth type 0.
    pub auth_pass: Option<String>,
    /// At least one; all of `family`.
    pub virtual_ipaddress: Vec<Vip>,
    /// Unicast peers (same family); empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// Optional explicit source for unicast adverts (keepalived `unicast_src_ip`).
    pub unicast_src: Option<IpAddr>,
    pub track_interfaces: Vec<TrackInterface>,
    pub garp: Garp,
    pub v3_checksum: V3Checksum,
}

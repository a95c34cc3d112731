//! Everything that touches the operating system: route netlink (interfaces, addresses, link
//! events), the raw VRRP sockets, and gratuitous ARP / unsolicited neighbour advertisements.
//!
//! All of it is safe Rust except `packet_socket`, which builds `sockaddr_ll` addresses for
//! `AF_PACKET` and sets the ICMPv6 type filter (the two things the safe wrappers lack).

pub mod announce;
pub mod netlink;
mod packet_socket;
pub mod proc_connector;
pub mod timer;
pub mod vrrp_socket;
pub mod wiretap;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use announce::{Announcer, garp_frame, na_body};
pub use netlink::{Netlink, net_events};
pub use packet_socket::{BATCH, RecvBatch, RecvSlot};
pub use vrrp_socket::{Received, VRRP_V4_GROUP, VRRP_V6_GROUP, VrrpSocket};

/// Facts about one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceInfo {
    pub index: u32,
    pub name: String,
    pub mac: [u8; 6],
    /// `IFF_UP && IFF_LOWER_UP` (administratively up and carrier present).
    pub up: bool,
    /// First non-secondary IPv4 address that is not one of the excluded (virtual) addresses.
    pub ipv4_primary: Option<Ipv4Addr>,
    /// A usable (not tentative, not DAD-failed) fe80::/10 address.
    pub ipv6_link_local: Option<Ipv6Addr>,
    /// IFLA_MTU: the link's MTU in bytes (0 if the kernel did not say).
    pub mtu: u32,
    /// `/proc/sys/net/ipv6/conf/<name>/forwarding` is `1` (read when this was built): the
    /// interface routes IPv6, so unsolicited neighbour advertisements for its virtual
    /// addresses carry the Router flag (RFC 9568 6.4.1/6.4.2). False when unreadable.
    pub ipv6_forwarding: bool,
}

/// What the kernel reports on its own: link state and address changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// A link came up, went down or was deleted.
    Link(LinkEvent),
    /// An address appeared on (`present`) or disappeared from an interface.
    Address {
        index: u32,
        addr: std::net::IpAddr,
        present: bool,
    },
}

/// A link state change from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    pub index: u32,
    pub name: String,
    /// `IFF_UP && IFF_LOWER_UP`; always false for a deleted link.
    pub up: bool,
}

/// The Linux capability an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Raw and packet sockets.
    NetRaw,
    /// Changing addresses (and `SO_RCVBUFFORCE`).
    NetAdmin,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::NetRaw => "CAP_NET_RAW",
            Capability::NetAdmin => "CAP_NET_ADMIN",
        })
    }
}

/// The solicited-node multicast group of `addr` (RFC 4291 2.7.1): ff02::1:ff00:0/104 plus the
/// address's low 24 bits, where neighbour solicitations for it are sent.
pub fn solicited_node(addr: &Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// `Some("needs CAP_...")` when `err` says the operation was not permitted.
pub fn privilege_hint(err: &io::Error, cap: Capability) -> Option<String> {
    let denied = matches!(err.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
        || err.kind() == io::ErrorKind::PermissionDenied;
    denied.then(|| format!("needs {cap}"))
}

/// " (needs CAP_...)" or "" for use in messages.
fn hint_suffix(err: &io::Error, cap: Capability) -> String {
    privilege_hint(err, cap)
        .map(|h| format!(" ({h})"))
        .unwrap_or_default()
}

/// Errors from the `net` module, each naming what it was working on.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No interface with that name exists (in this network namespace).
    #[error("interface {0:?} not found")]
    NoSuchInterface(String),
    /// Opening or configuring a socket failed.
    #[error("cannot open {what} on {iface}: {source}{}", hint_suffix(.source, *.need))]
    Open {
        /// E.g. "VRRP IPv4 raw socket".
        what: String,
        iface: String,
        /// The capability this needs, named in the message on EPERM.
        need: Capability,
        #[source]
        source: io::Error,
    },
    /// A netlink request failed.
    #[error("netlink: {op} {target}: {source}{}", hint_suffix(.source, Capability::NetAdmin))]
    Netlink {
        /// E.g. "add address".
        op: &'static str,
        /// E.g. "10.0.0.1/24 on ifindex 3".
        target: String,
        #[source]
        source: io::Error,
    },
}

impl NetError {
    /// The underlying OS error, if there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NetError::NoSuchInterface(_) => None,
            NetError::Open { source, .. } | NetError::Netlink { source, .. } => Some(source),
        }
    }

    /// True when the cause is missing privileges (EPERM/EACCES).
    pub fn is_permission_denied(&self) -> bool {
        self.io_error()
            .is_some_and(|e| privilege_hint(e, Capability::NetRaw).is_some())
    }

    /// An `Open` error. If `source` already carries a `NetError` (as the io::Errors of
    /// `VrrpSocket::open` and `Announcer::open` do), that one is returned instead, so the
    /// context is not repeated.
    pub fn open(
        what: impl Into<String>,
        iface: &str,
        need: Capability,
        source: io::Error,
    ) -> NetError {
        let source = match source.downcast::<NetError>() {
            Ok(inner) => return inner,
            Err(source) => source,
        };
        NetError::Open {
            what: what.into(),
            iface: iface.to_string(),
            need,
            source,
        }
    }
}

impl From<NetError> for io::Error {
    /// Keeps the kind of the underlying error (NotFound for a missing interface); the message
    /// keeps the context. The `NetError` is reachable via `get_ref()` / `downcast`.
    fn from(e: NetError) -> io::Error {
        let kind = match &e {
            NetError::NoSuchInterface(_) => io::ErrorKind::NotFound,
            other => other
                .io_error()
                .map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, e)
    }
}

/// `true` for a link-local unicast IPv6 address (fe80::/10).
pub(crate) fn is_ipv6_link_local(a: &Ipv6Addr) -> bool {
    (a.segments()[0] & 0xffc0) == 0xfe80
}

/// Scope id to use when sending to `dst` on interface `ifindex`.
pub(crate) fn scope_for(dst: &Ipv6Addr, ifindex: u32) -> u32 {
    let link_scoped_mc = dst.is_multicast() && (dst.octets()[1] & 0x0f) <= 2;
    if is_ipv6_link_local(dst) || link_scoped_mc {
        ifindex
    } else {
        0
    }
}

/// For messages: "addr/prefix".
pub(crate) fn fmt_prefix(addr: IpAddr, prefix_len: u8) -> String {
    format!("{addr}/{prefix_len}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn solicited_node_group_keeps_the_low_24_bits() {
        let a: Ipv6Addr = "fd00:99::1:ab:cd60".parse().unwrap();
        assert_eq!(
            super::solicited_node(&a),
            "ff02::1:ffab:cd60".parse::<Ipv6Addr>().unwrap()
        );
        let b: Ipv6Addr = "fd00:99::60".parse().unwrap();
        assert_eq!(
            super::solicited_node(&b),
            "ff02::1:ff00:60".parse::<Ipv6Addr>().unwrap()
        );
    }

    use super::*;

    #[test]
    fn permission_hints() {
        let e = io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(
            privilege_hint(&e, Capability::NetRaw).as_deref(),
            Some("needs CAP_NET_RAW")
        );
        let e = io::Error::from_raw_os_error(libc::ENODEV);
        assert_eq!(privilege_hint(&e, Capability::NetRaw), None);

        let err = NetError::open(
            "VRRP IPv4 raw socket",
            "eth0",
            Capability::NetRaw,
            io::Error::from_raw_os_error(libc::EPERM),
        );
        let msg = err.to_string();
        assert!(
            msg.contains("eth0") && msg.ends_with("(needs CAP_NET_RAW)"),
            "{msg}"
        );
        assert!(err.is_permission_denied());

        let err = NetError::Netlink {
            op: "add address",
            target: "10.0.0.1/24 on ifindex 3".into(),
            source: io::Error::from_raw_os_error(libc::EPERM),
        };
        assert!(err.to_string().ends_with("(needs CAP_NET_ADMIN)"), "{err}");
        let io: io::Error = err.into();
        assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
        assert!(io.to_string().contains("CAP_NET_ADMIN"));

        // Wrapping an io::Error that already carries a NetError keeps the inner one.
        let inner: io::Error = NetError::open(
            "VRRP IPv6 raw socket (socket)",
            "eth1",
            Capability::NetRaw,
            io::Error::from_raw_os_error(libc::EPERM),
        )
        .into();
        let outer = NetError::open("VRRP ipv6 socket", "eth1", Capability::NetRaw, inner);
        let msg = outer.to_string();
        assert_eq!(msg.matches("eth1").count(), 1, "{msg}");
        assert_eq!(msg.matches("CAP_NET_RAW").count(), 1, "{msg}");
    }

    #[test]
    fn scopes() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let g: Ipv6Addr = "ff02::12".parse().unwrap();
        let u: Ipv6Addr = "fd00::1".parse().unwrap();
        assert!(is_ipv6_link_local(&ll) && !is_ipv6_link_local(&u));
        assert_eq!(scope_for(&ll, 7), 7);
        assert_eq!(scope_for(&g, 7), 7);
        assert_eq!(scope_for(&u, 7), 0);
        assert_eq!(scope_for(&"ff05::1".parse().unwrap(), 7), 0);
    }
}

/// The capabilities vipd needs that this process lacks, read from `CapEff` in
/// /proc/self/status. Empty when everything is there (or when it cannot be read: then the
/// operations themselves report what is missing).
pub fn missing_capabilities() -> Vec<Capability> {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Vec::new();
    };
    let Some(eff) = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    else {
        return Vec::new();
    };
    missing_from(eff)
}

/// Which of CAP_NET_RAW (bit 13) and CAP_NET_ADMIN (bit 12) a `CapEff` mask lacks.
pub fn missing_from(eff: u64) -> Vec<Capability> {
    [(13, Capability::NetRaw), (12, Capability::NetAdmin)]
        .into_iter()
        .filter(|(bit, _)| eff & (1 << bit) == 0)
        .map(|(_, c)| c)
        .collect()
}

#[cfg(test)]
mod capability_tests {
    use super::*;

    #[test]
    fn capability_bits() {
        assert!(missing_from(u64::MAX).is_empty());
        assert_eq!(
            missing_from(0),
            vec![Capability::NetRaw, Capability::NetAdmin]
        );
        assert_eq!(missing_from(1 << 13), vec![Capability::NetAdmin]);
        assert_eq!(missing_from(1 << 12), vec![Capability::NetRaw]);
    }
}

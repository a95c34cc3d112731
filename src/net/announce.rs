//! Gratuitous ARP and unsolicited neighbour advertisements, byte for byte as keepalived 2.2.7
//! sends them (see the fixture `keepalived-2.2.7-master-then-stop.pcap`).

use std::io::{self, IoSlice};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn6, sendmsg};
use socket2::{Domain, Protocol, Socket, Type};

use super::packet_socket::{PacketSocket, icmp6_block_all};
use super::{Capability, IfaceInfo, NetError};
use crate::packet::checksum::pseudo_header_proto;

/// Ethernet broadcast.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// All-nodes multicast, the destination of unsolicited neighbour advertisements.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ETH_P_ARP: u16 = 0x0806;
const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
const NA_FLAG_ROUTER: u8 = 0x80;
const NA_FLAG_OVERRIDE: u8 = 0x20;
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
const IPPROTO_ICMPV6: u8 = 58;

/// The ARP payload of a gratuitous ARP request for `vip` from `mac`: op 1 (request),
/// sender = target = `vip`, sender hardware = `mac`, target hardware = ff:ff:ff:ff:ff:ff
/// (what keepalived sends). The Ethernet header (to broadcast) is added by the kernel.
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; 28] {
    let mut f = [0u8; 28];
    f[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    f[4] = 6; // hardware size
    f[5] = 4; // protocol size
    f[6..8].copy_from_slice(&1u16.to_be_bytes()); // opcode: request
    f[8..14].copy_from_slice(&mac);
    f[14..18].copy_from_slice(&vip.octets());
    f[18..24].copy_from_slice(&BROADCAST_MAC);
    f[24..28].copy_from_slice(&vip.octets());
    f
}

/// The ICMPv6 message of an unsolicited neighbour advertisement for `vip` from `mac`:
/// type 136, flags Override (and Router when `router`: the interface forwards IPv6, RFC 9568
/// 6.4.1/6.4.2, as keepalived does), Solicited never; target `vip`, a target link-layer
/// address option = `mac`. The checksum is filled in for source `vip` and destination ff02::1
/// (the kernel recomputes it on raw ICMPv6 sockets and gets the same value).
pub fn na_body(mac: [u8; 6], vip: Ipv6Addr, router: bool) -> Vec<u8> {
    let flags = if router {
        NA_FLAG_ROUTER | NA_FLAG_OVERRIDE
    } else {
        NA_FLAG_OVERRIDE
    };
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(&[ICMPV6_NEIGHBOR_ADVERT, 0, 0, 0]); // type, code, checksum
    b.extend_from_slice(&[flags, 0, 0, 0]); // R S=0 O=1, reserved
    b.extend_from_slice(&vip.octets());
    b.extend_from_slice(&[ND_OPT_TARGET_LL_ADDR, 1]); // option type, length in units of 8
    b.extend_from_slice(&mac);
    let ck = icmpv6_checksum(vip, ALL_NODES, &b);
    b[2..4].copy_from_slice(&ck.to_be_bytes());
    b
}

/// The ICMPv6 checksum of `body` (its checksum field taken as zero) over the IPv6
/// pseudo-header.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, body: &[u8]) -> u16 {
    let mut zeroed = body.to_vec();
    if zeroed.len() >= 4 {
        zeroed[2] = 0;
        zeroed[3] = 0;
    }
    pseudo_header_proto(IPPROTO_ICMPV6, src.into(), dst.into(), body.len())
        .feed(&zeroed)
        .finish()
}

/// Sends gratuitous ARPs and unsolicited neighbour advertisements on one interface.
pub struct Announcer {
    ifindex: u32,
    ifname: String,
    mac: [u8; 6],
    arp: PacketSocket,
    /// None when the host has no IPv6 (socket() said EAFNOSUPPORT).
    icmp6: Option<Socket>,
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer")
            .field("ifindex", &self.ifindex)
            .field("ifname", &self.ifname)
            .finish_non_exhaustive()
    }
}

impl Announcer {
    /// Opens an AF_PACKET socket (for ARP) and a raw ICMPv6 socket bound to `iface` (hop limit
    /// 255, receives nothing). Both need CAP_NET_RAW; the error says so on EPERM.
    pub fn open(iface: &IfaceInfo) -> io::Result<Announcer> {
        let wrap = |what: &str, e: io::Error| -> io::Error {
            let kind = e.kind();
            io::Error::new(
                kind,
                NetError::open(what, &iface.name, Capability::NetRaw, e),
            )
        };
        let arp = PacketSocket::open().map_err(|e| wrap("ARP packet socket", e))?;
        let icmp6 = match open_icmp6(iface) {
            Ok(s) => Some(s),
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => None,
            Err(e) => return Err(wrap("ICMPv6 raw socket", e)),
        };
        Ok(Announcer {
            ifindex: iface.index,
            ifname: iface.name.clone(),
            mac: iface.mac,
            arp,
            icmp6,
        })
    }

    /// One gratuitous ARP request for `vip` to ff:ff:ff:ff:ff:ff. Non-blocking.
    pub fn garp(&self, vip: Ipv4Addr) -> io::Result<()> {
        self.arp.send_to(
            &garp_frame(self.mac, vip),
            self.ifindex,
            ETH_P_ARP,
            BROADCAST_MAC,
        )
    }

    /// One unsolicited neighbour advertisement for `vip` to ff02::1, sent from `vip` (which
    /// must be an address of the interface by now), with the Router flag when `router` (pass
    /// `IfaceInfo::ipv6_forwarding`). Non-blocking.
    pub fn unsolicited_na(&self, vip: Ipv6Addr, router: bool) -> io::Result<()> {
        let sock = self.icmp6.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "no IPv6 on this host: cannot announce {vip} on {}",
                    self.ifname
                ),
            )
        })?;
        let body = na_body(self.mac, vip, router);
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: vip.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        let dst = SockaddrIn6::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        let n = sendmsg(
            sock.as_raw_fd(),
            &[IoSlice::new(&body)],
            &[ControlMessage::Ipv6PacketInfo(&info)],
            MsgFlags::MSG_DONTWAIT,
            Some(&dst),
        )
        .map_err(io::Error::from)?;
        if n != body.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short NA send: {n} of {} bytes", body.len()),
            ));
        }
        Ok(())
    }
}

fn open_icmp6(iface: &IfaceInfo) -> io::Result<Socket> {
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    sock.bind_device(Some(iface.name.as_bytes()))?;
    sock.set_nonblocking(true)?;
    icmp6_block_all(&sock)?;
    sock.set_multicast_hops_v6(255)?;
    sock.set_unicast_hops_v6(255)?;
    sock.set_multicast_loop_v6(false)?;
    sock.set_multicast_if_v6(iface.index)?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MAC of the keepalived router in the fixture.
    const MAC: [u8; 6] = [0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f];

    /// Frame 2 of keepalived-2.2.7-master-then-stop.pcap (`tcpdump -xx`): gratuitous ARP for
    /// 10.99.0.21, Ethernet header included.
    const GARP_FRAME_2: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, 0x0a,
        0x63, 0x00, 0x15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x15,
    ];

    /// Frame 3: gratuitous ARP for 10.99.0.22.
    const GARP_FRAME_3: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, 0x08,
        0x06, // eth
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, 0x0a,
        0x63, 0x00, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x16,
    ];

    /// Frame 16: unsolicited NA for fd00:99::21 (Ethernet + IPv6 header + ICMPv6).
    const NA_FRAME_16: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, 0x86,
        0xdd, // eth
        0x60, 0x00, 0x00, 0x00, 0x00, 0x20, 0x3a, 0xff, // ipv6: len 32, nh 58, hlim 255
        0xfd, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x21, // src fd00:99::21
        0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, // dst ff02::1
        0x88, 0x00, 0xbf, 0xef, 0x20, 0x00, 0x00, 0x00, // icmpv6 NA, checksum, flags O
        0xfd, 0x00, 0x00, 0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x21, // target
        0x02, 0x01, 0xf2, 0xf5, 0x04, 0x15, 0xa4, 0x2f, // target link-layer address option
    ];

    #[test]
    fn garp_matches_keepalived() {
        assert_eq!(
            garp_frame(MAC, Ipv4Addr::new(10, 99, 0, 21)),
            GARP_FRAME_2[14..]
        );
        assert_eq!(
            garp_frame(MAC, Ipv4Addr::new(10, 99, 0, 22)),
            GARP_FRAME_3[14..]
        );
    }

    #[test]
    fn na_matches_keepalived() {
        let vip: Ipv6Addr = "fd00:99::21".parse().unwrap();
        let body = na_body(MAC, vip, false);
        assert_eq!(body.len(), 32);
        assert_eq!(body, NA_FRAME_16[54..]);
    }

    #[test]
    fn na_router_flag() {
        let vip: Ipv6Addr = "fd00:99::21".parse().unwrap();
        let plain = na_body(MAC, vip, false);
        let router = na_body(MAC, vip, true);
        assert_eq!(plain[4], 0x20, "Override only");
        assert_eq!(router[4], 0xa0, "Router and Override, not Solicited");
        assert_eq!(router[5..8], [0, 0, 0]);
        // Everything but the flags byte and the checksum is the same.
        assert_eq!(router[..2], plain[..2]);
        assert_eq!(router[5..], plain[5..]);
        // The checksum covers the flags: the word 0x2000 becomes 0xa000, 0x8000 more in the
        // one's-complement sum, so 0x8000 less in the checksum (0xbfef - 0x8000 = 0x3fef).
        assert_eq!(router[2..4], [0x3f, 0xef]);
        assert_eq!(icmpv6_checksum(vip, ALL_NODES, &router), 0x3fef);
    }

    #[test]
    fn checksum_verifies() {
        // The checksum ignores the checksum field already in the body.
        let vip: Ipv6Addr = "fd00:99::21".parse().unwrap();
        let body = na_body(MAC, vip, false);
        assert_eq!(icmpv6_checksum(vip, ALL_NODES, &body), 0xbfef);
        let other = na_body(MAC, "fd00:99::22".parse().unwrap(), false);
        assert_ne!(other[2..4], body[2..4]);
    }
}

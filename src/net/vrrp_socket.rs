//! The raw IP protocol 112 socket for one (interface, family), shared by all instances on it.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, recvmsg, sendmsg,
    setsockopt, sockopt,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet_socket::{self, RecvBatch, RecvSlot, SendMsg, register_readable};
use super::{Capability, IfaceInfo, NetError, scope_for};
use crate::config::Family;

/// IANA protocol number of VRRP.
pub const IPPROTO_VRRP: i32 = 112;
/// The IPv4 VRRP multicast group, 224.0.0.18.
pub const VRRP_V4_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP multicast group, ff02::12.
pub const VRRP_V6_GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Receive buffer we ask for (SO_RCVBUFFORCE when allowed, else SO_RCVBUF, capped by rmem_max).
pub const RCVBUF: usize = 4 << 20;
/// Send buffer we ask for (SO_SNDBUFFORCE when allowed, else SO_SNDBUF, capped by wmem_max).
pub const SNDBUF: usize = 4 << 20;
/// IP precedence "internetwork control" (DSCP CS6), as keepalived and FRR send adverts.
const TOS_INTERNETWORK_CONTROL: u32 = 0xc0;

/// One received VRRP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL from the header, IPv6 hop limit from the IPV6_HOPLIMIT control message.
    pub ttl: u8,
    /// Start of the VRRP message in the buffer.
    pub offset: usize,
    /// VRRP message length. IPv4: total length minus header length, but never more than
    /// what arrived (so a decoder sees a truncated message and reports a length error).
    pub len: usize,
}

/// A raw VRRP socket bound to one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    family: Family,
    ifindex: u32,
    ifname: String,
}

impl VrrpSocket {
    /// Opens the raw socket for `family` on `iface`: SO_BINDTODEVICE, non-blocking, TTL/hop
    /// limit 255 (unicast and multicast), multicast loop off, multicast interface = iface,
    /// joined to 224.0.0.18 / ff02::12 on the interface, IPV6_RECVHOPLIMIT + IPV6_RECVPKTINFO
    /// on IPv6, large receive buffer. Needs a tokio runtime. Errors name the interface and,
    /// on EPERM, the missing capability.
    pub fn open(iface: &IfaceInfo, family: Family) -> io::Result<VrrpSocket> {
        let what = format!("VRRP {} raw socket", family_name(family));
        let wrap = |step: &str, need: Capability, e: io::Error| -> io::Error {
            let kind = e.kind();
            io::Error::new(
                kind,
                NetError::open(format!("{what} ({step})"), &iface.name, need, e),
            )
        };
        let sock =
            open_socket(iface, family).map_err(|(step, e)| wrap(step, Capability::NetRaw, e))?;
        let fd = register_readable(sock)
            .map_err(|e| wrap("register with tokio", Capability::NetRaw, e))?;
        Ok(VrrpSocket {
            fd,
            family,
            ifindex: iface.index,
            ifname: iface.name.clone(),
        })
    }

    /// The address family of this socket.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Index of the interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Name of the interface the socket is bound to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Lets the kernel drop every VRRP packet whose VRID is not in `vrids` before it is
    /// queued to this socket (a classic BPF filter), so a flood of adverts for other virtual
    /// routers, or of garbage, costs user space nothing. The filter reads the VRID byte after
    /// the IPv4 header (IPv4 raw sockets see the IP header) or at offset 1 of the message
    /// (IPv6 raw sockets see only the payload). See [`vrid_filter`].
    pub fn set_vrid_filter(&self, vrids: &[u8]) -> io::Result<()> {
        let sock = self.fd.get_ref();
        let site = FilterSite {
            family: self.family,
            ip_header: self.family == Family::Ipv4,
            packet_socket: false,
        };
        sock.attach_filter(&vrid_filter(site, vrids))
    }

    /// Joins the IPv6 multicast `group` on interface `ifindex` (the socket's own, or another
    /// one: the membership is the interface's, held by this socket).
    pub fn join_v6_group(&self, group: &Ipv6Addr, ifindex: u32) -> io::Result<()> {
        self.fd.get_ref().join_multicast_v6(group, ifindex)
    }

    /// Leaves the IPv6 multicast `group` joined with [`VrrpSocket::join_v6_group`].
    pub fn leave_v6_group(&self, group: &Ipv6Addr, ifindex: u32) -> io::Result<()> {
        self.fd.get_ref().leave_multicast_v6(group, ifindex)
    }

    /// Waits for and receives one packet into `buf`. For IPv4 the buffer also holds the IP
    /// header (the VRRP message starts at `offset`); for IPv6 it holds only the VRRP message.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| match self.family {
                Family::Ipv4 => recv_v4(inner.get_ref(), buf),
                Family::Ipv6 => recv_v6(inner.get_ref(), buf),
            }) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Bytes per receive slot for this family: the largest VRRP packet the socket can hand
    /// over (IPv4: a 60-byte IP header, 8 + 255 x 4 address bytes and v2's 8 auth bytes;
    /// IPv6, payload only: 8 + 255 x 16), rounded up.
    pub fn slot_size(family: Family) -> usize {
        match family {
            Family::Ipv4 => 1152,
            Family::Ipv6 => 4096,
        }
    }

    /// Buffers for [`VrrpSocket::recv_batch`] on this socket, allocated once and reused.
    pub fn batch(&self) -> RecvBatch {
        RecvBatch::new(Self::slot_size(self.family))
    }

    /// Waits until packets are queued, then receives up to [`packet_socket::BATCH`] of them
    /// in one `recvmmsg` call. Read each with [`VrrpSocket::parse`].
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| batch.recv(inner.get_ref())) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives what is queued now, up to [`packet_socket::BATCH`] packets, without waiting:
    /// `Err(WouldBlock)` when nothing is. For the engine's own read after it was away (the
    /// reader task finds the readiness stale and waits again).
    pub fn try_recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.recv(self.fd.get_ref())
    }

    /// Where the VRRP message of a batch slot is, and who sent it (as [`VrrpSocket::recv`]
    /// reports it). The message is `slot.data[r.offset..r.offset + r.len]`.
    pub fn parse(&self, slot: &RecvSlot<'_>) -> io::Result<Received> {
        match self.family {
            Family::Ipv4 => parse_v4(slot.data),
            Family::Ipv6 => Ok(Received {
                src: IpAddr::V6(
                    slot.src_v6
                        .ok_or_else(|| bad("received an IPv6 packet without a source address"))?,
                ),
                dst: IpAddr::V6(
                    slot.dst_v6
                        .ok_or_else(|| bad("no IPV6_PKTINFO on a received packet"))?,
                ),
                ttl: slot
                    .hop_limit
                    .ok_or_else(|| bad("no IPV6_HOPLIMIT on a received packet"))?,
                offset: 0,
                len: slot.data.len(),
            }),
        }
    }

    /// Sends adverts `(payload, src, dst)` in `sendmmsg` calls of up to
    /// [`packet_socket::BATCH`], never blocking. Returns how many went out, in order; on an
    /// error the rest were not sent and the error is returned with that count.
    pub fn send_batch<'a>(
        &self,
        msgs: impl Iterator<Item = (&'a [u8], IpAddr, IpAddr)>,
    ) -> (usize, Option<io::Error>) {
        let v6 = self.family == Family::Ipv6;
        let none = SendMsg {
            payload: &[],
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ifindex: 0,
        };
        let mut buf = [none; packet_socket::BATCH];
        let mut done = 0;
        let mut msgs = msgs.peekable();
        while msgs.peek().is_some() {
            let mut n = 0;
            for (payload, src, dst) in msgs.by_ref().take(packet_socket::BATCH) {
                buf[n] = SendMsg {
                    payload,
                    src,
                    dst,
                    ifindex: self.ifindex,
                };
                n += 1;
            }
            match packet_socket::send_many(self.fd.get_ref(), v6, &buf[..n]) {
                Ok(k) => {
                    done += k;
                    if k < n {
                        let e = io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!("{} of {n} adverts not taken by the kernel", n - k),
                        );
                        return (done, Some(e));
                    }
                }
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// Sends a VRRP message (payload only; the kernel builds the IP header) from `src` to
    /// `dst` (the multicast group or a unicast peer). The source is set per packet with
    /// IP_PKTINFO / IPV6_PKTINFO (so `src` must be an address of this host). Never blocks: a
    /// full socket buffer is returned as an error (`WouldBlock`).
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        let fd = self.fd.get_ref().as_raw_fd();
        let iov = [IoSlice::new(payload)];
        let flags = MsgFlags::MSG_DONTWAIT;
        let sent = match (self.family, src, dst) {
            (Family::Ipv4, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let info = libc::in_pktinfo {
                    ipi_ifindex: self.ifindex as libc::c_int,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from(src).to_be(),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                let addr = SockaddrIn::from(SocketAddrV4::new(dst, 0));
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv4PacketInfo(&info)],
                    flags,
                    Some(&addr),
                )
            }
            (Family::Ipv6, IpAddr::V6(src), IpAddr::V6(dst)) => {
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: self.ifindex,
                };
                let addr =
                    SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, scope_for(&dst, self.ifindex)));
                sendmsg(
                    fd,
                    &iov,
                    &[ControlMessage::Ipv6PacketInfo(&info)],
                    flags,
                    Some(&addr),
                )
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} VRRP socket on {}: cannot send from {src} to {dst}",
                        family_name(self.family),
                        self.ifname
                    ),
                ));
            }
        }
        .map_err(io::Error::from)?;
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short VRRP send: {sent} of {} bytes", payload.len()),
            ));
        }
        Ok(())
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// Creates and configures the socket; on failure says which step failed.
fn open_socket(iface: &IfaceInfo, family: Family) -> Result<Socket, (&'static str, io::Error)> {
    let domain = match family {
        Family::Ipv4 => Domain::IPV4,
        Family::Ipv6 => Domain::IPV6,
    };
    let sock = Socket::new(domain, Type::RAW, Some(Protocol::from(IPPROTO_VRRP)))
        .map_err(|e| ("socket", e))?;
    sock.bind_device(Some(iface.name.as_bytes()))
        .map_err(|e| ("SO_BINDTODEVICE", e))?;
    sock.set_nonblocking(true).map_err(|e| ("O_NONBLOCK", e))?;
    set_rcvbuf(&sock);
    match family {
        Family::Ipv4 => {
            sock.set_ttl_v4(255).map_err(|e| ("IP_TTL", e))?;
            sock.set_multicast_ttl_v4(255)
                .map_err(|e| ("IP_MULTICAST_TTL", e))?;
            sock.set_multicast_loop_v4(false)
                .map_err(|e| ("IP_MULTICAST_LOOP", e))?;
            sock.set_tos_v4(TOS_INTERNETWORK_CONTROL)
                .map_err(|e| ("IP_TOS", e))?;
            // Only the groups this socket joined, not every group joined on the host.
            sock.set_multicast_all_v4(false)
                .map_err(|e| ("IP_MULTICAST_ALL", e))?;
            // Outgoing interface: IP_PKTINFO names it on every send; IP_MULTICAST_IF is set
            // as well when the interface has an address to name it by.
            if let Some(a) = iface.ipv4_primary {
                sock.set_multicast_if_v4(&a)
                    .map_err(|e| ("IP_MULTICAST_IF", e))?;
            }
            sock.join_multicast_v4_n(
                &VRRP_V4_GROUP,
                &socket2::InterfaceIndexOrAddress::Index(iface.index),
            )
            .map_err(|e| ("IP_ADD_MEMBERSHIP 224.0.0.18", e))?;
        }
        Family::Ipv6 => {
            sock.set_unicast_hops_v6(255)
                .map_err(|e| ("IPV6_UNICAST_HOPS", e))?;
            sock.set_multicast_hops_v6(255)
                .map_err(|e| ("IPV6_MULTICAST_HOPS", e))?;
            sock.set_multicast_loop_v6(false)
                .map_err(|e| ("IPV6_MULTICAST_LOOP", e))?;
            sock.set_tclass_v6(TOS_INTERNETWORK_CONTROL)
                .map_err(|e| ("IPV6_TCLASS", e))?;
            sock.set_multicast_all_v6(false)
                .map_err(|e| ("IPV6_MULTICAST_ALL", e))?;
            sock.set_multicast_if_v6(iface.index)
                .map_err(|e| ("IPV6_MULTICAST_IF", e))?;
            sock.set_recv_hoplimit_v6(true)
                .map_err(|e| ("IPV6_RECVHOPLIMIT", e))?;
            setsockopt(&sock, sockopt::Ipv6RecvPacketInfo, &true)
                .map_err(|e| ("IPV6_RECVPKTINFO", io::Error::from(e)))?;
            sock.join_multicast_v6(&VRRP_V6_GROUP, iface.index)
                .map_err(|e| ("IPV6_ADD_MEMBERSHIP ff02::12", e))?;
        }
    }
    Ok(sock)
}

/// SO_RCVBUFFORCE / SO_SNDBUFFORCE (need CAP_NET_ADMIN) or else SO_RCVBUF / SO_SNDBUF;
/// best effort. The send buffer matters as much as the receive one: every instance's advert
/// timer can fire in the same tick, and a burst of hundreds of adverts must not meet a full
/// buffer (EAGAIN would drop adverts, which a backup sees as a late master).
fn set_rcvbuf(sock: &Socket) {
    if setsockopt(sock, sockopt::RcvBufForce, &RCVBUF).is_err()
        && let Err(e) = sock.set_recv_buffer_size(RCVBUF)
    {
        tracing::debug!("SO_RCVBUF {RCVBUF}: {e}");
    }
    if setsockopt(sock, sockopt::SndBufForce, &SNDBUF).is_err()
        && let Err(e) = sock.set_send_buffer_size(SNDBUF)
    {
        tracing::debug!("SO_SNDBUF {SNDBUF}: {e}");
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// One IPv4 datagram (with its IP header) into `buf`.
fn recv_v4(sock: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let n = {
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrIn>(sock.as_raw_fd(), &mut iov, None, MsgFlags::empty())
            .map_err(io::Error::from)?;
        msg.bytes
    };
    parse_v4(&buf[..n.min(buf.len())])
}

/// Locates the VRRP message in a received IPv4 datagram.
fn parse_v4(pkt: &[u8]) -> io::Result<Received> {
    if pkt.len() < 20 || pkt[0] >> 4 != 4 {
        return Err(bad("received a datagram without an IPv4 header"));
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < 20 || ihl > pkt.len() {
        return Err(bad("received an IPv4 header with a bad header length"));
    }
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let len = total.saturating_sub(ihl).min(pkt.len() - ihl);
    let src = Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]);
    let dst = Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]);
    Ok(Received {
        src: IpAddr::V4(src),
        dst: IpAddr::V4(dst),
        ttl: pkt[8],
        offset: ihl,
        len,
    })
}

/// One IPv6 VRRP message into `buf`; hop limit and destination from control messages.
fn recv_v6(sock: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrIn6>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let len = msg.bytes;
    let src = msg
        .address
        .map(|a| a.ip())
        .ok_or_else(|| bad("received an IPv6 packet without a source address"))?;
    let mut hop_limit = None;
    let mut dst = None;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        match c {
            ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
    }
    Ok(Received {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst.ok_or_else(|| bad("no IPV6_PKTINFO on a received packet"))?),
        ttl: hop_limit.ok_or_else(|| bad("no IPV6_HOPLIMIT on a received packet"))?,
        offset: 0,
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_packet(total_len: u16, payload_len: usize) -> Vec<u8> {
        let mut p = vec![
            0x45, 0xc0, 0, 0, 0, 1, 0, 0, 255, 112, 0, 0, 10, 99, 0, 11, 224, 0, 0, 18,
        ];
        p[2..4].copy_from_slice(&total_len.to_be_bytes());
        p.extend(std::iter::repeat_n(0xaa, payload_len));
        p
    }

    #[test]
    fn v4_header_parsed() {
        let r = parse_v4(&v4_packet(40, 20)).unwrap();
        assert_eq!(r.src, IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)));
        assert_eq!(r.dst, IpAddr::V4(VRRP_V4_GROUP));
        assert_eq!((r.ttl, r.offset, r.len), (255, 20, 20));
    }

    #[test]
    fn v4_length_clipped_to_what_arrived() {
        // The header claims 60 bytes but only 20 + 12 arrived.
        let r = parse_v4(&v4_packet(60, 12)).unwrap();
        assert_eq!((r.offset, r.len), (20, 12));
        // Trailing bytes beyond total length (Ethernet padding) are not part of the message.
        let r = parse_v4(&v4_packet(36, 30)).unwrap();
        assert_eq!(r.len, 16);
    }

    #[test]
    fn v4_garbage_rejected() {
        assert!(parse_v4(&[0x45; 10]).is_err());
        let mut p = v4_packet(40, 20);
        p[0] = 0x4f; // ihl 60 > 40 bytes
        assert!(parse_v4(&p).is_err());
        p[0] = 0x65;
        assert!(parse_v4(&p).is_err());
    }
}

/// Where a VRRP filter runs, which decides the offsets it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterSite {
    pub family: Family,
    /// The packet starts with the IP header (IPv4 raw sockets, packet sockets) rather than
    /// with the VRRP message (IPv6 raw sockets).
    pub ip_header: bool,
    /// Packet socket: also drop our own outgoing frames and anything not IP protocol 112.
    pub packet_socket: bool,
}

/// A classic BPF program passing only VRRP packets whose VRID is in `vrids` (and, on a
/// packet socket, only incoming protocol-112 packets). With more VRIDs than 8-bit jump
/// offsets can skip, the VRID check is left out and user space demultiplexes alone.
pub fn vrid_filter(site: FilterSite, vrids: &[u8]) -> Vec<socket2::SockFilter> {
    use socket2::SockFilter;
    // linux/filter.h opcodes.
    const LD_W_ABS: u16 = 0x20; // A = P[k:4] (ancillary when k >= SKF_AD_OFF)
    const LD_B_ABS: u16 = 0x30; // A = P[k]
    const LDX_B_MSH: u16 = 0xb1; // X = 4 * (P[k] & 0xf)
    const LD_B_IND: u16 = 0x50; // A = P[X + k]
    const JEQ_K: u16 = 0x15;
    const JA: u16 = 0x05; // jump always, k = offset
    const RET_K: u16 = 0x06;
    const AD_PKTTYPE: u32 = 0xffff_f000 + 4;
    const PACKET_OUTGOING: u32 = 4;
    const ACCEPT: u32 = 0x0004_0000;
    let check_vrid = vrids.len() <= 200;
    // (code, jump-to-drop when true, jump-to-drop when false, k); the drop and accept
    // instructions come last, so jumps are patched once the length is known.
    let mut body: Vec<(u16, bool, bool, u32)> = Vec::new();
    if site.packet_socket {
        body.push((LD_W_ABS, false, false, AD_PKTTYPE));
        body.push((JEQ_K, true, false, PACKET_OUTGOING));
        let proto_off = match site.family {
            Family::Ipv4 => 9,
            Family::Ipv6 => 6,
        };
        body.push((LD_B_ABS, false, false, proto_off));
        body.push((JEQ_K, false, true, 112));
    }
    if check_vrid {
        match (site.family, site.ip_header) {
            (Family::Ipv4, true) => {
                body.push((LDX_B_MSH, false, false, 0));
                body.push((LD_B_IND, false, false, 1));
            }
            (Family::Ipv6, true) => body.push((LD_B_ABS, false, false, 41)),
            (_, false) => body.push((LD_B_ABS, false, false, 1)),
        }
    }
    let compares: &[u8] = if check_vrid { vrids } else { &[] };
    let drop_at = body.len() + compares.len() + usize::from(!check_vrid);
    let mut prog = Vec::with_capacity(drop_at + 2);
    for (i, (code, jt_drop, jf_drop, k)) in body.into_iter().enumerate() {
        let to_drop = (drop_at - i - 1) as u8;
        let jt = if jt_drop { to_drop } else { 0 };
        let jf = if jf_drop { to_drop } else { 0 };
        prog.push(SockFilter::new(code, jt, jf, k));
    }
    let n = compares.len();
    for (i, &v) in compares.iter().enumerate() {
        // On a match jump over the remaining compares and the drop, to the accept.
        prog.push(SockFilter::new(JEQ_K, (n - i) as u8, 0, u32::from(v)));
    }
    if !check_vrid {
        // Everything that passed the checks above is accepted.
        prog.push(SockFilter::new(JA, 0, 0, 1));
    }
    prog.push(SockFilter::new(RET_K, 0, 0, 0));
    // A packet socket (the wire tap) needs only the IP header and the VRID: the kernel keeps
    // that many bytes of each frame it queues.
    let keep = if site.packet_socket {
        TAP_SNAP as u32
    } else {
        ACCEPT
    };
    prog.push(SockFilter::new(RET_K, 0, 0, keep));
    prog
}

/// Bytes of a frame the wire tap keeps: the longest IPv4 header (60 bytes) and the VRRP
/// message's first two bytes (version and type, VRID); an IPv6 header is 40.
pub const TAP_SNAP: usize = 64;

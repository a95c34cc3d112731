//! The only unsafe code of the crate: building a `sockaddr_ll` for `AF_PACKET` sends, the
//! `ICMP6_FILTER` socket option, registering an owned socket with tokio (`AsyncFd`
//! registration is an unsafe API since tokio 1.54), and the batched `recvmmsg` / `sendmmsg`
//! calls of the VRRP sockets ([`RecvBatch`], [`send_many`]). Each is small and argued by its
//! SAFETY comment.

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;

use socket2::{Domain, SockAddr, SockAddrStorage, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// `ICMP6_FILTER` from `<linux/icmpv6.h>` (level `IPPROTO_ICMPV6`); not in the libc crate.
const ICMP6_FILTER: libc::c_int = 1;

/// An `AF_PACKET`, `SOCK_DGRAM` socket used only for sending (protocol 0: it receives nothing).
/// The kernel builds the Ethernet header from the destination address and the device MAC.
pub(crate) struct PacketSocket {
    sock: Socket,
}

impl PacketSocket {
    pub(crate) fn open() -> io::Result<PacketSocket> {
        let sock = Socket::new(Domain::PACKET, Type::DGRAM, None)?;
        sock.set_nonblocking(true)?;
        Ok(PacketSocket { sock })
    }

    /// Sends `payload` as an Ethernet frame of type `ethertype` to `dst_mac` out of `ifindex`.
    pub(crate) fn send_to(
        &self,
        payload: &[u8],
        ifindex: u32,
        ethertype: u16,
        dst_mac: [u8; 6],
    ) -> io::Result<()> {
        let addr = sockaddr_ll(ifindex, ethertype, dst_mac)?;
        let n = self.sock.send_to(payload, &addr)?;
        if n != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short packet send: {n} of {} bytes", payload.len()),
            ));
        }
        Ok(())
    }
}

/// An `AF_PACKET`, `SOCK_DGRAM` socket receiving `ethertype` frames arriving on `ifindex`
/// (network-layer bytes, no Ethernet header). It sees frames before the IP layer and its
/// firewall hooks. Non-blocking.
pub(crate) fn open_tap(ifindex: u32, ethertype: u16) -> io::Result<Socket> {
    let proto = socket2::Protocol::from(libc::c_int::from(ethertype.to_be()));
    let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))?;
    sock.set_nonblocking(true)?;
    sock.bind(&sockaddr_ll(ifindex, ethertype, [0; 6])?)?;
    Ok(sock)
}

/// A `sockaddr_ll` naming `dst_mac` on `ifindex` with protocol `ethertype`.
fn sockaddr_ll(ifindex: u32, ethertype: u16, dst_mac: [u8; 6]) -> io::Result<SockAddr> {
    let ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too large"))?;
    let mut sll_addr = [0u8; 8];
    sll_addr[..6].copy_from_slice(&dst_mac);
    let ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr,
    };
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of this platform's `sockaddr_*` types and is smaller than
    // `sockaddr_storage` (view_as asserts the size); we only write a fully initialised value.
    unsafe { *storage.view_as::<libc::sockaddr_ll>() = ll };
    let len = size_of::<libc::sockaddr_ll>() as socket2::socklen_t;
    // SAFETY: the storage holds an initialised `sockaddr_ll` whose family is AF_PACKET, and
    // `len` is exactly the size of `sockaddr_ll`, as `SockAddr::new` requires.
    Ok(unsafe { SockAddr::new(storage, len) })
}

/// Sets an ICMPv6 type filter that blocks every type, so a raw ICMPv6 socket used only for
/// sending does not queue every ICMPv6 packet the host receives.
pub(crate) fn icmp6_block_all(sock: &Socket) -> io::Result<()> {
    // struct icmp6_filter { __u32 data[8]; }: a set bit blocks that type.
    let filter = [u32::MAX; 8];
    // SAFETY: the fd is a valid open socket owned by `sock` for the duration of the call; the
    // option value points to `filter`, which lives across the call and whose size is passed
    // as the option length. The kernel only reads from it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            filter.as_ptr().cast::<libc::c_void>(),
            size_of::<[u32; 8]>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Registers `io` (an owner of one file descriptor: a socket or a timerfd) with the current
/// tokio reactor for readability. Fails (instead of panicking) outside a tokio runtime.
pub(crate) fn register_readable<T: AsRawFd>(io: T) -> io::Result<AsyncFd<T>> {
    tokio::runtime::Handle::try_current().map_err(|e| {
        io::Error::other(format!(
            "registering a descriptor needs a tokio runtime: {e}"
        ))
    })?;
    // SAFETY: every `T` this crate passes (`socket2::Socket`, the timerfd wrapper in
    // `net::timer`) owns its file descriptor: `as_raw_fd()` always returns that same open
    // descriptor, which is closed only when the value is dropped. The `AsyncFd` takes
    // ownership of the value, so the descriptor stays open and unchanged for the whole life
    // of the registration (and we never swap the inner value through `get_mut`).
    unsafe { AsyncFd::register_with_interest(io, Interest::READABLE) }.map_err(io::Error::from)
}

/// Messages one `recvmmsg` call can return (and one [`RecvBatch`] holds).
pub const BATCH: usize = 32;
/// Control-message bytes per message: IPV6_HOPLIMIT (24 with its header) and IPV6_PKTINFO
/// (40), 8-byte aligned.
const CONTROL_WORDS: usize = 8;

/// Receive buffers for one `recvmmsg` call, allocated once and reused: `BATCH` slots of
/// `slot` bytes, their source addresses and their control messages. Plain owned data (no
/// pointers are kept between calls), so it moves between tasks and threads freely.
pub struct RecvBatch {
    slot: usize,
    data: Box<[u8]>,
    names: Box<[libc::sockaddr_in6]>,
    /// `u64` words so the control buffers are aligned as `cmsghdr` requires.
    control: Box<[u64]>,
    lens: [usize; BATCH],
    name_lens: [u32; BATCH],
    control_lens: [usize; BATCH],
    flags: [i32; BATCH],
    count: usize,
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("slot", &self.slot)
            .field("count", &self.count)
            .finish()
    }
}

/// One message of a [`RecvBatch`].
pub struct RecvSlot<'a> {
    /// The datagram as received (clipped to the slot; `truncated` says so).
    pub data: &'a [u8],
    /// The kernel had more bytes than the slot holds (`MSG_TRUNC`).
    pub truncated: bool,
    /// The source address, when the kernel gave an IPv6 one.
    pub src_v6: Option<std::net::Ipv6Addr>,
    /// IPV6_HOPLIMIT, if present.
    pub hop_limit: Option<u8>,
    /// IPV6_PKTINFO's destination address, if present.
    pub dst_v6: Option<std::net::Ipv6Addr>,
}

impl RecvBatch {
    /// Buffers for `BATCH` messages of up to `slot` bytes each.
    pub fn new(slot: usize) -> RecvBatch {
        let zero_name = libc::sockaddr_in6 {
            sin6_family: 0,
            sin6_port: 0,
            sin6_flowinfo: 0,
            sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
            sin6_scope_id: 0,
        };
        RecvBatch {
            slot,
            data: vec![0u8; slot * BATCH].into_boxed_slice(),
            names: vec![zero_name; BATCH].into_boxed_slice(),
            control: vec![0u64; CONTROL_WORDS * BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            name_lens: [0; BATCH],
            control_lens: [0; BATCH],
            flags: [0; BATCH],
            count: 0,
        }
    }

    /// Messages received by the last call.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Receives up to `BATCH` messages from `fd` without blocking (one system call).
    /// `WouldBlock` when nothing is queued.
    pub fn recv(&mut self, fd: &impl AsRawFd) -> io::Result<usize> {
        self.count = 0;
        // SAFETY (zeroed): iovec and mmsghdr are C structs of integers and pointers, for
        // which all-zero bytes are a valid value (null pointers, zero lengths).
        let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        let data = self.data.as_mut_ptr();
        for i in 0..BATCH {
            // wrapping_add: pointer arithmetic inside the `data` allocation (i * slot is
            // below its length), no dereference here.
            iov[i].iov_base = data.wrapping_add(i * self.slot).cast();
            iov[i].iov_len = self.slot;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&raw mut self.names[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            h.msg_iov = &raw mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = (&raw mut self.control[i * CONTROL_WORDS]).cast();
            h.msg_controllen = CONTROL_WORDS * 8;
        }
        // SAFETY: every pointer in `hdrs` points into buffers owned by `self` (slots of
        // `slot` bytes, a sockaddr_in6 per message, CONTROL_WORDS * 8 control bytes) or into
        // `iov`, all of which outlive the call; the lengths given are those buffers' sizes,
        // and `BATCH` is the length of `hdrs`. The kernel writes only within them.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, h) in hdrs.iter().take(n).enumerate() {
            self.lens[i] = h.msg_len as usize;
            self.name_lens[i] = h.msg_hdr.msg_namelen;
            self.control_lens[i] = h.msg_hdr.msg_controllen.min(CONTROL_WORDS * 8);
            self.flags[i] = h.msg_hdr.msg_flags;
        }
        self.count = n;
        Ok(n)
    }

    /// The `i`-th message of the last call (`i < len()`).
    pub fn get(&self, i: usize) -> RecvSlot<'_> {
        let start = i * self.slot;
        let data = &self.data[start..start + self.lens[i].min(self.slot)];
        let name = &self.names[i];
        let src_v6 = (self.name_lens[i] as usize >= size_of::<libc::sockaddr_in6>()
            && name.sin6_family == libc::AF_INET6 as libc::sa_family_t)
            .then(|| std::net::Ipv6Addr::from(name.sin6_addr.s6_addr));
        let words = &self.control[i * CONTROL_WORDS..(i + 1) * CONTROL_WORDS];
        let (hop_limit, dst_v6) = parse_v6_control(words, self.control_lens[i]);
        RecvSlot {
            data,
            truncated: self.flags[i] & libc::MSG_TRUNC != 0,
            src_v6,
            hop_limit,
            dst_v6,
        }
    }
}

/// IPV6_HOPLIMIT and IPV6_PKTINFO from the first `len` bytes of a control buffer (read as
/// bytes from the aligned words: cmsghdr is {size_t len; int level; int type} then data at
/// an 8-byte boundary on 64-bit Linux, 4-byte on 32-bit).
fn parse_v6_control(words: &[u64], len: usize) -> (Option<u8>, Option<std::net::Ipv6Addr>) {
    let mut bytes = [0u8; CONTROL_WORDS * 8];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_ne_bytes());
    }
    let bytes = &bytes[..len.min(bytes.len())];
    const SZ: usize = size_of::<usize>();
    let align = |n: usize| (n + SZ - 1) & !(SZ - 1);
    let head = align(SZ + 8);
    let (mut hop, mut dst) = (None, None);
    let mut at = 0;
    while at + head <= bytes.len() {
        let clen = usize::from_ne_bytes(bytes[at..at + SZ].try_into().unwrap_or([0; SZ]));
        let level = i32::from_ne_bytes(bytes[at + SZ..at + SZ + 4].try_into().unwrap_or([0; 4]));
        let kind = i32::from_ne_bytes(bytes[at + SZ + 4..at + SZ + 8].try_into().unwrap_or([0; 4]));
        if clen < head || at + clen > bytes.len() {
            break;
        }
        let body = &bytes[at + head..at + clen];
        if level == libc::IPPROTO_IPV6 {
            if kind == libc::IPV6_HOPLIMIT && body.len() >= 4 {
                let v = i32::from_ne_bytes(body[..4].try_into().unwrap_or([0; 4]));
                hop = u8::try_from(v).ok();
            } else if kind == libc::IPV6_PKTINFO && body.len() >= 16 {
                let a: [u8; 16] = body[..16].try_into().unwrap_or([0; 16]);
                dst = Some(std::net::Ipv6Addr::from(a));
            }
        }
        at += align(clen);
    }
    (hop, dst)
}

/// One message for [`send_many`].
#[derive(Clone, Copy)]
pub struct SendMsg<'a> {
    pub payload: &'a [u8],
    pub dst: std::net::IpAddr,
    /// Source address (IP_PKTINFO / IPV6_PKTINFO) and interface.
    pub src: std::net::IpAddr,
    pub ifindex: u32,
}

/// Sends up to `BATCH` messages on a raw IPv4 or IPv6 socket in one `sendmmsg` call (never
/// blocking). Returns how many the kernel took, in order; the caller retries or reports
/// the rest. Messages whose addresses are not of the socket's family `v6` are refused
/// (`InvalidInput`) before anything is sent.
pub fn send_many(fd: &impl AsRawFd, v6: bool, msgs: &[SendMsg<'_>]) -> io::Result<usize> {
    use std::net::IpAddr;
    let n = msgs.len().min(BATCH);
    // Per message: destination, source info as a control message, iovec.
    let zero_in = libc::sockaddr_in {
        sin_family: 0,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: 0 },
        sin_zero: [0; 8],
    };
    let zero_in6 = libc::sockaddr_in6 {
        sin6_family: 0,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
        sin6_scope_id: 0,
    };
    let mut in4 = [zero_in; BATCH];
    let mut in6 = [zero_in6; BATCH];
    let mut control = [[0u64; CONTROL_WORDS]; BATCH];
    // SAFETY (zeroed): iovec and mmsghdr are C structs of integers and pointers, for which
    // all-zero bytes are a valid value.
    let mut iov: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (i, m) in msgs.iter().take(n).enumerate() {
        let h = &mut hdrs[i].msg_hdr;
        let cbytes = &mut [0u8; CONTROL_WORDS * 8];
        let sz = size_of::<usize>();
        let head = (sz + 8 + sz - 1) & !(sz - 1);
        let (level, kind, body_len): (i32, i32, usize) = match (v6, m.src, m.dst) {
            (false, IpAddr::V4(src), IpAddr::V4(dst)) => {
                in4[i].sin_family = libc::AF_INET as libc::sa_family_t;
                in4[i].sin_addr.s_addr = u32::from(dst).to_be();
                h.msg_name = (&raw mut in4[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
                let b = &mut cbytes[head..head + 12];
                b[..4].copy_from_slice(&(m.ifindex as i32).to_ne_bytes());
                b[4..8].copy_from_slice(&src.octets());
                (libc::IPPROTO_IP, libc::IP_PKTINFO, 12)
            }
            (true, IpAddr::V6(src), IpAddr::V6(dst)) => {
                in6[i].sin6_family = libc::AF_INET6 as libc::sa_family_t;
                in6[i].sin6_addr.s6_addr = dst.octets();
                in6[i].sin6_scope_id = super::scope_for(&dst, m.ifindex);
                h.msg_name = (&raw mut in6[i]).cast();
                h.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                // struct in6_pktinfo { in6_addr addr; unsigned ifindex; }
                let b = &mut cbytes[head..head + 20];
                b[..16].copy_from_slice(&src.octets());
                b[16..20].copy_from_slice(&m.ifindex.to_ne_bytes());
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, 20)
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot send from {} to {} on this socket", m.src, m.dst),
                ));
            }
        };
        let clen = head + body_len;
        cbytes[..sz].copy_from_slice(&clen.to_ne_bytes());
        cbytes[sz..sz + 4].copy_from_slice(&level.to_ne_bytes());
        cbytes[sz + 4..sz + 8].copy_from_slice(&kind.to_ne_bytes());
        let space = (clen + sz - 1) & !(sz - 1);
        for (w, chunk) in control[i].iter_mut().zip(cbytes.chunks_exact(8)) {
            *w = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        h.msg_control = control[i].as_mut_ptr().cast();
        h.msg_controllen = space;
        iov[i].iov_base = m.payload.as_ptr().cast_mut().cast();
        iov[i].iov_len = m.payload.len();
        h.msg_iov = &raw mut iov[i];
        h.msg_iovlen = 1;
    }
    if n == 0 {
        return Ok(0);
    }
    // SAFETY: each of the first `n` headers points at its own destination address, control
    // buffer (a complete cmsghdr + pktinfo, `msg_controllen` bytes) and iovec, all on this
    // stack frame, and the iovec at a payload borrowed for the call; the kernel only reads
    // them (it writes `msg_len`, inside `hdrs`). `n` <= the length of `hdrs`.
    let sent = unsafe {
        libc::sendmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v6_control_messages_parsed_and_garbage_ignored() {
        // Two cmsgs as the kernel lays them out on 64-bit Linux: IPV6_HOPLIMIT (int 255),
        // then IPV6_PKTINFO (ff02::12, ifindex 3).
        let sz = size_of::<usize>();
        let head = (sz + 8 + sz - 1) & !(sz - 1);
        let mut b = [0u8; CONTROL_WORDS * 8];
        let mut put = |at: usize, kind: i32, body: &[u8]| {
            let clen = head + body.len();
            b[at..at + sz].copy_from_slice(&clen.to_ne_bytes());
            b[at + sz..at + sz + 4].copy_from_slice(&libc::IPPROTO_IPV6.to_ne_bytes());
            b[at + sz + 4..at + sz + 8].copy_from_slice(&kind.to_ne_bytes());
            b[at + head..at + clen].copy_from_slice(body);
            at + ((clen + sz - 1) & !(sz - 1))
        };
        let next = put(0, libc::IPV6_HOPLIMIT, &255i32.to_ne_bytes());
        let group: std::net::Ipv6Addr = "ff02::12".parse().unwrap();
        let mut info = group.octets().to_vec();
        info.extend(3u32.to_ne_bytes());
        let end = put(next, libc::IPV6_PKTINFO, &info);
        let words: Vec<u64> = b
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(parse_v6_control(&words, end), (Some(255), Some(group)));
        // Only the first message within the length the kernel reported.
        assert_eq!(parse_v6_control(&words, next), (Some(255), None));
        // A length field that runs past the buffer stops the walk.
        let mut bad = words.clone();
        bad[0] = 4096;
        assert_eq!(parse_v6_control(&bad, end), (None, None));
        assert_eq!(parse_v6_control(&words, 0), (None, None));
    }

    #[test]
    fn sockaddr_ll_layout() {
        let a = sockaddr_ll(7, 0x0806, [0xff; 6]).unwrap();
        assert_eq!(a.family(), libc::AF_PACKET as libc::sa_family_t);
        assert_eq!(a.len() as usize, size_of::<libc::sockaddr_ll>());
        // sll_protocol (big endian) right after the 2-byte family; sll_ifindex after that.
        let raw = a.as_ptr().cast::<u8>();
        // SAFETY: test only; `a` holds at least size_of::<sockaddr_ll>() initialised bytes.
        let bytes = unsafe { std::slice::from_raw_parts(raw, size_of::<libc::sockaddr_ll>()) };
        assert_eq!(&bytes[2..4], &[0x08, 0x06]);
        assert_eq!(i32::from_ne_bytes(bytes[4..8].try_into().unwrap()), 7);
        assert_eq!(bytes[11], 6); // sll_halen
        assert_eq!(&bytes[12..18], &[0xff; 6]);
    }
}

//! The only unsafe code of the crate: building a `sockaddr_ll` for `AF_PACKET` sends, the
//! `ICMP6_FILTER` socket option, registering an owned socket with tokio (`AsyncFd`
//! registration is an unsafe API since tokio 1.54), the batched `recvmmsg` / `sendmmsg`
//! calls of the VRRP sockets ([`RecvBatch`], [`send_many`]), and the wire tap's
//! memory-mapped receive ring ([`TapRing`]). Each is small and argued by its SAFETY comment.

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
            // `as _`: size_t with glibc, socklen_t with musl.
            h.msg_controllen = (CONTROL_WORDS * 8) as _;
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
                // int with glibc, unsigned with musl.
                libc::MSG_DONTWAIT as _,
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
            // size_t with glibc, socklen_t with musl.
            #[allow(clippy::unnecessary_cast)]
            let clen = h.msg_hdr.msg_controllen as usize;
            self.control_lens[i] = clen.min(CONTROL_WORDS * 8);
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
        h.msg_controllen = space as _;
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
            libc::MSG_DONTWAIT as _,
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

/// Geometry of a wire tap's receive ring (`PACKET_RX_RING`, `TPACKET_V3`): four blocks of
/// 64 KiB. A block holds about 400 frames of the tap's 64-byte snaps (each behind its
/// 96-byte `tpacket3_hdr` and address); the kernel hands a block over when it is full or
/// [`RING_BLOCK_TOV_MS`] after its first frame, so a backup hearing 25,000 adverts a second
/// reads about 60 blocks a second and makes no system call per frame.
const RING_BLOCK: usize = 1 << 16;
const RING_BLOCKS: usize = 4;
/// Frame size the kernel validates the request with (V3 packs frames by their length).
const RING_FRAME: usize = 256;
/// Longest a frame waits in a partly filled block, ms.
pub(crate) const RING_BLOCK_TOV_MS: u32 = 20;

/// A packet socket whose received frames the kernel writes into a memory-mapped ring
/// (`TPACKET_V3`) instead of queueing them: no system call and no copy per frame. Readable
/// (for the reactor) when a block has been handed to user space; [`TapRing::drain`] reads
/// every such block and gives it back.
pub(crate) struct TapRing {
    fd: AsyncFd<Socket>,
    map: Mapping,
    /// The next block to read; the lock also serialises every access to the blocks.
    next: std::sync::Mutex<usize>,
}

/// A ring's shared mapping, unmapped on drop (the kernel keeps the ring itself until the
/// socket is closed too).
struct Mapping(std::ptr::NonNull<u8>);

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the pointer is the start of a mapping of RING_BLOCK * RING_BLOCKS bytes made
        // by `TapRing::open` and owned by this value alone; nothing borrows it any more
        // (`&mut self`: every slice of it lives no longer than a `&TapRing`).
        unsafe { libc::munmap(self.0.as_ptr().cast(), RING_BLOCK * RING_BLOCKS) };
    }
}

// SAFETY: the mapping is owned by the `TapRing` (unmapped only when it drops), and user space
// touches it only in `drain` and `ready`: `ready` reads one block status atomically, `drain`
// reads block contents only while holding the `next` mutex and only of blocks whose status
// says user space owns them (the kernel does not write those). So the value can move between
// threads and be shared by them.
unsafe impl Send for TapRing {}
// SAFETY: as for `Send` above: every access through `&self` is atomic or under the mutex.
unsafe impl Sync for TapRing {}

impl TapRing {
    /// Opens an `AF_PACKET`, `SOCK_DGRAM` socket for `ethertype` frames arriving on
    /// `ifindex` (network-layer bytes) with a receive ring, registered with the reactor.
    pub(crate) fn open(ifindex: u32, ethertype: u16) -> io::Result<TapRing> {
        let proto = socket2::Protocol::from(libc::c_int::from(ethertype.to_be()));
        let addr = sockaddr_ll(ifindex, ethertype, [0; 6])?;
        let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))?;
        sock.set_nonblocking(true)?;
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_packet_opt(&sock, libc::PACKET_VERSION, &version)?;
        let req = libc::tpacket_req3 {
            tp_block_size: RING_BLOCK as libc::c_uint,
            tp_block_nr: RING_BLOCKS as libc::c_uint,
            tp_frame_size: RING_FRAME as libc::c_uint,
            tp_frame_nr: (RING_BLOCK / RING_FRAME * RING_BLOCKS) as libc::c_uint,
            tp_retire_blk_tov: RING_BLOCK_TOV_MS,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_packet_opt(&sock, libc::PACKET_RX_RING, &req)?;
        // SAFETY: a new shared mapping of the ring the kernel just allocated for this socket
        // (its length is the ring's, block size times blocks); no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RING_BLOCK * RING_BLOCKS,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                sock.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map =
            Mapping(std::ptr::NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?);
        sock.bind(&addr)?;
        Ok(TapRing {
            fd: register_readable(sock)?,
            map,
            next: std::sync::Mutex::new(0),
        })
    }

    pub(crate) fn socket(&self) -> &Socket {
        self.fd.get_ref()
    }

    /// The status word of block `i`, as the kernel and user space share it.
    fn status(&self, i: usize) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: block `i < RING_BLOCKS` starts `i * RING_BLOCK` bytes into the mapping,
        // page aligned; its `tpacket_block_desc` holds the `block_status` u32 at byte 8
        // (`version`, `offset_to_priv`, then `hdr.bh1.block_status`), 4-byte aligned. The
        // kernel and we access that word only as a whole; an `AtomicU32` has the layout of
        // a u32, and the reference lives no longer than `&self` (the mapping).
        unsafe {
            &*self
                .map
                .0
                .as_ptr()
                .add(i % RING_BLOCKS * RING_BLOCK + 8)
                .cast()
        }
    }

    /// Whether the next block to read belongs to user space.
    fn ready(&self) -> bool {
        let next = *self.next.lock().unwrap_or_else(|e| e.into_inner());
        self.status(next).load(std::sync::atomic::Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Waits until a block of frames is ready for [`TapRing::drain`].
    pub(crate) async fn wait(&self) -> io::Result<()> {
        loop {
            if self.ready() {
                return Ok(());
            }
            let mut guard = self.fd.readable().await?;
            if self.ready() {
                return Ok(());
            }
            guard.clear_ready();
        }
    }

    /// Calls `f` with the network-layer bytes (at most the filter's snap length) of every
    /// frame of every block user space owns, in order, and hands each block back to the
    /// kernel. Returns the number of frames.
    pub(crate) fn drain(&self, mut f: impl FnMut(&[u8])) -> usize {
        use std::sync::atomic::Ordering;
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let mut frames = 0;
        for _ in 0..RING_BLOCKS {
            let status = self.status(*next);
            if status.load(Ordering::Acquire) & libc::TP_STATUS_USER == 0 {
                break;
            }
            // SAFETY: the block is user-owned (the acquire load above pairs with the
            // kernel's barrier before it set the status), so the kernel does not write it
            // until we store TP_STATUS_KERNEL below; it lies inside the mapping.
            let block = unsafe {
                std::slice::from_raw_parts(self.map.0.as_ptr().add(*next * RING_BLOCK), RING_BLOCK)
            };
            frames += frames_of(block, &mut f);
            status.store(libc::TP_STATUS_KERNEL, Ordering::Release);
            *next = (*next + 1) % RING_BLOCKS;
        }
        frames
    }
}

/// The frames of one `TPACKET_V3` block (safe code: offsets are checked against the
/// block): `num_pkts` at byte 12, `offset_to_first_pkt` at 16; each frame's header has
/// `tp_next_offset` at 0, `tp_snaplen` at 12, `tp_net` at 26.
fn frames_of(block: &[u8], f: &mut impl FnMut(&[u8])) -> usize {
    let u32_at = |b: &[u8], o: usize| {
        b.get(o..o + 4)
            .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let u16_at = |b: &[u8], o: usize| {
        b.get(o..o + 2)
            .map(|s| usize::from(u16::from_ne_bytes([s[0], s[1]])))
    };
    let (Some(num), Some(mut at)) = (u32_at(block, 12), u32_at(block, 16)) else {
        return 0;
    };
    let mut n = 0;
    for _ in 0..num {
        let Some(hdr) = block.get(at..) else { break };
        let (Some(next), Some(snap), Some(net)) =
            (u32_at(hdr, 0), u32_at(hdr, 12), u16_at(hdr, 26))
        else {
            break;
        };
        let Some(data) = hdr.get(net..net + snap) else {
            break;
        };
        f(data);
        n += 1;
        if next == 0 {
            break;
        }
        at += next;
    }
    n
}

/// `setsockopt(SOL_PACKET, opt, value)`.
fn set_packet_opt<T>(sock: &Socket, opt: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: the fd is a valid socket owned by `sock` for the call; the option value points
    // to `value`, which lives across the call, and its size is passed as the length. The
    // kernel only reads from it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_PACKET,
            opt,
            (value as *const T).cast::<libc::c_void>(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod ring_tests {
    use super::frames_of;

    /// A block as the kernel lays it out: the header's packet count and first offset, then
    /// frames chained by `tp_next_offset`, each with its snap length and network offset.
    fn block(frames: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![0u8; 4096];
        b[12..16].copy_from_slice(&(frames.len() as u32).to_ne_bytes());
        b[16..20].copy_from_slice(&48u32.to_ne_bytes());
        let mut at = 48;
        for (i, f) in frames.iter().enumerate() {
            let next = if i + 1 == frames.len() { 0 } else { 160u32 };
            b[at..at + 4].copy_from_slice(&next.to_ne_bytes());
            b[at + 12..at + 16].copy_from_slice(&(f.len() as u32).to_ne_bytes());
            b[at + 26..at + 28].copy_from_slice(&96u16.to_ne_bytes());
            b[at + 96..at + 96 + f.len()].copy_from_slice(f);
            at += 160;
        }
        b
    }

    #[test]
    fn frames_of_a_block_in_order() {
        let b = block(&[b"first", b"second", b"third"]);
        let mut seen = Vec::new();
        assert_eq!(frames_of(&b, &mut |p: &[u8]| seen.push(p.to_vec())), 3);
        assert_eq!(
            seen,
            vec![b"first".to_vec(), b"second".to_vec(), b"third".to_vec()]
        );
    }

    #[test]
    fn a_block_whose_offsets_leave_it_stops_there() {
        let mut b = block(&[b"first", b"second"]);
        // The second frame claims a snap longer than the block.
        b[48 + 160 + 12..48 + 160 + 16].copy_from_slice(&100_000u32.to_ne_bytes());
        let mut n = 0;
        assert_eq!(frames_of(&b, &mut |_: &[u8]| n += 1), 1);
        assert_eq!(n, 1);
        // A count beyond what the chain holds: the chain's end (next offset 0) stops it.
        let mut b = block(&[b"only"]);
        b[12..16].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(frames_of(&b, &mut |_: &[u8]| ()), 1);
        // A first offset past the block: nothing.
        let mut b = block(&[b"x"]);
        b[16..20].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(frames_of(&b, &mut |_: &[u8]| ()), 0);
        assert_eq!(frames_of(&[0u8; 8], &mut |_: &[u8]| ()), 0);
    }
}

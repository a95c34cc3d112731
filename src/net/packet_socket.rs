//! The only unsafe code of the crate: building a `sockaddr_ll` for `AF_PACKET` sends, the
//! `ICMP6_FILTER` socket option, and registering an owned socket with tokio (`AsyncFd`
//! registration is an unsafe API since tokio 1.54). Each is small and argued by its SAFETY
//! comment.

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

#[cfg(test)]
mod tests {
    use super::*;

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

//! The kernel's process events connector (NETLINK_CONNECTOR, CN_IDX_PROC): the kernel tells
//! a listener about every fork, exec, name change and exit, so tracked processes are
//! recounted when something happens instead of at a polling interval.
//!
//! The socket is netlink-sys's (safe bind, send, recv); the messages are small fixed C
//! structures (`nlmsghdr`, `cn_msg`, `proc_event` from linux/cn_proc.h) in host byte order,
//! encoded and decoded here by hand: no maintained crate covers the connector (see the README's
//! design notes). Listening needs CAP_NET_ADMIN and works only in the initial network
//! namespace; elsewhere the subscription fails (ECONNREFUSED) and the caller falls back to
//! scanning /proc.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_CONNECTOR};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The connector's process-events index and value (`CN_IDX_PROC`, `CN_VAL_PROC`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `enum proc_cn_mcast_op`.
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;
/// `NLMSG_DONE`: the type connector messages travel in.
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const NLMSG_HDR: usize = 16;
const CN_MSG_HDR: usize = 20;
/// `what`, `cpu`, `timestamp_ns` before the event data.
const PROC_EVENT_HDR: usize = 16;

const PROC_EVENT_NONE: u32 = 0;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXEC: u32 = 0x0000_0002;
const PROC_EVENT_COMM: u32 = 0x0000_0200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

/// One process event, as far as tracking cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// The answer to the subscription: 0, or the errno the kernel refused it with.
    Ack { err: u32 },
    /// A new task: a process when `child_pid == child_tgid`, else a thread.
    Fork { child_pid: u32, child_tgid: u32 },
    /// A task ran exec (it is the process leader afterwards).
    Exec { pid: u32, tgid: u32 },
    /// A task changed its name (`prctl(PR_SET_NAME)`).
    Comm { pid: u32, tgid: u32 },
    /// A task exited: the process when `pid == tgid`, else one of its threads.
    Exit { pid: u32, tgid: u32 },
    /// Anything else (uid, gid, sid, ptrace, coredump changes).
    Other,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The subscription request (`PROC_CN_MCAST_LISTEN`) or its reverse, as the kernel expects it.
pub fn subscribe_message(listen: bool) -> Vec<u8> {
    let op = if listen {
        PROC_CN_MCAST_LISTEN
    } else {
        PROC_CN_MCAST_IGNORE
    };
    let len = NLMSG_HDR + CN_MSG_HDR + 4;
    let mut m = Vec::with_capacity(len);
    // nlmsghdr: len, type, flags, seq, pid (0: the kernel fills in our port).
    m.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_ne_bytes());
    m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // cn_msg: id {idx, val}, seq, ack, len, flags.
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&4u16.to_ne_bytes());
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&op.to_ne_bytes());
    m
}

/// Every process event in one datagram (a datagram may hold several netlink messages).
/// Malformed or foreign messages are skipped; `Err(errno)` for a netlink error message.
pub fn decode(datagram: &[u8]) -> Result<Vec<ProcEvent>, i32> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(len), Some(kind)) = (u32_at(datagram, at), u16_at(datagram, at + 4)) {
        let len = len as usize;
        if len < NLMSG_HDR || at + len > datagram.len() {
            break;
        }
        let msg = &datagram[at..at + len];
        // NLMSG_ALIGN: messages start on 4-byte boundaries.
        at += (len + 3) & !3;
        if kind == NLMSG_ERROR {
            let errno = u32_at(msg, NLMSG_HDR).map_or(0, |e| e as i32);
            if errno != 0 {
                return Err(-errno);
            }
            continue;
        }
        if kind != NLMSG_DONE {
            continue;
        }
        let cn = &msg[NLMSG_HDR..];
        if u32_at(cn, 0) != Some(CN_IDX_PROC) || u32_at(cn, 4) != Some(CN_VAL_PROC) {
            continue;
        }
        let Some(data_len) = u16_at(cn, 16) else {
            continue;
        };
        let Some(ev) = cn.get(CN_MSG_HDR..CN_MSG_HDR + usize::from(data_len)) else {
            continue;
        };
        if let Some(e) = decode_event(ev) {
            out.push(e);
        }
    }
    Ok(out)
}

fn decode_event(ev: &[u8]) -> Option<ProcEvent> {
    let what = u32_at(ev, 0)?;
    let d = PROC_EVENT_HDR;
    Some(match what {
        PROC_EVENT_NONE => ProcEvent::Ack {
            err: u32_at(ev, d)?,
        },
        // parent_pid, parent_tgid, child_pid, child_tgid
        PROC_EVENT_FORK => ProcEvent::Fork {
            child_pid: u32_at(ev, d + 8)?,
            child_tgid: u32_at(ev, d + 12)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: u32_at(ev, d)?,
            tgid: u32_at(ev, d + 4)?,
        },
        PROC_EVENT_COMM => ProcEvent::Comm {
            pid: u32_at(ev, d)?,
            tgid: u32_at(ev, d + 4)?,
        },
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: u32_at(ev, d)?,
            tgid: u32_at(ev, d + 4)?,
        },
        _ => ProcEvent::Other,
    })
}

/// What waiting for events gave.
#[derive(Debug)]
pub enum Wait {
    /// Events (possibly none: a datagram of other messages).
    Events(Vec<ProcEvent>),
    /// Nothing within the timeout.
    Timeout,
    /// The kernel dropped events (the receive buffer overflowed): rescan everything.
    Lost,
}

/// A subscribed process-events socket.
pub struct ProcConnector {
    socket: Socket,
    buf: Vec<u8>,
}

/// How long the kernel gets to acknowledge the subscription.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

impl ProcConnector {
    /// Opens, binds to the process-events group and subscribes; fails (with the OS error) when
    /// the connector is unavailable: no CAP_NET_ADMIN (EPERM), not the initial network
    /// namespace (ECONNREFUSED), or a kernel without CONFIG_PROC_EVENTS.
    pub fn open() -> io::Result<ProcConnector> {
        let mut socket = Socket::new(NETLINK_CONNECTOR)?;
        socket.bind(&SocketAddr::new(0, CN_IDX_PROC))?;
        // Bursts of forks must not overflow the buffer (then everything is rescanned).
        let _ = socket.set_rx_buf_sz(1 << 20);
        socket.send(&subscribe_message(true), 0)?;
        let mut c = ProcConnector {
            socket,
            buf: Vec::with_capacity(16 * 1024),
        };
        // The kernel answers the subscription with an event carrying its result.
        let deadline = std::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer to the process events subscription",
                ));
            }
            match c.wait(left)? {
                Wait::Events(evs) => {
                    for e in evs {
                        if let ProcEvent::Ack { err } = e {
                            if err == 0 {
                                return Ok(c);
                            }
                            return Err(io::Error::from_raw_os_error(err as i32));
                        }
                    }
                }
                Wait::Timeout => {}
                Wait::Lost => return Ok(c),
            }
        }
    }

    /// Waits up to `timeout` for the next datagram.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<Wait> {
        let ms = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Ok(Wait::Timeout),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(Wait::Timeout),
            Err(e) => return Err(e.into()),
        }
        self.buf.clear();
        match self.socket.recv(&mut self.buf, libc::MSG_DONTWAIT) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Wait::Lost),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Wait::Timeout),
            Err(e) => return Err(e),
        }
        match decode(&self.buf) {
            Ok(evs) => Ok(Wait::Events(evs)),
            Err(errno) => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for ProcConnector {
    fn drop(&mut self) {
        let _ = self.socket.send(&subscribe_message(false), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One connector message as the kernel sends it: nlmsghdr + cn_msg + proc_event.
    fn kernel_msg(what: u32, data: &[u32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&3u32.to_ne_bytes()); // cpu
        ev.extend_from_slice(&123_456_789u64.to_ne_bytes()); // timestamp_ns
        for d in data {
            ev.extend_from_slice(&d.to_ne_bytes());
        }
        let len = NLMSG_HDR + CN_MSG_HDR + ev.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        m.extend_from_slice(&7u32.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&ev);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn subscribe_message_layout() {
        let m = subscribe_message(true);
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40));
        assert_eq!(u16_at(&m, 4), Some(NLMSG_DONE));
        assert_eq!(u32_at(&m, 16), Some(CN_IDX_PROC));
        assert_eq!(u32_at(&m, 20), Some(CN_VAL_PROC));
        assert_eq!(u16_at(&m, 32), Some(4));
        assert_eq!(u32_at(&m, 36), Some(PROC_CN_MCAST_LISTEN));
        assert_eq!(
            u32_at(&subscribe_message(false), 36),
            Some(PROC_CN_MCAST_IGNORE)
        );
    }

    #[test]
    fn decodes_each_event_kind_and_several_per_datagram() {
        let mut d = kernel_msg(PROC_EVENT_NONE, &[0]);
        d.extend(kernel_msg(PROC_EVENT_FORK, &[1, 1, 200, 200]));
        d.extend(kernel_msg(PROC_EVENT_EXEC, &[200, 200]));
        // comm: pid, tgid, then 16 bytes of name.
        d.extend(kernel_msg(PROC_EVENT_COMM, &[201, 200, 0, 0, 0, 0]));
        // exit: pid, tgid, exit_code, exit_signal, parent_pid, parent_tgid.
        d.extend(kernel_msg(PROC_EVENT_EXIT, &[200, 200, 0, 17, 1, 1]));
        d.extend(kernel_msg(0x4, &[200, 200, 0, 0]));
        assert_eq!(
            decode(&d).unwrap(),
            vec![
                ProcEvent::Ack { err: 0 },
                ProcEvent::Fork {
                    child_pid: 200,
                    child_tgid: 200
                },
                ProcEvent::Exec {
                    pid: 200,
                    tgid: 200
                },
                ProcEvent::Comm {
                    pid: 201,
                    tgid: 200
                },
                ProcEvent::Exit {
                    pid: 200,
                    tgid: 200
                },
                ProcEvent::Other,
            ]
        );
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let good = kernel_msg(PROC_EVENT_EXEC, &[5, 5]);
        for cut in 0..good.len() {
            let _ = decode(&good[..cut]);
        }
        // A length pointing past the end, a zero length, a foreign connector index.
        let mut bad = good.clone();
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(decode(&bad).unwrap(), vec![]);
        let mut zero = good.clone();
        zero[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(decode(&zero).unwrap(), vec![]);
        let mut foreign = good.clone();
        foreign[16..20].copy_from_slice(&9u32.to_ne_bytes());
        assert_eq!(decode(&foreign).unwrap(), vec![]);
        // The event data length beyond the message.
        let mut long = good;
        long[32..34].copy_from_slice(&500u16.to_ne_bytes());
        assert_eq!(decode(&long).unwrap(), vec![]);
    }
}

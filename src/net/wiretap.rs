//! Sees VRRP packets on the wire, before the host firewall: a packet socket per
//! (interface, family) with a classic BPF filter that keeps only incoming IP protocol 112.
//! Comparing what it sees with what the raw VRRP socket is handed reveals adverts that a
//! local firewall ate (the classic split brain, otherwise found only with tcpdump).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use socket2::{SockFilter, Socket};
use tokio::io::unix::AsyncFd;

use super::IfaceInfo;
use super::packet_socket::{open_tap, register_readable};
use crate::config::Family;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

// Classic BPF opcodes (linux/filter.h).
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
/// SKF_AD_OFF + SKF_AD_PKTTYPE: the packet type as an ancillary load.
const AD_PKTTYPE: u32 = 0xffff_f000 + 4;
const PACKET_OUTGOING: u32 = 4;

/// The BPF program: drop our own outgoing frames, keep protocol 112, drop the rest.
/// `proto_off` is where the protocol / next-header byte sits (9 in IPv4, 6 in IPv6).
fn filter(proto_off: u32) -> [SockFilter; 6] {
    [
        SockFilter::new(LD_W_ABS, 0, 0, AD_PKTTYPE),
        SockFilter::new(JEQ_K, 3, 0, PACKET_OUTGOING),
        SockFilter::new(LD_B_ABS, 0, 0, proto_off),
        SockFilter::new(JEQ_K, 0, 1, 112),
        SockFilter::new(RET_K, 0, 0, 0xffff),
        SockFilter::new(RET_K, 0, 0, 0),
    ]
}

/// One VRRP packet seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub vrid: u8,
}

/// A packet-socket tap for one interface and family.
pub struct WireTap {
    fd: AsyncFd<Socket>,
    family: Family,
}

impl WireTap {
    pub fn open(iface: &IfaceInfo, family: Family) -> io::Result<WireTap> {
        let (ethertype, off) = match family {
            Family::Ipv4 => (ETH_P_IP, 9),
            Family::Ipv6 => (ETH_P_IPV6, 6),
        };
        let sock = open_tap(iface.index, ethertype)?;
        sock.attach_filter(&filter(off))?;
        Ok(WireTap {
            fd: register_readable(sock)?,
            family,
        })
    }

    /// Waits for the next VRRP packet; `None` for one too short to name its VRID.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Seen>> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|s| std::io::Read::read(&mut s.get_ref(), buf)) {
                Ok(Ok(n)) => return Ok(parse(self.family, &buf[..n])),
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Source address and VRID of an IP packet carrying VRRP.
pub fn parse(family: Family, p: &[u8]) -> Option<Seen> {
    match family {
        Family::Ipv4 => {
            let ihl = usize::from(*p.first()? & 0x0f) * 4;
            let src = Ipv4Addr::new(*p.get(12)?, *p.get(13)?, *p.get(14)?, *p.get(15)?);
            let dst = Ipv4Addr::new(*p.get(16)?, *p.get(17)?, *p.get(18)?, *p.get(19)?);
            Some(Seen {
                src: src.into(),
                dst: dst.into(),
                vrid: *p.get(ihl + 1)?,
            })
        }
        Family::Ipv6 => {
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            Some(Seen {
                src: Ipv6Addr::from(src).into(),
                dst: Ipv6Addr::from(dst).into(),
                vrid: *p.get(41)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_and_vrid() {
        let mut v4 = vec![
            0x45, 0, 0, 40, 0, 0, 0, 0, 255, 112, 0, 0, 10, 99, 0, 11, 224, 0, 0, 18,
        ];
        v4.extend_from_slice(&[0x31, 21, 150, 1]);
        assert_eq!(
            parse(Family::Ipv4, &v4),
            Some(Seen {
                src: "10.99.0.11".parse().unwrap(),
                dst: "224.0.0.18".parse().unwrap(),
                vrid: 21
            })
        );
        assert_eq!(parse(Family::Ipv4, &v4[..20]), None);
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 112, 255];
        v6.extend_from_slice(&"fe80::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&"ff02::12".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&[0x31, 22, 100, 1]);
        assert_eq!(
            parse(Family::Ipv6, &v6),
            Some(Seen {
                src: "fe80::1".parse().unwrap(),
                dst: "ff02::12".parse().unwrap(),
                vrid: 22
            })
        );
    }
}

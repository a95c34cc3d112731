//! Sees VRRP packets on the wire, before the host firewall: a packet socket per
//! (interface, family) with a classic BPF filter that keeps only incoming IP protocol 112.
//! Comparing what it sees with what the raw VRRP socket is handed reveals adverts that a
//! local firewall ate (the classic split brain, otherwise found only with tcpdump).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::IfaceInfo;
use super::packet_socket::TapRing;
use super::vrrp_socket::{FilterSite, vrid_filter};
use crate::config::Family;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// One VRRP packet seen on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub vrid: u8,
}

/// A packet-socket tap for one interface and family. The kernel writes the frames it keeps
/// (the filter's 64-byte snaps) into a memory-mapped ring: reading them takes no system call
/// per frame or per batch, only a wake-up per block of frames (at most
/// [`super::packet_socket::RING_BLOCK_TOV_MS`] after the block's first frame).
pub struct WireTap {
    ring: TapRing,
    family: Family,
}

impl WireTap {
    /// Opens the tap. It passes nothing until [`WireTap::set_vrid_filter`] names the VRIDs.
    pub fn open(iface: &IfaceInfo, family: Family) -> io::Result<WireTap> {
        let ethertype = match family {
            Family::Ipv4 => ETH_P_IP,
            Family::Ipv6 => ETH_P_IPV6,
        };
        let tap = WireTap {
            ring: TapRing::open(iface.index, ethertype)?,
            family,
        };
        tap.set_vrid_filter(&[])?;
        Ok(tap)
    }

    /// Kernel-side filter: incoming IP protocol 112 for these VRIDs only (see
    /// [`vrid_filter`]).
    pub fn set_vrid_filter(&self, vrids: &[u8]) -> io::Result<()> {
        let site = FilterSite {
            family: self.family,
            ip_header: true,
            packet_socket: true,
        };
        self.ring.socket().attach_filter(&vrid_filter(site, vrids))
    }

    /// Waits until frames are ready for [`WireTap::drain`].
    pub async fn wait(&self) -> io::Result<()> {
        self.ring.wait().await
    }

    /// Calls `f` with every frame ready, in order (`None` for one too short to name its
    /// VRID), and gives their memory back to the kernel. Returns the number of frames.
    pub fn drain(&self, mut f: impl FnMut(Option<Seen>)) -> usize {
        let family = self.family;
        self.ring.drain(|p| f(parse(family, p)))
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

//! The Internet checksum (RFC 1071) and the pseudo-headers VRRPv3 uses.

use std::net::IpAddr;

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;

/// Running ones'-complement sum; feed byte slices, then `finish`.
#[derive(Default, Clone, Copy)]
pub struct Sum(u32);

impl Sum {
    /// Adds `data` (an odd length is padded with a zero byte, as RFC 1071 says;
    /// only the last slice fed may have an odd length).
    pub fn feed(mut self, data: &[u8]) -> Self {
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            self.0 += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            self.0 += u32::from(*last) << 8;
        }
        // Fold after each slice: u32 cannot overflow for slices up to 128 KiB.
        self.0 = (self.0 & 0xffff) + (self.0 >> 16);
        self
    }

    /// The checksum value to place in a header.
    pub fn finish(self) -> u16 {
        let mut s = self.0;
        while s >> 16 != 0 {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
}

/// Sum of the pseudo-header for `len` bytes of protocol 112 between `src` and `dst`
/// (RFC 768 form for IPv4, RFC 8200 section 8.1 for IPv6). Mixed families give the plain sum.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Sum {
    pseudo_header_proto(IPPROTO_VRRP, src, dst, len)
}

/// [`pseudo_header`] for another upper-layer protocol (58 for ICMPv6).
pub fn pseudo_header_proto(proto: u8, src: IpAddr, dst: IpAddr, len: usize) -> Sum {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Sum::default()
            .feed(&s.octets())
            .feed(&d.octets())
            .feed(&[0, proto])
            .feed(&(len as u16).to_be_bytes()),
        (IpAddr::V6(s), IpAddr::V6(d)) => Sum::default()
            .feed(&s.octets())
            .feed(&d.octets())
            .feed(&(len as u32).to_be_bytes())
            .feed(&[0, 0, 0, proto]),
        _ => Sum::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (before complement).
        let s = Sum::default().feed(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(s.finish(), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            Sum::default().feed(&[0x12, 0x34, 0x56]).finish(),
            Sum::default().feed(&[0x12, 0x34, 0x56, 0x00]).finish()
        );
    }

    #[test]
    fn finish_folds_a_carry_left_by_feed() {
        // ffff + ffff + 0001 = 1ffff; feed folds it once to 10000, finish folds the carry
        // again to 0001, so the checksum is !0001.
        let s = Sum::default().feed(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x01]);
        assert_eq!(s.finish(), 0xfffe);
        // And a message carrying that checksum verifies (its full sum is ffff).
        let msg = [0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0xff, 0xfe];
        assert_eq!(Sum::default().feed(&msg).finish(), 0);
    }
}

//! Wire formats, pure: bytes in, typed values (or a drop reason) out; values in, bytes out.
//! No I/O, no clock, no allocation on decode.

pub mod checksum;
pub mod vrrp;

pub use vrrp::{Advert, AdvertSpec, ChecksumForm, DropReason, decode, encode};

/// VRRP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    /// The version nibble (2 or 3).
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of a virtual router (IPv4 or IPv6; never mixed in one advert).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_and_family_names() {
        assert_eq!(Version::V2.number(), 2);
        assert_eq!(Version::V3.number(), 3);
        assert_eq!(Family::Ipv4.as_str(), "ipv4");
        assert_eq!(Family::Ipv6.as_str(), "ipv6");
    }
}

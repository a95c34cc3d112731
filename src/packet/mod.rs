//! Wire formats, pure: bytes in, typed values (or a drop reason) out; values in, bytes out.
//! No I/O, no clock, no allocation on decode.

pub mod checksum;
pub mod vrrp;

pub use vrrp::{Advert, AdvertSpec, ChecksumForm, DropReason, decode, encode};

//! VRRP advertisements: VRRPv2 (RFC 3768) and VRRPv3 (RFC 9568).
//!
//! ```text
//!  v2: | ver=2 | type | VRID | priority | count | auth type | adver int (s)  | checksum | IPv4 addrs | auth data (8) |
//!  v3: | ver=3 | type | VRID | priority | count | rsvd(4) max adver int (cs, 12) | checksum | addrs (4 or 16 each) |
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum::{Sum, pseudo_header};
use super::{Family, Version};
use crate::security::Secret;

/// Length of the fixed VRRP header.
pub const HEADER_LEN: usize = 8;
/// Length of the v2 authentication data.
pub const AUTH_LEN: usize = 8;
/// Type field of an advertisement, the only type defined.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Most addresses one advert can carry: the count field is one byte.
pub const MAX_ADDRESSES: usize = 255;
/// Length of the IPv4 header (no options) vipd sends adverts with.
const IPV4_HEADER_LEN: usize = 20;
/// Length of the IPv6 header (no extension headers).
const IPV6_HEADER_LEN: usize = 40;
/// v2 auth type 0: none.
pub const AUTH_NONE: u8 = 0;
/// v2 auth type 1: simple text password (keepalived `auth_type PASS`).
pub const AUTH_PASS: u8 = 1;

mod field {
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2: auth type (1 byte) then interval (1 byte); v3: 4 reserved bits + 12-bit interval.
    pub const AUTH_OR_INTERVAL: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// Why a received packet was dropped. Each is a distinct validation rule of
/// RFC 3768 section 7.1 / RFC 9568 section 7.1; `as_str` is the metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// IP TTL / hop limit is not 255.
    Ttl,
    /// Version nibble unknown, v2 over IPv6, or not the version configured for the VRID.
    Version,
    /// Type is not 1 (advertisement).
    Type,
    /// Shorter than the header, address count and auth data require.
    Length,
    /// Checksum wrong in every accepted form.
    Checksum,
    /// No instance configured for this VRID on this interface and family.
    Vrid,
    /// v2 authentication type differs from ours.
    AuthType,
    /// v2 password differs from ours.
    AuthFailure,
    /// v2 advertisement interval differs from ours.
    Interval,
    /// Count of addresses is zero (v3; v2 when the instance has addresses).
    AddressCount,
    /// Advertisement interval is zero.
    ZeroInterval,
    /// `check_unicast_src`: the source is not one of the instance's `unicast_peers`.
    UnicastSrc,
    /// A unicast peer's `min_ttl` / `max_ttl`: its advert arrived with a TTL / hop limit
    /// outside the range.
    UnicastTtl,
}

impl DropReason {
    /// Every reason, for pre-creating metric series.
    pub const ALL: [DropReason; 13] = [
        DropReason::Ttl,
        DropReason::Version,
        DropReason::Type,
        DropReason::Length,
        DropReason::Checksum,
        DropReason::Vrid,
        DropReason::AuthType,
        DropReason::AuthFailure,
        DropReason::Interval,
        DropReason::AddressCount,
        DropReason::ZeroInterval,
        DropReason::UnicastSrc,
        DropReason::UnicastTtl,
    ];

    /// Stable label used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Ttl => "ttl",
            DropReason::Version => "version",
            DropReason::Type => "type",
            DropReason::Length => "length",
            DropReason::Checksum => "checksum",
            DropReason::Vrid => "vrid",
            DropReason::AuthType => "auth_type",
            DropReason::AuthFailure => "auth_failure",
            DropReason::Interval => "interval",
            DropReason::AddressCount => "address_count",
            DropReason::ZeroInterval => "zero_interval",
            DropReason::UnicastSrc => "unicast_src",
            DropReason::UnicastTtl => "unicast_ttl",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which bytes a checksum covered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// The VRRP message only (v2; v3 per RFC 9568; Cisco, Arista).
    MessageOnly,
    /// The message plus the IP pseudo-header (v3/IPv6 always; v3/IPv4 keepalived and FRR).
    PseudoHeader,
}

impl ChecksumForm {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumForm::MessageOnly => "rfc9568",
            ChecksumForm::PseudoHeader => "pseudo_header",
        }
    }
}

/// A decoded advertisement: a checked view over the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advert<'a> {
    pub version: Version,
    pub family: Family,
    pub vrid: u8,
    pub priority: u8,
    /// v2: auth type; v3: always 0.
    pub auth_type: u8,
    /// v2: whole seconds; v3: centiseconds.
    pub interval: u16,
    /// v3: the 4 reserved bits as received (must be sent as 0, ignored on receive).
    pub reserved: u8,
    pub checksum: u16,
    /// The address list, `count` addresses of 4 (IPv4) or 16 (IPv6) bytes.
    addrs: &'a [u8],
    /// v2 authentication data (zero for v3): the sender's password, so never printed.
    pub auth_data: Secret<[u8; AUTH_LEN]>,
    /// Bytes after the message proper (kept so re-encoding is exact).
    pub trailer: &'a [u8],
}

impl<'a> Advert<'a> {
    /// Number of addresses.
    pub fn count(&self) -> usize {
        self.addrs.len() / addr_len(self.family)
    }

    /// The advertised addresses, in wire order.
    pub fn addresses(&self) -> impl ExactSizeIterator<Item = IpAddr> + 'a {
        let family = self.family;
        self.addrs
            .chunks_exact(addr_len(family))
            .map(move |c| match family {
                Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
                Family::Ipv6 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                }
            })
    }

    /// The advertisement interval in nanoseconds (v2 seconds, v3 centiseconds).
    pub fn interval_nanos(&self) -> u64 {
        match self.version {
            Version::V2 => u64::from(self.interval) * 1_000_000_000,
            Version::V3 => u64::from(self.interval) * 10_000_000,
        }
    }

    /// The fields as a spec, for re-encoding.
    pub fn spec(&self) -> (AdvertSpec<'_>, Vec<IpAddr>) {
        let addrs: Vec<IpAddr> = self.addresses().collect();
        let spec = AdvertSpec {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            interval: self.interval,
            auth: match self.auth_type {
                AUTH_NONE => None,
                _ => Some(self.auth_data),
            },
            addresses: &[],
        };
        (spec, addrs)
    }
}

fn addr_len(family: Family) -> usize {
    match family {
        Family::Ipv4 => 4,
        Family::Ipv6 => 16,
    }
}

fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::Ipv4,
        IpAddr::V6(_) => Family::Ipv6,
    }
}

/// Decodes and checks a VRRP message received from `src` to `dst` (the IP header's
/// addresses, needed for the pseudo-header). Checks, in RFC order: length, version,
/// type, address count, interval, checksum. Checks that need the instance's
/// configuration (VRID, configured version, auth, v2 interval) are the engine's.
///
/// For v3 over IPv4 both checksum forms are accepted; the one that matched is returned.
pub fn decode<'a>(
    msg: &'a [u8],
    src: IpAddr,
    dst: IpAddr,
) -> Result<(Advert<'a>, ChecksumForm), DropReason> {
    if msg.len() < HEADER_LEN {
        return Err(DropReason::Length);
    }
    let family = family_of(src);
    let version = match (msg[field::VER_TYPE] >> 4, family) {
        (2, Family::Ipv4) => Version::V2,
        (3, _) => Version::V3,
        _ => return Err(DropReason::Version),
    };
    if msg[field::VER_TYPE] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(DropReason::Type);
    }
    let count = usize::from(msg[field::COUNT]);
    // RFC 9568 5.2.5: at least one address. RFC 3768 sets no minimum and keepalived 2.2.7
    // sends a count of 0 for a v2 instance without addresses; whether the instance accepts
    // that is its own check (`router::receive::agree`).
    if count == 0 && version == Version::V3 {
        return Err(DropReason::AddressCount);
    }
    let addrs_len = count * addr_len(family);
    let auth_len = if version == Version::V2 { AUTH_LEN } else { 0 };
    let needed = HEADER_LEN + addrs_len + auth_len;
    if msg.len() < needed {
        return Err(DropReason::Length);
    }
    let (auth_type, interval, reserved) = match version {
        Version::V2 => (
            msg[field::AUTH_OR_INTERVAL],
            u16::from(msg[field::AUTH_OR_INTERVAL + 1]),
            0,
        ),
        Version::V3 => {
            let v = u16::from_be_bytes([
                msg[field::AUTH_OR_INTERVAL],
                msg[field::AUTH_OR_INTERVAL + 1],
            ]);
            (0, v & 0x0fff, (v >> 12) as u8)
        }
    };
    if interval == 0 {
        return Err(DropReason::ZeroInterval);
    }
    let form = check_checksum(msg, version, src, dst).ok_or(DropReason::Checksum)?;
    let mut auth_data = [0u8; AUTH_LEN];
    if version == Version::V2 {
        auth_data.copy_from_slice(&msg[HEADER_LEN + addrs_len..needed]);
    }
    let advert = Advert {
        version,
        family,
        vrid: msg[field::VRID],
        priority: msg[field::PRIORITY],
        auth_type,
        interval,
        reserved,
        checksum: u16::from_be_bytes([msg[field::CHECKSUM], msg[field::CHECKSUM + 1]]),
        addrs: &msg[HEADER_LEN..HEADER_LEN + addrs_len],
        auth_data: Secret::new(auth_data),
        trailer: &msg[needed..],
    };
    Ok((advert, form))
}

/// Returns the form whose checksum verifies, if any. A correct checksum makes the
/// ones'-complement sum over the covered bytes (checksum field included) 0xffff.
fn check_checksum(msg: &[u8], version: Version, src: IpAddr, dst: IpAddr) -> Option<ChecksumForm> {
    let plain = Sum::default().feed(msg).finish() == 0;
    let pseudo = || pseudo_header(src, dst, msg.len()).feed(msg).finish() == 0;
    match (version, family_of(src)) {
        (Version::V2, _) => plain.then_some(ChecksumForm::MessageOnly),
        (Version::V3, Family::Ipv6) => pseudo().then_some(ChecksumForm::PseudoHeader),
        (Version::V3, Family::Ipv4) => {
            if pseudo() {
                Some(ChecksumForm::PseudoHeader)
            } else {
                plain.then_some(ChecksumForm::MessageOnly)
            }
        }
    }
}

/// Length of the VRRP message (IP header not included) that carries `n_addresses` addresses
/// of the family (IPv6 if `family_is_v6`), v2 auth data included. Like [`encode`], counts at
/// most [`MAX_ADDRESSES`].
pub fn advert_len(version: Version, family_is_v6: bool, n_addresses: usize) -> usize {
    let addr = if family_is_v6 { 16 } else { 4 };
    let auth = match version {
        Version::V2 => AUTH_LEN,
        Version::V3 => 0,
    };
    HEADER_LEN + n_addresses.min(MAX_ADDRESSES) * addr + auth
}

/// How many addresses fit in one advert on an interface of this `mtu`, counting the 20-byte
/// IPv4 or 40-byte IPv6 header; at most [`MAX_ADDRESSES`] (0 if not even the header fits).
pub fn max_addresses(version: Version, family_is_v6: bool, mtu: u32) -> usize {
    let (ip, addr) = if family_is_v6 {
        (IPV6_HEADER_LEN, 16)
    } else {
        (IPV4_HEADER_LEN, 4)
    };
    let fixed = ip + advert_len(version, family_is_v6, 0);
    let room = usize::try_from(mtu)
        .unwrap_or(usize::MAX)
        .saturating_sub(fixed);
    (room / addr).min(MAX_ADDRESSES)
}

/// What to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdvertSpec<'a> {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v2: whole seconds (1..=255); v3: centiseconds (1..=4095).
    pub interval: u16,
    /// v2 only: Some(password zero-padded to 8 bytes) sends auth type 1.
    pub auth: Option<Secret<[u8; AUTH_LEN]>>,
    /// All of one family; v2 only IPv4. Only the first [`MAX_ADDRESSES`] are sent.
    pub addresses: &'a [IpAddr],
}

/// Encodes `spec` into `out` (cleared first) with the checksum for `src` -> `dst` in `form`.
/// v2 always uses the message-only form; v3/IPv6 always the pseudo-header.
///
/// At most [`MAX_ADDRESSES`] (255) addresses are written, the first ones: the count field is
/// one byte, and a count that disagrees with the list would make the advert malformed. Which
/// addresses are advertised (and whether they fit the MTU, see [`max_addresses`]) is the
/// caller's choice.
pub fn encode(
    spec: &AdvertSpec<'_>,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    out: &mut Vec<u8>,
) {
    encode_with_trailer(
        spec,
        spec.addresses.iter().copied(),
        &[],
        src,
        dst,
        form,
        out,
    );
}

/// `encode` with the addresses from an iterator and extra trailing bytes (for exact re-encoding).
/// Takes at most [`MAX_ADDRESSES`] addresses from the iterator.
pub fn encode_with_trailer(
    spec: &AdvertSpec<'_>,
    addresses: impl Iterator<Item = IpAddr>,
    trailer: &[u8],
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    out: &mut Vec<u8>,
) {
    out.clear();
    let ver = match spec.version {
        Version::V2 => 2u8,
        Version::V3 => 3u8,
    };
    out.push((ver << 4) | TYPE_ADVERTISEMENT);
    out.push(spec.vrid);
    out.push(spec.priority);
    out.push(0); // count, patched below
    match spec.version {
        Version::V2 => {
            out.push(if spec.auth.is_some() {
                AUTH_PASS
            } else {
                AUTH_NONE
            });
            out.push(spec.interval.min(255) as u8);
        }
        Version::V3 => out.extend_from_slice(&(spec.interval & 0x0fff).to_be_bytes()),
    }
    out.extend_from_slice(&[0, 0]);
    let mut count = 0u8;
    for a in addresses.take(MAX_ADDRESSES) {
        match a {
            IpAddr::V4(v4) => out.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => out.extend_from_slice(&v6.octets()),
        }
        count += 1;
    }
    out[field::COUNT] = count;
    if spec.version == Version::V2 {
        out.extend_from_slice(spec.auth.as_ref().map_or(&[0; AUTH_LEN], |a| a.expose()));
    }
    out.extend_from_slice(trailer);
    set_checksum(out, spec.version, src, dst, form);
}

/// Writes the checksum of the message in `out` (its checksum field zero) in `form`.
fn set_checksum(out: &mut [u8], version: Version, src: IpAddr, dst: IpAddr, form: ChecksumForm) {
    let with_pseudo = match (version, family_of(src)) {
        (Version::V2, _) => false,
        (Version::V3, Family::Ipv6) => true,
        (Version::V3, Family::Ipv4) => form == ChecksumForm::PseudoHeader,
    };
    let sum = if with_pseudo {
        pseudo_header(src, dst, out.len())
    } else {
        Sum::default()
    };
    let c = sum.feed(out).finish();
    out[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
}

/// Re-encodes a decoded advert exactly (used by tests to prove the codec byte for byte).
pub fn reencode(a: &Advert<'_>, src: IpAddr, dst: IpAddr, form: ChecksumForm, out: &mut Vec<u8>) {
    let (spec, _) = a.spec();
    encode_with_trailer(&spec, a.addresses(), a.trailer, src, dst, form, out);
    if a.version == Version::V3 && a.reserved != 0 {
        // Reserved bits are not ours to set; only reproduce them for exactness (and the
        // checksum over them: found by the advert fuzz target).
        out[field::AUTH_OR_INTERVAL] |= a.reserved << 4;
        out[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
        set_checksum(out, a.version, src, dst, form);
    }
}

/// Zero-pads a v2 password (at most 8 bytes; longer is truncated, config validation forbids it).
pub fn auth_data(password: &str) -> Secret<[u8; AUTH_LEN]> {
    let mut d = [0u8; AUTH_LEN];
    let b = password.as_bytes();
    let n = b.len().min(AUTH_LEN);
    d[..n].copy_from_slice(&b[..n]);
    Secret::new(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    const GRP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

    fn v3_spec(addrs: &[IpAddr]) -> AdvertSpec<'_> {
        AdvertSpec {
            version: Version::V3,
            vrid: 21,
            priority: 150,
            interval: 50,
            auth: None,
            addresses: addrs,
        }
    }

    #[test]
    fn rfc9568_5_1_v3_ipv4_both_checksum_forms_decode_and_are_told_apart() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21))];
        for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
            let mut b = Vec::new();
            encode(&v3_spec(&addrs), SRC, GRP, form, &mut b);
            let (a, got) = decode(&b, SRC, GRP).unwrap();
            assert_eq!(got, form);
            assert_eq!(a.vrid, 21);
            assert_eq!(a.priority, 150);
            assert_eq!(a.interval, 50);
            assert_eq!(a.addresses().collect::<Vec<_>>(), addrs);
        }
    }

    #[test]
    fn rfc3768_7_1_too_short_is_length() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21))];
        let mut b = Vec::new();
        encode(
            &v3_spec(&addrs),
            SRC,
            GRP,
            ChecksumForm::PseudoHeader,
            &mut b,
        );
        for n in 0..b.len() {
            assert_eq!(
                decode(&b[..n], SRC, GRP).unwrap_err(),
                DropReason::Length,
                "len {n}"
            );
        }
    }

    #[test]
    fn rfc3768_7_1_bad_checksum_version_type_count_interval() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21))];
        let mut b = Vec::new();
        encode(
            &v3_spec(&addrs),
            SRC,
            GRP,
            ChecksumForm::PseudoHeader,
            &mut b,
        );
        let mut c = b.clone();
        c[9] ^= 1;
        assert_eq!(decode(&c, SRC, GRP).unwrap_err(), DropReason::Checksum);
        let mut c = b.clone();
        c[0] = 0x41;
        assert_eq!(decode(&c, SRC, GRP).unwrap_err(), DropReason::Version);
        let mut c = b.clone();
        c[0] = 0x32;
        assert_eq!(decode(&c, SRC, GRP).unwrap_err(), DropReason::Type);
        let mut c = b.clone();
        c[3] = 0;
        assert_eq!(decode(&c, SRC, GRP).unwrap_err(), DropReason::AddressCount);
        let mut c = b.clone();
        c[4] = 0;
        c[5] = 0;
        assert_eq!(decode(&c, SRC, GRP).unwrap_err(), DropReason::ZeroInterval);
    }

    #[test]
    fn rfc3768_v2_advert_without_addresses_roundtrips_v3_count_zero_is_dropped() {
        // keepalived 2.2.7's v2 instance without VIPs sends count 0: 8 + 8 bytes.
        let spec = AdvertSpec {
            version: Version::V2,
            vrid: 13,
            priority: 100,
            interval: 1,
            auth: None,
            addresses: &[],
        };
        let mut b = Vec::new();
        encode(&spec, SRC, GRP, ChecksumForm::MessageOnly, &mut b);
        assert_eq!(b.len(), 16);
        let (a, _) = decode(&b, SRC, GRP).unwrap();
        assert_eq!((a.count(), a.vrid, a.priority), (0, 13, 100));
        // RFC 9568 5.2.5: a v3 count is at least 1.
        let mut b = Vec::new();
        encode(&v3_spec(&[]), SRC, GRP, ChecksumForm::PseudoHeader, &mut b);
        assert_eq!(decode(&b, SRC, GRP).unwrap_err(), DropReason::AddressCount);
    }

    #[test]
    fn rfc3768_5_3_v2_pass_auth_roundtrip() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 13))];
        let spec = AdvertSpec {
            version: Version::V2,
            vrid: 13,
            priority: 100,
            interval: 1,
            auth: Some(auth_data("1111")),
            addresses: &addrs,
        };
        let mut b = Vec::new();
        encode(&spec, SRC, GRP, ChecksumForm::PseudoHeader, &mut b);
        assert_eq!(b.len(), 20);
        let (a, form) = decode(&b, SRC, GRP).unwrap();
        assert_eq!(
            form,
            ChecksumForm::MessageOnly,
            "v2 never uses the pseudo-header"
        );
        assert_eq!(a.auth_type, AUTH_PASS);
        assert_eq!(a.auth_data.expose(), b"1111\0\0\0\0");
    }

    #[test]
    fn encode_writes_at_most_255_addresses() {
        // 256 addresses: the count byte cannot say 256, so only the first 255 go out.
        let addrs: Vec<IpAddr> = (0..256u32)
            .map(|k| IpAddr::V4(Ipv4Addr::from(0x0a63_0000 + k)))
            .collect();
        for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
            let mut b = Vec::new();
            encode(&v3_spec(&addrs), SRC, GRP, form, &mut b);
            assert_eq!(b.len(), advert_len(Version::V3, false, 255));
            assert_eq!(b.len(), HEADER_LEN + 255 * 4);
            let (a, got) = decode(&b, SRC, GRP).expect("valid checksum and length");
            assert_eq!(got, form);
            assert_eq!(a.count(), 255);
            assert_eq!(a.addresses().collect::<Vec<_>>(), addrs[..255]);
            assert!(a.trailer.is_empty());
        }
        // v2: the auth data follows the 255th address, not the 256th.
        let spec = AdvertSpec {
            version: Version::V2,
            vrid: 13,
            priority: 100,
            interval: 1,
            auth: Some(auth_data("1111")),
            addresses: &addrs,
        };
        let mut b = Vec::new();
        encode(&spec, SRC, GRP, ChecksumForm::MessageOnly, &mut b);
        assert_eq!(b.len(), HEADER_LEN + 255 * 4 + AUTH_LEN);
        let (a, _) = decode(&b, SRC, GRP).expect("valid checksum and length");
        assert_eq!(a.count(), 255);
        assert_eq!(a.auth_data.expose(), b"1111\0\0\0\0");
        assert!(a.trailer.is_empty());
    }

    #[test]
    fn advert_len_counts_header_addresses_and_v2_auth() {
        assert_eq!(advert_len(Version::V3, false, 1), 12);
        assert_eq!(advert_len(Version::V3, true, 2), 40);
        assert_eq!(advert_len(Version::V2, false, 1), 20);
        assert_eq!(
            advert_len(Version::V3, false, 256),
            advert_len(Version::V3, false, 255)
        );
    }

    #[test]
    fn max_addresses_fit_the_mtu_with_the_ip_header() {
        // IPv4 v3 at 1500: (1500 - 20 - 8) / 4 = 368, capped at 255.
        assert_eq!(max_addresses(Version::V3, false, 1500), 255);
        // IPv6 v3 at 1500: (1500 - 40 - 8) / 16 = 90.
        assert_eq!(max_addresses(Version::V3, true, 1500), 90);
        // v2 IPv4 at 1500: (1500 - 20 - 8 - 8) / 4 = 366, capped at 255.
        assert_eq!(max_addresses(Version::V2, false, 1500), 255);
        // IPv6 at the IPv6 minimum MTU 1280: (1280 - 40 - 8) / 16 = 77.
        assert_eq!(max_addresses(Version::V3, true, 1280), 77);
        // Small MTUs: exactly what fits, nothing when not even the headers do.
        assert_eq!(max_addresses(Version::V3, false, 100), 18);
        assert_eq!(max_addresses(Version::V2, false, 40), 1);
        assert_eq!(max_addresses(Version::V3, true, 47), 0);
        assert_eq!(max_addresses(Version::V3, false, 0), 0);
        for n in [1, 77] {
            assert!(40 + advert_len(Version::V3, true, n) <= 1280);
        }
        assert!(40 + advert_len(Version::V3, true, 78) > 1280);
    }

    #[test]
    fn v2_over_ipv6_is_a_version_error() {
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst: IpAddr = "ff02::12".parse().unwrap();
        let b = [0x21, 1, 100, 1, 0, 1, 0, 0];
        assert_eq!(decode(&b, src, dst).unwrap_err(), DropReason::Version);
    }

    #[test]
    fn reencode_keeps_v3_reserved_bits_with_a_valid_checksum() {
        // Found by the advert fuzz target (fuzz/regressions/advert/v3-reserved-bits-reencode):
        // the reserved bits were set after the checksum was computed.
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21))];
        for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
            let mut b = Vec::new();
            encode(&v3_spec(&addrs), SRC, GRP, form, &mut b);
            b[field::AUTH_OR_INTERVAL] |= 0x50;
            b[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
            set_checksum(&mut b, Version::V3, SRC, GRP, form);
            let (a, got) = decode(&b, SRC, GRP).unwrap();
            assert_eq!((got, a.reserved, a.interval), (form, 5, 50));
            let mut out = Vec::new();
            reencode(&a, SRC, GRP, form, &mut out);
            assert_eq!(out, b);
        }
    }

    #[test]
    fn interval_nanos_is_seconds_for_v2_and_centiseconds_for_v3_and_spec_keeps_auth() {
        let addrs = [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21))];
        let mut b = Vec::new();
        encode(
            &v3_spec(&addrs),
            SRC,
            GRP,
            ChecksumForm::PseudoHeader,
            &mut b,
        );
        let (a, _) = decode(&b, SRC, GRP).unwrap();
        assert_eq!(a.interval_nanos(), 500_000_000);
        assert_eq!(a.checksum, u16::from_be_bytes([b[6], b[7]]));
        for auth in [None, Some(auth_data("1111"))] {
            let spec = AdvertSpec {
                version: Version::V2,
                interval: 3,
                auth,
                ..v3_spec(&addrs)
            };
            encode(&spec, SRC, GRP, ChecksumForm::MessageOnly, &mut b);
            let (a, _) = decode(&b, SRC, GRP).unwrap();
            assert_eq!(a.interval_nanos(), 3_000_000_000);
            assert_eq!(a.spec().0.auth, auth);
        }
    }
}

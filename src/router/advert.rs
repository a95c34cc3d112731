//! Pre-encoded adverts: each instance keeps the bytes of its last advert per destination and
//! re-encodes only when something that goes into them changed (priority, addresses, interval,
//! source, checksum form, version, VRID, authentication). A steady master's timer-driven send
//! then costs a comparison and a reference count, not an encode and an allocation.

use std::net::IpAddr;
use std::sync::Arc;

use crate::packet::vrrp::{self, AdvertSpec, ChecksumForm};
use crate::security::Secret;

/// Everything an advert's bytes depend on, except the address list (compared in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    version: crate::config::Version,
    vrid: u8,
    priority: u8,
    interval: u16,
    auth: Option<Secret<[u8; vrrp::AUTH_LEN]>>,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
}

/// One destination's encoded advert.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    /// The advertised addresses the bytes were made from.
    addrs: Vec<IpAddr>,
    bytes: Arc<[u8]>,
}

/// An instance's encoded adverts, one slot per destination (the group, or each unicast peer).
#[derive(Clone, Debug, Default)]
pub(super) struct AdvertCache {
    slots: Vec<Option<Entry>>,
    /// Scratch buffer for encoding (kept, so a re-encode allocates only the shared bytes).
    scratch: Vec<u8>,
    /// How many times an advert was (re-)encoded: for tests and benchmarks.
    encodes: u64,
}

impl AdvertCache {
    /// The bytes of the advert `spec` from `src` to `dst` (the `slot`-th destination),
    /// encoded only when they differ from the last ones sent there.
    pub(super) fn get(
        &mut self,
        slot: usize,
        spec: &AdvertSpec<'_>,
        src: IpAddr,
        dst: IpAddr,
        form: ChecksumForm,
    ) -> Arc<[u8]> {
        let key = Key {
            version: spec.version,
            vrid: spec.vrid,
            priority: spec.priority,
            interval: spec.interval,
            auth: spec.auth,
            src,
            dst,
            form,
        };
        if self.slots.len() <= slot {
            self.slots.resize_with(slot + 1, || None);
        }
        if let Some(e) = &self.slots[slot]
            && e.key == key
            && e.addrs[..] == *spec.addresses
        {
            return e.bytes.clone();
        }
        vrrp::encode(spec, src, dst, form, &mut self.scratch);
        let bytes: Arc<[u8]> = Arc::from(&self.scratch[..]);
        self.encodes += 1;
        self.slots[slot] = Some(Entry {
            key,
            addrs: spec.addresses.to_vec(),
            bytes: bytes.clone(),
        });
        bytes
    }

    /// Adverts encoded so far.
    pub(super) fn encodes(&self) -> u64 {
        self.encodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Version;

    fn spec(priority: u8, interval: u16, addrs: &[IpAddr]) -> AdvertSpec<'_> {
        AdvertSpec {
            version: Version::V3,
            vrid: 51,
            priority,
            interval,
            auth: None,
            addresses: addrs,
        }
    }

    #[test]
    fn re_encodes_only_when_an_input_changes() {
        let src: IpAddr = "10.99.0.11".parse().unwrap();
        let dst: IpAddr = "224.0.0.18".parse().unwrap();
        let a: Vec<IpAddr> = vec!["10.99.0.51".parse().unwrap()];
        let b: Vec<IpAddr> = vec!["10.99.0.52".parse().unwrap()];
        let form = ChecksumForm::PseudoHeader;
        let mut c = AdvertCache::default();
        let first = c.get(0, &spec(100, 100, &a), src, dst, form);
        let again = c.get(0, &spec(100, 100, &a), src, dst, form);
        assert!(Arc::ptr_eq(&first, &again), "unchanged: the same bytes");
        assert_eq!(c.encodes(), 1);
        let mut fresh = Vec::new();
        vrrp::encode(&spec(100, 100, &a), src, dst, form, &mut fresh);
        assert_eq!(&first[..], &fresh[..], "the cached bytes are the encoding");
        // Each input that goes into the bytes forces a new encoding, and the bytes follow it.
        let changes: [(AdvertSpec<'_>, IpAddr, ChecksumForm); 4] = [
            (spec(0, 100, &a), src, form),
            (spec(0, 200, &a), src, form),
            (spec(0, 200, &b), src, form),
            (spec(0, 200, &b), src, ChecksumForm::MessageOnly),
        ];
        for (i, (s, from, f)) in changes.iter().enumerate() {
            let got = c.get(0, s, *from, dst, *f);
            vrrp::encode(s, *from, dst, *f, &mut fresh);
            assert_eq!(&got[..], &fresh[..], "change {i}");
            assert_eq!(c.encodes(), 2 + i as u64);
        }
        let other_src: IpAddr = "10.99.0.12".parse().unwrap();
        c.get(
            0,
            &spec(0, 200, &b),
            other_src,
            dst,
            ChecksumForm::MessageOnly,
        );
        assert_eq!(c.encodes(), 6, "a new source address");
        // Destinations have their own slots.
        let peer: IpAddr = "10.99.0.12".parse().unwrap();
        c.get(
            1,
            &spec(0, 200, &b),
            other_src,
            peer,
            ChecksumForm::MessageOnly,
        );
        c.get(
            0,
            &spec(0, 200, &b),
            other_src,
            dst,
            ChecksumForm::MessageOnly,
        );
        assert_eq!(c.encodes(), 7);
    }

    #[test]
    fn a_steady_master_encodes_its_advert_once() {
        use crate::router::testnet::Net;
        use std::time::Duration;
        let cfg = |p: u8| {
            format!(
                "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    priority: {p}\n    advert_interval: 100ms\n    virtual_ipaddress: [10.99.0.51/24]\n"
            )
        };
        let mut net = Net::new();
        net.node("a", [10, 99, 0, 11], &cfg(150));
        net.node("b", [10, 99, 0, 12], &cfg(100));
        net.run_until(Duration::from_secs(10));
        let sent = net.find("a", "send prio=150", Duration::ZERO).len();
        assert!(sent > 50, "a is master and advertises ({sent})");
        let mut encoded = 0;
        net.with(0, |r, _| encoded = r.adverts_encoded());
        assert_eq!(encoded, 1, "{sent} adverts, one encoding");
        // Shutdown: the priority-0 advert (a new encoding) is on the wire.
        let t = net.elapsed();
        net.with(0, |r, now| {
            r.handle_shutdown(now);
            encoded = r.adverts_encoded();
        });
        assert_eq!(encoded, 2, "the priority-0 advert is the second encoding");
        net.run_until(t + Duration::from_secs(2));
        assert!(net.first("a", "send prio=0", t).is_some());
    }
}

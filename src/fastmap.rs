//! Hash maps of the per-advert path: `std`'s `HashMap` with foldhash's fast hasher instead of
//! SipHash-1-3. Keys here are small (a VRID, an address, an instance slot) and looked up for
//! every advert sent or received; SipHash was a visible share of the backup's profile
//! (docs/benchmarks.md, section 7). foldhash seeds each map randomly per process. Every map
//! keyed by what the network sends is bounded in size (peers per instance, wire-tap sources), so
//! a collision attack could slow only a map of a few dozen entries.

/// A `HashMap` with foldhash's per-process seeded fast hasher; build with `FastMap::default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Adds one to `key`'s count; a key not yet counted gets a slot only while the map holds
/// fewer than `max` (one lookup when the key is known, the common case).
pub fn count_bounded<K: std::hash::Hash + Eq>(map: &mut FastMap<K, u64>, key: K, max: usize) {
    if let Some(n) = map.get_mut(&key) {
        *n += 1;
    } else if map.len() < max {
        map.insert(key, 1);
    }
}

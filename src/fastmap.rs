//! Hash maps of the per-advert path: `std`'s `HashMap` with foldhash's fast hasher instead of
//! SipHash-1-3. Keys here are small (a VRID, an address, an instance slot) and looked up for
//! every advert sent or received; SipHash was a visible share of the backup's profile
//! (docs/benchmarks.md, section 7). foldhash seeds each map randomly per process. Every map
//! keyed by what the network sends is bounded in size (peers per instance, wire-tap sources), so
//! a collision attack could slow only a map of a few dozen entries.

/// A `HashMap` with foldhash's per-process seeded fast hasher; build with `FastMap::default()`.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

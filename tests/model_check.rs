//! The election, model-checked: the real router core (`vipd::router::Router`, three of them
//! on VRID 51 in a `vipd::fuzzing::World`) driven through every interleaving of timer
//! expiries, advert deliveries in any order, losses, link down/up, priority changes (reload)
//! and shutdowns, breadth first up to a depth and a number of faults per path, each distinct
//! world (canonical digest of every router's state, priorities, master, deadlines relative to
//! now, held addresses, and the adverts in flight) explored once.
//!
//! Checked in every state: no deadline in the past, no address added twice, no address held
//! outside Master, none left after shutdown; after healing (links up, no loss) and one
//! Master_Down_Interval, exactly one master; a priority-0 advert delivered to the backups
//! following its sender gives a master within their Skew_Time. Depths and state counts are
//! in docs/reliability.md.

use vipd::fuzzing::{Bounds, explore, three_routers};

/// `bounds`, unless `VIPD_MODEL_DEPTH` / `VIPD_MODEL_FAULTS` ask for a deeper run
/// (docs/reliability.md): the same test, not a separate ignored one.
fn run(version: u8, bounds: Bounds) {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let bounds = Bounds {
        depth: env("VIPD_MODEL_DEPTH", bounds.depth),
        faults: env("VIPD_MODEL_FAULTS", bounds.faults),
    };
    let t = std::time::Instant::now();
    let mut w = three_routers(version);
    w.settle().unwrap();
    match explore(w, bounds) {
        Ok(s) => eprintln!(
            "model check v{version} depth {} faults {}: {} states, {} transitions, {} heal checks, deepest {} in {:?}",
            bounds.depth,
            bounds.faults,
            s.states,
            s.transitions,
            s.healed,
            s.max_depth,
            t.elapsed()
        ),
        Err((v, path)) => panic!("v{version}: {v}\npath: {path:?}"),
    }
}

#[test]
fn election_v3_bounded() {
    run(
        3,
        Bounds {
            depth: 9,
            faults: 2,
        },
    );
}

#[test]
fn election_v2_bounded() {
    run(
        2,
        Bounds {
            depth: 7,
            faults: 2,
        },
    );
}

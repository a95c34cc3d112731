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

/// Runs `w` lossless for 5 s (every advert delivered at once) and checks that node 0, the
/// highest priority, is the one master; the wire is left lossy again.
fn settle_on_node_0(w: &mut vipd::fuzzing::World) {
    w.lossless = true;
    w.settle().unwrap();
    w.run_until(w.now + std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(w.masters(), vec![0], "{}", w.describe());
    w.lossless = false;
}

/// The Skew_Time property applies to the followers of a resigning master: in a v3 world,
/// node 0's shutdown advert (priority 0) is checked on both backups.
#[test]
fn resign_property_checks_every_follower() {
    let mut w = three_routers(3);
    settle_on_node_0(&mut w);
    w.wire.clear();
    w.step(&vipd::fuzzing::Step::Shutdown(0)).unwrap();
    let i = w
        .wire
        .iter()
        .position(|m| m.from == 0 && m.priority == 0)
        .expect("a priority-0 advert");
    assert_eq!(w.deliver_checking_resign(i), Ok(2), "{}", w.describe());
}

/// A master that reloads to the other VRRP version resigns with an advert of its old
/// version, which a backup of the new version drops (version mismatch): that backup is not
/// a follower of the resignation, and its Master_Down timer is not cut to Skew_Time. The
/// core fuzz target's first long run failed on exactly this (fuzz/regressions/core/
/// crash-221d1a8c..., crash-a1c892fb..., replayed by tests/fuzz_corpus.rs): the property,
/// not the router, was wrong.
#[test]
fn resign_of_the_other_version_has_no_followers() {
    use vipd::fuzzing::{Step, World, world_yaml};
    // Each node: v2 first, v3 second (reload target 1).
    let mut w = World::from_yaml(
        &[200u8, 150, 100]
            .iter()
            .map(|&p| vec![world_yaml(2, p, true), world_yaml(3, p, true)])
            .collect::<Vec<_>>(),
    );
    settle_on_node_0(&mut w);
    w.wire.clear();
    // Node 0 goes to v3: its v2 instance resigns.
    w.step(&Step::Reload(0, 1)).unwrap();
    let resign = w
        .wire
        .iter()
        .position(|m| m.from == 0 && m.priority == 0)
        .expect("a priority-0 advert");
    assert_eq!(w.wire[resign].bytes[0] >> 4, 2, "the resignation is v2");
    // Node 1 and 2 still speak v2 and follow node 0: both are checked.
    assert_eq!(w.clone().deliver_checking_resign(resign), Ok(2));
    // Keep that v2 resignation aside; node 1 and 2 move to v3 as well and, lossless, follow
    // node 0 again, now in v3. The v2 resignation arrives late: they drop it (version
    // mismatch), so it has no follower and delivering it is not a violation.
    let old = w.wire[resign].clone();
    w.step(&Step::Reload(1, 1)).unwrap();
    w.step(&Step::Reload(2, 1)).unwrap();
    w.wire.clear();
    settle_on_node_0(&mut w);
    for j in [1, 2] {
        let r = &w.nodes[j].router;
        let e = r.engine(r.ids()[0]).unwrap();
        assert_eq!(
            e.master().map(|m| m.0),
            Some(old.src),
            "node {j} follows node 0"
        );
    }
    w.wire = vec![old];
    assert_eq!(w.deliver_checking_resign(0), Ok(0), "{}", w.describe());
}

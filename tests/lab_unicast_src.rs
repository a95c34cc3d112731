//! `check_unicast_src` on a real kernel (root, lab): a unicast instance that checks the source
//! drops adverts from a router that is not one of its `unicast_peers` (so it becomes master
//! beside it, counted as `vrrp_adverts_dropped_total{reason="unicast_src"}`), and follows the
//! same router as backup once that router is a peer.

mod labkit;
mod observekit;

use observekit::{A, B, S};

const VIP: &str = "10.99.0.84";

fn cfg(me: &str, peer: &str, prio: u8, check: bool) -> String {
    let extra = format!(
        "    unicast_src: {me}\n    unicast_peers: [{peer}]\n{}",
        if check {
            "    check_unicast_src: true\n"
        } else {
            ""
        }
    );
    observekit::cfg(
        "",
        &[observekit::inst(
            "VI_1",
            84,
            prio,
            &extra,
            &format!("{VIP}/24"),
        )],
    )
}

fn dropped(t: &str) -> f64 {
    observekit::value(
        t,
        "vrrp_adverts_dropped_total",
        &[("reason", "unicast_src")],
    )
    .unwrap_or(0.0)
}

#[test]
fn check_unicast_src_drops_adverts_from_routers_that_are_not_peers() {
    let mut lab = observekit::pair("i2u");
    let a = lab.vipd("a", &cfg(A, B, 150, false));
    // b checks the source, and a (10.99.0.11) is not its peer: a's adverts are dropped.
    let b = lab.vipd("b", &cfg(B, "10.99.0.13", 100, true));
    lab.wait_holder(&["a"], VIP, "a", 5 * S);
    labkit::wait_for(5 * S, "b to hold the address too", || {
        lab.has_addr("b", VIP)
    });
    let t = observekit::wait_metrics(&lab, "b", "unicast_src drops", 5 * S, |t| dropped(t) > 0.0);
    observekit::assert_state(&t, &[], "master");
    lab.signal(b, "TERM");
    assert_eq!(lab.wait_exit(b, 10 * S), Some(0));

    // a is b's peer now: b follows it as backup and drops nothing.
    let b = lab.vipd("b", &cfg(B, A, 100, true));
    let t = observekit::wait_metrics(&lab, "b", "adverts received from a", 5 * S, |t| {
        observekit::value(t, "vrrp_adverts_received_total", &[]).unwrap_or(0.0) > 3.0
    });
    assert_eq!(dropped(&t), 0.0, "{t}");
    observekit::assert_state(&t, &[], "backup");
    assert!(!lab.has_addr("b", VIP));
    for pid in [a, b] {
        lab.signal(pid, "TERM");
        assert_eq!(lab.wait_exit(pid, 10 * S), Some(0));
    }
}

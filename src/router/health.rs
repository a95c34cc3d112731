//! The health fold: the instance's own link, tracked interfaces, scripts and files folded
//! into one verdict (Fault or not) and one effective priority, keepalived's semantics.

use crate::config::InstanceConfig;
use crate::track::{self, TrackState};

/// What the fold says about one instance now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Nothing demands Fault.
    pub healthy: bool,
    /// Base priority plus the weights, clamped to 1..=254 (255 stays 255).
    pub priority: u8,
    /// Each tracked interface and whether it is up (for the `vrrp_track_interface_up` gauge).
    pub interfaces: Vec<(String, bool)>,
}

/// Folds everything an instance tracks. `link_ok`: its own interface is up with a source
/// address and a socket; `link_up(name)`: a tracked interface's state.
pub fn fold(
    cfg: &InstanceConfig,
    track: &TrackState,
    link_ok: bool,
    link_up: impl Fn(&str) -> bool,
) -> Health {
    let assessment = track.assess(cfg);
    let mut fault = assessment.fault || !link_ok;
    let mut weights = assessment.weights;
    let mut interfaces = Vec::with_capacity(cfg.track_interfaces.len());
    for t in &cfg.track_interfaces {
        let up = link_up(&t.name);
        interfaces.push((t.name.clone(), up));
        let applied = track::interface_weight(t.weight, t.reverse, up);
        fault |= applied.is_fault();
        weights.extend(applied.weight());
    }
    Health {
        healthy: !fault,
        priority: track::effective_priority(cfg.priority, weights),
        interfaces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackEvent;

    /// The fold with keepalived's `reverse` on every kind: the condition stays, the weight
    /// applies negated, weight 0 reversed is a Fault while the item is up.
    #[test]
    fn reverse_on_every_kind() {
        let c = crate::config::parse_str(
            "\
scripts:
  primary_up: { command: [\"true\"], weight: 30, reverse: true }
  gone: { command: [\"true\"], weight: -20, reverse: true }
processes:
  web: { name: nginx, weight: 10, reverse: true }
instances:
  VI_1:
    interface: eth0
    vrid: 13
    priority: 100
    virtual_ipaddress: [192.168.192.13/24]
    track_scripts: [primary_up, gone]
    track_processes: [web]
    track_files: [{path: /run/prio, weight: 2, reverse: true}]
    track_interfaces: [{name: eth1, weight: 5, reverse: true}]
  VI_0:
    interface: eth0
    vrid: 14
    virtual_ipaddress: [192.168.192.14/24]
    track_scripts: [{name: primary_up, weight: 0}]
    track_files: [{path: /run/prio, weight: 0, reverse: true}]
    track_interfaces: [{name: eth1, weight: 0, reverse: true}]
",
            "t.yaml",
        )
        .unwrap()
        .config;
        let mut track = TrackState::new(&c.scripts);
        let set = |track: &mut TrackState, name: &str, healthy: bool| {
            track.apply(&TrackEvent::Script {
                name: name.into(),
                healthy,
            });
        };
        let file = |track: &mut TrackState, value: i64| {
            track.apply(&TrackEvent::File {
                path: "/run/prio".into(),
                value: Some(value),
            });
        };
        let proc_up = |track: &mut TrackState, up: bool| {
            track.apply(&TrackEvent::Process {
                name: "web".into(),
                running: u32::from(up),
                up,
            });
        };
        let i = &c.instances["VI_1"];
        // Everything up, the file at 0: +30 reversed (-30), -20 reversed is idle while
        // healthy, the process +10 reversed (-10), eth1 +5 reversed (-5): 100 - 45.
        file(&mut track, 0);
        let h = fold(i, &track, true, |_| true);
        assert_eq!((h.healthy, h.priority), (true, 55));
        // Everything down, the file at 10: -20 reversed adds 20 while failed, 10 * 2
        // reversed is -20; the positive weights are idle while down.
        set(&mut track, "primary_up", false);
        set(&mut track, "gone", false);
        proc_up(&mut track, false);
        file(&mut track, 10);
        let h = fold(i, &track, true, |_| false);
        assert_eq!((h.healthy, h.priority), (true, 100));
        assert_eq!(h.interfaces, [("eth1".to_owned(), false)]);

        // Weight 0 reversed (the script's entry inherits `reverse` from its definition): a
        // Fault while the item is up, OK while it is down.
        let z = &c.instances["VI_0"];
        assert!(z.track_scripts[0].reverse);
        // Script failed, file 10 (non-zero: "down" for a weight-0 file), eth1 down: healthy.
        assert!(fold(z, &track, true, |_| false).healthy);
        // Each one up alone is a Fault.
        set(&mut track, "primary_up", true);
        assert!(!fold(z, &track, true, |_| false).healthy);
        set(&mut track, "primary_up", false);
        assert!(!fold(z, &track, true, |_| true).healthy);
        file(&mut track, 0);
        assert!(!fold(z, &track, true, |_| false).healthy);
    }
}

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
        let applied = track::interface_weight(t.weight, up);
        fault |= applied.is_fault();
        weights.extend(applied.weight());
    }
    Health {
        healthy: !fault,
        priority: track::effective_priority(cfg.priority, weights),
        interfaces,
    }
}

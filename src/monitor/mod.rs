//! `vipd monitor`: passive watching of every VRRP advert on a segment, from any
//! implementation, without configuration and without taking part in VRRP.
//!
//! The bookkeeping is the pure [`MonitorState`] (time is an argument, tested with a virtual
//! clock); [`run`] wires it to the raw VRRP sockets, a 200 ms evaluation tick, the log and
//! the HTTP endpoint (`/metrics` with the `vrrp_monitor_*` families, `/status` as JSON).
//!
//! [`state`] holds the pure bookkeeping and the verdicts, [`run`] the shell: sockets, the
//! tick, reloads, the endpoint.

pub mod config;
mod run;
mod state;

use std::time::Duration;

use crate::router::peers;

pub use run::{MonitorOptions, interfaces, merged_interfaces, run};
pub use state::*;

/// Most routers remembered per (family, VRID); beyond it the least recently heard one is
/// forgotten (and its series removed). The daemon's peer tables share the bound and the rule.
pub const MAX_ROUTERS: usize = peers::MAX_PEERS;
pub use peers::MASTER_GRACE;
/// How often the masters are counted (gauges, split-brain log lines).
pub const TICK: Duration = Duration::from_millis(200);
/// After the start, how long an expected virtual router may go unheard before it is logged
/// (3 default advert intervals plus [`MASTER_GRACE`]); the metric says so from the start.
pub const STARTUP_QUIET: Duration = Duration::from_secs(4);

/// What is known about one router heard on the segment: the daemon's peer record.
pub type Router = peers::Peer;

#[cfg(test)]
mod tests;

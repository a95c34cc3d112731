//! The `/status` documents as typed values: built by the daemon (`router::Router::status`
//! plus the exporter's counters) and by `vipd monitor`, read back by `vipd status`. One
//! definition, serialised by serde on one side and deserialised on the other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `vipd run`'s `/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub router_id: String,
    pub version: String,
    pub instances: Vec<InstanceStatus>,
    pub sockets: Vec<SocketStatus>,
    /// The active sync groups (two members or more), by name; absent from older daemons.
    #[serde(default)]
    pub sync_groups: Vec<SyncGroupStatus>,
}

/// A sync group (`sync_groups:`): its state as the core folds it from its members' (master
/// when every member is, fault when one is, backup otherwise; init before each member has
/// started, stop on shutdown) and each member's own state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncGroupStatus {
    pub name: String,
    pub state: String,
    pub members: Vec<SyncMemberStatus>,
}

/// A member of a sync group: `state` is `absent` when no such instance runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncMemberStatus {
    pub name: String,
    pub state: String,
}

/// One instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceStatus {
    /// The core's slot of the instance (joins the exporter's counters).
    #[serde(skip)]
    pub id: usize,
    pub name: String,
    /// `init`, `backup`, `master`, `fault` or `stop`.
    pub state: String,
    pub vrid: u8,
    pub interface: String,
    pub family: String,
    pub version: u8,
    /// The `group` label (`router::group_of`): the `group` key, else the first VIP.
    pub group: String,
    /// Effective priority (base plus tracking).
    pub priority: u8,
    pub base_priority: u8,
    pub healthy: bool,
    /// Source address of our adverts.
    pub source: Option<String>,
    /// The master we follow, or ourselves.
    pub master: Option<Master>,
    pub advert_interval_ms: f64,
    pub master_advert_interval_ms: f64,
    pub master_down_interval_ms: f64,
    /// Running timers: `<name>_in_ms`.
    pub timers: BTreeMap<String, f64>,
    /// `address/prefix`.
    pub addresses: Vec<String>,
    /// How many of `addresses` are in our adverts (the rest do not fit the MTU).
    #[serde(default)]
    pub advertised_addresses: usize,
    pub peers: Vec<PeerStatus>,
    pub scripts: Vec<ScriptStatus>,
    /// Tracked processes of the instance (`track_processes`).
    #[serde(default)]
    pub processes: Vec<ProcessStatus>,
    /// Routers advertising as master now, us included (above 1: split brain).
    #[serde(default)]
    pub masters_observed: usize,
    /// Drained by an operator (`vipd drain`): hands mastership over and stays Backup.
    #[serde(default)]
    pub drained: bool,
    /// Gave mastership away (shutdown, drain) and still holds the addresses until the new
    /// master is heard (make-before-break).
    #[serde(default)]
    pub holding_addresses: bool,
    pub stats: Counters,
    /// Unix time of the last state change (None before the first).
    #[serde(default)]
    pub last_transition_unix: Option<f64>,
}

/// A master as `/status` names it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Master {
    pub address: String,
    pub priority: u8,
}

/// A router heard for an instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerStatus {
    pub address: String,
    pub priority: u8,
    pub adverts: u64,
    pub last_advert_ms_ago: f64,
    pub checksum_form: String,
    /// Why its adverts are dropped although it is a router of our VRID (interval,
    /// auth_type, auth_failure, version), when they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disagrees: Option<String>,
}

/// A tracked script of an instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScriptStatus {
    pub name: String,
    pub weight: i32,
    pub healthy: bool,
    /// The weight applies negated (`reverse: true`); absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
}

/// A tracked process of an instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub name: String,
    pub weight: i32,
    /// Its count of matching processes is within the quorum (after the delays).
    pub up: bool,
    /// The weight applies negated (`reverse: true`); absent when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reverse: bool,
}

/// An instance's counters, read from the exporter (which owns them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub send_errors: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub address_list_mismatch: u64,
    pub transitions: u64,
    pub filtered: u64,
    /// Dropped adverts by reason (only reasons with drops).
    pub dropped: BTreeMap<String, u64>,
}

/// One receive socket.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketStatus {
    /// The core's port number (joins the shell's socket facts).
    #[serde(skip)]
    pub port: usize,
    pub interface: String,
    pub family: String,
    pub wire_tap: bool,
    pub queue_overflow: u64,
    pub dropped_before_demux: BTreeMap<String, u64>,
}

/// `vipd monitor`'s `/status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// Always `"monitor"`: what tells this document from a [`DaemonStatus`].
    pub mode: MonitorMode,
    pub version: String,
    /// The interfaces listened on, in the order of the command line.
    pub interfaces: Vec<MonitorInterfaceStatus>,
    /// Every interface's virtual routers, interface by interface.
    pub virtual_routers: Vec<VirtualRouterStatus>,
}

/// An interface `vipd monitor` listens on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorInterfaceStatus {
    pub name: String,
    /// `ipv4`, `ipv6`: the families listened on.
    pub families: Vec<String>,
}

/// The `mode` of a [`MonitorStatus`]: serialised as `"monitor"`, and nothing else is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorMode {
    #[default]
    Monitor,
}

/// A virtual router (family and VRID) heard by the monitor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualRouterStatus {
    /// The interface it was heard on.
    pub interface: String,
    pub family: String,
    pub vrid: u8,
    /// More than one master now.
    pub split_brain: bool,
    /// Routers advertising as master now.
    pub masters: Vec<Master>,
    pub routers: Vec<RouterStatus>,
}

/// A router heard by the monitor for a virtual router.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterStatus {
    pub address: String,
    pub priority: u8,
    /// Advertising as master now.
    pub master: bool,
    pub adverts: u64,
    pub advert_interval_ms: f64,
    pub checksum_form: String,
    pub first_advert_ms_ago: f64,
    pub last_advert_ms_ago: f64,
}

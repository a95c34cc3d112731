//! The validated configuration: plain values the daemon diffs on reload.
//! Produced by `config::load` / `config::parse_str` from YAML; every field here has already been checked.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Whole daemon configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Name of this node (defaults to the hostname).
    pub router_id: String,
    /// HTTP listen address for /metrics etc.
    pub listen: SocketAddr,
    /// `log.format`: how `vipd run` writes its log lines.
    pub log_format: LogFormat,
    /// `otlp`: export spans to an OpenTelemetry collector (None: not configured here; `vipd run`
    /// then falls back to `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub otlp: Option<Otlp>,
    /// Check scripts by name (top-level `scripts:`), referenced by `track_scripts`.
    pub scripts: BTreeMap<String, ScriptConfig>,
    /// Tracked processes by name (top-level `processes:`), referenced by `track_processes`.
    pub processes: BTreeMap<String, ProcessConfig>,
    /// Instances by name (the YAML map key), sorted for stable output.
    pub instances: BTreeMap<String, InstanceConfig>,
    /// Sync groups by name (top-level `sync_groups:`, keepalived's `vrrp_sync_group`).
    pub sync_groups: BTreeMap<String, SyncGroupConfig>,
    /// Addresses, routes and rules installed at start whatever the state (`static_*`).
    pub statics: Statics,
}

/// A sync group (`sync_groups.<name>`): instances that change state together (see
/// `router::sync`). Every member is a key of [`Config::instances`], in one group only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupConfig {
    /// The YAML key.
    pub name: String,
    /// Member instance names, as written; a group of one is kept but ignored (keepalived).
    pub instances: Vec<String>,
    /// Group hooks; `any` gets `GROUP <name> <STATE> 0` appended (keepalived's convention).
    pub notify: Notify,
    /// keepalived's `sync_group_tracking_weight`: members keep their tracking weights.
    /// Without it (default) validation sets them to 0: a failure is a Fault of the group.
    pub tracking_weight: bool,
}

/// `static_ipaddress`, `static_routes`, `static_rules`: installed at start (and on reload)
/// whatever the instances' states, removed on exit, as keepalived does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Statics {
    /// Each with its `dev` (required).
    pub addresses: Vec<Vip>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

impl Statics {
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// A check script (`scripts.<name>`), run every `interval` by `track::Scripts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptConfig {
    /// argv, run without a shell; at least one element.
    pub command: Vec<String>,
    /// Default 1 s; never zero.
    pub interval: Duration,
    /// Default: the interval; never zero.
    pub timeout: Duration,
    /// -253..=253, default 0 (0: failed means Fault). The default for `track_scripts` entries.
    pub weight: i32,
    /// Consecutive successes before failed -> healthy (>= 1, default 1).
    pub rise: u32,
    /// Consecutive failures before healthy -> failed (>= 1, default 1).
    pub fall: u32,
    /// Run as this user (and its primary group) instead of the daemon's user.
    pub user: Option<String>,
    /// Start in the failed state (default false: start healthy).
    pub init_fail: bool,
    /// keepalived's `weight N reverse`: the default of `track_scripts` entries (see
    /// [`TrackScript::reverse`]).
    pub reverse: bool,
}

/// A tracked process (`processes.<name>`), keepalived's `vrrp_track_process`: up while the
/// number of matching processes is within `quorum..=quorum_max`, after the delays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    /// What to match (see [`crate::track::ProcessMatch`]).
    pub matcher: crate::track::ProcessMatch,
    /// Fewest matching processes that count as up (1..=65535; 0 only with `quorum_max: 0`).
    pub quorum: u32,
    /// Most matching processes that count as up (default: no limit; 0 = must not run).
    pub quorum_max: u32,
    /// -253..=253, default 0 (0: down means Fault). The default for `track_processes` entries.
    pub weight: i32,
    /// How long the count must stay within the quorum before the process counts as up
    /// (keepalived `fork_delay`; `delay` sets both delays). Default 0.
    pub fork_delay: Duration,
    /// How long the count must stay outside the quorum before the process counts as down
    /// (keepalived `terminate_delay`). Default 0.
    pub terminate_delay: Duration,
    /// keepalived's `weight N reverse`: the default of `track_processes` entries.
    pub reverse: bool,
}

/// An instance's reference to a tracked process, with its weight resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackProcess {
    /// A key of [`Config::processes`] (validated).
    pub name: String,
    /// The entry's own weight, else the process's; -253..=253 (0: down means Fault).
    pub weight: i32,
    /// The entry's own `reverse`, else the process's: the weight applies negated (0: up
    /// means Fault), see [`crate::track::script_weight`].
    pub reverse: bool,
}

/// An instance's reference to a check script, with its weight resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackScript {
    /// A key of [`Config::scripts`] (validated).
    pub name: String,
    /// The entry's own weight, else the script's; -253..=253 (0: failed means Fault).
    pub weight: i32,
    /// The entry's own `reverse`, else the script's (keepalived's `weight N reverse`): the
    /// weight applies negated (0: healthy means Fault), see [`crate::track::script_weight`].
    pub reverse: bool,
}

/// A tracked file holding an integer: `value * weight` is applied (weight 0: non-zero means Fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackFile {
    /// Absolute path.
    pub path: PathBuf,
    /// -254..=254, default 1.
    pub weight: i32,
    /// `value * weight * -1` is applied (weight 0: a zero value means Fault), see
    /// [`crate::track::file_weight`].
    pub reverse: bool,
}

/// Notify hooks of an instance: argv lists, run without a shell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notify {
    pub master: Option<Vec<String>>,
    pub backup: Option<Vec<String>>,
    pub fault: Option<Vec<String>>,
    pub stop: Option<Vec<String>>,
    /// Called after the state-specific hook with `INSTANCE <name> <STATE> <priority>` appended.
    pub any: Option<Vec<String>>,
    /// Hooks run as another user (keepalived's `notify_master "cmd" user [group]`), by hook
    /// name (`master`, `backup`, `fault`, `stop`, `any`); the others run as vipd's user.
    pub run_as: BTreeMap<String, RunAs>,
}

/// Who a notify hook runs as: `user` with its primary group, or `group` when given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub group: Option<String>,
}

impl Notify {
    /// True when no hook is configured.
    pub fn is_empty(&self) -> bool {
        self.master.is_none()
            && self.backup.is_none()
            && self.fault.is_none()
            && self.stop.is_none()
            && self.any.is_none()
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line, fields included (for log shippers).
    Json,
}

/// `otlp`: where `vipd run` sends its spans (OTLP/HTTP protobuf).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Otlp {
    /// `http://host:port[/base]`, without a trailing `/`; spans go to `<endpoint>/v1/traces`.
    pub endpoint: String,
}

// The protocol basics live with the wire code; the configuration uses them.
pub use crate::packet::{ChecksumForm, Family, Version};

/// A virtual (or static) address with its prefix length and the per-address options of
/// `ip address add` that keepalived accepts (`dev`, `scope`, `label`, `brd`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Vip {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The interface the address lives on; None: the instance's interface.
    pub dev: Option<String>,
    /// Address scope; None: global (the kernel's default).
    pub scope: Option<Scope>,
    /// IPv4 alias label (`eth0:1`), at most 15 bytes, starting with the device's name.
    pub label: Option<String>,
    /// IPv4 broadcast address.
    pub brd: Option<std::net::Ipv4Addr>,
    /// Add the address without its prefix route (IFA_F_NOPREFIXROUTE, `ip addr add ...
    /// noprefixroute`; keepalived's `noprefixroute`).
    pub noprefixroute: bool,
}

impl Vip {
    /// A plain address on the instance's interface, without options.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Vip {
        Vip {
            addr,
            prefix_len,
            dev: None,
            scope: None,
            label: None,
            brd: None,
            noprefixroute: false,
        }
    }

    /// True when only the address and prefix are set (written in the plain string form).
    pub fn is_plain(&self) -> bool {
        self.dev.is_none()
            && self.scope.is_none()
            && self.label.is_none()
            && self.brd.is_none()
            && !self.noprefixroute
    }
}

/// Route and address scope (`ip address/route ... scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
}

impl Scope {
    /// The kernel's number (RT_SCOPE_*).
    pub fn number(self) -> u8 {
        match self {
            Scope::Global => 0,
            Scope::Site => 200,
            Scope::Link => 253,
            Scope::Host => 254,
            Scope::Nowhere => 255,
        }
    }

    /// The name `ip` prints and the configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Site => "site",
            Scope::Link => "link",
            Scope::Host => "host",
            Scope::Nowhere => "nowhere",
        }
    }

    /// Parses a scope name (as `as_str` writes it).
    pub fn parse(s: &str) -> Option<Scope> {
        [
            Scope::Global,
            Scope::Site,
            Scope::Link,
            Scope::Host,
            Scope::Nowhere,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The protocol number routes and rules are installed with unless `proto` says otherwise:
/// RTPROT_KEEPALIVED (18, `proto keepalived` in `ip route`), as keepalived 2.2.7 does.
pub const ROUTE_PROTO: u8 = 18;

/// A route type other than unicast (`ip route add blackhole ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum RouteType {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteType {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteType::Unicast => "unicast",
            RouteType::Blackhole => "blackhole",
            RouteType::Unreachable => "unreachable",
            RouteType::Prohibit => "prohibit",
        }
    }
}

/// A route of `virtual_routes` (added on becoming master, removed on leaving it) or
/// `static_routes` (added at start).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination and prefix length (`0.0.0.0/0` is the default route).
    pub to: (IpAddr, u8),
    pub kind: RouteType,
    /// Gateway (unicast only).
    pub via: Option<IpAddr>,
    /// A second gateway (keepalived's `via A or B`): the route is then multipath, one
    /// nexthop via each (RTA_MULTIPATH, both on `dev`), as keepalived 2.2.7 installs it.
    pub or: Option<IpAddr>,
    /// Output interface (unicast needs `via` or `dev`).
    pub dev: Option<String>,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    /// Routing table (None: main, 254).
    pub table: Option<u32>,
    /// Route priority (`metric`).
    pub metric: Option<u32>,
    /// None: the kernel's default (link without a gateway, else global).
    pub scope: Option<Scope>,
    /// Protocol number (None: [`ROUTE_PROTO`]).
    pub proto: Option<u8>,
}

impl Route {
    /// The protocol it is installed with.
    pub fn protocol(&self) -> u8 {
        self.proto.unwrap_or(ROUTE_PROTO)
    }
}

/// A policy routing rule of `virtual_rules` / `static_rules` (`ip rule add ...`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// IPv4 or IPv6 (from `from`/`to`, else `family`; IPv4 by default as keepalived).
    pub family: Family,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    /// Table to look up (required).
    pub table: u32,
    /// Rule priority (`preference`); None: the kernel picks one.
    pub priority: Option<u32>,
    /// Incoming interface.
    pub iif: Option<String>,
    /// Outgoing interface.
    pub oif: Option<String>,
    /// Firewall mark and optional mask.
    pub fwmark: Option<(u32, Option<u32>)>,
    /// Protocol number (None: [`ROUTE_PROTO`]).
    pub proto: Option<u8>,
}

impl Rule {
    /// The protocol it is installed with.
    pub fn protocol(&self) -> u8 {
        self.proto.unwrap_or(ROUTE_PROTO)
    }
}

/// The TTL / hop limit a unicast peer's adverts must arrive with, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlRange {
    /// Default 0.
    pub min: u8,
    /// Default 255; never below `min`.
    pub max: u8,
}

impl TtlRange {
    pub fn contains(self, ttl: u8) -> bool {
        (self.min..=self.max).contains(&ttl)
    }
}

/// A tracked interface: down means Fault (weight None) or a priority change (weight).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    pub weight: Option<i32>,
    /// The weight applies negated; without a weight (or 0): up means Fault.
    pub reverse: bool,
}

/// Gratuitous ARP / unsolicited NA schedule on becoming master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Garp {
    /// Delay before the second burst (keepalived `garp_master_delay`, default 5 s; 0 = none).
    pub delay: Duration,
    /// Announcements per burst (default 5).
    pub repeat: u32,
    /// Period of refresh bursts while master (default 0 = off).
    pub refresh: Duration,
    /// Least time between two announcements on the interface (keepalived's
    /// `vrrp_garp_interval` for ARP, `vrrp_gna_interval` for NA; default 0 = back to back).
    pub interval: Duration,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: Duration::ZERO,
            interval: Duration::ZERO,
        }
    }
}

/// One VRRP instance (virtual router on one interface).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceConfig {
    /// The YAML key, e.g. "VI_1".
    pub name: String,
    pub interface: String,
    /// 1..=255.
    pub vrid: u8,
    /// 1..=255 (255 = address owner).
    pub priority: u8,
    pub version: Version,
    /// Derived from `virtual_ipaddress` (all the same family).
    pub family: Family,
    /// v2: whole seconds; v3: a multiple of 10 ms in 10 ms..=40.95 s.
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// v2 simple-text password (auth type 1), at most 8 bytes. None = auth type 0.
    /// A [`Secret`](crate::security::Secret): never printed (Debug shows `<redacted>`).
    pub auth_pass: Option<crate::security::Secret>,
    /// At least one; all of `family`.
    pub virtual_ipaddress: Vec<Vip>,
    /// Moved with the master like `virtual_ipaddress` but never advertised (any family).
    pub virtual_ipaddress_excluded: Vec<Vip>,
    /// Added on becoming master, removed on leaving it (and at start).
    pub virtual_routes: Vec<Route>,
    /// The same for policy routing rules.
    pub virtual_rules: Vec<Rule>,
    /// Unicast peers (same family); empty = multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// The TTL / hop limit range of the peers that set one (keepalived's `unicast_peer { A
    /// min_ttl N max_ttl M }`): their adverts arriving outside it are dropped. Only peers
    /// of `unicast_peers`; any such peer implies `check_unicast_src`, as in keepalived.
    pub unicast_peer_ttl: BTreeMap<IpAddr, TtlRange>,
    /// Optional explicit source for unicast adverts (keepalived `unicast_src_ip`).
    pub unicast_src: Option<IpAddr>,
    /// Drop unicast adverts whose source is not one of `unicast_peers` (keepalived's
    /// `check_unicast_src` / global `vrrp_check_unicast_src`). Off by default, as there.
    pub check_unicast_src: bool,
    pub track_interfaces: Vec<TrackInterface>,
    /// Check scripts this instance follows (names are keys of [`Config::scripts`]).
    pub track_scripts: Vec<TrackScript>,
    pub track_files: Vec<TrackFile>,
    /// Tracked processes this instance follows (names are keys of [`Config::processes`]).
    pub track_processes: Vec<TrackProcess>,
    pub notify: Notify,
    pub garp: Garp,
    pub v3_checksum: ChecksumForm,
    /// The `group` label of the instance's metrics and its /status entry, when set; else it
    /// is derived (see `router::group_of`).
    pub group: Option<String>,
    /// `use_vmac`: the master holds its addresses on a macvlan with the virtual router MAC.
    pub vmac: Option<Vmac>,
}

/// keepalived's `use_vmac [name]` and `vmac_xmit_base`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vmac {
    /// The macvlan's name (default `vrrp.<vrid>`, keepalived's).
    pub name: String,
    /// Adverts go out from the base interface (its own MAC); addresses and GARP/NA stay on
    /// the macvlan.
    pub xmit_base: bool,
    /// IPv6: the link-local address derived from the virtual MAC goes first in the advert
    /// (RFC 9568, what FRR expects; the default). `false` advertises the configured addresses
    /// only, as keepalived 2.2.7 does: a keepalived peer drops adverts whose address count
    /// differs from its own list.
    pub link_local: bool,
}

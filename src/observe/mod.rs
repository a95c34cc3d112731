//! Observability: the Prometheus metrics registry (this file), the process metrics collector
//! (`process`) and the HTTP endpoint serving `/metrics`, `/status`, `/healthz` (`http`).
//!
//! The engine task owns the handles ([`InstanceMetrics`], [`PeerMetrics`], [`ScriptMetrics`])
//! and updates them; every per-packet method is a plain atomic operation on a series created
//! up front. Creating or removing series (an instance appears, a new peer is heard, a reload)
//! takes the lock of the affected families only, never one lock for the whole registry, and
//! scraping (`encode`) only takes those families' read locks.
//!
//! Label values are bounded: instance labels come from the configuration, peers and filtered
//! sources are capped at [`MAX_PEERS`] per instance (the least recently heard is evicted),
//! scripts and tracked interfaces come from the configuration, HTTP paths are bucketed.

mod http;
mod process;
pub use process::Scheduling;
#[cfg(test)]
mod tests;

#[doc(hidden)]
pub use http::fuzz_exchange;
pub use http::{
    EVICT_AFTER_IDLE, HEADER_READ_TIMEOUT, LISTEN_BACKLOG, MAX_CONNECTIONS, MAX_ENCODES,
    StatusSource, bind, bind_std, serve, serve_with,
};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::CounterWithExemplar;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::engine::State;
use crate::packet::Version;
use crate::packet::vrrp::{ChecksumForm, DropReason};

/// Most peers (and, separately, most filtered sources) kept per instance; beyond it the
/// least recently heard one is evicted with its series.
pub const MAX_PEERS: usize = 32;

/// `Content-Type` of [`Metrics::encode`] with `openmetrics = true`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of [`Metrics::encode`] with `openmetrics = false`.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Results a script run can have (`vrrp_script_runs_total{result}`).
pub const SCRIPT_RESULTS: [&str; 4] = ["success", "failure", "timeout", "error"];

/// Reasons of `vrrp_peer_config_mismatch_total{reason}`: the ways a peer's adverts can
/// disagree with our configuration (a split brain by configuration), as opposed to noise on
/// the wire (checksum, length, ttl), which only `vrrp_adverts_dropped_total` counts.
pub const PEER_MISMATCH_REASONS: [&str; 5] = [
    "interval",
    "auth_type",
    "auth_failure",
    "version",
    "address_list",
];

/// Buckets of `vrrp_script_duration_seconds`.
const SCRIPT_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Buckets of `vipd_engine_timer_lateness_seconds`: from "on time" to "a backup has taken over".
const LATENESS_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0,
];

fn lateness_histogram() -> Histogram {
    Histogram::new(LATENESS_BUCKETS)
}

/// Version of the rustc that built vipd (set by build.rs; "unknown" if it could not tell).
pub const RUSTC_VERSION: &str = env!("VIPD_RUSTC_VERSION");

/// Git revision vipd was built from (set by build.rs; "unknown" when built without git, e.g.
/// from a tarball).
pub const REVISION: &str = env!("VIPD_REVISION");

/// A gauge holding a float.
type FGauge = Gauge<f64, AtomicU64>;

/// Exemplar labels of the transition counter: the OpenTelemetry trace of the transition.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TraceLabels {
    pub trace_id: String,
}

/// Transitions whose series exist from an instance's creation, so that `increase()` counts
/// the first takeover (a series born at 1 shows no increase in its first scrape, only from
/// its second); the others appear at their first occurrence.
const COMMON_TRANSITIONS: [(State, State); 1] = [(State::Backup, State::Master)];

/// Labels identifying an instance on every per-instance series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    /// The instance's name.
    pub vr: String,
    pub vrid: u8,
    pub interface: String,
    /// `ipv4` or `ipv6` (`config::model::Family::as_str`).
    pub family: String,
    /// Sync group name, empty when the instance is in none.
    pub group: String,
}

impl InstanceLabels {
    pub fn new(
        vr: impl Into<String>,
        vrid: u8,
        interface: impl Into<String>,
        family: crate::config::model::Family,
        group: impl Into<String>,
    ) -> InstanceLabels {
        InstanceLabels {
            vr: vr.into(),
            vrid,
            interface: interface.into(),
            family: family.as_str().to_owned(),
            group: group.into(),
        }
    }
}

/// The one label of every per-instance series (besides the series' own): the instance's
/// name. The rest of [`InstanceLabels`] is on the instance's `vrrp_instance_info` series only,
/// which queries join with `* on (job, instance, vr) group_left (...) vrrp_instance_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VrLabels {
    vr: String,
}

/// `vrrp_instance_info`: everything identifying an instance, once per instance.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    #[prometheus(flatten)]
    i: InstanceLabels,
    /// `2` or `3`.
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    from: &'static str,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AddressLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerFormLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    peer: String,
    form: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerReasonLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    peer: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrackLabels {
    #[prometheus(flatten)]
    i: VrLabels,
    track_interface: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScriptLabels {
    script: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessLabels {
    process: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScriptResultLabels {
    script: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncGroupLabels {
    group: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
    /// The compiler's version, as Prometheus's own build info has `goversion`.
    rustversion: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    path: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsFailureLabels {
    reason: &'static str,
}

/// The `reason`s of `vipd_http_tls_handshake_failures_total`, all present from the start.
pub const TLS_FAILURE_REASONS: [&str; 6] = [
    "not_tls",
    "client_certificate",
    "alert",
    "timeout",
    "io",
    "other",
];

fn script_histogram() -> Histogram {
    Histogram::new(SCRIPT_BUCKETS)
}

/// Every family; each is also registered (a clone sharing the same series) in the registry.
struct Families {
    info: Family<InfoLabels, Gauge>,
    state: Family<StateLabels, Gauge>,
    transitions: Family<TransitionLabels, CounterWithExemplar<TraceLabels>>,
    last_transition: Family<VrLabels, FGauge>,
    priority: Family<VrLabels, Gauge>,
    base_priority: Family<VrLabels, Gauge>,
    master_priority: Family<VrLabels, Gauge>,
    advert_interval: Family<VrLabels, FGauge>,
    master_advert_interval: Family<VrLabels, FGauge>,
    adverts_sent: Family<VrLabels, Counter>,
    adverts_received: Family<VrLabels, Counter>,
    adverts_dropped: Family<ReasonLabels, Counter>,
    priority_zero_sent: Family<VrLabels, Counter>,
    priority_zero_received: Family<VrLabels, Counter>,
    send_errors: Family<VrLabels, Counter>,
    first_not_link_local: Family<VrLabels, Counter>,
    vip_restored: Family<VrLabels, Counter>,
    announcements: Family<KindLabels, Counter>,
    masters_observed: Family<VrLabels, Gauge>,
    drained: Family<VrLabels, Gauge>,
    vip_present: Family<AddressLabels, Gauge>,
    adverts_filtered: Family<PeerLabels, Counter>,
    track_interface_up: Family<TrackLabels, Gauge>,
    peer_master: Family<PeerLabels, Counter>,
    peer_priority: Family<PeerLabels, Gauge>,
    peer_last_advert: Family<PeerLabels, FGauge>,
    peer_checksum_form: Family<PeerFormLabels, Gauge>,
    peer_config_mismatch: Family<PeerReasonLabels, Counter>,
    script_healthy: Family<ScriptLabels, Gauge>,
    script_runs: Family<ScriptResultLabels, Counter>,
    script_duration: Family<ScriptLabels, Histogram, fn() -> Histogram>,
    script_user_denied: Family<ScriptLabels, Counter>,
    process_running: Family<ProcessLabels, Gauge>,
    process_healthy: Family<ProcessLabels, Gauge>,
    config_reloads: Family<ResultLabels, Counter>,
    sync_group_state: Family<SyncGroupLabels, Gauge>,
    config_last_success: FGauge,
    config_last_ok: Gauge,
    http_requests: Family<HttpLabels, Counter>,
    http_tls_failures: Family<TlsFailureLabels, Counter>,
    timer_lateness: Histogram,
}

impl Families {
    fn new() -> Families {
        Families {
            info: Family::default(),
            state: Family::default(),
            transitions: Family::default(),
            last_transition: Family::default(),
            priority: Family::default(),
            base_priority: Family::default(),
            master_priority: Family::default(),
            advert_interval: Family::default(),
            master_advert_interval: Family::default(),
            adverts_sent: Family::default(),
            adverts_received: Family::default(),
            adverts_dropped: Family::default(),
            priority_zero_sent: Family::default(),
            priority_zero_received: Family::default(),
            send_errors: Family::default(),
            first_not_link_local: Family::default(),
            vip_restored: Family::default(),
            announcements: Family::default(),
            masters_observed: Family::default(),
            drained: Family::default(),
            vip_present: Family::default(),
            adverts_filtered: Family::default(),
            track_interface_up: Family::default(),
            peer_master: Family::default(),
            peer_priority: Family::default(),
            peer_last_advert: Family::default(),
            peer_checksum_form: Family::default(),
            peer_config_mismatch: Family::default(),
            script_healthy: Family::default(),
            script_runs: Family::default(),
            script_duration: Family::new_with_constructor(script_histogram),
            script_user_denied: Family::default(),
            process_running: Family::default(),
            process_healthy: Family::default(),
            config_reloads: Family::default(),
            sync_group_state: Family::default(),
            config_last_success: FGauge::default(),
            config_last_ok: Gauge::default(),
            http_requests: Family::default(),
            http_tls_failures: Family::default(),
            timer_lateness: lateness_histogram(),
        }
    }

    /// Registers every family. Counter names go without `_total`: the encoder appends it.
    fn register(&self, r: &mut Registry) {
        let f = self;
        r.register(
            "vrrp_instance_info",
            "Always 1; the labels identify the instance: vr (its name, the only instance label of every other vrrp_ series), vrid, interface, family, group (the virtual router across nodes) and VRRP version",
            f.info.clone(),
        );
        r.register(
            "vrrp_instance_state",
            "1 for the instance's current state, 0 for the four others",
            f.state.clone(),
        );
        r.register(
            "vrrp_sync_group_state",
            "1 for the sync group's current state, 0 for the four others",
            f.sync_group_state.clone(),
        );
        r.register(
            "vrrp_instance_transitions",
            "State transitions of the instance, by from and to state",
            f.transitions.clone(),
        );
        r.register(
            "vrrp_instance_last_transition_timestamp_seconds",
            "Unix time of the instance's last state transition",
            f.last_transition.clone(),
        );
        r.register(
            "vrrp_instance_priority",
            "Effective priority (base priority adjusted by tracking)",
            f.priority.clone(),
        );
        r.register(
            "vrrp_instance_base_priority",
            "Configured priority",
            f.base_priority.clone(),
        );
        r.register(
            "vrrp_instance_master_priority",
            "Priority last heard from the master, or our own when master",
            f.master_priority.clone(),
        );
        r.register(
            "vrrp_instance_advert_interval_seconds",
            "Configured advertisement interval",
            f.advert_interval.clone(),
        );
        r.register(
            "vrrp_instance_master_advert_interval_seconds",
            "Advertisement interval learned from the master",
            f.master_advert_interval.clone(),
        );
        r.register(
            "vrrp_adverts_sent",
            "Advertisements sent",
            f.adverts_sent.clone(),
        );
        r.register(
            "vrrp_adverts_received",
            "Valid advertisements received for the instance",
            f.adverts_received.clone(),
        );
        r.register(
            "vrrp_adverts_dropped",
            "Received advertisements dropped, by validation rule that failed",
            f.adverts_dropped.clone(),
        );
        r.register(
            "vrrp_priority_zero_sent",
            "Advertisements with priority 0 (master resigning) sent",
            f.priority_zero_sent.clone(),
        );
        r.register(
            "vrrp_priority_zero_received",
            "Advertisements with priority 0 (master resigning) received",
            f.priority_zero_received.clone(),
        );
        r.register(
            "vrrp_advert_send_errors",
            "Advertisements that could not be sent (the socket refused them)",
            f.send_errors.clone(),
        );
        r.register(
            "vrrp_adverts_first_address_not_link_local",
            "Accepted IPv6 advertisements whose first address is not link-local (RFC 9568 5.2.9 asks for it; keepalived does not send it)",
            f.first_not_link_local.clone(),
        );
        r.register(
            "vrrp_vip_restored",
            "Virtual addresses a master found removed from its interface by someone else and put back",
            f.vip_restored.clone(),
        );
        r.register(
            "vrrp_address_announcements",
            "Gratuitous ARP (kind=garp) and unsolicited neighbour advertisements (kind=na) sent",
            f.announcements.clone(),
        );
        r.register(
            "vrrp_masters_observed",
            "Routers, this one included, that advertised as master (priority above 0) within three of their advert intervals plus one second, also those whose adverts disagree with our configuration; above 1 is a split brain",
            f.masters_observed.clone(),
        );
        r.register(
            "vrrp_instance_drained",
            "1 while an operator has drained the instance (vipd drain): it hands mastership over and stays Backup until undrained",
            f.drained.clone(),
        );
        r.register(
            "vrrp_vip_present",
            "1 when the virtual address is on the interface, as read back from the kernel",
            f.vip_present.clone(),
        );
        r.register(
            "vrrp_adverts_filtered",
            "VRRP frames for the instance seen on the wire but never delivered to the protocol socket (a local firewall drops them)",
            f.adverts_filtered.clone(),
        );
        r.register(
            "vrrp_track_interface_up",
            "1 when the tracked interface is up",
            f.track_interface_up.clone(),
        );
        r.register(
            "vrrp_peer_master",
            "Times the peer became the master we follow or was heard advertising as master",
            f.peer_master.clone(),
        );
        r.register(
            "vrrp_peer_priority",
            "Priority in the peer's last advertisement",
            f.peer_priority.clone(),
        );
        r.register(
            "vrrp_peer_last_advert_timestamp_seconds",
            "Unix time of the peer's last advertisement",
            f.peer_last_advert.clone(),
        );
        r.register(
            "vrrp_peer_checksum_form",
            "1 for the checksum form of the peer's last advertisement, 0 for the other",
            f.peer_checksum_form.clone(),
        );
        r.register(
            "vrrp_peer_config_mismatch",
            "Adverts from this peer dropped because they disagree with our configuration, by reason (address_list ones are counted but still used)",
            f.peer_config_mismatch.clone(),
        );
        r.register(
            "vrrp_script_healthy",
            "1 when the tracking script's last result counts as healthy",
            f.script_healthy.clone(),
        );
        r.register(
            "vrrp_script_runs",
            "Tracking script runs, by result",
            f.script_runs.clone(),
        );
        r.register(
            "vrrp_script_duration_seconds",
            "Tracking script run time",
            f.script_duration.clone(),
        );
        r.register(
            "vrrp_script_user_denied",
            "Check script runs refused because vipd's credentials cannot switch to the script's user",
            f.script_user_denied.clone(),
        );
        r.register(
            "vrrp_process_running",
            "Processes matching the tracked process now",
            f.process_running.clone(),
        );
        r.register(
            "vrrp_process_healthy",
            "1 when the tracked process's count is within its quorum (after the delays)",
            f.process_healthy.clone(),
        );
        r.register(
            "vipd_config_reloads",
            "Configuration reloads, by result",
            f.config_reloads.clone(),
        );
        r.register(
            "vipd_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load (the start-up load or a SIGHUP reload)",
            f.config_last_success.clone(),
        );
        r.register(
            "vipd_config_last_reload_successful",
            "Whether the last configuration load succeeded (1) or was rejected (0)",
            f.config_last_ok.clone(),
        );
        r.register(
            "vipd_http_requests",
            "Requests to the HTTP endpoint, by path (unknown paths as other) and status code",
            f.http_requests.clone(),
        );
        r.register(
            "vipd_http_tls_handshake_failures",
            "TLS handshakes on the HTTP endpoint that failed (--web.config.file with TLS), by reason: not_tls (plain HTTP to the TLS port), client_certificate (none or not trusted), alert (the client gave up, e.g. it does not trust our certificate), timeout, io, other",
            f.http_tls_failures.clone(),
        );
        for reason in TLS_FAILURE_REASONS {
            f.http_tls_failures
                .get_or_create(&TlsFailureLabels { reason })
                .inc_by(0);
        }
        r.register(
            "vipd_engine_timer_lateness_seconds",
            "How long after its deadline the engine handled a timer (an advert due, a master-down expiry); a slow tail means the host starves vipd of CPU",
            f.timer_lateness.clone(),
        );
    }
}

struct Inner {
    registry: Registry,
    f: Families,
    /// Live instances by name; only `instance_of` and `remove_instance` touch it.
    instances: Mutex<HashMap<String, Arc<InstanceShared>>>,
    /// Length of the last plain exposition: the next one's buffer is allocated once at about
    /// that size instead of doubling its way there (which leaves a buffer of up to twice the
    /// body, and the smaller ones before it, in the allocator).
    last_len: std::sync::atomic::AtomicUsize,
}

/// The metrics registry. Cheap to clone (an `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Locks a mutex, ignoring poisoning: the guarded data are metric handles and label sets,
/// valid whatever a panicking holder was doing.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn script_result_index(result: &str) -> usize {
    SCRIPT_RESULTS
        .iter()
        .position(|x| *x == result)
        .unwrap_or(3)
}

/// Seconds since the Unix epoch: the one wall clock vipd reads, for the timestamps it exports
/// (the protocol itself only ever gets monotonic time as an argument).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A registry with `vipd_build_info{version,revision} 1`, the process metrics, the
    /// configuration reload series (both results at 0) and no instance yet.
    pub fn new(version: &str, revision: &str) -> Metrics {
        let f = Families::new();
        let mut registry = Registry::default();
        registry.register(
            "vipd_build",
            "Build of the running vipd; always 1",
            Info::new(BuildLabels {
                version: version.to_owned(),
                revision: revision.to_owned(),
                rustversion: RUSTC_VERSION,
            }),
        );
        f.register(&mut registry);
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        for result in ["success", "failure"] {
            f.config_reloads
                .get_or_create_owned(&ResultLabels { result });
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                f,
                instances: Mutex::new(HashMap::new()),
                last_len: Default::default(),
            }),
        }
    }

    /// [`instance_of`](Self::instance_of) for a VRRPv3 instance.
    pub fn instance(&self, l: &InstanceLabels) -> InstanceMetrics {
        self.instance_of(l, Version::V3)
    }

    /// Creates the series an instance of `version` has from the start and returns the
    /// handles: `vrrp_instance_info` (the one series with vrid, interface, family and group),
    /// the 5 state series with `init` at 1, the two election transitions at 0, the
    /// announcement kind of its family, and the gauges and counters of docs/metrics.md
    /// ("Series per instance"). Drop reasons, other transitions and the other announcement
    /// kind appear at their first occurrence. Calling it again for the same labels returns
    /// handles to the same series; for the same name with other labels (a reload changed the
    /// instance's VRID, interface, family or group), the old instance's series go first.
    pub fn instance_of(&self, l: &InstanceLabels, version: Version) -> InstanceMetrics {
        let mut instances = lock(&self.inner.instances);
        if let Some(s) = instances.get(&l.vr) {
            if s.labels == *l && s.version == version {
                return InstanceMetrics {
                    m: self.inner.clone(),
                    s: s.clone(),
                };
            }
            if let Some(old) = instances.remove(&l.vr) {
                remove_instance_series(&self.inner.f, &old);
            }
        }
        let f = &self.inner.f;
        let vr = VrLabels { vr: l.vr.clone() };
        let i = || vr.clone();
        let info = InfoLabels {
            i: l.clone(),
            version: version_label(version),
        };
        f.info.get_or_create(&info).set(1);
        let state = State::ALL.map(|s| {
            f.state.get_or_create_owned(&StateLabels {
                i: i(),
                state: s.as_str(),
            })
        });
        let ipv6 = l.family == crate::config::model::Family::Ipv6.as_str();
        let kind = |kind| {
            f.announcements
                .get_or_create_owned(&KindLabels { i: i(), kind })
        };
        let (garp, na) = if ipv6 {
            (None, Some(kind("na")))
        } else {
            (Some(kind("garp")), None)
        };
        let shared = Arc::new(InstanceShared {
            labels: l.clone(),
            version,
            last_transition: f.last_transition.get_or_create_owned(&vr),
            priority: f.priority.get_or_create_owned(&vr),
            base_priority: f.base_priority.get_or_create_owned(&vr),
            master_priority: f.master_priority.get_or_create_owned(&vr),
            advert_interval: f.advert_interval.get_or_create_owned(&vr),
            master_advert_interval: f.master_advert_interval.get_or_create_owned(&vr),
            sent: f.adverts_sent.get_or_create_owned(&vr),
            received: f.adverts_received.get_or_create_owned(&vr),
            prio0_sent: f.priority_zero_sent.get_or_create_owned(&vr),
            prio0_received: f.priority_zero_received.get_or_create_owned(&vr),
            mismatch: Counter::default(),
            first_not_link_local: ipv6.then(|| f.first_not_link_local.get_or_create_owned(&vr)),
            vip_restored: f.vip_restored.get_or_create_owned(&vr),
            garp,
            na,
            masters_observed: f.masters_observed.get_or_create_owned(&vr),
            drained: f.drained.get_or_create_owned(&vr),
            state,
            vr,
            dynamic: Mutex::new(Dynamic::default()),
        });
        shared.state[state_index(State::Init)].set(1);
        instances.insert(l.vr.clone(), shared.clone());
        let m = InstanceMetrics {
            m: self.inner.clone(),
            s: shared,
        };
        for (from, to) in COMMON_TRANSITIONS {
            m.transition_counter(from, to);
        }
        m
    }

    /// Sets a sync group's state series: 1 for `state`, 0 for the four others (all five
    /// exist from the group's first report).
    pub fn set_sync_group_state(&self, group: &str, state: State) {
        for s in State::ALL {
            self.inner
                .f
                .sync_group_state
                .get_or_create(&SyncGroupLabels {
                    group: group.to_owned(),
                    state: s.as_str(),
                })
                .set(i64::from(s == state));
        }
    }

    /// Removes a sync group's state series (a reload removed the group).
    pub fn remove_sync_group(&self, group: &str) {
        for s in State::ALL {
            self.inner.f.sync_group_state.remove(&SyncGroupLabels {
                group: group.to_owned(),
                state: s.as_str(),
            });
        }
    }

    /// Removes every series of the instance, including its peers', addresses', tracked
    /// interfaces' and transitions'. Handles still held keep working but no longer export
    /// anything and never re-create series. Does nothing when `l` is not the live instance of
    /// its name (already removed, or replaced by one with other labels).
    pub fn remove_instance(&self, l: &InstanceLabels) {
        let mut instances = lock(&self.inner.instances);
        if instances.get(&l.vr).is_none_or(|s| s.labels != *l) {
            return;
        }
        if let Some(shared) = instances.remove(&l.vr) {
            remove_instance_series(&self.inner.f, &shared);
        }
    }

    /// The configuration loaded at start-up (vipd does not start without one), as Prometheus
    /// does: `vipd_config_last_reload_successful` 1 and the success timestamp `unix_time`.
    /// `vipd_config_reloads_total` counts SIGHUP reloads only and is not changed.
    pub fn config_loaded(&self, unix_time: f64) {
        self.inner.f.config_last_ok.set(1);
        self.inner.f.config_last_success.set(unix_time);
    }

    /// Counts a SIGHUP reload attempt and sets `vipd_config_last_reload_successful`; on
    /// success also sets `vipd_config_last_reload_success_timestamp_seconds` to `unix_time`.
    pub fn config_reload(&self, ok: bool, unix_time: f64) {
        let result = if ok { "success" } else { "failure" };
        self.inner
            .f
            .config_reloads
            .get_or_create(&ResultLabels { result })
            .inc();
        self.inner.f.config_last_ok.set(i64::from(ok));
        if ok {
            self.inner.f.config_last_success.set(unix_time);
        }
    }

    /// Creates the series of a tracking script (healthy 0, every result at 0, an empty
    /// histogram) and returns the handles. Same series again for the same name.
    pub fn script(&self, name: &str) -> ScriptMetrics {
        let f = &self.inner.f;
        let script = || name.to_owned();
        ScriptMetrics {
            runs: SCRIPT_RESULTS.map(|result| {
                f.script_runs.get_or_create_owned(&ScriptResultLabels {
                    script: script(),
                    result,
                })
            }),
            duration: f
                .script_duration
                .get_or_create_owned(&ScriptLabels { script: script() }),
            healthy: f
                .script_healthy
                .get_or_create_owned(&ScriptLabels { script: script() }),
            user_denied: f
                .script_user_denied
                .get_or_create_owned(&ScriptLabels { script: script() }),
        }
    }

    /// Creates the series of a tracked process (running 0, healthy 0) and returns the handles.
    pub fn process(&self, name: &str) -> ProcessMetrics {
        let f = &self.inner.f;
        let l = ProcessLabels {
            process: name.to_owned(),
        };
        ProcessMetrics {
            running: f.process_running.get_or_create_owned(&l),
            healthy: f.process_healthy.get_or_create_owned(&l),
        }
    }

    /// Removes the series of a tracked process.
    pub fn remove_process(&self, name: &str) {
        let f = &self.inner.f;
        let l = ProcessLabels {
            process: name.to_owned(),
        };
        f.process_running.remove(&l);
        f.process_healthy.remove(&l);
    }

    /// Removes every series of a tracking script.
    pub fn remove_script(&self, name: &str) {
        let f = &self.inner.f;
        let script = || name.to_owned();
        for result in SCRIPT_RESULTS {
            f.script_runs.remove(&ScriptResultLabels {
                script: script(),
                result,
            });
        }
        f.script_duration.remove(&ScriptLabels { script: script() });
        f.script_healthy.remove(&ScriptLabels { script: script() });
        f.script_user_denied
            .remove(&ScriptLabels { script: script() });
    }

    /// Records how late the engine handled a timer.
    pub fn timer_lateness(&self, late: Duration) {
        self.inner.f.timer_lateness.observe(secs(late));
    }

    /// Counts a failed TLS handshake on the HTTP endpoint (`reason` one of
    /// [`TLS_FAILURE_REASONS`]); returns the count for that reason so far.
    pub(crate) fn http_tls_failure(&self, reason: &'static str) -> u64 {
        let c = self
            .inner
            .f
            .http_tls_failures
            .get_or_create(&TlsFailureLabels { reason });
        c.inc() + 1
    }

    /// Counts a request to the HTTP endpoint; `path` must be one of a fixed set.
    fn http_request(&self, path: &'static str, code: u16) {
        self.inner
            .f
            .http_requests
            .get_or_create(&HttpLabels { path, code })
            .inc();
    }

    /// Text exposition: OpenMetrics 1.0 (ending with `# EOF`) when `openmetrics`, else the
    /// classic Prometheus text format 0.0.4. Reads `/proc/self` for the process metrics.
    pub fn encode(&self, openmetrics: bool) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.inner.last_len.load(Relaxed);
        // A little room for counters gaining digits and series appearing since.
        let mut out = String::with_capacity((last + last / 16).max(32 * 1024));
        let r = if openmetrics {
            text::encode(&mut out, &self.inner.registry)
        } else {
            prometheus_text::encode(&mut out, &self.inner.registry)
        };
        self.inner.last_len.store(out.len(), Relaxed);
        // Writing to a String cannot fail; the encoders return errors from the writer only.
        if let Err(e) = r {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }

    /// [`encode`](Self::encode), gzip-compressed ([`GZIP_LEVEL`]) as it is produced: the text is
    /// handed to the compressor in [`GZIP_CHUNK`] pieces, so the whole uncompressed body never
    /// exists in memory at once (at 250 instances it is about ten times the compressed one).
    pub fn encode_gzip(&self, openmetrics: bool) -> Vec<u8> {
        let mut w = GzipText {
            chunk: String::with_capacity(GZIP_CHUNK),
            gz: flate2::write::GzEncoder::new(
                Vec::with_capacity(16 * 1024),
                flate2::Compression::new(GZIP_LEVEL),
            ),
            failed: None,
        };
        let r = if openmetrics {
            text::encode(&mut w, &self.inner.registry)
        } else {
            prometheus_text::encode(&mut w, &self.inner.registry)
        };
        let flushed = w.flush_chunk();
        match (r, flushed, w.failed.take()) {
            (Ok(()), true, None) => {}
            (_, _, failed) => tracing::warn!(error = ?failed, "encoding metrics failed"),
        }
        // Compressing into a Vec fails only on a bug in the compressor.
        w.gz.finish().unwrap_or_default()
    }
}

/// Compression level of `/metrics` with gzip: 1, the fastest. The exposition is repetitive
/// (names and labels repeat on every line), so level 1 already gets most of the ratio at a
/// fraction of the default level's time (docs/benchmarks.md, Memory and /metrics).
pub const GZIP_LEVEL: u32 = 1;

/// Bytes of text gathered before they are handed to the compressor.
const GZIP_CHUNK: usize = 32 * 1024;

/// `fmt::Write` into a gzip stream, in [`GZIP_CHUNK`] pieces (the encoders write a few bytes at
/// a time, and the compressor is faster fed in larger pieces).
struct GzipText {
    chunk: String,
    gz: flate2::write::GzEncoder<Vec<u8>>,
    failed: Option<std::io::Error>,
}

impl GzipText {
    /// Compresses what is gathered; false once compressing failed.
    fn flush_chunk(&mut self) -> bool {
        use std::io::Write;
        if self.failed.is_none()
            && let Err(e) = self.gz.write_all(self.chunk.as_bytes())
        {
            self.failed = Some(e);
        }
        self.chunk.clear();
        self.failed.is_none()
    }
}

impl std::fmt::Write for GzipText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.chunk.push_str(s);
        if self.chunk.len() >= GZIP_CHUNK && !self.flush_chunk() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

fn version_label(v: Version) -> &'static str {
    match v {
        Version::V2 => "2",
        Version::V3 => "3",
    }
}

/// Removes every series of an instance (the caller has taken it out of `Inner::instances`)
/// and marks its handles so that they never re-create one.
fn remove_instance_series(f: &Families, shared: &InstanceShared) {
    let vr = &shared.vr;
    let i = || vr.clone();
    let mut d = lock(&shared.dynamic);
    d.removed = true;
    f.info.remove(&InfoLabels {
        i: shared.labels.clone(),
        version: version_label(shared.version),
    });
    for s in State::ALL {
        f.state.remove(&StateLabels {
            i: i(),
            state: s.as_str(),
        });
    }
    for kind in ["garp", "na"] {
        f.announcements.remove(&KindLabels { i: i(), kind });
    }
    for fam in [
        &f.priority,
        &f.base_priority,
        &f.master_priority,
        &f.masters_observed,
        &f.drained,
    ] {
        fam.remove(vr);
    }
    for fam in [
        &f.last_transition,
        &f.advert_interval,
        &f.master_advert_interval,
    ] {
        fam.remove(vr);
    }
    for fam in [
        &f.adverts_sent,
        &f.adverts_received,
        &f.priority_zero_sent,
        &f.priority_zero_received,
        &f.send_errors,
        &f.first_not_link_local,
        &f.vip_restored,
    ] {
        fam.remove(vr);
    }
    for reason in d.dropped.drain().map(|(k, _)| k) {
        f.adverts_dropped.remove(&ReasonLabels { i: i(), reason });
    }
    for (from, to) in d.transitions.drain().map(|(k, _)| k) {
        f.transitions.remove(&TransitionLabels { i: i(), from, to });
    }
    for addr in d.vips.drain().map(|(k, _)| k) {
        f.vip_present.remove(&AddressLabels {
            i: i(),
            address: addr.to_string(),
        });
    }
    for name in d.tracks.drain().map(|(k, _)| k) {
        f.track_interface_up.remove(&TrackLabels {
            i: i(),
            track_interface: name,
        });
    }
    for peer in d.filtered.drain().map(|(k, _)| k) {
        f.adverts_filtered.remove(&PeerLabels {
            i: i(),
            peer: peer.to_string(),
        });
    }
    for (p, _) in d.peers.drain().map(|(_, v)| v) {
        p.remove();
    }
    d.late.clear();
}

struct InstanceShared {
    labels: InstanceLabels,
    version: Version,
    /// The label the instance's series carry.
    vr: VrLabels,
    /// Indexed like `State::ALL`.
    state: [Gauge; 5],
    last_transition: FGauge,
    priority: Gauge,
    base_priority: Gauge,
    master_priority: Gauge,
    advert_interval: FGauge,
    master_advert_interval: FGauge,
    sent: Counter,
    received: Counter,
    prio0_sent: Counter,
    prio0_received: Counter,
    /// For `/status` only: the same adverts are exported by peer, as
    /// `vrrp_peer_config_mismatch_total{reason="address_list"}`.
    mismatch: Counter,
    /// IPv6 instances only (None: created on first use).
    first_not_link_local: Option<Counter>,
    vip_restored: Counter,
    /// The announcement kind of the instance's family (the other: None, created on first use).
    garp: Option<Counter>,
    na: Option<Counter>,
    masters_observed: Gauge,
    drained: Gauge,
    dynamic: Mutex<Dynamic>,
}

/// Series created on demand; remembered so `remove_instance` can remove them.
#[derive(Default)]
struct Dynamic {
    /// Set by `remove_instance`: stale handles must not re-create series.
    removed: bool,
    /// Bumped on every peer or filtered-source access, for least-recently-heard eviction.
    tick: u64,
    transitions: HashMap<(&'static str, &'static str), CounterWithExemplar<TraceLabels>>,
    /// `vrrp_adverts_dropped_total` by reason, each created at its first drop.
    dropped: crate::fastmap::FastMap<&'static str, Counter>,
    vips: HashMap<IpAddr, Gauge>,
    tracks: HashMap<String, Gauge>,
    peers: crate::fastmap::FastMap<IpAddr, (PeerMetrics, u64)>,
    filtered: HashMap<IpAddr, (Counter, u64)>,
    /// Series not created up front because they cannot occur for the instance, created if one
    /// occurs after all: keyed by metric name and label value.
    late: HashMap<(&'static str, &'static str), Counter>,
}

/// The key with the smallest tick.
fn least_recent<V, S>(m: &HashMap<IpAddr, (V, u64), S>) -> Option<IpAddr> {
    m.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
}

/// Handles on one instance's series. Cheap to clone.
#[derive(Clone)]
pub struct InstanceMetrics {
    m: Arc<Inner>,
    s: Arc<InstanceShared>,
}

impl std::fmt::Debug for InstanceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceMetrics")
            .field("labels", &self.s.labels)
            .finish_non_exhaustive()
    }
}

impl InstanceMetrics {
    /// The labels of the instance's `vrrp_instance_info` series (its other series carry
    /// only `vr`).
    pub fn labels(&self) -> &InstanceLabels {
        &self.s.labels
    }

    /// `vrrp_instance_state`: 1 for `s`, 0 for the others.
    pub fn set_state(&self, s: State) {
        let current = state_index(s);
        for (i, g) in self.s.state.iter().enumerate() {
            g.set(i64::from(i == current));
        }
    }

    /// Counts the transition, sets its timestamp and the new state.
    /// `trace_id` (of the transition's span, when traces are exported) becomes the counter's
    /// exemplar in OpenMetrics output, linking the metric to the trace.
    pub fn transition(&self, from: State, to: State, unix_time: f64, trace_id: Option<String>) {
        if let Some(c) = self.transition_counter(from, to) {
            c.inc_by(1, trace_id.map(|trace_id| TraceLabels { trace_id }), None);
        }
        self.s.last_transition.set(unix_time);
        self.set_state(to);
    }

    /// The `{from, to}` transition counter, created at 0 on first use (None once removed).
    fn transition_counter(
        &self,
        from: State,
        to: State,
    ) -> Option<CounterWithExemplar<TraceLabels>> {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return None;
        }
        let key = (from.as_str(), to.as_str());
        let f = &self.m.f;
        let vr = &self.s.vr;
        let c = d.transitions.entry(key).or_insert_with(|| {
            f.transitions.get_or_create_owned(&TransitionLabels {
                i: vr.clone(),
                from: key.0,
                to: key.1,
            })
        });
        Some(c.clone())
    }

    /// `vrrp_instance_priority` (effective) and `vrrp_instance_base_priority`.
    pub fn set_priority(&self, effective: u8, base: u8) {
        self.s.priority.set(i64::from(effective));
        self.s.base_priority.set(i64::from(base));
    }

    /// `vrrp_instance_master_priority`: last heard from the master, or our own when master.
    pub fn set_master_priority(&self, p: u8) {
        self.s.master_priority.set(i64::from(p));
    }

    /// Configured advert interval and the master advert interval learned from the master
    /// (the master-down interval follows from it and the priority: docs/metrics.md).
    pub fn set_intervals(&self, advert: Duration, master_advert: Duration) {
        self.s.advert_interval.set(secs(advert));
        self.s.master_advert_interval.set(secs(master_advert));
    }

    /// One advert sent (and a priority-0 one when `priority == 0`).
    pub fn advert_sent(&self, priority: u8) {
        self.s.sent.inc();
        if priority == 0 {
            self.s.prio0_sent.inc();
        }
    }

    /// One valid advert received (and a priority-0 one when `priority == 0`).
    pub fn advert_received(&self, priority: u8) {
        self.s.received.inc();
        if priority == 0 {
            self.s.prio0_received.inc();
        }
    }

    /// `n` valid adverts received, none of priority 0 (the daemon adds the adverts of the
    /// last 100 ms at once).
    pub fn adverts_received(&self, n: u64) {
        self.s.received.inc_by(n);
    }

    /// One advert dropped for `r`; the reason's series is created at its first drop.
    pub fn dropped(&self, r: DropReason) {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return;
        }
        let f = &self.m.f;
        let vr = &self.s.vr;
        d.dropped
            .entry(r.as_str())
            .or_insert_with(|| {
                f.adverts_dropped.get_or_create_owned(&ReasonLabels {
                    i: vr.clone(),
                    reason: r.as_str(),
                })
            })
            .inc();
    }

    /// Counts `n` on a series created on first use (one not created with the instance, see
    /// [`Metrics::instance_of`]) and returns its new value; nothing once the instance is
    /// removed (0).
    fn late(&self, metric: &'static str, value: &'static str, n: u64) -> u64 {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return 0;
        }
        let f = &self.m.f;
        let i = || self.s.vr.clone();
        let c = d
            .late
            .entry((metric, value))
            .or_insert_with(|| match metric {
                "announcements" => f.announcements.get_or_create_owned(&KindLabels {
                    i: i(),
                    kind: value,
                }),
                "send_errors" => f.send_errors.get_or_create_owned(&i()),
                _ => f.first_not_link_local.get_or_create_owned(&i()),
            });
        c.inc_by(n) + n
    }

    /// One advert whose address list differs from ours (`/status`; the metric is the peer's
    /// `vrrp_peer_config_mismatch_total{reason="address_list"}`).
    pub fn address_list_mismatch(&self) {
        self.s.mismatch.inc();
    }

    /// `n` announcements sent: neighbour advertisements when `kind_na`, else gratuitous ARP.
    pub fn announced(&self, kind_na: bool, n: u64) {
        let (c, kind) = if kind_na {
            (&self.s.na, "na")
        } else {
            (&self.s.garp, "garp")
        };
        match c {
            Some(c) => {
                c.inc_by(n);
            }
            None => {
                self.late("announcements", kind, n);
            }
        }
    }

    /// `vrrp_masters_observed`.
    pub fn set_masters_observed(&self, n: u64) {
        self.s.masters_observed.set(saturating_i64(n));
    }

    /// `vrrp_instance_drained`.
    pub fn set_drained(&self, on: bool) {
        self.s.drained.set(i64::from(on));
    }

    /// `vrrp_vip_present{address}`; the series is created on first use.
    pub fn set_vip_present(&self, addr: IpAddr, present: bool) {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return;
        }
        let f = &self.m.f;
        let vr = &self.s.vr;
        d.vips
            .entry(addr)
            .or_insert_with(|| {
                f.vip_present.get_or_create_owned(&AddressLabels {
                    i: vr.clone(),
                    address: addr.to_string(),
                })
            })
            .set(i64::from(present));
    }

    /// Removes the `vrrp_vip_present` series of an address no longer configured.
    pub fn remove_vip(&self, addr: IpAddr) {
        let mut d = lock(&self.s.dynamic);
        if d.vips.remove(&addr).is_some() {
            self.m.f.vip_present.remove(&AddressLabels {
                i: self.s.vr.clone(),
                address: addr.to_string(),
            });
        }
    }

    /// Handles on a peer's series, creating them (and evicting the least recently heard peer
    /// when [`MAX_PEERS`] are already kept) on first use: adverts, master count, priority and
    /// last advert time at once, the checksum form at the first advert, a
    /// `vrrp_peer_config_mismatch_total` reason at its first occurrence.
    pub fn peer(&self, peer: IpAddr) -> PeerMetrics {
        self.with_peer(peer, PeerMetrics::clone)
    }

    /// Calls `f` with the handles of `peer`'s series (created on first use), under the
    /// instance's lock: the per-advert path, which clones no handle.
    pub fn with_peer<R>(&self, peer: IpAddr, use_it: impl FnOnce(&PeerMetrics) -> R) -> R {
        let mut d = lock(&self.s.dynamic);
        d.tick += 1;
        let tick = d.tick;
        if let Some((p, t)) = d.peers.get_mut(&peer) {
            *t = tick;
            return use_it(p);
        }
        if d.removed {
            // Detached handles: updates go nowhere.
            return use_it(&PeerMetrics::detached());
        }
        if d.peers.len() >= MAX_PEERS
            && let Some(old) = least_recent(&d.peers)
            && let Some((p, _)) = d.peers.remove(&old)
        {
            p.remove();
        }
        let p = PeerMetrics::new(
            &self.m.f,
            PeerLabels {
                i: self.s.vr.clone(),
                peer: peer.to_string(),
            },
        );
        let r = use_it(&p);
        d.peers.insert(peer, (p, tick));
        r
    }

    /// Removes a peer's series.
    pub fn remove_peer(&self, peer: IpAddr) {
        let mut d = lock(&self.s.dynamic);
        if let Some((p, _)) = d.peers.remove(&peer) {
            p.remove();
        }
    }

    /// One VRRP frame from `peer` seen on the wire but not delivered to the protocol socket.
    pub fn filtered(&self, peer: IpAddr) {
        self.with_filtered(peer, |c| {
            c.inc();
        });
    }

    /// Creates `vrrp_adverts_filtered_total{peer}` at 0 (call when the wire tap first sees a
    /// source), so that `increase()` also counts its first filtered frame. Idempotent: an
    /// existing series keeps its value. Bounded like [`filtered`](Self::filtered): it counts as
    /// hearing the source, and beyond [`MAX_PEERS`] the least recently heard one is evicted.
    pub fn filtered_source(&self, peer: IpAddr) {
        self.with_filtered(peer, |_| {});
    }

    /// Runs `update` on the filtered-frames counter of `peer`, created at 0 on first use
    /// (evicting the least recently heard source when [`MAX_PEERS`] are kept); does nothing
    /// once the instance is removed.
    fn with_filtered(&self, peer: IpAddr, update: impl FnOnce(&Counter)) {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return;
        }
        d.tick += 1;
        let tick = d.tick;
        if let Some((c, t)) = d.filtered.get_mut(&peer) {
            *t = tick;
            update(c);
            return;
        }
        let f = &self.m.f;
        let key = |peer: IpAddr| PeerLabels {
            i: self.s.vr.clone(),
            peer: peer.to_string(),
        };
        if d.filtered.len() >= MAX_PEERS
            && let Some(old) = least_recent(&d.filtered)
        {
            d.filtered.remove(&old);
            f.adverts_filtered.remove(&key(old));
        }
        let c = f.adverts_filtered.get_or_create_owned(&key(peer));
        update(&c);
        d.filtered.insert(peer, (c, tick));
    }

    /// One advert could not be sent (the series appears at the first); returns the errors so
    /// far.
    pub fn send_error(&self) -> u64 {
        self.late("send_errors", "", 1)
    }

    /// A virtual address removed by someone else was put back.
    pub fn vip_restored(&self) {
        self.s.vip_restored.inc();
    }

    /// One accepted IPv6 advert whose first address is not link-local.
    pub fn first_address_not_link_local(&self) {
        match &self.s.first_not_link_local {
            Some(c) => {
                c.inc();
            }
            None => {
                self.late("first_not_link_local", "", 1);
            }
        }
    }

    /// The counters of the instance as `/status` shows them, read from the series (the
    /// only copy of each).
    pub fn counters(&self) -> crate::status::Counters {
        let s = &self.s;
        let d = lock(&s.dynamic);
        crate::status::Counters {
            adverts_sent: s.sent.get(),
            adverts_received: s.received.get(),
            send_errors: d.late.get(&("send_errors", "")).map_or(0, Counter::get),
            priority_zero_sent: s.prio0_sent.get(),
            priority_zero_received: s.prio0_received.get(),
            address_list_mismatch: s.mismatch.get(),
            transitions: d.transitions.values().map(|c| c.get().0).sum(),
            filtered: d.filtered.values().map(|(c, _)| c.get()).sum(),
            dropped: d
                .dropped
                .iter()
                .map(|(r, c)| ((*r).to_owned(), c.get()))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }

    /// Unix time of the last transition (None before the first).
    pub fn last_transition(&self) -> Option<f64> {
        let t = self.s.last_transition.get();
        (t > 0.0).then_some(t)
    }

    /// `vrrp_track_interface_up{track_interface}`; the series is created on first use.
    pub fn set_track_interface(&self, name: &str, up: bool) {
        let mut d = lock(&self.s.dynamic);
        if d.removed {
            return;
        }
        if let Some(g) = d.tracks.get(name) {
            g.set(i64::from(up));
            return;
        }
        let g = self
            .m
            .f
            .track_interface_up
            .get_or_create_owned(&TrackLabels {
                i: self.s.vr.clone(),
                track_interface: name.to_owned(),
            });
        g.set(i64::from(up));
        d.tracks.insert(name.to_owned(), g);
    }
}

/// Handles on one peer's series. Cheap to clone (an `Arc`).
#[derive(Clone, Debug)]
pub struct PeerMetrics {
    p: Arc<PeerShared>,
}

#[derive(Debug)]
struct PeerShared {
    master: Counter,
    priority: Gauge,
    last_advert: FGauge,
    /// The checksum form whose `vrrp_peer_checksum_form` series exists: 0 none yet,
    /// 1 pseudo-header, 2 RFC 9568 (message only). Read per advert; changed under `lazy`.
    form: std::sync::atomic::AtomicU8,
    /// The families and labels of the series created later (None: detached handles, whose
    /// updates go nowhere).
    fams: Option<PeerFamilies>,
    lazy: Mutex<PeerLazy>,
}

#[derive(Debug)]
struct PeerFamilies {
    key: PeerLabels,
    master: Family<PeerLabels, Counter>,
    priority: Family<PeerLabels, Gauge>,
    last_advert: Family<PeerLabels, FGauge>,
    form: Family<PeerFormLabels, Gauge>,
    mismatch: Family<PeerReasonLabels, Counter>,
}

#[derive(Debug, Default)]
struct PeerLazy {
    /// Set when the peer's series are removed: stale handles must not re-create any.
    removed: bool,
    /// Indexed like `PEER_MISMATCH_REASONS`, each created at its first occurrence.
    mismatch: [Option<Counter>; 5],
}

fn form_code(form: ChecksumForm) -> u8 {
    match form {
        ChecksumForm::PseudoHeader => 1,
        ChecksumForm::MessageOnly => 2,
    }
}

impl PeerMetrics {
    fn new(f: &Families, key: PeerLabels) -> PeerMetrics {
        PeerMetrics {
            p: Arc::new(PeerShared {
                master: f.peer_master.get_or_create_owned(&key),
                priority: f.peer_priority.get_or_create_owned(&key),
                last_advert: f.peer_last_advert.get_or_create_owned(&key),
                form: Default::default(),
                fams: Some(PeerFamilies {
                    key,
                    master: f.peer_master.clone(),
                    priority: f.peer_priority.clone(),
                    last_advert: f.peer_last_advert.clone(),
                    form: f.peer_checksum_form.clone(),
                    mismatch: f.peer_config_mismatch.clone(),
                }),
                lazy: Default::default(),
            }),
        }
    }

    fn detached() -> PeerMetrics {
        PeerMetrics {
            p: Arc::new(PeerShared {
                master: Counter::default(),
                priority: Gauge::default(),
                last_advert: FGauge::default(),
                form: Default::default(),
                fams: None,
                lazy: Default::default(),
            }),
        }
    }

    fn form_labels(k: &PeerLabels, code: u8) -> PeerFormLabels {
        let form = if code == 1 {
            ChecksumForm::PseudoHeader
        } else {
            ChecksumForm::MessageOnly
        };
        PeerFormLabels {
            i: k.i.clone(),
            peer: k.peer.clone(),
            form: form.as_str(),
        }
    }

    /// Removes every series of the peer; the handles stay usable and export nothing.
    fn remove(&self) {
        let mut lazy = lock(&self.p.lazy);
        lazy.removed = true;
        let Some(f) = &self.p.fams else {
            return;
        };
        f.master.remove(&f.key);
        f.priority.remove(&f.key);
        f.last_advert.remove(&f.key);
        let code = self.p.form.load(std::sync::atomic::Ordering::Relaxed);
        if code != 0 {
            f.form.remove(&Self::form_labels(&f.key, code));
        }
        for (i, c) in lazy.mismatch.iter_mut().enumerate() {
            if c.take().is_some() {
                f.mismatch.remove(&PeerReasonLabels {
                    i: f.key.i.clone(),
                    peer: f.key.peer.clone(),
                    reason: PEER_MISMATCH_REASONS[i],
                });
            }
        }
    }

    /// One advert from the peer dropped because it disagrees with our configuration:
    /// `reason` is one of [`PEER_MISMATCH_REASONS`] (interval, auth_type, auth_failure,
    /// version; and address_list, whose adverts are counted but still used); the reason's
    /// series appears at its first occurrence. Any other reason (noise such as checksum,
    /// length, ttl) is not a disagreement and is ignored here, which also keeps the label
    /// values bounded.
    pub fn config_mismatch(&self, reason: &'static str) {
        let Some(i) = PEER_MISMATCH_REASONS.iter().position(|r| *r == reason) else {
            return;
        };
        let mut lazy = lock(&self.p.lazy);
        let Some(f) = self.p.fams.as_ref().filter(|_| !lazy.removed) else {
            return;
        };
        lazy.mismatch[i]
            .get_or_insert_with(|| {
                f.mismatch.get_or_create_owned(&PeerReasonLabels {
                    i: f.key.i.clone(),
                    peer: f.key.peer.clone(),
                    reason,
                })
            })
            .inc();
    }

    /// A valid advert from the peer; `as_master` also counts `vrrp_peer_master_total`
    /// (the caller decides: the peer became the master we follow).
    pub fn advert(&self, priority: u8, unix_time: f64, form: ChecksumForm, as_master: bool) {
        let p = &self.p;
        p.priority.set(i64::from(priority));
        p.last_advert.set(unix_time);
        let code = form_code(form);
        if p.form.load(std::sync::atomic::Ordering::Relaxed) != code {
            self.set_form(code);
        }
        if as_master {
            p.master.inc();
        }
    }

    /// The peer's checksum form changed (or was first seen): its `vrrp_peer_checksum_form`
    /// series is the new form's, at 1.
    fn set_form(&self, code: u8) {
        let lazy = lock(&self.p.lazy);
        let Some(f) = self.p.fams.as_ref().filter(|_| !lazy.removed) else {
            return;
        };
        let old = self.p.form.swap(code, std::sync::atomic::Ordering::Relaxed);
        if old != 0 {
            f.form.remove(&Self::form_labels(&f.key, old));
        }
        f.form
            .get_or_create(&Self::form_labels(&f.key, code))
            .set(1);
    }

    /// The peer became the master we follow (or was heard advertising as master).
    pub fn became_master(&self) {
        self.p.master.inc();
    }
}

/// Handles on one tracking script's series. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ScriptMetrics {
    /// Indexed like `SCRIPT_RESULTS`.
    runs: [Counter; 4],
    duration: Histogram,
    healthy: Gauge,
    user_denied: Counter,
}

impl ScriptMetrics {
    /// One run: `result` is success, failure, timeout or error (anything else counts as
    /// error, keeping label values bounded).
    pub fn run(&self, result: &str, duration: Duration) {
        self.runs[script_result_index(result)].inc();
        self.duration.observe(secs(duration));
    }

    /// `vrrp_script_healthy`.
    pub fn set_healthy(&self, h: bool) {
        self.healthy.set(i64::from(h));
    }

    /// `vrrp_script_user_denied_total`: a run refused, vipd cannot switch to the `user`.
    pub fn user_denied(&self) {
        self.user_denied.inc();
    }
}

/// Handles on one tracked process's series. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProcessMetrics {
    running: Gauge,
    healthy: Gauge,
}

impl ProcessMetrics {
    /// `vrrp_process_running` and `vrrp_process_healthy`.
    pub fn set(&self, running: u32, healthy: bool) {
        self.running.set(i64::from(running));
        self.healthy.set(i64::from(healthy));
    }
}

// ---------------------------------------------------------------------------------------
// Passive monitor mode (`vipd monitor`): its own registry, none of the daemon's families.
// ---------------------------------------------------------------------------------------

/// Labels of one virtual router seen by `vipd monitor`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct MonitorVrLabels {
    pub interface: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    pub vrid: u8,
}

impl MonitorVrLabels {
    pub fn new(
        interface: impl Into<String>,
        family: crate::config::model::Family,
        vrid: u8,
    ) -> MonitorVrLabels {
        MonitorVrLabels {
            interface: interface.into(),
            family: family.as_str().to_owned(),
            vrid,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorRouterLabels {
    #[prometheus(flatten)]
    vr: MonitorVrLabels,
    router: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorFormLabels {
    #[prometheus(flatten)]
    vr: MonitorVrLabels,
    router: String,
    form: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorVersionLabels {
    #[prometheus(flatten)]
    vr: MonitorVrLabels,
    router: String,
    version: &'static str,
}

/// An expected virtual router (`vipd monitor --config`): its expected version and master,
/// empty when any.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorExpectedLabels {
    #[prometheus(flatten)]
    vr: MonitorVrLabels,
    version: String,
    master: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MonitorDropLabels {
    interface: String,
    family: String,
    reason: &'static str,
}

struct MonitorFamilies {
    masters: Family<MonitorVrLabels, Gauge>,
    router_priority: Family<MonitorRouterLabels, Gauge>,
    router_adverts: Family<MonitorRouterLabels, Counter>,
    router_interval: Family<MonitorRouterLabels, FGauge>,
    router_form: Family<MonitorFormLabels, Gauge>,
    router_last: Family<MonitorRouterLabels, FGauge>,
    dropped: Family<MonitorDropLabels, Counter>,
    router_version: Family<MonitorVersionLabels, Gauge>,
    expected: Family<MonitorExpectedLabels, Gauge>,
    expected_heard: Family<MonitorVrLabels, Gauge>,
    unexpected_masters: Family<MonitorVrLabels, Gauge>,
}

impl MonitorFamilies {
    fn register(&self, r: &mut Registry) {
        r.register(
            "vrrp_monitor_masters",
            "Routers heard advertising with priority above 0 for the virtual router within 3 of their advert intervals plus 1 s; above 1 is a split brain",
            self.masters.clone(),
        );
        r.register(
            "vrrp_monitor_router_priority",
            "Priority in the router's last advertisement",
            self.router_priority.clone(),
        );
        r.register(
            "vrrp_monitor_router_adverts",
            "Valid advertisements heard from the router",
            self.router_adverts.clone(),
        );
        r.register(
            "vrrp_monitor_router_advert_interval_seconds",
            "Advertisement interval in the router's last advertisement",
            self.router_interval.clone(),
        );
        r.register(
            "vrrp_monitor_router_checksum_form",
            "1 for the checksum form of the router's last advertisement, 0 for the other",
            self.router_form.clone(),
        );
        r.register(
            "vrrp_monitor_router_last_advert_timestamp_seconds",
            "Unix time of the router's last advertisement",
            self.router_last.clone(),
        );
        r.register(
            "vrrp_monitor_dropped",
            "Received VRRP packets that failed validation, by reason",
            self.dropped.clone(),
        );
        r.register(
            "vrrp_monitor_router_version",
            "1 for the VRRP version (2 or 3) of the router's last advertisement, 0 for the other",
            self.router_version.clone(),
        );
        r.register(
            "vrrp_monitor_expected",
            "1 for each virtual router the monitor's file expects, with the expected version and master (empty: any)",
            self.expected.clone(),
        );
        r.register(
            "vrrp_monitor_expected_heard",
            "1 when a master (of the expected version) of the expected virtual router is heard, else 0",
            self.expected_heard.clone(),
        );
        r.register(
            "vrrp_monitor_unexpected_masters",
            "Masters heard for the expected virtual router other than its expected master",
            self.unexpected_masters.clone(),
        );
    }
}

/// Handles on the monitor's families. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct MonitorMetrics {
    f: Arc<MonitorFamilies>,
}

impl std::fmt::Debug for MonitorMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorMetrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry for `vipd monitor`: `vipd_build_info`, the process metrics, the HTTP
    /// request counter and the `vrrp_monitor_*` families (none of the daemon's). Serve the
    /// returned `Metrics` with [`serve`]; update the series through the `MonitorMetrics`.
    pub fn new_monitor(version: &str, revision: &str) -> (Metrics, MonitorMetrics) {
        let f = Families::new();
        let mf = MonitorFamilies {
            masters: Family::default(),
            router_priority: Family::default(),
            router_adverts: Family::default(),
            router_interval: Family::default(),
            router_form: Family::default(),
            router_last: Family::default(),
            dropped: Family::default(),
            router_version: Family::default(),
            expected: Family::default(),
            expected_heard: Family::default(),
            unexpected_masters: Family::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "vipd_build",
            "Build of the running vipd; always 1",
            Info::new(BuildLabels {
                version: version.to_owned(),
                revision: revision.to_owned(),
                rustversion: RUSTC_VERSION,
            }),
        );
        mf.register(&mut registry);
        registry.register(
            "vipd_http_requests",
            "Requests to the HTTP endpoint, by path (unknown paths as other) and status code",
            f.http_requests.clone(),
        );
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        let metrics = Metrics {
            inner: Arc::new(Inner {
                registry,
                f,
                instances: Mutex::new(HashMap::new()),
                last_len: Default::default(),
            }),
        };
        (metrics, MonitorMetrics { f: Arc::new(mf) })
    }
}

impl MonitorMetrics {
    /// Creates `vrrp_monitor_dropped_total{interface,family,reason}` at 0 for every reason
    /// (call once per socket the monitor listens on).
    pub fn socket(&self, interface: &str, family: crate::config::model::Family) {
        for r in DropReason::ALL {
            self.f.dropped.get_or_create_owned(&MonitorDropLabels {
                interface: interface.to_owned(),
                family: family.as_str().to_owned(),
                reason: r.as_str(),
            });
        }
    }

    /// One received packet dropped for `reason`.
    pub fn dropped(&self, interface: &str, family: crate::config::model::Family, r: DropReason) {
        self.f
            .dropped
            .get_or_create(&MonitorDropLabels {
                interface: interface.to_owned(),
                family: family.as_str().to_owned(),
                reason: r.as_str(),
            })
            .inc();
    }

    /// `vrrp_monitor_masters` of a virtual router (the series is created on first use).
    pub fn set_masters(&self, vr: &MonitorVrLabels, n: usize) {
        self.f
            .masters
            .get_or_create(vr)
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Handles on a router's series, created on first use.
    pub fn router(&self, vr: &MonitorVrLabels, router: IpAddr) -> MonitorRouterMetrics {
        let key = MonitorRouterLabels {
            vr: vr.clone(),
            router: router.to_string(),
        };
        let form = |form: ChecksumForm| MonitorFormLabels {
            vr: vr.clone(),
            router: key.router.clone(),
            form: form.as_str(),
        };
        let version = |version: &'static str| MonitorVersionLabels {
            vr: vr.clone(),
            router: key.router.clone(),
            version,
        };
        let f = &self.f;
        MonitorRouterMetrics {
            v2: f.router_version.get_or_create_owned(&version("2")),
            v3: f.router_version.get_or_create_owned(&version("3")),
            priority: f.router_priority.get_or_create_owned(&key),
            adverts: f.router_adverts.get_or_create_owned(&key),
            interval: f.router_interval.get_or_create_owned(&key),
            last: f.router_last.get_or_create_owned(&key),
            form_pseudo_header: f
                .router_form
                .get_or_create_owned(&form(ChecksumForm::PseudoHeader)),
            form_rfc9568: f
                .router_form
                .get_or_create_owned(&form(ChecksumForm::MessageOnly)),
        }
    }

    /// Removes a router's series (it was evicted).
    pub fn remove_router(&self, vr: &MonitorVrLabels, router: IpAddr) {
        let key = MonitorRouterLabels {
            vr: vr.clone(),
            router: router.to_string(),
        };
        let f = &self.f;
        f.router_priority.remove(&key);
        f.router_adverts.remove(&key);
        f.router_interval.remove(&key);
        f.router_last.remove(&key);
        for form in [ChecksumForm::PseudoHeader, ChecksumForm::MessageOnly] {
            f.router_form.remove(&MonitorFormLabels {
                vr: vr.clone(),
                router: key.router.clone(),
                form: form.as_str(),
            });
        }
        for version in ["2", "3"] {
            f.router_version.remove(&MonitorVersionLabels {
                vr: vr.clone(),
                router: key.router.clone(),
                version,
            });
        }
    }

    fn expected_labels(
        vr: &MonitorVrLabels,
        version: Option<crate::packet::Version>,
        master: Option<IpAddr>,
    ) -> MonitorExpectedLabels {
        MonitorExpectedLabels {
            vr: vr.clone(),
            version: version.map(|v| v.number().to_string()).unwrap_or_default(),
            master: master.map(|m| m.to_string()).unwrap_or_default(),
        }
    }

    /// Creates the series of an expected virtual router: `vrrp_monitor_expected` 1,
    /// `vrrp_monitor_expected_heard` 0 and, when a master is expected,
    /// `vrrp_monitor_unexpected_masters` 0.
    pub fn expect(
        &self,
        vr: &MonitorVrLabels,
        version: Option<crate::packet::Version>,
        master: Option<IpAddr>,
    ) {
        let f = &self.f;
        f.expected
            .get_or_create(&Self::expected_labels(vr, version, master))
            .set(1);
        f.expected_heard.get_or_create_owned(vr);
        if master.is_some() {
            f.unexpected_masters.get_or_create_owned(vr);
        }
    }

    /// Removes the series of a virtual router no longer expected (the file was reloaded).
    pub fn unexpect(
        &self,
        vr: &MonitorVrLabels,
        version: Option<crate::packet::Version>,
        master: Option<IpAddr>,
    ) {
        let f = &self.f;
        f.expected
            .remove(&Self::expected_labels(vr, version, master));
        f.expected_heard.remove(vr);
        f.unexpected_masters.remove(vr);
    }

    /// The verdict on an expected virtual router: heard or not, and how many masters other
    /// than the expected one (None: no master expected).
    pub fn set_expected(&self, vr: &MonitorVrLabels, heard: bool, unexpected: Option<usize>) {
        self.f
            .expected_heard
            .get_or_create(vr)
            .set(i64::from(heard));
        if let Some(n) = unexpected {
            self.f
                .unexpected_masters
                .get_or_create(vr)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Handles on one monitored router's series. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MonitorRouterMetrics {
    priority: Gauge,
    adverts: Counter,
    interval: FGauge,
    last: FGauge,
    form_pseudo_header: Gauge,
    form_rfc9568: Gauge,
    v2: Gauge,
    v3: Gauge,
}

impl MonitorRouterMetrics {
    /// A valid advert from the router.
    pub fn advert(&self, priority: u8, interval: Duration, form: ChecksumForm, unix_time: f64) {
        self.adverts.inc();
        self.priority.set(i64::from(priority));
        self.interval.set(secs(interval));
        self.last.set(unix_time);
        let pseudo = form == ChecksumForm::PseudoHeader;
        self.form_pseudo_header.set(i64::from(pseudo));
        self.form_rfc9568.set(i64::from(!pseudo));
    }

    /// The VRRP version of the router's last advert.
    pub fn version(&self, version: crate::packet::Version) {
        let v3 = version == crate::packet::Version::V3;
        self.v2.set(i64::from(!v3));
        self.v3.set(i64::from(v3));
    }
}

//! The observer: turns the core's [`Fact`]s into metrics, log lines and trace spans. The
//! exporter's series are the only copy of every counter; `/status` reads them back here.

use std::collections::HashMap;
use std::net::IpAddr;
use tracing::{debug, error, info, warn};

use crate::engine::State;
pub use crate::observe::unix_now;
use crate::observe::{InstanceLabels, InstanceMetrics, Metrics, ProcessMetrics, ScriptMetrics};
use crate::router::{Fact, InstId, Router, group_of};
use crate::status::DaemonStatus;
use crate::track::TrackEvent;

/// Values by the core's instance slot: a vector indexed by [`InstId`] (the core's slots are
/// small and dense), so the handles of an advert's instance are one index away, not a hash
/// and a probe (issue 14: the receive path's cost is its memory accesses).
struct Slots<V>(Vec<Option<V>>);

impl<V> Default for Slots<V> {
    fn default() -> Self {
        Slots(Vec::new())
    }
}

impl<V> Slots<V> {
    fn get(&self, id: &InstId) -> Option<&V> {
        self.0.get(id.0).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: &InstId) -> Option<&mut V> {
        self.0.get_mut(id.0).and_then(Option::as_mut)
    }

    fn insert(&mut self, id: InstId, v: V) {
        if self.0.len() <= id.0 {
            self.0.resize_with(id.0 + 1, || None);
        }
        self.0[id.0] = Some(v);
    }

    fn remove(&mut self, id: &InstId) -> Option<V> {
        self.0.get_mut(id.0).and_then(Option::take)
    }
}

/// An instance's series, and its adverts received but not yet added to
/// `vrrp_adverts_received_total`: the backup's per-advert path writes this count, in the
/// slot vector it reads anyway, instead of the instance's counter (three dependent loads and
/// an atomic on lines the 249 other instances evicted, docs/benchmarks.md section 21). Added
/// with the peer's series (the core's `report`, every 100 ms while adverts arrive), on any
/// news of the peer, at the instance's gauges (every second) and before `/status` reads the
/// counters.
struct Handles {
    m: InstanceMetrics,
    pending: u64,
}

impl Handles {
    fn flush(&mut self) {
        if self.pending > 0 {
            self.m.adverts_received(std::mem::take(&mut self.pending));
        }
    }
}

/// Metric handles by instance and script.
pub struct Observer {
    /// The registry (new instances and scripts get their series here).
    metrics: Metrics,
    /// Handles of each live instance's series, by the core's slot.
    insts: Slots<Handles>,
    /// Handles of each configured script's series.
    scripts: HashMap<String, ScriptMetrics>,
    /// Handles of each configured tracked process's series, and its last up state (logged
    /// on change).
    processes: HashMap<String, (ProcessMetrics, bool)>,
}

impl Observer {
    pub fn new(metrics: Metrics) -> Observer {
        Observer {
            metrics,
            insts: Slots::default(),
            scripts: HashMap::new(),
            processes: HashMap::new(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The handles of an instance (None once removed).
    pub fn instance(&self, id: InstId) -> Option<&InstanceMetrics> {
        self.insts.get(&id).map(|h| &h.m)
    }

    /// Applies one fact.
    pub fn apply(&mut self, router: &Router, fact: Fact) {
        match fact {
            Fact::InstanceAdded { inst } => {
                let Some(cfg) = router.instance_config(inst) else {
                    return;
                };
                let labels = InstanceLabels::new(
                    cfg.name.clone(),
                    cfg.vrid,
                    cfg.interface.clone(),
                    cfg.family,
                    group_of(cfg),
                );
                let m = self.metrics.instance_of(&labels, cfg.version);
                m.set_priority(cfg.priority, cfg.priority);
                for t in &cfg.track_interfaces {
                    m.set_track_interface(&t.name, false);
                }
                self.insts.insert(inst, Handles { m, pending: 0 });
            }
            Fact::InstanceRemoved { inst, .. } => {
                if let Some(h) = self.insts.remove(&inst) {
                    self.metrics.remove_instance(h.m.labels());
                }
            }
            Fact::Transition {
                inst,
                from,
                to,
                cause,
                priority,
            } => {
                let (Some(m), Some(cfg)) = (self.instance(inst), router.instance_config(inst))
                else {
                    return;
                };
                m.set_priority(priority, cfg.priority);
                // Exported by OpenTelemetry (src/telemetry.rs) with the event below in it.
                let election = matches!(
                    (from, to),
                    (State::Backup, State::Master) | (State::Master, State::Backup)
                );
                let _span = tracing::info_span!(
                    "vrrp.transition",
                    instance = %cfg.name,
                    vrid = cfg.vrid,
                    interface = %cfg.interface,
                    priority,
                    from = from.upper(),
                    to = to.upper(),
                    cause = %cause,
                    vrrp.election = election,
                )
                .entered();
                // The counter's exemplar links the metric to this span's trace.
                let trace = crate::telemetry::trace_id(&tracing::Span::current());
                m.transition(from, to, unix_now(), trace);
                self.gauges(router, inst, None);
                info!(
                    instance = %cfg.name,
                    vrid = cfg.vrid,
                    interface = %cfg.interface,
                    priority,
                    from = from.upper(),
                    to = to.upper(),
                    cause = %cause,
                    "{} -> {}: {}",
                    from,
                    to,
                    cause
                );
            }
            Fact::SyncGroup { group, from, to } => {
                self.metrics.set_sync_group_state(&group, to);
                if to != State::Init {
                    info!(sync_group = %group, from = from.upper(), to = to.upper(), "sync group {group}: {from} -> {to}");
                }
            }
            Fact::SyncGroupRemoved { group } => self.metrics.remove_sync_group(&group),
            Fact::Drained { inst, drained, by } => {
                let (Some(m), Some(cfg)) = (self.instance(inst), router.instance_config(inst))
                else {
                    return;
                };
                m.set_drained(drained);
                let what = if drained { "drained" } else { "undrained" };
                warn!(instance = %cfg.name, by = %by, "instance {what} (asked by {by})");
            }
            Fact::Hold {
                name,
                released,
                taken_over,
                ..
            } => {
                if !released {
                    info!(instance = %name, "mastership handed over; keeping the addresses until the new master is heard");
                } else if taken_over {
                    info!(instance = %name, "new master heard; addresses released");
                } else {
                    warn!(instance = %name, "nobody took over within the hold bound; addresses released");
                }
            }
            Fact::Priority { inst, from, to } => {
                let (Some(m), Some(cfg)) = (self.instance(inst), router.instance_config(inst))
                else {
                    return;
                };
                m.set_priority(to, cfg.priority);
                info!(instance = %cfg.name, from, to, "effective priority changed");
            }
            Fact::Received {
                inst,
                peer,
                priority,
                form,
                new_peer,
                evicted,
                form_changed,
                became_master,
                report,
            } => {
                let Some(h) = self.insts.get_mut(&inst) else {
                    return;
                };
                let news = report
                    || became_master
                    || new_peer
                    || form_changed
                    || evicted.is_some()
                    || priority == 0;
                if !news {
                    h.pending += 1;
                    return;
                }
                h.flush();
                let m = &h.m;
                m.advert_received(priority);
                if let Some(old) = evicted {
                    m.remove_peer(old);
                }
                // The name only when a line is logged (the configuration is not otherwise
                // touched per advert).
                if new_peer || form_changed {
                    let name = router.instance_config(inst).map_or("", |c| c.name.as_str());
                    if new_peer {
                        info!(instance = %name, peer = %peer, priority, checksum = form.as_str(), "new peer");
                    } else {
                        info!(instance = %name, peer = %peer, form = form.as_str(), "peer changed its checksum form");
                    }
                }
                if report || became_master {
                    m.with_peer(peer, |pm| {
                        pm.advert(priority, unix_now(), form, became_master)
                    });
                }
            }
            Fact::Dropped {
                inst,
                src,
                reason,
                port,
            } => {
                if let Some(m) = inst.and_then(|i| self.instance(i)) {
                    m.dropped(reason);
                }
                debug!(port = port.0, src = %src, reason = %reason, "advert dropped");
            }
            Fact::PeerDisagrees {
                inst,
                peer,
                priority,
                form,
                reason,
                new_peer,
                evicted,
            } => {
                let Some(m) = self.instance(inst) else {
                    return;
                };
                if let Some(old) = evicted {
                    m.remove_peer(old);
                }
                if new_peer {
                    let name = router.instance_config(inst).map_or("", |c| c.name.as_str());
                    warn!(
                        instance = %name,
                        peer = %peer,
                        priority,
                        reason = %reason,
                        "a router of our VRID disagrees with our configuration ({reason}): its adverts are dropped, and if it is master too this is a split brain"
                    );
                }
                let pm = m.peer(peer);
                pm.advert(priority, unix_now(), form, false);
                pm.config_mismatch(reason.as_str());
            }
            Fact::AddressListMismatch { inst, peer, theirs } => {
                let Some(m) = self.instance(inst) else {
                    return;
                };
                m.address_list_mismatch();
                m.peer(peer).config_mismatch("address_list");
                if let Some(theirs) = theirs {
                    let name = router.instance_config(inst).map_or("", |c| c.name.as_str());
                    let list: Vec<String> = theirs.iter().map(|a| a.to_string()).collect();
                    warn!(
                        instance = %name,
                        src = %peer,
                        "address list from peer differs from ours: [{}]",
                        list.join(", ")
                    );
                }
            }
            Fact::FirstAddressNotLinkLocal { inst, .. } => {
                if let Some(m) = self.instance(inst) {
                    m.first_address_not_link_local();
                }
            }
            Fact::FilteredSource { inst, peer } => {
                if let Some(m) = self.instance(inst) {
                    m.filtered_source(peer);
                }
            }
            Fact::Filtered {
                inst,
                peer,
                count,
                first,
            } => {
                let Some(m) = self.instance(inst) else {
                    return;
                };
                if first {
                    let name = router.instance_config(inst).map_or("", |c| c.name.as_str());
                    warn!(
                        instance = %name,
                        peer = %peer,
                        "adverts from this peer reach the interface but not vipd: a local firewall drops VRRP (IP protocol 112)"
                    );
                }
                for _ in 0..count {
                    m.filtered(peer);
                }
            }
            Fact::AddressRestored { inst, addr } => {
                let Some(m) = self.instance(inst) else {
                    return;
                };
                m.vip_restored();
                let name = router.instance_config(inst).map_or("", |c| c.name.as_str());
                warn!(instance = %name, address = %addr, "virtual address removed from the interface by someone else: put back");
            }
            Fact::TrackInterface { inst, name, up } => {
                if let Some(m) = self.instance(inst) {
                    m.set_track_interface(&name, up);
                }
            }
            Fact::NoSourceAddress { inst } => {
                if let Some(cfg) = router.instance_config(inst) {
                    warn!(instance = %cfg.name, interface = %cfg.interface, "no {} source address yet", cfg.family.as_str());
                }
            }
            Fact::LookupFailed { ifname, error } => {
                warn!(interface = %ifname, "{error}");
            }
            Fact::PortFailed { ifname, error, .. } => {
                error!(interface = %ifname, "{error}");
            }
            Fact::AddressesNotAdvertised {
                inst,
                advertised,
                total,
                mtu,
            } => {
                if let Some(cfg) = router.instance_config(inst) {
                    warn!(
                        instance = %cfg.name,
                        interface = %cfg.interface,
                        "only {advertised} of {total} addresses fit in an advert at MTU {mtu}: the other {} are added but not advertised",
                        total - advertised
                    );
                }
            }
            Fact::TimerLate { late } => self.metrics.timer_lateness(late),
            Fact::Gauges {
                inst,
                masters_observed,
            } => {
                self.flush(inst);
                self.gauges(router, inst, Some(masters_observed))
            }
        }
    }

    /// Refreshes the gauges derived from the instance's state machine.
    fn gauges(&self, router: &Router, inst: InstId, masters_observed: Option<usize>) {
        let (Some(m), Some(e), Some(cfg)) = (
            self.instance(inst),
            router.engine(inst),
            router.instance_config(inst),
        ) else {
            return;
        };
        m.set_priority(e.priority(), cfg.priority);
        m.set_intervals(cfg.advert_interval, e.master_adver_interval());
        if let Some((_, p)) = e.master() {
            m.set_master_priority(p);
        }
        if let Some(n) = masters_observed {
            m.set_masters_observed(n as u64);
        }
    }

    /// What a check script reported: run metrics and spans, health changes logged.
    pub fn track(&mut self, ev: &TrackEvent) {
        match ev {
            TrackEvent::Run {
                name,
                result,
                duration,
            } => {
                // One OpenTelemetry span per run (src/telemetry.rs).
                let _span = tracing::info_span!(
                    "vrrp.script",
                    script = %name,
                    result = result.as_str(),
                    duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                )
                .entered();
                if let Some(m) = self.scripts.get(name) {
                    m.run(result.as_str(), *duration);
                }
            }
            TrackEvent::Script { name, healthy } => {
                info!(script = %name, healthy, "script {}", if *healthy { "healthy" } else { "failed" });
                if let Some(m) = self.scripts.get(name) {
                    m.set_healthy(*healthy);
                }
            }
            TrackEvent::File { path, value } => {
                info!(path = %path.display(), value = ?value, "tracked file changed");
            }
            TrackEvent::Process { name, running, up } => {
                let was = self.processes.get(name).map(|(_, up)| *up);
                if was != Some(*up) {
                    info!(process = %name, running, up, "tracked process {}", if *up { "up" } else { "down" });
                }
                if let Some((m, last)) = self.processes.get_mut(name) {
                    m.set(*running, *up);
                    *last = *up;
                }
            }
            TrackEvent::UserDenied { name, .. } => {
                // Logged by the script task (once per change); counted here on every run.
                if let Some(m) = self.scripts.get(name) {
                    m.user_denied();
                }
            }
        }
    }

    /// Keeps one handle per configured tracked process (after start and every reload).
    pub fn sync_processes(&mut self, router: &Router) {
        let metrics = &self.metrics;
        reconcile(
            &mut self.processes,
            &router.config().processes,
            |n| metrics.remove_process(n),
            |n| {
                let m = metrics.process(n);
                let up = router.process_up(n);
                m.set(0, up);
                (m, up)
            },
        );
    }

    /// Keeps one handle per configured script (after start and every reload).
    pub fn sync_scripts(&mut self, router: &Router) {
        let metrics = &self.metrics;
        reconcile(
            &mut self.scripts,
            &router.config().scripts,
            |n| metrics.remove_script(n),
            |n| {
                let m = metrics.script(n);
                m.set_healthy(router.script_healthy(n));
                m
            },
        );
    }

    /// Fills the exporter's counters into the core's status document.
    pub fn fill(&mut self, status: &mut DaemonStatus) {
        for i in &mut status.instances {
            self.flush(InstId(i.id));
            if let Some(m) = self.instance(InstId(i.id)) {
                i.stats = m.counters();
                i.last_transition_unix = m.last_transition();
            }
        }
    }

    /// Adds the instance's pending received adverts to its counter.
    fn flush(&mut self, inst: InstId) {
        if let Some(h) = self.insts.get_mut(&inst) {
            h.flush();
        }
    }

    /// An advert went out.
    pub fn sent(&self, inst: InstId, priority: u8) {
        if let Some(m) = self.instance(inst) {
            m.advert_sent(priority);
        }
    }

    /// An advert could not be sent; returns the errors so far.
    pub fn send_error(&self, inst: InstId) -> u64 {
        self.instance(inst).map_or(0, InstanceMetrics::send_error)
    }

    /// Announcements were queued.
    pub fn announced(&self, inst: InstId, na: bool, n: u64) {
        if let Some(m) = self.instance(inst) {
            m.announced(na, n);
        }
    }

    /// Handles for the kernel task's read-back of VIP presence.
    pub fn vip_handles(
        &self,
        insts: Vec<(InstId, Vec<IpAddr>)>,
    ) -> Vec<(Vec<IpAddr>, InstanceMetrics)> {
        insts
            .into_iter()
            .filter_map(|(id, a)| self.instance(id).map(|m| (a, m.clone())))
            .collect()
    }
}

/// Makes `have` hold exactly one handle per name of `want`: the handles of names gone are
/// dropped after `remove` (their series), new names get `create`; the others are kept.
fn reconcile<V, W>(
    have: &mut HashMap<String, V>,
    want: &std::collections::BTreeMap<String, W>,
    mut remove: impl FnMut(&str),
    mut create: impl FnMut(&str) -> V,
) {
    have.retain(|n, _| {
        let keep = want.contains_key(n);
        if !keep {
            remove(n);
        }
        keep
    });
    for n in want.keys() {
        if !have.contains_key(n) {
            let v = create(n);
            have.insert(n.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Instant;

    use super::*;
    use crate::router::Effect;

    /// A router of `yaml` and an observer, not yet fed.
    fn setup(yaml: &str) -> (Router, Observer, Instant) {
        let config = crate::config::parse_str(yaml, "test.yaml")
            .map(|l| l.config)
            .unwrap_or_else(|d| panic!("{d:?}"));
        let now = Instant::now();
        let router = Router::new(config, now);
        (router, Observer::new(Metrics::new("test", "rev")), now)
    }

    /// Applies every fact the router has; returns the instances it added.
    fn apply_all(router: &mut Router, obs: &mut Observer) -> Vec<InstId> {
        let mut added = Vec::new();
        while let Some(e) = router.poll_effect() {
            if let Effect::Fact(f) = e {
                if let Fact::InstanceAdded { inst } = f {
                    added.push(inst);
                }
                obs.apply(router, f);
            }
        }
        added
    }

    #[test]
    fn an_added_instance_gets_its_labelled_series_and_a_script_its_current_health() {
        let yaml = "scripts:\n  chk_nginx: {command: [/bin/true]}\ninstances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    track_scripts: [chk_nginx]\n    virtual_ipaddress: [10.99.0.51/24]\n";
        let (mut router, mut obs, now) = setup(yaml);
        let healthy = |healthy| TrackEvent::Script {
            name: "chk_nginx".into(),
            healthy,
        };
        router.handle_track(now, &healthy(true));
        apply_all(&mut router, &mut obs);
        obs.sync_scripts(&router);
        let text = obs.metrics().encode(false);
        let has = |line: &str| text.lines().any(|l| l.starts_with(line));
        assert!(
            has(r#"vrrp_instance_info{vr="VI_1",vrid="51",interface="eth0",family="ipv4""#),
            "{text}"
        );
        assert!(
            has(r#"vrrp_script_healthy{script="chk_nginx"} 1"#),
            "{text}"
        );
    }

    /// The backup's per-advert count waits in the dense array and reaches
    /// `vrrp_adverts_received_total` with the peer's refresh (`report`), any news of the
    /// peer, the instance's gauges and `/status`: nothing is lost, and a priority-0 advert
    /// is counted at once.
    #[test]
    fn received_adverts_reach_the_counter_with_the_next_refresh_and_none_is_lost() {
        let yaml = "instances:\n  VI_1:\n    interface: eth0\n    vrid: 51\n    virtual_ipaddress: [10.99.0.51/24]\n";
        let (mut router, mut obs, now) = setup(yaml);
        let inst = apply_all(&mut router, &mut obs)
            .into_iter()
            .next()
            .expect("instance added");
        let received = |obs: &Observer, name: &str| {
            let text = obs.metrics().encode(false);
            let prefix = format!("{name}{{vr=\"VI_1\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing: {text}"))
        };
        let advert = |priority: u8, report: bool| Fact::Received {
            inst,
            peer: IpAddr::from([10, 99, 0, 11]),
            priority,
            form: crate::packet::vrrp::ChecksumForm::PseudoHeader,
            new_peer: false,
            evicted: None,
            form_changed: false,
            became_master: false,
            report,
        };
        for _ in 0..9 {
            obs.apply(&router, advert(100, false));
        }
        assert_eq!(received(&obs, "vrrp_adverts_received_total"), 0, "pending");
        obs.apply(&router, advert(100, true));
        assert_eq!(received(&obs, "vrrp_adverts_received_total"), 10);
        for _ in 0..4 {
            obs.apply(&router, advert(100, false));
        }
        obs.apply(
            &router,
            Fact::Gauges {
                inst,
                masters_observed: 1,
            },
        );
        assert_eq!(received(&obs, "vrrp_adverts_received_total"), 14);
        obs.apply(&router, advert(100, false));
        obs.apply(&router, advert(0, false));
        assert_eq!(received(&obs, "vrrp_adverts_received_total"), 16);
        assert_eq!(received(&obs, "vrrp_priority_zero_received_total"), 1);
        obs.apply(&router, advert(100, false));
        let mut status = router.status(now);
        obs.fill(&mut status);
        let stats = &status.instances[0].stats;
        assert_eq!(stats.adverts_received, 17);
        assert_eq!(received(&obs, "vrrp_adverts_received_total"), 17);
    }
}

//! The `/status` document as the core knows it.

use std::time::{Duration, Instant};

use super::{InstId, Router, group_of};
use crate::engine;
use crate::status;

impl Router {
    /// The `/status` document as the core knows it. Counters are filled by the exporter
    /// (which owns them); `wire_tap`/`queue_overflow` of sockets by the shell.
    pub fn status(&self, now: Instant) -> status::DaemonStatus {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut instances: Vec<(InstId, status::InstanceStatus)> = Vec::new();
        for id in self.ids() {
            let Some(inst) = self.inst(id) else { continue };
            let e = &inst.engine;
            let timers = [
                ("adver", engine::Timer::Adver),
                ("master_down", engine::Timer::MasterDown),
                ("garp_delay", engine::Timer::GarpDelay),
                ("garp_refresh", engine::Timer::GarpRefresh),
                ("release", engine::Timer::Release),
                ("first_advert", engine::Timer::FirstAdvert),
            ]
            .into_iter()
            .filter_map(|(n, t)| {
                e.timers()
                    .get(t)
                    .map(|at| (format!("{n}_in_ms"), ms(at.saturating_duration_since(now))))
            })
            .collect();
            let peers = inst
                .peers
                .sorted()
                .into_iter()
                .map(|(a, p)| status::PeerStatus {
                    address: a.to_string(),
                    priority: p.priority,
                    adverts: p.adverts,
                    last_advert_ms_ago: ms(now.saturating_duration_since(p.last)),
                    checksum_form: p.form.as_str().to_owned(),
                    disagrees: p.disagrees.map(|r| r.as_str().to_owned()),
                })
                .collect();
            let scripts = inst
                .cfg
                .track_scripts
                .iter()
                .map(|t| status::ScriptStatus {
                    name: t.name.clone(),
                    weight: t.weight,
                    healthy: self.track.script_healthy(&t.name),
                    reverse: t.reverse,
                })
                .collect();
            let processes = inst
                .cfg
                .track_processes
                .iter()
                .map(|t| status::ProcessStatus {
                    name: t.name.clone(),
                    weight: t.weight,
                    up: self.track.process_up(&t.name),
                    reverse: t.reverse,
                })
                .collect();
            instances.push((
                id,
                status::InstanceStatus {
                    id: id.0,
                    name: inst.cfg.name.clone(),
                    state: e.state().as_str().to_owned(),
                    vrid: inst.cfg.vrid,
                    interface: inst.cfg.interface.clone(),
                    family: inst.cfg.family.as_str().to_owned(),
                    version: inst.cfg.version.number(),
                    group: group_of(&inst.cfg),
                    priority: e.priority(),
                    base_priority: inst.cfg.priority,
                    healthy: inst.healthy,
                    source: inst.src.map(|a| a.to_string()),
                    master: e.master().map(|(a, p)| status::Master {
                        address: a.to_string(),
                        priority: p,
                    }),
                    advert_interval_ms: ms(inst.cfg.advert_interval),
                    master_advert_interval_ms: ms(e.master_adver_interval()),
                    master_down_interval_ms: ms(e.master_down_interval()),
                    timers,
                    addresses: inst
                        .cfg
                        .virtual_ipaddress
                        .iter()
                        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                        .collect(),
                    advertised_addresses: inst.advertised,
                    peers,
                    scripts,
                    processes,
                    masters_observed: self.masters_observed(inst, now),
                    drained: e.drained(),
                    holding_addresses: e.holding(),
                    stats: status::Counters::default(),
                    last_transition_unix: None,
                },
            ));
        }
        instances.sort_by(|a, b| a.1.name.cmp(&b.1.name));
        let sockets = self
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
            .map(|(i, p)| status::SocketStatus {
                port: i,
                interface: p.iface.clone(),
                family: p.family.as_str().to_owned(),
                wire_tap: false,
                queue_overflow: 0,
                dropped_before_demux: p
                    .dropped
                    .iter()
                    .map(|(r, n)| (r.as_str().to_owned(), *n))
                    .collect(),
            })
            .collect();
        status::DaemonStatus {
            router_id: self.config.router_id.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            instances: instances.into_iter().map(|(_, s)| s).collect(),
            sockets,
            sync_groups: self.sync_status(),
        }
    }
}

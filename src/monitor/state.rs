//! The monitor's pure bookkeeping: what was heard, who is master, what is judged; time is
//! an argument.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::packet::vrrp::ChecksumForm;
use crate::packet::{Family, Version};
use crate::router::peers::PeerTable;
use crate::status::{
    Master, MonitorInterfaceStatus, MonitorMode, MonitorStatus, RouterStatus, VirtualRouterStatus,
};

use super::*;

/// One virtual router (family, VRID) on the segment.
#[derive(Clone, Debug, Default)]
struct Vr {
    routers: PeerTable,
    /// VRRP version of each router's last advert (the same routers as `routers`).
    versions: HashMap<IpAddr, Version>,
    /// Masters at the last `evaluate`, for detecting changes.
    reported: Vec<(IpAddr, u8)>,
}

/// What recording an advert changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdvertOutcome {
    /// The router was not known for this virtual router before.
    pub new_router: bool,
    /// A router forgotten to stay within [`MAX_ROUTERS`].
    pub evicted: Option<IpAddr>,
}

/// A change worth a log line, found by [`MonitorState::evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// More than one master now, at most one before.
    SplitBrain {
        family: Family,
        vrid: u8,
        masters: Vec<(IpAddr, u8)>,
    },
    /// At most one master now, more than one before.
    Healed {
        family: Family,
        vrid: u8,
        master: Option<(IpAddr, u8)>,
    },
    /// A single master, different from the single master before (or there was none).
    NewMaster {
        family: Family,
        vrid: u8,
        master: (IpAddr, u8),
    },
    /// No master any more; one before.
    NoMaster { family: Family, vrid: u8 },
}

/// Masters of one virtual router, as counted by [`MonitorState::evaluate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    pub family: Family,
    pub vrid: u8,
    pub masters: usize,
}

/// Everything the monitor knows, keyed by (family, VRID). Pure: no I/O, time is an argument.
#[derive(Clone, Debug, Default)]
pub struct MonitorState {
    vrs: BTreeMap<(Family, u8), Vr>,
}

impl MonitorState {
    pub fn new() -> MonitorState {
        MonitorState::default()
    }

    /// Records a valid advert from `src` for `vrid` heard at `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn advert(
        &mut self,
        now: Instant,
        src: IpAddr,
        vrid: u8,
        family: Family,
        priority: u8,
        interval: Duration,
        form: ChecksumForm,
        version: Version,
    ) -> AdvertOutcome {
        let vr = self.vrs.entry((family, vrid)).or_default();
        let r = vr.routers.record(
            now,
            peers::Heard {
                src,
                priority,
                interval,
                form,
                disagrees: None,
            },
        );
        if let Some(old) = r.evicted {
            vr.versions.remove(&old);
        }
        vr.versions.insert(src, version);
        AdvertOutcome {
            new_router: r.new,
            evicted: r.evicted,
        }
    }

    /// Masters of (family, VRID) at `now` with the version of their last advert, highest
    /// priority first.
    pub fn masters_with_version(
        &self,
        now: Instant,
        vrid: u8,
        family: Family,
    ) -> Vec<(IpAddr, u8, Version)> {
        let Some(vr) = self.vrs.get(&(family, vrid)) else {
            return Vec::new();
        };
        vr.routers
            .masters(now)
            .into_iter()
            .map(|(a, p)| (a, p, vr.versions.get(&a).copied().unwrap_or(Version::V3)))
            .collect()
    }

    /// The verdict on an expected virtual router at `now`.
    pub fn judge(&self, now: Instant, e: &Expected) -> Verdict {
        judge(e, &self.masters_with_version(now, e.vrid, e.family))
    }

    /// Routers counting as master for (family, VRID) at `now`, highest priority first.
    pub fn masters(&self, now: Instant, vrid: u8, family: Family) -> Vec<(IpAddr, u8)> {
        self.vrs
            .get(&(family, vrid))
            .map(|vr| vr.routers.masters(now))
            .unwrap_or_default()
    }

    /// Routers heard for (family, VRID), by address.
    pub fn routers(&self, vrid: u8, family: Family) -> Vec<(IpAddr, &Router)> {
        self.vrs
            .get(&(family, vrid))
            .map(|vr| vr.routers.sorted())
            .unwrap_or_default()
    }

    /// Every virtual router heard so far.
    pub fn vrs(&self) -> impl Iterator<Item = (Family, u8)> + '_ {
        self.vrs.keys().copied()
    }

    /// Counts the masters of every virtual router at `now` and reports what changed since
    /// the previous call.
    pub fn evaluate(&mut self, now: Instant) -> (Vec<Count>, Vec<Event>) {
        let mut counts = Vec::with_capacity(self.vrs.len());
        let mut events = Vec::new();
        for (&(family, vrid), vr) in &mut self.vrs {
            let cur = vr.routers.masters(now);
            let prev = std::mem::replace(&mut vr.reported, cur.clone());
            counts.push(Count {
                family,
                vrid,
                masters: cur.len(),
            });
            let same_set = |a: &[(IpAddr, u8)], b: &[(IpAddr, u8)]| {
                a.len() == b.len() && a.iter().all(|(x, _)| b.iter().any(|(y, _)| x == y))
            };
            match (prev.len(), cur.len()) {
                (p, c) if p <= 1 && c > 1 => events.push(Event::SplitBrain {
                    family,
                    vrid,
                    masters: cur,
                }),
                (p, c) if p > 1 && c <= 1 => events.push(Event::Healed {
                    family,
                    vrid,
                    master: cur.first().copied(),
                }),
                (_, 1) if !same_set(&prev, &cur) => events.push(Event::NewMaster {
                    family,
                    vrid,
                    master: cur[0],
                }),
                (1, 0) => events.push(Event::NoMaster { family, vrid }),
                _ => {}
            }
        }
        (counts, events)
    }

    /// The virtual routers heard on `interface`, as `/status` lists them.
    pub fn virtual_routers(&self, now: Instant, interface: &str) -> Vec<VirtualRouterStatus> {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        self.vrs
            .iter()
            .map(|(&(family, vrid), vr)| {
                let masters = vr.routers.masters(now);
                VirtualRouterStatus {
                    interface: interface.to_owned(),
                    family: family.as_str().to_owned(),
                    vrid,
                    split_brain: masters.len() > 1,
                    masters: masters
                        .iter()
                        .map(|&(a, priority)| Master {
                            address: a.to_string(),
                            priority,
                        })
                        .collect(),
                    routers: vr
                        .routers
                        .sorted()
                        .iter()
                        .map(|(a, r)| RouterStatus {
                            address: a.to_string(),
                            priority: r.priority,
                            master: r.is_master(now),
                            adverts: r.adverts,
                            advert_interval_ms: ms(r.interval),
                            checksum_form: r.form.as_str().to_owned(),
                            first_advert_ms_ago: ms(now.saturating_duration_since(r.first)),
                            last_advert_ms_ago: ms(now.saturating_duration_since(r.last)),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}

pub use config::Expected;

/// What the monitor concludes about an expected virtual router from the masters it hears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// A master is heard (advertising the expected version, when one is expected).
    pub heard: bool,
    /// Masters heard (any version) other than the expected master; None when no master is
    /// expected.
    pub unexpected_masters: Option<usize>,
}

/// The decision on an expected virtual router, given its current masters (address,
/// priority, version of the last advert): is it heard, and are its masters the expected
/// one. A split brain of the expected master and another router counts the other one.
pub fn judge(e: &Expected, masters: &[(IpAddr, u8, Version)]) -> Verdict {
    Verdict {
        heard: masters
            .iter()
            .any(|&(_, _, v)| e.version.is_none_or(|want| want == v)),
        unexpected_masters: e
            .master
            .map(|want| masters.iter().filter(|&&(a, _, _)| a != want).count()),
    }
}

/// The log line when the verdict on an expected virtual router changes on `interface`
/// (None: nothing worth saying). Warnings: expected and not heard, unexpected master.
pub fn verdict_line(
    interface: &str,
    e: &Expected,
    before: Option<Verdict>,
    now: Verdict,
    masters: &[(IpAddr, u8, Version)],
) -> Option<(bool, String)> {
    let at = format!("{interface} vrid {} ({})", e.vrid, e.family.as_str());
    let heard: Vec<(IpAddr, u8)> = masters.iter().map(|&(a, p, _)| (a, p)).collect();
    let was = before.unwrap_or(Verdict {
        heard: true,
        unexpected_masters: e.master.map(|_| 0),
    });
    if was.heard && !now.heard {
        return Some((
            true,
            match (e.version, heard.is_empty()) {
                (Some(v), false) => format!(
                    "{at}: expected, no VRRPv{} master heard (masters: {})",
                    v.number(),
                    fmt_masters(&heard)
                ),
                _ => format!("{at}: expected, no master heard"),
            },
        ));
    }
    if let (Some(want), Some(n)) = (e.master, now.unexpected_masters)
        && n > 0
        && was.unexpected_masters != Some(n)
    {
        let others: Vec<(IpAddr, u8)> = heard.iter().copied().filter(|&(a, _)| a != want).collect();
        return Some((
            true,
            format!(
                "{at}: unexpected master: {} (expected {want})",
                fmt_masters(&others)
            ),
        ));
    }
    if !was.heard && now.heard {
        return Some((
            false,
            format!("{at}: expected, heard: {}", fmt_masters(&heard)),
        ));
    }
    if was.unexpected_masters.is_some_and(|n| n > 0) && now.unexpected_masters == Some(0) {
        return Some((false, format!("{at}: master is the expected one again")));
    }
    None
}

/// The `/status` document of the monitor: each interface with the families listened on and
/// its state, in the order given on the command line.
pub fn status(now: Instant, interfaces: &[(&str, &[Family], &MonitorState)]) -> MonitorStatus {
    MonitorStatus {
        mode: MonitorMode::Monitor,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        interfaces: interfaces
            .iter()
            .map(|(name, families, _)| MonitorInterfaceStatus {
                name: (*name).to_owned(),
                families: families.iter().map(|f| f.as_str().to_owned()).collect(),
            })
            .collect(),
        virtual_routers: interfaces
            .iter()
            .flat_map(|(name, _, state)| state.virtual_routers(now, name))
            .collect(),
    }
}

/// "10.0.0.1 (150), 10.0.0.2 (100)".
pub fn fmt_masters(m: &[(IpAddr, u8)]) -> String {
    m.iter()
        .map(|(a, p)| format!("{a} ({p})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The log line for an event on `interface`.
pub fn event_line(interface: &str, e: &Event) -> (bool, String) {
    let at = |family: Family, vrid: u8| match family {
        Family::Ipv4 => format!("{interface} vrid {vrid}"),
        Family::Ipv6 => format!("{interface} vrid {vrid} (IPv6)"),
    };
    match e {
        Event::SplitBrain {
            family,
            vrid,
            masters,
        } => (
            true,
            format!(
                "split brain on {}: {}",
                at(*family, *vrid),
                fmt_masters(masters)
            ),
        ),
        Event::Healed {
            family,
            vrid,
            master,
        } => (
            false,
            match master {
                Some(m) => format!(
                    "split brain on {} healed: single master {}",
                    at(*family, *vrid),
                    fmt_masters(&[*m])
                ),
                None => format!(
                    "split brain on {} healed: no master heard",
                    at(*family, *vrid)
                ),
            },
        ),
        Event::NewMaster {
            family,
            vrid,
            master,
        } => (
            false,
            format!("{}: master {}", at(*family, *vrid), fmt_masters(&[*master])),
        ),
        Event::NoMaster { family, vrid } => (
            false,
            format!("{}: no master heard any more", at(*family, *vrid)),
        ),
    }
}

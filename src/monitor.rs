//! `vipd monitor`: passive watching of every VRRP advert on a segment, from any
//! implementation, without configuration and without taking part in VRRP.
//!
//! The bookkeeping is the pure [`MonitorState`] (time is an argument, tested with a virtual
//! clock); [`run`] wires it to the raw VRRP sockets, a 200 ms evaluation tick, the log and
//! the HTTP endpoint (`/metrics` with the `vrrp_monitor_*` families, `/status` as JSON).

pub mod config;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::observe::unix_now;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::net::{Netlink, Received, VrrpSocket};
use crate::observe::{self, Metrics, MonitorMetrics, MonitorRouterMetrics, MonitorVrLabels};
use crate::packet::vrrp::{self, ChecksumForm, DropReason};
use crate::packet::{Family, Version};
use crate::router::peers::{self, PeerTable};
use crate::status::{
    Master, MonitorInterfaceStatus, MonitorMode, MonitorStatus, RouterStatus, VirtualRouterStatus,
};

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

/// Options of `vipd monitor`.
#[derive(Clone, Debug)]
pub struct MonitorOptions {
    /// Interfaces to listen on (at least one, no repetition: see [`interfaces`]).
    pub interfaces: Vec<String>,
    /// The monitor file (`--config`): more interfaces, and what is expected on them.
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    /// `--web.config.file`: TLS, users and headers of the HTTP endpoint (docs/security.md).
    pub web_config: Option<std::path::PathBuf>,
}

/// The interfaces of `--interface` (repeated or comma-separated), in order: empty names are
/// an error, a name given twice is an error (it would double every count).
pub fn interfaces(given: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(given.len());
    for name in given {
        let name = name.trim();
        if name.is_empty() {
            return Err("empty interface name".to_owned());
        }
        if out.iter().any(|n| n == name) {
            return Err(format!("interface {name} given twice"));
        }
        out.push(name.to_owned());
    }
    if out.is_empty() {
        return Err("no interface given".to_owned());
    }
    Ok(out)
}

/// One watched interface: its bookkeeping and its routers' metric handles.
struct Iface {
    name: String,
    families: Vec<Family>,
    state: MonitorState,
    handles: HashMap<(Family, u8, IpAddr), MonitorRouterMetrics>,
    /// The virtual routers expected on it (the monitor file) and the last verdict on each.
    expect: Vec<(Expected, Option<Verdict>)>,
    /// When watching started (no "expected, not heard" log line in the first
    /// [`STARTUP_QUIET`]).
    since: Instant,
}

impl Iface {
    fn new(name: &str, families: Vec<Family>) -> Iface {
        Iface {
            name: name.to_owned(),
            families,
            state: MonitorState::new(),
            handles: HashMap::new(),
            expect: Vec::new(),
            since: Instant::now(),
        }
    }

    /// Replaces what is expected on the interface: the series of entries gone are removed,
    /// the new ones created (judged on the next tick).
    fn set_expected(&mut self, metrics: &MonitorMetrics, expect: &[Expected]) {
        for (e, _) in &self.expect {
            if !expect.contains(e) {
                metrics.unexpect(&self.labels(e.family, e.vrid), e.version, e.master);
            }
        }
        let old = std::mem::take(&mut self.expect);
        self.expect = expect
            .iter()
            .map(|e| {
                let kept = old.iter().find(|(o, _)| o == e).and_then(|(_, v)| *v);
                metrics.expect(&self.labels(e.family, e.vrid), e.version, e.master);
                (*e, kept)
            })
            .collect();
    }

    fn labels(&self, family: Family, vrid: u8) -> MonitorVrLabels {
        MonitorVrLabels::new(self.name.clone(), family, vrid)
    }

    /// One packet received on the interface's `family` socket, heard at `now`.
    fn packet(
        &mut self,
        metrics: &MonitorMetrics,
        now: Instant,
        family: Family,
        rx: &Received,
        buf: &[u8],
    ) {
        let Some(msg) = buf.get(rx.offset..rx.offset + rx.len) else {
            self.drop(metrics, family, rx.src, DropReason::Length);
            return;
        };
        if rx.ttl != 255 {
            self.drop(metrics, family, rx.src, DropReason::Ttl);
            return;
        }
        let (advert, form) = match vrrp::decode(msg, rx.src, rx.dst) {
            Ok(d) => d,
            Err(r) => {
                self.drop(metrics, family, rx.src, r);
                return;
            }
        };
        let interval = Duration::from_nanos(advert.interval_nanos());
        let out = self.state.advert(
            now,
            rx.src,
            advert.vrid,
            family,
            advert.priority,
            interval,
            form,
            advert.version,
        );
        let labels = self.labels(family, advert.vrid);
        if let Some(old) = out.evicted {
            self.handles.remove(&(family, advert.vrid, old));
            metrics.remove_router(&labels, old);
        }
        if out.new_router {
            info!(
                "{} vrid {} ({}): heard router {} (priority {}, interval {:?}, v{}, checksum {})",
                self.name,
                advert.vrid,
                family.as_str(),
                rx.src,
                advert.priority,
                interval,
                advert.version.number(),
                form.as_str()
            );
            // A new master shows up in the gauge right away, not on the next tick.
            metrics.set_masters(&labels, self.state.masters(now, advert.vrid, family).len());
        }
        let h = self
            .handles
            .entry((family, advert.vrid, rx.src))
            .or_insert_with(|| metrics.router(&labels, rx.src));
        h.advert(advert.priority, interval, form, unix_now());
        h.version(advert.version);
    }

    fn drop(&self, metrics: &MonitorMetrics, family: Family, src: IpAddr, r: DropReason) {
        debug!(
            "{} ({}): dropped a packet from {src}: {r}",
            self.name,
            family.as_str()
        );
        metrics.dropped(&self.name, family, r);
    }

    /// The periodic evaluation at `now`: gauges and log lines.
    fn tick(&mut self, metrics: &MonitorMetrics, now: Instant) {
        let (counts, events) = self.state.evaluate(now);
        for c in counts {
            metrics.set_masters(&self.labels(c.family, c.vrid), c.masters);
        }
        for e in &events {
            match event_line(&self.name, e) {
                (true, line) => warn!("{line}"),
                (false, line) => info!("{line}"),
            }
        }
        for i in 0..self.expect.len() {
            let (e, before) = self.expect[i];
            let masters = self.state.masters_with_version(now, e.vrid, e.family);
            let v = judge(&e, &masters);
            metrics.set_expected(
                &self.labels(e.family, e.vrid),
                v.heard,
                v.unexpected_masters,
            );
            // Right after the start nothing is heard yet: no "not heard" line before a
            // router had time to advertise.
            if before.is_none()
                && !v.heard
                && now.saturating_duration_since(self.since) < STARTUP_QUIET
            {
                continue;
            }
            if let Some((warning, line)) = verdict_line(&self.name, &e, before, v, &masters) {
                if warning {
                    warn!("{line}");
                } else {
                    info!("{line}");
                }
            }
            self.expect[i].1 = Some(v);
        }
    }
}

/// The interfaces to watch: the monitor file's, in file order, then `--interface`'s; a name
/// in both is an error.
pub fn merged_interfaces(
    file: Option<&config::MonitorFile>,
    given: &[String],
) -> Result<Vec<String>, String> {
    let mut all: Vec<String> = file
        .map(|f| f.interfaces.iter().map(|i| i.name.clone()).collect())
        .unwrap_or_default();
    all.extend(given.iter().cloned());
    interfaces(&all)
}

/// What the monitor file expects on `name` (None: the interface is not in it).
fn expected_on<'a>(file: &'a config::MonitorFile, name: &str) -> Option<&'a [Expected]> {
    file.interfaces
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.expect.as_slice())
}

/// The monitor task's state: every interface, and the metric handles they share.
struct Monitor {
    ifaces: Vec<Iface>,
    metrics: MonitorMetrics,
}

impl Monitor {
    /// SIGHUP: reads the monitor file again and applies its expectations. The interfaces
    /// are fixed at start (their sockets are open): a file listing others is refused whole.
    fn reload(&mut self, path: &std::path::Path, started: Option<&config::MonitorFile>) {
        let f = match config::load(path) {
            Ok(f) => f,
            Err(diags) => {
                for d in diags {
                    error!("{d}");
                }
                error!("SIGHUP: {} not reloaded: it has errors", path.display());
                return;
            }
        };
        let names = |f: Option<&config::MonitorFile>| -> Vec<String> {
            f.map(|f| f.interfaces.iter().map(|i| i.name.clone()).collect())
                .unwrap_or_default()
        };
        if names(Some(&f)) != names(started) {
            error!(
                "SIGHUP: {} not reloaded: its interfaces changed ({} -> {}); restart the monitor to watch others",
                path.display(),
                names(started).join(", "),
                names(Some(&f)).join(", ")
            );
            return;
        }
        let Monitor { ifaces, metrics } = self;
        let mut n = 0;
        for i in ifaces.iter_mut() {
            let e = expected_on(&f, &i.name).unwrap_or_default();
            n += e.len();
            i.set_expected(metrics, e);
        }
        info!(
            "SIGHUP: {} reloaded: {n} expected virtual router{}",
            path.display(),
            if n == 1 { "" } else { "s" }
        );
    }

    fn status(&self, now: Instant) -> MonitorStatus {
        let v: Vec<(&str, &[Family], &MonitorState)> = self
            .ifaces
            .iter()
            .map(|i| (i.name.as_str(), i.families.as_slice(), &i.state))
            .collect();
        status(now, &v)
    }

    /// The `STATUS=` line for systemd: "eth0, eth1: 3 virtual routers, 1 split brain, 0
    /// without master".
    fn status_line(&self, now: Instant) -> String {
        let names: Vec<&str> = self.ifaces.iter().map(|i| i.name.as_str()).collect();
        let (mut vrs, mut split, mut none) = (0, 0, 0);
        for i in &self.ifaces {
            for (family, vrid) in i.state.vrs() {
                vrs += 1;
                match i.state.masters(now, vrid, family).len() {
                    0 => none += 1,
                    1 => {}
                    _ => split += 1,
                }
            }
        }
        format!(
            "{}: {vrs} virtual router{}, {split} split brain, {none} without master",
            names.join(", "),
            if vrs == 1 { "" } else { "s" }
        )
    }
}

/// A packet read by one socket's receive task: (interface index, family, header, bytes).
type Packet = (usize, Family, Received, Vec<u8>);

/// Reads `sock` forever, forwarding each packet (the bytes up to the end of the VRRP message)
/// to the monitor loop; ends when the loop is gone.
async fn receive(
    idx: usize,
    iface: String,
    family: Family,
    sock: VrrpSocket,
    tx: mpsc::Sender<Packet>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf).await {
            Ok(rx) => {
                let end = (rx.offset + rx.len).min(buf.len());
                if tx
                    .send((idx, family, rx, buf[..end].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => recv_error(&iface, family, e).await,
        }
    }
}

/// Opens the sockets of `iface`: IPv4 always, IPv6 when it has a link-local address.
async fn open(netlink: &Netlink, iface: &str) -> Result<Vec<(Family, VrrpSocket)>, String> {
    let info = netlink.iface(iface, &[]).await.map_err(|e| e.to_string())?;
    if !info.up {
        warn!("{iface} is down; listening anyway");
    }
    let v4 = VrrpSocket::open(&info, Family::Ipv4).map_err(|e| e.to_string())?;
    let mut socks = vec![(Family::Ipv4, v4)];
    if info.ipv6_link_local.is_none() {
        warn!("{iface} has no IPv6 link-local address: watching IPv4 only");
    } else {
        match VrrpSocket::open(&info, Family::Ipv6) {
            Ok(s) => socks.push((Family::Ipv6, s)),
            Err(e) => warn!("{e}: watching IPv4 only on {iface}"),
        }
    }
    Ok(socks)
}

/// Runs the monitor until SIGTERM or SIGINT; returns the exit code.
pub async fn run(opts: MonitorOptions) -> i32 {
    let file = match &opts.config {
        None => None,
        Some(path) => match config::load(path) {
            Ok(f) => Some(f),
            Err(diags) => {
                for d in diags {
                    error!("{d}");
                }
                return 2;
            }
        },
    };
    let names = match merged_interfaces(file.as_ref(), &opts.interfaces) {
        Ok(n) => n,
        Err(e) => {
            error!("{e}");
            return 2;
        }
    };
    let netlink = match Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            error!("cannot open route netlink: {e}");
            return 1;
        }
    };
    let mut sockets = Vec::new();
    let mut ifaces = Vec::new();
    for (idx, name) in names.iter().enumerate() {
        match open(&netlink, name).await {
            Ok(socks) => {
                ifaces.push(Iface::new(name, socks.iter().map(|(f, _)| *f).collect()));
                sockets.extend(socks.into_iter().map(|(f, s)| (idx, name.clone(), f, s)));
            }
            Err(e) => {
                error!("{e}");
                return 1;
            }
        }
    }
    let (metrics, monitor_metrics) =
        Metrics::new_monitor(env!("CARGO_PKG_VERSION"), observe::REVISION);
    for i in &mut ifaces {
        for f in &i.families {
            monitor_metrics.socket(&i.name, *f);
        }
        if let Some(e) = file.as_ref().and_then(|f| expected_on(f, &i.name)) {
            i.set_expected(&monitor_metrics, e);
        }
    }
    let web = match &opts.web_config {
        None => crate::webconfig::WebConfig::default(),
        Some(path) => match crate::webconfig::WebConfig::load(path) {
            Ok(w) => w,
            Err(e) => {
                error!("web config: {e}");
                return 2;
            }
        },
    };
    let scheme = web.scheme();
    let listener = match observe::bind(opts.listen) {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {} for /metrics: {e}", opts.listen);
            return 1;
        }
    };
    let (status_tx, mut status_rx) = mpsc::channel::<oneshot::Sender<serde_json::Value>>(16);
    let mut http = tokio::spawn(observe::serve_with(
        listener,
        metrics,
        status_tx,
        std::sync::Arc::new(web),
    ));
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        _ => {
            error!("cannot install signal handlers");
            return 1;
        }
    };
    let (pkt_tx, mut pkt_rx) = mpsc::channel::<Packet>(1024);
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|(idx, name, f, s)| tokio::spawn(receive(idx, name, f, s, pkt_tx.clone())))
        .collect();
    drop(pkt_tx);
    info!(
        "monitoring VRRP on {}, metrics and status on {scheme}://{}",
        ifaces
            .iter()
            .map(|i| format!(
                "{} ({})",
                i.name,
                i.families
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .collect::<Vec<_>>()
            .join(", "),
        opts.listen
    );
    let mut m = Monitor {
        ifaces,
        metrics: monitor_metrics,
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // sd_notify (src/sdnotify.rs), as the daemon: READY=1 once the sockets and the HTTP
    // endpoint are open; watchdog pings and STATUS= from this loop, so a stalled loop is
    // restarted by systemd (packaging/vipd-monitor.service: WatchdogSec=).
    let mut sd = crate::sdnotify::Supervisor::from_env();
    sd.ready_with(&m.status_line(Instant::now()));
    let code = loop {
        tokio::select! {
            Some((idx, family, rx, buf)) = pkt_rx.recv() => {
                let Monitor { ifaces, metrics } = &mut m;
                ifaces[idx].packet(metrics, Instant::now(), family, &rx, &buf);
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let Monitor { ifaces, metrics } = &mut m;
                for i in ifaces.iter_mut() {
                    i.tick(metrics, now);
                }
            }
            Some(reply) = status_rx.recv() => {
                let s = m.status(Instant::now());
                let _ = reply.send(serde_json::to_value(s).unwrap_or_default());
            }
            r = &mut http => {
                match r {
                    Ok(Err(e)) => error!("HTTP endpoint failed: {e}"),
                    Ok(Ok(())) => error!("HTTP endpoint stopped"),
                    Err(e) => error!("HTTP endpoint task failed: {e}"),
                }
                break 1;
            }
            _ = sd.tick() => sd.on_tick_with(&m.status_line(Instant::now())),
            _ = hup.recv() => match &opts.config {
                Some(path) => m.reload(path, file.as_ref()),
                None => info!("SIGHUP: no monitor file (--config) to reload"),
            },
            _ = term.recv() => break 0,
            _ = int.recv() => break 0,
        }
    };
    sd.stopping();
    http.abort();
    for r in receivers {
        r.abort();
    }
    info!("monitor stopped");
    code
}

/// Logs a receive error and pauses briefly, so a persistent error cannot spin.
async fn recv_error(iface: &str, family: Family, e: io::Error) {
    warn!("{iface} ({}): receive failed: {e}", family.as_str());
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use std::net::Ipv4Addr;

    const S: Duration = Duration::from_secs(1);
    const PH: ChecksumForm = ChecksumForm::PseudoHeader;
    const V3: Version = Version::V3;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn master_window_is_three_intervals_plus_a_second() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
        assert_eq!(s.masters(t0, 51, Family::Ipv4), vec![(ip(1), 150)]);
        assert_eq!(
            s.masters(t0 + 4 * S, 51, Family::Ipv4),
            vec![(ip(1), 150)],
            "exactly 3 x 1 s + 1 s still counts"
        );
        assert!(
            s.masters(t0 + 4 * S + Duration::from_millis(1), 51, Family::Ipv4)
                .is_empty()
        );
        // Other VRID, other family: nothing.
        assert!(s.masters(t0, 52, Family::Ipv4).is_empty());
        assert!(s.masters(t0, 51, Family::Ipv6).is_empty());
        // Faster interval: shorter window.
        s.advert(
            t0,
            ip(2),
            52,
            Family::Ipv4,
            100,
            Duration::from_millis(100),
            PH,
            V3,
        );
        assert_eq!(
            s.masters(t0 + Duration::from_millis(1300), 52, Family::Ipv4)
                .len(),
            1
        );
        assert!(
            s.masters(t0 + Duration::from_millis(1301), 52, Family::Ipv4)
                .is_empty()
        );
    }

    #[test]
    fn priority_zero_is_not_a_master() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
        s.advert(t0 + S, ip(1), 51, Family::Ipv4, 0, S, PH, V3);
        assert!(s.masters(t0 + S, 51, Family::Ipv4).is_empty());
        let r = s.routers(51, Family::Ipv4);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].1.adverts, r[0].1.priority), (2, 0));
    }

    #[test]
    fn split_brain_and_heal_events() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = MonitorState::new();
        let v4 = Family::Ipv4;
        s.advert(t0, ip(1), 51, v4, 150, S, PH, V3);
        let (counts, ev) = s.evaluate(t0);
        assert_eq!(
            counts,
            vec![Count {
                family: v4,
                vrid: 51,
                masters: 1
            }]
        );
        assert_eq!(
            ev,
            vec![Event::NewMaster {
                family: v4,
                vrid: 51,
                master: (ip(1), 150)
            }]
        );
        // Nothing changes: no event.
        s.advert(t0 + S, ip(1), 51, v4, 150, S, PH, V3);
        assert!(s.evaluate(t0 + S).1.is_empty());
        // A second router starts advertising: split brain.
        s.advert(t0 + S + ms(100), ip(2), 51, v4, 100, S, PH, V3);
        let (counts, ev) = s.evaluate(t0 + S + ms(200));
        assert_eq!(counts[0].masters, 2);
        assert_eq!(
            ev,
            vec![Event::SplitBrain {
                family: v4,
                vrid: 51,
                masters: vec![(ip(1), 150), (ip(2), 100)]
            }]
        );
        assert_eq!(
            event_line("eth0", &ev[0]),
            (
                true,
                "split brain on eth0 vrid 51: 10.0.0.1 (150), 10.0.0.2 (100)".to_owned()
            )
        );
        // Still two: reported once.
        s.advert(t0 + 2 * S, ip(1), 51, v4, 150, S, PH, V3);
        s.advert(t0 + 2 * S, ip(2), 51, v4, 100, S, PH, V3);
        assert!(s.evaluate(t0 + 2 * S).1.is_empty());
        // 10.0.0.2 hears 10.0.0.1 again and falls silent (backup): healed once its
        // window (3 s + 1 s) has passed, while 10.0.0.1 keeps advertising.
        for k in 3..=6 {
            s.advert(t0 + k * S, ip(1), 51, v4, 150, S, PH, V3);
        }
        let (counts, ev) = s.evaluate(t0 + 6 * S);
        assert_eq!(counts[0].masters, 2, "window not over yet");
        assert!(ev.is_empty());
        s.advert(t0 + 7 * S, ip(1), 51, v4, 150, S, PH, V3);
        let (counts, ev) = s.evaluate(t0 + 7 * S);
        assert_eq!(counts[0].masters, 1);
        assert_eq!(
            ev,
            vec![Event::Healed {
                family: v4,
                vrid: 51,
                master: Some((ip(1), 150))
            }]
        );
        assert_eq!(
            event_line("eth0", &ev[0]).1,
            "split brain on eth0 vrid 51 healed: single master 10.0.0.1 (150)"
        );
        // The master goes silent: no master.
        let (counts, ev) = s.evaluate(t0 + 12 * S);
        assert_eq!(counts[0].masters, 0);
        assert_eq!(
            ev,
            vec![Event::NoMaster {
                family: v4,
                vrid: 51
            }]
        );
    }

    #[test]
    fn straight_from_none_to_two_is_a_split_brain() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(2), 7, Family::Ipv4, 100, S, PH, V3);
        s.advert(
            t0,
            ip(1),
            7,
            Family::Ipv4,
            100,
            S,
            ChecksumForm::MessageOnly,
            V3,
        );
        let (_, ev) = s.evaluate(t0);
        assert_eq!(
            ev,
            vec![Event::SplitBrain {
                family: Family::Ipv4,
                vrid: 7,
                masters: vec![(ip(1), 100), (ip(2), 100)]
            }]
        );
    }

    #[test]
    fn routers_bounded_per_vrid_least_recent_evicted() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        for i in 0..MAX_ROUTERS as u8 {
            let o = s.advert(
                t0 + Duration::from_millis(u64::from(i)),
                ip(i + 1),
                9,
                Family::Ipv4,
                100,
                S,
                PH,
                V3,
            );
            assert_eq!(
                o,
                AdvertOutcome {
                    new_router: true,
                    evicted: None
                }
            );
        }
        // 10.0.0.1 is heard again, so 10.0.0.2 is now the least recently heard.
        let o = s.advert(t0 + S, ip(1), 9, Family::Ipv4, 100, S, PH, V3);
        assert_eq!(o, AdvertOutcome::default());
        let o = s.advert(t0 + 2 * S, ip(200), 9, Family::Ipv4, 100, S, PH, V3);
        assert_eq!(
            o,
            AdvertOutcome {
                new_router: true,
                evicted: Some(ip(2))
            }
        );
        assert_eq!(s.routers(9, Family::Ipv4).len(), MAX_ROUTERS);
        // Another VRID has its own budget.
        let o = s.advert(t0 + 2 * S, ip(2), 10, Family::Ipv4, 100, S, PH, V3);
        assert_eq!(o.evicted, None);
    }

    #[test]
    fn status_document() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, V3);
        s.advert(
            t0,
            ip(2),
            51,
            Family::Ipv4,
            100,
            S,
            ChecksumForm::MessageOnly,
            V3,
        );
        let v = serde_json::to_value(status(
            t0 + S,
            &[
                ("eth0", &[Family::Ipv4], &s),
                ("eth1", &[], &MonitorState::new()),
            ],
        ))
        .unwrap();
        // The whole document, field for field (the shape `vipd status` and the lab tests read).
        let router = |last: u8, priority: u8, form: &str| {
            json!({"address": ip(last).to_string(), "priority": priority, "master": true,
                   "adverts": 1, "advert_interval_ms": 1000.0, "checksum_form": form,
                   "first_advert_ms_ago": 1000.0, "last_advert_ms_ago": 1000.0})
        };
        let want = json!({
            "mode": "monitor",
            "version": env!("CARGO_PKG_VERSION"),
            "interfaces": [{"name": "eth0", "families": ["ipv4"]},
                           {"name": "eth1", "families": []}],
            "virtual_routers": [{
                "interface": "eth0",
                "family": "ipv4",
                "vrid": 51,
                "split_brain": true,
                "masters": [{"address": "10.0.0.1", "priority": 150},
                            {"address": "10.0.0.2", "priority": 100}],
                "routers": [router(1, 150, "pseudo_header"), router(2, 100, "rfc9568")],
            }],
        });
        assert_eq!(v, want, "{v:#}");
    }

    /// A v3 IPv4 advert from `src` (checksum over the message only) as the socket hands it.
    fn v3_advert(src: IpAddr, vrid: u8, priority: u8) -> (Received, Vec<u8>) {
        let mut msg = vec![0x31, vrid, priority, 1, 0, 100, 0, 0, 10, 0, 0, 200];
        let sum = !msg
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .fold(0u32, |a, w| {
                let t = a + w;
                (t & 0xffff) + (t >> 16)
            }) as u16;
        msg[6..8].copy_from_slice(&sum.to_be_bytes());
        let rx = Received {
            src,
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            ttl: 255,
            offset: 0,
            len: msg.len(),
        };
        (rx, msg)
    }

    #[test]
    fn interfaces_are_watched_apart_and_labelled() {
        assert_eq!(
            interfaces(&["eth0".into(), "vlan20".into()]),
            Ok(vec!["eth0".to_owned(), "vlan20".to_owned()])
        );
        assert_eq!(
            interfaces(&["eth0".into(), "eth0".into()]),
            Err("interface eth0 given twice".to_owned())
        );
        assert!(interfaces(&[]).is_err());
        assert!(interfaces(&["".into()]).is_err());

        // The same VRID on two segments: two masters on eth0 (a split brain), one on vlan20.
        let (metrics, mm) = Metrics::new_monitor("0.1.0", "abc");
        let mut eth0 = Iface::new("eth0", vec![Family::Ipv4]);
        let mut vlan = Iface::new("vlan20", vec![Family::Ipv4]);
        let t0 = Instant::now();
        for (on_eth0, src) in [(true, 1), (true, 2), (false, 3)] {
            let (rx, buf) = v3_advert(ip(src), 51, 100);
            let iface = if on_eth0 { &mut eth0 } else { &mut vlan };
            iface.packet(&mm, t0, Family::Ipv4, &rx, &buf);
        }
        let (mut rx, buf) = v3_advert(ip(4), 51, 100);
        rx.ttl = 64;
        vlan.packet(&mm, t0, Family::Ipv4, &rx, &buf);
        eth0.tick(&mm, t0);
        vlan.tick(&mm, t0);
        assert_eq!(eth0.state.masters(t0, 51, Family::Ipv4).len(), 2);
        assert_eq!(vlan.state.masters(t0, 51, Family::Ipv4), vec![(ip(3), 100)]);
        let text = metrics.encode(false);
        for want in [
            r#"vrrp_monitor_masters{interface="eth0",family="ipv4",vrid="51"} 2"#,
            r#"vrrp_monitor_masters{interface="vlan20",family="ipv4",vrid="51"} 1"#,
            r#"vrrp_monitor_router_priority{interface="vlan20",family="ipv4",vrid="51",router="10.0.0.3"} 100"#,
            r#"vrrp_monitor_dropped_total{interface="vlan20",family="ipv4",reason="ttl"} 1"#,
        ] {
            assert!(text.contains(want), "{want}\n{text}");
        }
        assert!(
            !text.contains(r#"interface="eth0",family="ipv4",vrid="51",router="10.0.0.3""#),
            "{text}"
        );
        let m = Monitor {
            ifaces: vec![eth0, vlan],
            metrics: mm,
        };
        let st = m.status(t0);
        let names: Vec<&str> = st.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "vlan20"]);
        let vrs: Vec<(&str, bool)> = st
            .virtual_routers
            .iter()
            .map(|v| (v.interface.as_str(), v.split_brain))
            .collect();
        assert_eq!(vrs, [("eth0", true), ("vlan20", false)]);
        assert_eq!(
            m.status_line(t0),
            "eth0, vlan20: 2 virtual routers, 1 split brain, 0 without master"
        );
        assert_eq!(
            m.status_line(t0 + 10 * S),
            "eth0, vlan20: 2 virtual routers, 0 split brain, 2 without master"
        );
    }

    fn exp(vrid: u8, version: Option<Version>, master: Option<u8>) -> Expected {
        Expected {
            family: Family::Ipv4,
            vrid,
            version,
            master: master.map(ip),
        }
    }

    #[test]
    fn judge_expected_vrid_and_master() {
        let v2 = Version::V2;
        let any = exp(51, None, None);
        let a_v3 = exp(51, Some(V3), Some(1));
        // Nothing heard: missing; no master, so none unexpected.
        assert_eq!(
            judge(&any, &[]),
            Verdict {
                heard: false,
                unexpected_masters: None
            }
        );
        assert_eq!(
            judge(&a_v3, &[]),
            Verdict {
                heard: false,
                unexpected_masters: Some(0)
            }
        );
        // The expected master: heard, nothing unexpected.
        assert_eq!(
            judge(&a_v3, &[(ip(1), 150, V3)]),
            Verdict {
                heard: true,
                unexpected_masters: Some(0)
            }
        );
        // The other node took over.
        assert_eq!(
            judge(&a_v3, &[(ip(2), 100, V3)]),
            Verdict {
                heard: true,
                unexpected_masters: Some(1)
            }
        );
        // Split brain of the expected master and two others: two unexpected.
        assert_eq!(
            judge(
                &a_v3,
                &[(ip(1), 150, V3), (ip(2), 100, V3), (ip(3), 90, V3)]
            )
            .unexpected_masters,
            Some(2)
        );
        // Only a v2 master where v3 is expected: not heard (still unexpected counts by
        // address only).
        assert_eq!(
            judge(&a_v3, &[(ip(1), 150, v2)]),
            Verdict {
                heard: false,
                unexpected_masters: Some(0)
            }
        );
        // No version expected: either is heard.
        assert!(judge(&any, &[(ip(9), 1, v2)]).heard);
        assert!(judge(&exp(51, Some(v2), None), &[(ip(9), 1, v2)]).heard);
    }

    #[test]
    fn judge_from_the_state_uses_the_master_window_and_versions() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        let e = exp(51, Some(Version::V2), Some(1));
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH, Version::V2);
        assert_eq!(
            s.judge(t0, &e),
            Verdict {
                heard: true,
                unexpected_masters: Some(0)
            }
        );
        assert_eq!(
            s.masters_with_version(t0, 51, Family::Ipv4),
            vec![(ip(1), 150, Version::V2)]
        );
        // a falls silent, b takes over (v3): heard is false (v2 expected), b unexpected.
        s.advert(t0 + 3 * S, ip(2), 51, Family::Ipv4, 100, S, PH, V3);
        let later = t0 + 5 * S;
        assert_eq!(
            s.judge(later, &e),
            Verdict {
                heard: false,
                unexpected_masters: Some(1)
            }
        );
        // Another family is another virtual router.
        let e6 = Expected {
            family: Family::Ipv6,
            ..e
        };
        assert!(!s.judge(t0, &e6).heard);
    }

    #[test]
    fn verdict_lines_on_changes_only() {
        let e = exp(51, None, Some(1));
        let ok = Verdict {
            heard: true,
            unexpected_masters: Some(0),
        };
        let gone = Verdict {
            heard: false,
            unexpected_masters: Some(0),
        };
        let other = Verdict {
            heard: true,
            unexpected_masters: Some(1),
        };
        let b = [(ip(2), 100, V3)];
        assert_eq!(
            verdict_line("eth0", &e, None, ok, &[(ip(1), 150, V3)]),
            None
        );
        assert_eq!(verdict_line("eth0", &e, Some(ok), ok, &[]), None);
        assert_eq!(
            verdict_line("eth0", &e, Some(ok), gone, &[]),
            Some((
                true,
                "eth0 vrid 51 (ipv4): expected, no master heard".to_owned()
            ))
        );
        assert_eq!(
            verdict_line("eth0", &e, Some(gone), other, &b),
            Some((
                true,
                "eth0 vrid 51 (ipv4): unexpected master: 10.0.0.2 (100) (expected 10.0.0.1)"
                    .to_owned()
            ))
        );
        assert_eq!(verdict_line("eth0", &e, Some(other), other, &b), None);
        // In a split brain with the expected master, only the other one is named.
        assert_eq!(
            verdict_line(
                "eth0",
                &e,
                Some(ok),
                other,
                &[(ip(1), 150, V3), (ip(2), 100, V3)]
            ),
            Some((
                true,
                "eth0 vrid 51 (ipv4): unexpected master: 10.0.0.2 (100) (expected 10.0.0.1)"
                    .to_owned()
            ))
        );
        assert_eq!(
            verdict_line("eth0", &e, Some(other), ok, &[(ip(1), 150, V3)]),
            Some((
                false,
                "eth0 vrid 51 (ipv4): master is the expected one again".to_owned()
            ))
        );
        assert_eq!(
            verdict_line("eth0", &exp(52, None, None), Some(gone), ok, &b),
            Some((
                false,
                "eth0 vrid 52 (ipv4): expected, heard: 10.0.0.2 (100)".to_owned()
            ))
        );
        let v3_only = exp(53, Some(V3), None);
        assert_eq!(
            verdict_line(
                "eth0",
                &v3_only,
                Some(ok),
                gone,
                &[(ip(2), 100, Version::V2)]
            ),
            Some((
                true,
                "eth0 vrid 53 (ipv4): expected, no VRRPv3 master heard (masters: 10.0.0.2 (100))"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn expected_series_are_bounded_to_the_file_and_follow_a_reload() {
        let (metrics, mm) = Metrics::new_monitor("0.1.0", "abc");
        let mut eth0 = Iface::new("eth0", vec![Family::Ipv4]);
        let t0 = Instant::now();
        eth0.set_expected(&mm, &[exp(51, None, Some(1)), exp(52, Some(V3), None)]);
        let (rx, buf) = v3_advert(ip(2), 51, 100);
        eth0.packet(&mm, t0, Family::Ipv4, &rx, &buf);
        // A VRID heard but not expected gets no expected series.
        let (rx, buf) = v3_advert(ip(3), 60, 100);
        eth0.packet(&mm, t0, Family::Ipv4, &rx, &buf);
        eth0.tick(&mm, t0);
        let text = metrics.encode(false);
        let l = |vrid: u32| format!(r#"interface="eth0",family="ipv4",vrid="{vrid}""#);
        for want in [
            format!(
                r#"vrrp_monitor_expected{{{},version="",master="10.0.0.1"}} 1"#,
                l(51)
            ),
            format!(
                r#"vrrp_monitor_expected{{{},version="3",master=""}} 1"#,
                l(52)
            ),
            format!("vrrp_monitor_expected_heard{{{}}} 1", l(51)),
            format!("vrrp_monitor_expected_heard{{{}}} 0", l(52)),
            format!("vrrp_monitor_unexpected_masters{{{}}} 1", l(51)),
            format!(
                r#"vrrp_monitor_router_version{{{},router="10.0.0.2",version="3"}} 1"#,
                l(51)
            ),
            format!(
                r#"vrrp_monitor_router_version{{{},router="10.0.0.2",version="2"}} 0"#,
                l(51)
            ),
        ] {
            assert!(text.contains(&want), "{want}\n{text}");
        }
        assert!(
            !text.contains(&format!("vrrp_monitor_unexpected_masters{{{}}}", l(52))),
            "{text}"
        );
        assert!(
            !text.contains(&format!("vrrp_monitor_expected_heard{{{}}}", l(60))),
            "{text}"
        );
        // Reloaded: 51 now expects 10.0.0.2, 52 is gone.
        eth0.set_expected(&mm, &[exp(51, None, Some(2))]);
        eth0.tick(&mm, t0);
        let text = metrics.encode(false);
        assert!(
            text.contains(&format!("vrrp_monitor_unexpected_masters{{{}}} 0", l(51))),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#"vrrp_monitor_expected{{{},version="",master="10.0.0.2"}} 1"#,
                l(51)
            )),
            "{text}"
        );
        assert!(!text.contains("master=\"10.0.0.1\""), "{text}");
        assert!(!text.contains(&l(52)), "{text}");
    }

    #[test]
    fn file_and_command_line_interfaces_merge() {
        let f = config::parse_str("interfaces:\n  eth0: {}\n  vlan20: {}\n", "m.yml").unwrap();
        assert_eq!(
            merged_interfaces(Some(&f), &["vlan30".into()]),
            Ok(vec!["eth0".into(), "vlan20".into(), "vlan30".into()])
        );
        assert_eq!(
            merged_interfaces(Some(&f), &["eth0".into()]),
            Err("interface eth0 given twice".to_owned())
        );
        assert_eq!(
            merged_interfaces(None, &["eth0".into()]),
            Ok(vec!["eth0".into()])
        );
        assert!(merged_interfaces(None, &[]).is_err());
    }

    #[test]
    fn monitor_registry_exports_only_monitor_families() {
        let (metrics, m) = Metrics::new_monitor("0.1.0", "abc");
        m.socket("eth0", Family::Ipv4);
        let vr = MonitorVrLabels::new("eth0", Family::Ipv4, 51);
        m.set_masters(&vr, 2);
        let r = m.router(&vr, ip(1));
        r.advert(150, Duration::from_millis(100), PH, 1234.5);
        r.advert(150, Duration::from_millis(100), PH, 1235.5);
        m.dropped("eth0", Family::Ipv4, DropReason::Ttl);
        let text = metrics.encode(false);
        let l = r#"interface="eth0",family="ipv4",vrid="51""#;
        for want in [
            format!("vrrp_monitor_masters{{{l}}} 2"),
            format!(r#"vrrp_monitor_router_priority{{{l},router="10.0.0.1"}} 150"#),
            format!(r#"vrrp_monitor_router_adverts_total{{{l},router="10.0.0.1"}} 2"#),
            format!(r#"vrrp_monitor_router_advert_interval_seconds{{{l},router="10.0.0.1"}} 0.1"#),
            format!(
                r#"vrrp_monitor_router_checksum_form{{{l},router="10.0.0.1",form="pseudo_header"}} 1"#
            ),
            format!(
                r#"vrrp_monitor_router_checksum_form{{{l},router="10.0.0.1",form="rfc9568"}} 0"#
            ),
            format!(
                r#"vrrp_monitor_router_last_advert_timestamp_seconds{{{l},router="10.0.0.1"}} 1235.5"#
            ),
            r#"vrrp_monitor_dropped_total{interface="eth0",family="ipv4",reason="ttl"} 1"#
                .to_owned(),
            r#"vrrp_monitor_dropped_total{interface="eth0",family="ipv4",reason="checksum"} 0"#
                .to_owned(),
        ] {
            assert!(text.contains(&want), "{want}\n{text}");
        }
        assert!(text.contains("vipd_build_info"), "{text}");
        assert!(!text.contains("vrrp_instance_state"), "{text}");
        m.remove_router(&vr, ip(1));
        let text = metrics.encode(true);
        assert!(!text.contains("router=\"10.0.0.1\""), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}

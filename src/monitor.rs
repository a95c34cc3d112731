//! `vipd monitor`: passive watching of every VRRP advert on a segment, from any
//! implementation, without configuration and without taking part in VRRP.
//!
//! The bookkeeping is the pure [`MonitorState`] (time is an argument, tested with a virtual
//! clock); [`run`] wires it to the raw VRRP sockets, a 200 ms evaluation tick, the log and
//! the HTTP endpoint (`/metrics` with the `vrrp_monitor_*` families, `/status` as JSON).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::observe::unix_now;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::net::{Netlink, Received, VrrpSocket};
use crate::observe::{self, Metrics, MonitorMetrics, MonitorRouterMetrics, MonitorVrLabels};
use crate::packet::Family;
use crate::packet::vrrp::{self, ChecksumForm, DropReason};
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

/// What is known about one router heard on the segment: the daemon's peer record.
pub type Router = peers::Peer;

/// One virtual router (family, VRID) on the segment.
#[derive(Clone, Debug, Default)]
struct Vr {
    routers: PeerTable,
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
        AdvertOutcome {
            new_router: r.new,
            evicted: r.evicted,
        }
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
    pub listen: SocketAddr,
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
}

impl Iface {
    fn new(name: &str, families: Vec<Family>) -> Iface {
        Iface {
            name: name.to_owned(),
            families,
            state: MonitorState::new(),
            handles: HashMap::new(),
        }
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
                match advert.version {
                    crate::config::model::Version::V2 => 2,
                    crate::config::model::Version::V3 => 3,
                },
                form.as_str()
            );
            // A new master shows up in the gauge right away, not on the next tick.
            metrics.set_masters(&labels, self.state.masters(now, advert.vrid, family).len());
        }
        self.handles
            .entry((family, advert.vrid, rx.src))
            .or_insert_with(|| metrics.router(&labels, rx.src))
            .advert(advert.priority, interval, form, unix_now());
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
    }
}

/// The monitor task's state: every interface, and the metric handles they share.
struct Monitor {
    ifaces: Vec<Iface>,
    metrics: MonitorMetrics,
}

impl Monitor {
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
    let names = match interfaces(&opts.interfaces) {
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
    for i in &ifaces {
        for f in &i.families {
            monitor_metrics.socket(&i.name, *f);
        }
    }
    let listener = match observe::bind(opts.listen) {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {} for /metrics: {e}", opts.listen);
            return 1;
        }
    };
    let (status_tx, mut status_rx) = mpsc::channel::<oneshot::Sender<serde_json::Value>>(16);
    let mut http = tokio::spawn(observe::serve(listener, metrics, status_tx));
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(a), Ok(b)) => (a, b),
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
        "monitoring VRRP on {}, metrics and status on http://{}",
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

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn master_window_is_three_intervals_plus_a_second() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH);
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
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH);
        s.advert(t0 + S, ip(1), 51, Family::Ipv4, 0, S, PH);
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
        s.advert(t0, ip(1), 51, v4, 150, S, PH);
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
        s.advert(t0 + S, ip(1), 51, v4, 150, S, PH);
        assert!(s.evaluate(t0 + S).1.is_empty());
        // A second router starts advertising: split brain.
        s.advert(t0 + S + ms(100), ip(2), 51, v4, 100, S, PH);
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
        s.advert(t0 + 2 * S, ip(1), 51, v4, 150, S, PH);
        s.advert(t0 + 2 * S, ip(2), 51, v4, 100, S, PH);
        assert!(s.evaluate(t0 + 2 * S).1.is_empty());
        // 10.0.0.2 hears 10.0.0.1 again and falls silent (backup): healed once its
        // window (3 s + 1 s) has passed, while 10.0.0.1 keeps advertising.
        for k in 3..=6 {
            s.advert(t0 + k * S, ip(1), 51, v4, 150, S, PH);
        }
        let (counts, ev) = s.evaluate(t0 + 6 * S);
        assert_eq!(counts[0].masters, 2, "window not over yet");
        assert!(ev.is_empty());
        s.advert(t0 + 7 * S, ip(1), 51, v4, 150, S, PH);
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
        s.advert(t0, ip(2), 7, Family::Ipv4, 100, S, PH);
        s.advert(
            t0,
            ip(1),
            7,
            Family::Ipv4,
            100,
            S,
            ChecksumForm::MessageOnly,
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
        let o = s.advert(t0 + S, ip(1), 9, Family::Ipv4, 100, S, PH);
        assert_eq!(o, AdvertOutcome::default());
        let o = s.advert(t0 + 2 * S, ip(200), 9, Family::Ipv4, 100, S, PH);
        assert_eq!(
            o,
            AdvertOutcome {
                new_router: true,
                evicted: Some(ip(2))
            }
        );
        assert_eq!(s.routers(9, Family::Ipv4).len(), MAX_ROUTERS);
        // Another VRID has its own budget.
        let o = s.advert(t0 + 2 * S, ip(2), 10, Family::Ipv4, 100, S, PH);
        assert_eq!(o.evicted, None);
    }

    #[test]
    fn status_document() {
        let t0 = Instant::now();
        let mut s = MonitorState::new();
        s.advert(t0, ip(1), 51, Family::Ipv4, 150, S, PH);
        s.advert(
            t0,
            ip(2),
            51,
            Family::Ipv4,
            100,
            S,
            ChecksumForm::MessageOnly,
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

//! The monitor's shell: one task per interface and family reading adverts into the
//! [`MonitorState`]s, the evaluation tick, SIGHUP reloads, the HTTP endpoint.

use std::collections::HashMap;
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
use crate::packet::Family;
use crate::packet::vrrp::{self, DropReason};
use crate::status::MonitorStatus;

use super::*;

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
pub(super) struct Iface {
    pub(super) name: String,
    pub(super) families: Vec<Family>,
    pub(super) state: MonitorState,
    pub(super) handles: HashMap<(Family, u8, IpAddr), MonitorRouterMetrics>,
    /// The virtual routers expected on it (the monitor file) and the last verdict on each.
    pub(super) expect: Vec<(Expected, Option<Verdict>)>,
    /// When watching started (no "expected, not heard" log line in the first
    /// [`STARTUP_QUIET`]).
    pub(super) since: Instant,
}

impl Iface {
    pub(super) fn new(name: &str, families: Vec<Family>) -> Iface {
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
    pub(super) fn set_expected(&mut self, metrics: &MonitorMetrics, expect: &[Expected]) {
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

    pub(super) fn labels(&self, family: Family, vrid: u8) -> MonitorVrLabels {
        MonitorVrLabels::new(self.name.clone(), family, vrid)
    }

    /// One packet received on the interface's `family` socket, heard at `now`.
    pub(super) fn packet(
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

    pub(super) fn drop(
        &self,
        metrics: &MonitorMetrics,
        family: Family,
        src: IpAddr,
        r: DropReason,
    ) {
        debug!(
            "{} ({}): dropped a packet from {src}: {r}",
            self.name,
            family.as_str()
        );
        metrics.dropped(&self.name, family, r);
    }

    /// The periodic evaluation at `now`: gauges and log lines.
    pub(super) fn tick(&mut self, metrics: &MonitorMetrics, now: Instant) {
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
pub(super) struct Monitor {
    pub(super) ifaces: Vec<Iface>,
    pub(super) metrics: MonitorMetrics,
}

impl Monitor {
    /// SIGHUP: reads the monitor file again and applies its expectations. The interfaces
    /// are fixed at start (their sockets are open): a file listing others is refused whole.
    pub(super) fn reload(&mut self, path: &std::path::Path, started: Option<&config::MonitorFile>) {
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

    pub(super) fn status(&self, now: Instant) -> MonitorStatus {
        let v: Vec<(&str, &[Family], &MonitorState)> = self
            .ifaces
            .iter()
            .map(|i| (i.name.as_str(), i.families.as_slice(), &i.state))
            .collect();
        status(now, &v)
    }

    /// The `STATUS=` line for systemd: "eth0, eth1: 3 virtual routers, 1 split brain, 0
    /// without master".
    pub(super) fn status_line(&self, now: Instant) -> String {
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

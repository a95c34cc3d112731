//! The daemon: wires sockets, the pure engine, timers, netlink and signals together.
//!
//! One task (the engine loop) owns every instance and the timer heap; it never awaits the
//! kernel on the hot path. Per (interface, family) one raw socket is read by a small reader
//! task that forwards packets over a channel. Address changes and announcements go, in
//! order, to one effects task, so a slow netlink reply never delays an advert.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::config::{self, Config, Family, InstanceConfig, V3Checksum, Version, Vip};
use crate::engine::{self, Action, Heard, Input, Instance};
use crate::net::wiretap::WireTap;
use crate::net::{
    self, Announcer, IfaceInfo, LinkEvent, Netlink, VRRP_V4_GROUP, VRRP_V6_GROUP, VrrpSocket,
};
use crate::observe::{self, InstanceLabels, InstanceMetrics, Metrics, PeerMetrics, ScriptMetrics};
use crate::track::{self, TrackEvent};

use crate::packet::vrrp::{self, Advert, AdvertSpec, ChecksumForm, DropReason};

/// How many peers per instance are remembered (oldest evicted).
pub const MAX_PEERS: usize = 32;
/// How often unresolved interfaces/addresses are retried.
const RETRY: Duration = Duration::from_secs(1);
/// How often derived metrics (masters observed, VIP presence, filtered adverts) are refreshed.
const OBSERVE_TICK: Duration = Duration::from_secs(1);
/// Packets queued between the socket readers and the engine; beyond it packets are dropped
/// (and counted) instead of growing memory under a flood.
const RX_QUEUE: usize = 4096;
/// Bound on the (VRID, source) pairs a wire tap counts per port.
const MAX_TAP_KEYS: usize = 1024;

/// Options for `vipd run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Overrides the configuration's `listen`.
    pub listen: Option<std::net::SocketAddr>,
}

/// Counters of one instance.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub adverts_sent: u64,
    pub adverts_received: u64,
    pub send_errors: u64,
    pub priority_zero_sent: u64,
    pub priority_zero_received: u64,
    pub address_list_mismatch: u64,
    pub dropped: BTreeMap<DropReason, u64>,
    pub transitions: u64,
    /// Adverts seen on the wire (packet socket) but never handed to the VRRP socket.
    pub filtered: u64,
}

/// What we know of a peer of an instance.
#[derive(Clone, Debug)]
pub struct Peer {
    pub adverts: u64,
    pub priority: u8,
    pub last_seen: Instant,
    pub checksum_form: ChecksumForm,
    m: PeerMetrics,
}

/// Checks an advert against the instance's configuration (RFC 3768 7.1 / RFC 9568 7.1, the
/// rules that need it). Ok(true) when the address list differs from ours (logged and
/// counted, not dropped).
pub fn check_advert(cfg: &InstanceConfig, a: &Advert<'_>) -> Result<bool, DropReason> {
    if a.version != cfg.version {
        return Err(DropReason::Version);
    }
    if cfg.version == Version::V2 {
        let want = if cfg.auth_pass.is_some() {
            vrrp::AUTH_PASS
        } else {
            vrrp::AUTH_NONE
        };
        if a.auth_type != want {
            return Err(DropReason::AuthType);
        }
        if let Some(p) = &cfg.auth_pass
            && a.auth_data != vrrp::auth_data(p)
        {
            return Err(DropReason::AuthFailure);
        }
        if u64::from(a.interval) != cfg.advert_interval.as_secs() {
            return Err(DropReason::Interval);
        }
    }
    let ours = cfg.virtual_ipaddress.iter().map(|v| v.addr);
    let mismatch = a.count() != cfg.virtual_ipaddress.len()
        || !ours.into_iter().all(|o| a.addresses().any(|x| x == o));
    Ok(mismatch)
}

/// The engine parameters of an instance configuration.
pub fn engine_params(cfg: &InstanceConfig) -> engine::Params {
    engine::Params {
        version: cfg.version,
        priority: cfg.priority,
        advert_interval: cfg.advert_interval,
        preempt: cfg.preempt,
        preempt_delay: cfg.preempt_delay,
        garp: cfg.garp,
    }
}

/// A packet from a reader task.
struct Packet {
    port: usize,
    rx: net::Received,
    data: Vec<u8>,
}

/// Counts of VRRP packets a wire tap saw per (VRID, source), sent once per tick.
struct TapReport {
    port: usize,
    counts: HashMap<(u8, IpAddr), u64>,
}

/// The `group` label: the configured group, else the VIP set (it matches only routers that
/// truly share the addresses, even where VRIDs are reused on other LANs).
pub fn group_of(cfg: &InstanceConfig) -> String {
    let mut v: Vec<String> = cfg
        .virtual_ipaddress
        .iter()
        .map(|v| v.addr.to_string())
        .collect();
    v.sort();
    v.join(",")
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One raw socket per (interface, family), shared by the instances on it.
struct Port {
    iface: String,
    family: Family,
    ifindex: u32,
    sock: Arc<VrrpSocket>,
    reader: JoinHandle<()>,
    /// Packets dropped because the engine queue was full.
    overflow: Arc<std::sync::atomic::AtomicU64>,
    /// The packet-socket tap counting what arrives before the firewall.
    tap: Option<(Arc<WireTap>, JoinHandle<()>)>,
    by_vrid: HashMap<u8, usize>,
    /// Packets dropped before an instance could be found (TTL, malformed, unknown VRID).
    dropped: BTreeMap<DropReason, u64>,
    /// Packets the VRRP socket was handed, per (VRID, source).
    delivered: HashMap<(u8, IpAddr), u64>,
    /// The tap's previous report (compared with `delivered` one tick later).
    tap_prev: HashMap<(u8, IpAddr), u64>,
    /// Filtered counts already exported.
    filtered_reported: HashMap<(u8, IpAddr), u64>,
}

impl Port {
    /// Routes `vrid` to instance `i` and lets the kernel pass that VRID.
    fn register(&mut self, vrid: u8, i: usize) {
        if self.by_vrid.insert(vrid, i) != Some(i) {
            self.refresh_filter();
        }
    }

    /// Forgets `vrid` if it still routes to instance `i`.
    fn unregister(&mut self, vrid: u8, i: usize) {
        if self.by_vrid.get(&vrid) == Some(&i) {
            self.by_vrid.remove(&vrid);
            self.refresh_filter();
        }
    }

    /// Kernel-side filter: only our VRIDs reach the socket (a garbage flood costs nothing).
    fn refresh_filter(&self) {
        let mut vrids: Vec<u8> = self.by_vrid.keys().copied().collect();
        vrids.sort_unstable();
        if let Err(e) = self.sock.set_vrid_filter(&vrids) {
            warn!(interface = %self.iface, "cannot attach the VRID filter (user space filters instead): {e}");
        }
        if let Some((tap, _)) = &self.tap
            && let Err(e) = tap.set_vrid_filter(&vrids)
        {
            warn!(interface = %self.iface, "cannot filter the wire tap: {e}");
        }
    }
}

/// One configured instance and its runtime state.
struct Inst {
    cfg: InstanceConfig,
    engine: Instance,
    /// The port it sends and receives on, once the interface is resolved.
    port: Option<usize>,
    iface: Option<IfaceInfo>,
    /// Source address of adverts (unicast_src, primary IPv4 or IPv6 link-local).
    src: Option<IpAddr>,
    auth: Option<[u8; 8]>,
    addrs: Vec<IpAddr>,
    /// Last health fed to the engine.
    healthy: bool,
    /// Interface up, source address and socket in place.
    link_ok: bool,
    started: bool,
    stats: Stats,
    peers: HashMap<IpAddr, Peer>,
    /// Peers whose address list mismatch was already logged.
    mismatch_logged: HashSet<IpAddr>,
    buf: Vec<u8>,
    /// Metric handles (series created when the instance was).
    m: InstanceMetrics,
}

impl Inst {
    fn new(cfg: InstanceConfig, metrics: &Metrics) -> Inst {
        let labels = InstanceLabels::new(
            cfg.name.clone(),
            cfg.vrid,
            cfg.interface.clone(),
            cfg.family,
            group_of(&cfg),
        );
        let m = metrics.instance(&labels);
        m.set_priority(cfg.priority, cfg.priority);
        for t in &cfg.track_interfaces {
            m.set_track_interface(&t.name, false);
        }
        let placeholder = match cfg.family {
            Family::Ipv4 => IpAddr::from([0, 0, 0, 0]),
            Family::Ipv6 => IpAddr::from([0u16; 8]),
        };
        Inst {
            engine: Instance::new(engine_params(&cfg), placeholder),
            auth: cfg.auth_pass.as_deref().map(vrrp::auth_data),
            addrs: cfg.virtual_ipaddress.iter().map(|v| v.addr).collect(),
            cfg,
            port: None,
            iface: None,
            src: None,
            healthy: false,
            link_ok: false,
            started: false,
            stats: Stats::default(),
            peers: HashMap::new(),
            mismatch_logged: HashSet::new(),
            buf: Vec::with_capacity(128),
            m,
        }
    }

    /// Refreshes the gauges derived from engine state.
    fn observe(&self, now: Instant) {
        let e = &self.engine;
        self.m.set_priority(e.priority(), self.cfg.priority);
        self.m.set_intervals(
            self.cfg.advert_interval,
            e.master_adver_interval(),
            e.master_down_interval(),
        );
        if let Some((_, p)) = e.master() {
            self.m.set_master_priority(p);
        }
        // Routers heard advertising (as master) within the master-down interval, us included.
        let mdi = e.master_down_interval();
        let heard = self
            .peers
            .values()
            .filter(|p| p.priority > 0 && now.saturating_duration_since(p.last_seen) <= mdi)
            .count();
        let me = usize::from(e.state() == engine::State::Master);
        self.m.set_masters_observed((heard + me) as u64);
    }

    fn interval_field(&self) -> u16 {
        match self.cfg.version {
            Version::V2 => self.cfg.advert_interval.as_secs() as u16,
            Version::V3 => (self.cfg.advert_interval.as_millis() / 10) as u16,
        }
    }
}

/// Ordered side effects, executed by the effects task.
enum Effect {
    Add {
        ifindex: u32,
        vips: Vec<Vip>,
        name: String,
        m: InstanceMetrics,
    },
    Remove {
        ifindex: u32,
        vips: Vec<Vip>,
        name: String,
        m: InstanceMetrics,
    },
    Announce {
        iface: IfaceInfo,
        vips: Vec<IpAddr>,
        count: u32,
    },
    /// Reads the addresses of one interface back from the kernel (one dump) and sets
    /// `vrrp_vip_present` for every instance on it.
    Refresh {
        ifindex: u32,
        instances: Vec<(Vec<IpAddr>, InstanceMetrics)>,
    },
    Flush(oneshot::Sender<()>),
}

/// Sets `vrrp_vip_present` for each instance's addresses from one dump of what the kernel has
/// on `ifindex`.
async fn read_back(netlink: &Netlink, ifindex: u32, instances: &[(Vec<IpAddr>, InstanceMetrics)]) {
    match netlink.addresses(ifindex).await {
        Ok(have) => {
            for (vips, m) in instances {
                for v in vips {
                    m.set_vip_present(*v, have.iter().any(|(a, _)| a == v));
                }
            }
        }
        Err(e) => debug!(ifindex, "cannot read addresses back: {e}"),
    }
}

async fn effects_task(netlink: Netlink, mut rx: mpsc::UnboundedReceiver<Effect>) {
    let mut announcers: HashMap<u32, Announcer> = HashMap::new();
    while let Some(e) = rx.recv().await {
        match e {
            Effect::Add {
                ifindex,
                vips,
                name,
                m,
            } => {
                for v in &vips {
                    match netlink.add_address(ifindex, v.addr, v.prefix_len).await {
                        Ok(()) => debug!(instance = %name, address = %v.addr, "address added"),
                        Err(e) => {
                            error!(instance = %name, address = %v.addr, "cannot add address: {e}")
                        }
                    }
                }
                read_back(
                    &netlink,
                    ifindex,
                    &[(vips.iter().map(|v| v.addr).collect(), m)],
                )
                .await;
            }
            Effect::Remove {
                ifindex,
                vips,
                name,
                m,
            } => {
                for v in &vips {
                    match netlink.del_address(ifindex, v.addr, v.prefix_len).await {
                        Ok(()) => debug!(instance = %name, address = %v.addr, "address removed"),
                        Err(e) => {
                            error!(instance = %name, address = %v.addr, "cannot remove address: {e}")
                        }
                    }
                }
                read_back(
                    &netlink,
                    ifindex,
                    &[(vips.iter().map(|v| v.addr).collect(), m)],
                )
                .await;
            }
            Effect::Refresh { ifindex, instances } => {
                read_back(&netlink, ifindex, &instances).await
            }
            Effect::Announce { iface, vips, count } => {
                let a = match announcers.entry(iface.index) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => match Announcer::open(&iface) {
                        Ok(a) => v.insert(a),
                        Err(e) => {
                            error!(interface = %iface.name, "cannot open announcer: {e}");
                            continue;
                        }
                    },
                };
                for _ in 0..count {
                    for vip in &vips {
                        let r = match vip {
                            IpAddr::V4(v4) => a.garp(*v4),
                            IpAddr::V6(v6) => a.unsolicited_na(*v6, iface.ipv6_forwarding),
                        };
                        if let Err(e) = r {
                            warn!(interface = %iface.name, address = %vip, "announcement failed: {e}");
                        }
                    }
                }
            }
            Effect::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The daemon state owned by the engine loop.
pub struct Daemon {
    config_path: PathBuf,
    config: Config,
    netlink: Netlink,
    instances: Vec<Option<Inst>>,
    by_name: HashMap<String, usize>,
    ports: Vec<Option<Port>>,
    port_by_key: HashMap<(String, Family), usize>,
    /// Link state of every interface we care about, by name.
    links: HashMap<String, bool>,
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
    pkt_tx: mpsc::Sender<Packet>,
    effects: mpsc::UnboundedSender<Effect>,
    retry_at: Option<Instant>,
    actions: Vec<Action>,
    metrics: Metrics,
    tap_tx: mpsc::UnboundedSender<TapReport>,
    /// Next refresh of derived metrics.
    observe_at: Instant,
    /// Health of scripts and values of tracked files, folded from `TrackEvent`s.
    track: track::TrackState,
    track_tx: mpsc::UnboundedSender<TrackEvent>,
    scripts: track::Scripts,
    files: track::Files,
    script_metrics: HashMap<String, ScriptMetrics>,
    notifier: track::Notifier,
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub async fn run(opts: RunOptions) -> i32 {
    let missing = net::missing_capabilities();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|c| c.to_string()).collect();
        error!(
            "vipd needs {}: CAP_NET_RAW for the VRRP, ARP and NA sockets, CAP_NET_ADMIN to add              and remove addresses (run as root, or grant them, e.g. AmbientCapabilities= in              the systemd unit)",
            names.join(" and ")
        );
        return 1;
    }
    let loaded = match config::load(&opts.config_path) {
        Ok(l) => l,
        Err(diags) => {
            for d in diags {
                error!("{d}");
            }
            return 2;
        }
    };
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let netlink = match Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            error!("cannot open route netlink: {e}");
            return 1;
        }
    };
    let mut link_rx = match net::link_events() {
        Ok(rx) => rx,
        Err(e) => {
            error!("cannot subscribe to link events: {e}");
            return 1;
        }
    };
    let metrics = Metrics::new(
        env!("CARGO_PKG_VERSION"),
        option_env!("VIPD_REVISION").unwrap_or("unknown"),
    );
    let listen = opts.listen.unwrap_or(loaded.config.listen);
    let listener = match std::net::TcpListener::bind(listen).and_then(|l| {
        l.set_nonblocking(true)?;
        Ok(l)
    }) {
        Ok(l) => l,
        Err(e) => {
            error!("cannot listen on {listen} for /metrics: {e}");
            return 1;
        }
    };
    let (status_tx, mut status_rx) = mpsc::channel::<oneshot::Sender<serde_json::Value>>(16);
    // HTTP runs on its own thread and runtime: a scrape moves megabytes through the socket
    // (on loopback the kernel does the receiver's work inside the send), and none of that may
    // run on the thread that sends adverts.
    if let Err(e) = spawn_http(listener, metrics.clone(), status_tx) {
        error!("cannot start the HTTP thread: {e}");
        return 1;
    }
    let (pkt_tx, mut pkt_rx) = mpsc::channel(RX_QUEUE);
    let (eff_tx, eff_rx) = mpsc::unbounded_channel();
    let (tap_tx, mut tap_rx) = mpsc::unbounded_channel();
    let (track_tx, mut track_rx) = mpsc::unbounded_channel();
    let effects = tokio::spawn(effects_task(netlink.clone(), eff_rx));
    let mut d = Daemon {
        config_path: opts.config_path,
        config: loaded.config.clone(),
        netlink,
        instances: vec![],
        by_name: HashMap::new(),
        ports: vec![],
        port_by_key: HashMap::new(),
        links: HashMap::new(),
        heap: BinaryHeap::new(),
        pkt_tx,
        effects: eff_tx,
        retry_at: None,
        actions: Vec::new(),
        metrics,
        tap_tx,
        observe_at: Instant::now(),
        track: track::TrackState::new(&loaded.config.scripts),
        scripts: track::Scripts::spawn(&loaded.config.scripts, track_tx.clone()),
        files: track::Files::spawn(
            track::tracked_files(loaded.config.instances.values()),
            track_tx.clone(),
        ),
        track_tx,
        script_metrics: HashMap::new(),
        notifier: track::Notifier::new(),
    };
    d.sync_script_metrics();
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
    let mut fatal = false;
    for cfg in loaded.config.instances.values() {
        if let Err(e) = d.add_instance(cfg.clone()).await {
            error!(instance = %cfg.name, "{e}");
            fatal = true;
        }
    }
    if fatal {
        d.shutdown().await;
        return 1;
    }
    info!(
        router_id = %d.config.router_id,
        instances = d.by_name.len(),
        "vipd {} started",
        env!("CARGO_PKG_VERSION")
    );
    // The engine runs on this thread. Under the shipped unit it is real-time (SCHED_RR with
    // reset-on-fork: every thread and process started later runs normally); say which.
    match observe::Scheduling::current_thread() {
        Some(s) if s.is_realtime() => info!("engine thread scheduling: {s}"),
        Some(s) => info!(
            "engine thread scheduling: {s} (not real-time: on a busy host other processes can delay adverts; see docs/systemd.md, Scheduling)"
        ),
        None => {}
    }
    // Deadlines of all instances share one timerfd (nanosecond resolution).
    let mut timer = match net::timer::Deadline::new() {
        Ok(t) => t,
        Err(e) => {
            error!("cannot create the engine timer: {e}");
            d.shutdown().await;
            return 1;
        }
    };
    // sd_notify (src/sdnotify.rs): READY=1 now; watchdog + STATUS= from this loop.
    let mut sd = crate::sdnotify::Supervisor::from_env();
    sd.ready(&d.state_summary());
    loop {
        let deadline = d.next_deadline();
        tokio::select! {
            biased;
            _ = term.recv() => { info!("SIGTERM: resigning and exiting"); break; }
            _ = int.recv() => { info!("SIGINT: resigning and exiting"); break; }
            _ = hup.recv() => {
                sd.reloading();
                d.reload().await;
                sd.ready(&d.state_summary());
            }
            r = timer.wait(deadline) => {
                if let Err(e) = r {
                    // Never expected; fall back to a short sleep rather than spin.
                    warn!("engine timer: {e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // Adverts already received count before a timer expiring now: under load a
                // backup must not declare its master dead while the advert waits in the queue.
                for _ in 0..RX_QUEUE {
                    match pkt_rx.try_recv() {
                        Ok(p) => d.on_packet(Instant::now(), p),
                        Err(_) => break,
                    }
                }
                d.on_timers(Instant::now()).await
            }
            // In the loop that runs the timers: a stalled engine stops pinging systemd.
            _ = sd.tick() => sd.on_tick(&d.state_summary()),
            Some(p) = pkt_rx.recv() => {
                d.on_packet(Instant::now(), p);
                // Drain what is already queued before looking at timers again.
                for _ in 0..256 {
                    match pkt_rx.try_recv() {
                        Ok(p) => d.on_packet(Instant::now(), p),
                        Err(_) => break,
                    }
                }
            }
            Some(ev) = link_rx.recv() => d.on_link(ev).await,
            Some(ev) = track_rx.recv() => d.on_track(ev),
            Some(r) = tap_rx.recv() => d.on_tap(r),
            Some(reply) = status_rx.recv() => { let _ = reply.send(d.status(Instant::now())); }
        }
    }
    sd.stopping();
    d.shutdown().await;
    let notifier = std::mem::take(&mut d.notifier);
    drop(d);
    let _ = effects.await;
    notifier.finish(Duration::from_secs(10)).await;
    0
}

impl Daemon {
    fn next_deadline(&mut self) -> Option<Instant> {
        // Drop stale heap entries (deadlines that moved since they were pushed).
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            let current = self
                .instances
                .get(i)
                .and_then(|o| o.as_ref())
                .and_then(|x| x.engine.poll_timeout());
            if current == Some(t) {
                break;
            }
            self.heap.pop();
        }
        let t = self.heap.peek().map(|Reverse((t, _))| *t);
        [t, self.retry_at, Some(self.observe_at)]
            .into_iter()
            .flatten()
            .min()
    }

    fn schedule(&mut self, i: usize) {
        if let Some(t) = self.instances[i]
            .as_ref()
            .and_then(|x| x.engine.poll_timeout())
        {
            self.heap.push(Reverse((t, i)));
        }
    }

    async fn on_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now {
                break;
            }
            self.heap.pop();
            let Some(inst) = self.instances.get_mut(i).and_then(|o| o.as_mut()) else {
                continue;
            };
            if inst.engine.poll_timeout() != Some(t) {
                continue;
            }
            self.metrics
                .timer_lateness(Instant::now().saturating_duration_since(t));
            let mut actions = std::mem::take(&mut self.actions);
            inst.engine.handle_timeout(now, &mut actions);
            self.execute(i, &mut actions);
            self.actions = actions;
            self.schedule(i);
        }
        if self.retry_at.is_some_and(|r| r <= now) {
            self.retry_at = None;
            self.resolve_all().await;
        }
        if self.observe_at <= now {
            self.observe_at = now + OBSERVE_TICK;
            self.observe_tick(now);
        }
    }

    /// Feeds one input to instance `i` and carries out what it asks.
    fn input(&mut self, i: usize, now: Instant, input: Input) {
        let Some(inst) = self.instances.get_mut(i).and_then(|o| o.as_mut()) else {
            return;
        };
        let mut actions = std::mem::take(&mut self.actions);
        inst.engine.handle(now, input, &mut actions);
        self.execute(i, &mut actions);
        self.actions = actions;
        self.schedule(i);
    }

    fn execute(&mut self, i: usize, actions: &mut Vec<Action>) {
        let Some(inst) = self.instances.get_mut(i).and_then(|o| o.as_mut()) else {
            actions.clear();
            return;
        };
        for a in actions.drain(..) {
            match a {
                Action::SendAdvert { priority } => {
                    let (Some(port), Some(src)) = (inst.port, inst.src) else {
                        continue;
                    };
                    let Some(port) = self.ports[port].as_ref() else {
                        continue;
                    };
                    send_advert(inst, &port.sock, src, priority);
                }
                Action::AddAddresses => {
                    if let Some(ifc) = &inst.iface {
                        let _ = self.effects.send(Effect::Add {
                            ifindex: ifc.index,
                            vips: inst.cfg.virtual_ipaddress.clone(),
                            name: inst.cfg.name.clone(),
                            m: inst.m.clone(),
                        });
                    }
                }
                Action::RemoveAddresses => {
                    if let Some(ifc) = &inst.iface {
                        let _ = self.effects.send(Effect::Remove {
                            ifindex: ifc.index,
                            vips: inst.cfg.virtual_ipaddress.clone(),
                            name: inst.cfg.name.clone(),
                            m: inst.m.clone(),
                        });
                    }
                }
                Action::Announce { count } => {
                    if let Some(ifc) = &inst.iface {
                        let n = u64::from(count) * inst.addrs.len() as u64;
                        inst.m.announced(inst.cfg.family == Family::Ipv6, n);
                        let _ = self.effects.send(Effect::Announce {
                            iface: ifc.clone(),
                            vips: inst.addrs.clone(),
                            count,
                        });
                    }
                }
                Action::Transition { from, to, cause } => {
                    inst.stats.transitions += 1;
                    inst.m
                        .set_priority(inst.engine.priority(), inst.cfg.priority);
                    if to != engine::State::Init && !inst.cfg.notify.is_empty() {
                        self.notifier.notify(
                            &inst.cfg.name,
                            to.upper(),
                            inst.engine.priority(),
                            inst.cfg.vrid,
                            &inst.cfg.interface,
                            &inst.cfg.notify,
                        );
                    }
                    // Exported by OpenTelemetry (src/telemetry.rs) with the event below in it.
                    let election = matches!(
                        (from, to),
                        (engine::State::Backup, engine::State::Master)
                            | (engine::State::Master, engine::State::Backup)
                    );
                    let _span = tracing::info_span!(
                        "vrrp.transition",
                        instance = %inst.cfg.name,
                        vrid = inst.cfg.vrid,
                        interface = %inst.cfg.interface,
                        priority = inst.engine.priority(),
                        from = from.upper(),
                        to = to.upper(),
                        cause = %cause,
                        vrrp.election = election,
                    )
                    .entered();
                    // The counter's exemplar links the metric to this span's trace.
                    let trace = crate::telemetry::trace_id(&tracing::Span::current());
                    inst.m.transition(from, to, unix_now(), trace);
                    inst.observe(Instant::now());
                    info!(
                        instance = %inst.cfg.name,
                        vrid = inst.cfg.vrid,
                        interface = %inst.cfg.interface,
                        priority = inst.engine.priority(),
                        from = from.upper(),
                        to = to.upper(),
                        cause = %cause,
                        "{} -> {}: {}",
                        from,
                        to,
                        cause
                    );
                }
            }
        }
    }

    fn on_packet(&mut self, now: Instant, p: Packet) {
        let Some(port) = self.ports.get_mut(p.port).and_then(|o| o.as_mut()) else {
            return;
        };
        let msg = &p.data;
        // The VRID byte, to charge a drop to its instance when there is one.
        let owner = msg.get(1).and_then(|v| port.by_vrid.get(v)).copied();
        if let (Some(_), Some(&vrid)) = (owner, msg.get(1)) {
            // What the VRRP socket was handed, compared with what the wire tap saw.
            let key = (vrid, p.rx.src);
            if port.delivered.len() < MAX_TAP_KEYS || port.delivered.contains_key(&key) {
                *port.delivered.entry(key).or_default() += 1;
            }
        }
        let reason = if p.rx.ttl != 255 {
            Some(DropReason::Ttl)
        } else {
            None
        };
        let decoded = match reason {
            Some(r) => Err(r),
            None => vrrp::decode(msg, p.rx.src, p.rx.dst),
        };
        let (advert, form) = match decoded {
            Ok(x) => x,
            Err(r) => {
                match owner {
                    Some(i) => {
                        if let Some(inst) = self.instances[i].as_mut() {
                            *inst.stats.dropped.entry(r).or_default() += 1;
                            inst.m.dropped(r);
                        }
                    }
                    None => *port.dropped.entry(r).or_default() += 1,
                }
                debug!(interface = %port.iface, src = %p.rx.src, reason = %r, "advert dropped");
                return;
            }
        };
        let Some(i) = owner else {
            *port.dropped.entry(DropReason::Vrid).or_default() += 1;
            debug!(interface = %port.iface, src = %p.rx.src, vrid = advert.vrid, "advert for unknown VRID dropped");
            return;
        };
        let Some(inst) = self.instances[i].as_mut() else {
            return;
        };
        match check_advert(&inst.cfg, &advert) {
            Err(r) => {
                *inst.stats.dropped.entry(r).or_default() += 1;
                inst.m.dropped(r);
                debug!(instance = %inst.cfg.name, src = %p.rx.src, reason = %r, "advert dropped");
                return;
            }
            Ok(true) => {
                inst.stats.address_list_mismatch += 1;
                inst.m.address_list_mismatch();
                if inst.mismatch_logged.insert(p.rx.src) {
                    let theirs: Vec<String> = advert.addresses().map(|a| a.to_string()).collect();
                    warn!(
                        instance = %inst.cfg.name,
                        src = %p.rx.src,
                        "address list from peer differs from ours: [{}]",
                        theirs.join(", ")
                    );
                }
            }
            Ok(false) => {}
        }
        inst.stats.adverts_received += 1;
        if advert.priority == 0 {
            inst.stats.priority_zero_received += 1;
        }
        inst.m.advert_received(advert.priority);
        note_peer(inst, p.rx.src, advert.priority, form, now);
        let heard = Heard {
            src: p.rx.src,
            priority: advert.priority,
            interval: Duration::from_nanos(advert.interval_nanos()),
        };
        let before = inst.engine.master().map(|(a, _)| a);
        self.input(i, now, Input::Advert(heard));
        if let Some(inst) = self.instances[i].as_ref() {
            let after = inst.engine.master().map(|(a, _)| a);
            if after == Some(p.rx.src) && before != after {
                inst.m.peer(p.rx.src).became_master();
            }
        }
    }

    async fn on_link(&mut self, ev: LinkEvent) {
        let changed = self.links.insert(ev.name.clone(), ev.up) != Some(ev.up);
        if !changed {
            return;
        }
        info!(interface = %ev.name, up = ev.up, "link {}", if ev.up { "up" } else { "down" });
        // Only instances that run on or track this interface need a look.
        self.resolve_where(|inst| {
            inst.cfg.interface == ev.name
                || inst.cfg.track_interfaces.iter().any(|t| t.name == ev.name)
        })
        .await;
    }

    /// Retries instances whose interface or source address was missing.
    async fn resolve_all(&mut self) {
        self.resolve_where(|inst| !inst.link_ok).await;
    }

    /// Re-reads interface facts for the matching instances and feeds health and priority changes.
    async fn resolve_where(&mut self, pred: impl Fn(&Inst) -> bool) {
        let now = Instant::now();
        for i in 0..self.instances.len() {
            if self.instances[i].as_ref().is_some_and(&pred) {
                self.resolve(i, now).await;
            }
        }
    }

    /// Resolves instance `i`'s interface, source address and port, then feeds the engine
    /// its health (Start / Fault / FaultCleared) and effective priority.
    async fn resolve(&mut self, i: usize, now: Instant) {
        let Some(inst) = self.instances[i].as_ref() else {
            return;
        };
        let cfg = inst.cfg.clone();
        let exclude: Vec<IpAddr> = self
            .instances
            .iter()
            .flatten()
            .filter(|x| x.cfg.interface == cfg.interface)
            .flat_map(|x| x.addrs.iter().copied())
            .collect();
        let info = match self.netlink.iface(&cfg.interface, &exclude).await {
            Ok(info) => Some(info),
            Err(e) => {
                warn!(instance = %cfg.name, "{e}");
                None
            }
        };
        if let Some(info) = &info {
            self.links.insert(info.name.clone(), info.up);
        }
        for t in &cfg.track_interfaces {
            if !self.links.contains_key(&t.name) {
                let up = self
                    .netlink
                    .iface(&t.name, &[])
                    .await
                    .map(|x| x.up)
                    .unwrap_or(false);
                self.links.insert(t.name.clone(), up);
            }
        }
        let src = info.as_ref().and_then(|f| {
            cfg.unicast_src.or(match cfg.family {
                Family::Ipv4 => f.ipv4_primary.map(IpAddr::V4),
                Family::Ipv6 => f.ipv6_link_local.map(IpAddr::V6),
            })
        });
        let port = match &info {
            Some(f) => match self.port_for(f, cfg.family) {
                Ok(p) => Some(p),
                Err(e) => {
                    error!(instance = %cfg.name, "{e}");
                    None
                }
            },
            None => None,
        };
        let link_up = info.as_ref().is_some_and(|f| f.up);
        let link_ok = link_up && src.is_some() && port.is_some();
        if info.is_none() || (link_up && src.is_none()) {
            self.retry_at.get_or_insert(now + RETRY);
            if link_up && src.is_none() {
                warn!(instance = %cfg.name, interface = %cfg.interface, "no {} source address yet", cfg.family.as_str());
            }
        }
        // Register in the port's VRID table.
        if let Some(p) = port {
            let port = self.ports[p].as_mut().expect("port just opened");
            port.register(cfg.vrid, i);
        }
        let inst = self.instances[i].as_mut().expect("checked above");
        if let (Some(old), Some(p)) = (inst.port, port)
            && old != p
        {
            // Interface re-created: the old port's table must forget us.
            if let Some(op) = self.ports[old].as_mut() {
                op.unregister(cfg.vrid, i);
            }
        }
        inst.port = port.or(inst.port);
        inst.iface = info.or(inst.iface.take());
        if let Some(s) = src
            && inst.src != Some(s)
        {
            inst.src = Some(s);
            inst.engine
                .handle(now, Input::PrimaryAddress(s), &mut Vec::new());
        }
        inst.link_ok = link_ok;
        self.reassess(i, now);
    }

    /// Folds link state, tracked interfaces, scripts and files into the instance's health
    /// and effective priority, and feeds the engine what changed.
    fn reassess(&mut self, i: usize, now: Instant) {
        let Some(inst) = self.instances[i].as_ref() else {
            return;
        };
        let cfg = &inst.cfg;
        let assessment = self.track.assess(cfg);
        let mut fault = assessment.fault || !inst.link_ok;
        let mut weights = assessment.weights;
        for t in &cfg.track_interfaces {
            let up = self.links.get(&t.name).copied().unwrap_or(false);
            inst.m.set_track_interface(&t.name, up);
            let applied = track::interface_weight(t.weight, up);
            fault |= applied.is_fault();
            weights.extend(applied.weight());
        }
        let prio = track::effective_priority(cfg.priority, weights);
        let healthy = !fault;
        let inst = self.instances[i].as_mut().expect("checked above");
        let (was_started, was_healthy) = (inst.started, inst.healthy);
        inst.started = true;
        inst.healthy = healthy;
        if prio != inst.engine.priority() {
            inst.m.set_priority(prio, inst.cfg.priority);
            info!(instance = %inst.cfg.name, from = inst.engine.priority(), to = prio, "effective priority changed");
            self.input(i, now, Input::Priority(prio));
        }
        if !was_started {
            self.input(i, now, Input::Start { healthy });
        } else if was_healthy && !healthy {
            self.input(i, now, Input::Fault);
        } else if !was_healthy && healthy {
            self.input(i, now, Input::FaultCleared);
        }
    }

    /// A script ran, a script's health or a tracked file changed.
    fn on_track(&mut self, ev: TrackEvent) {
        match &ev {
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
                if let Some(m) = self.script_metrics.get(name) {
                    m.run(result.as_str(), *duration);
                }
            }
            TrackEvent::Script { name, healthy } => {
                info!(script = %name, healthy, "script {}", if *healthy { "healthy" } else { "failed" });
                if let Some(m) = self.script_metrics.get(name) {
                    m.set_healthy(*healthy);
                }
            }
            TrackEvent::File { path, value } => {
                info!(path = %path.display(), value = ?value, "tracked file changed");
            }
        }
        if self.track.apply(&ev) {
            let now = Instant::now();
            for i in 0..self.instances.len() {
                if self.instances[i].as_ref().is_some_and(|x| x.started) {
                    self.reassess(i, now);
                }
            }
        }
    }

    /// Keeps one metrics handle per configured script.
    fn sync_script_metrics(&mut self) {
        let names: HashSet<&String> = self.config.scripts.keys().collect();
        let gone: Vec<String> = self
            .script_metrics
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        for n in gone {
            self.metrics.remove_script(&n);
            self.script_metrics.remove(&n);
        }
        for n in names {
            if !self.script_metrics.contains_key(n) {
                let m = self.metrics.script(n);
                m.set_healthy(self.track.script_healthy(n));
                self.script_metrics.insert(n.clone(), m);
            }
        }
    }

    /// Compares the wire tap's previous report with what the VRRP socket was handed since:
    /// adverts seen on the wire but never delivered were eaten by a local firewall.
    fn on_tap(&mut self, r: TapReport) {
        let Some(port) = self.ports.get_mut(r.port).and_then(|o| o.as_mut()) else {
            return;
        };
        let prev = std::mem::replace(&mut port.tap_prev, r.counts);
        for ((vrid, src), wire) in prev {
            let delivered = port.delivered.get(&(vrid, src)).copied().unwrap_or(0);
            let filtered = wire.saturating_sub(delivered);
            let reported = port.filtered_reported.entry((vrid, src)).or_default();
            if filtered <= *reported {
                continue;
            }
            let new = filtered - *reported;
            *reported = filtered;
            let Some(inst) = port
                .by_vrid
                .get(&vrid)
                .and_then(|&i| self.instances[i].as_mut())
            else {
                continue;
            };
            if inst.stats.filtered == 0 {
                warn!(
                    instance = %inst.cfg.name,
                    peer = %src,
                    "adverts from this peer reach the interface but not vipd: a local firewall drops VRRP (IP protocol 112)"
                );
            }
            inst.stats.filtered += new;
            for _ in 0..new {
                inst.m.filtered(src);
            }
        }
    }

    /// Refreshes derived metrics and asks the effects task to read VIP presence back.
    fn observe_tick(&mut self, now: Instant) {
        let mut by_iface: BTreeMap<u32, Vec<(Vec<IpAddr>, InstanceMetrics)>> = BTreeMap::new();
        for inst in self.instances.iter().flatten() {
            inst.observe(now);
            if let Some(ifc) = &inst.iface {
                by_iface
                    .entry(ifc.index)
                    .or_default()
                    .push((inst.addrs.clone(), inst.m.clone()));
            }
        }
        for (ifindex, instances) in by_iface {
            let _ = self.effects.send(Effect::Refresh { ifindex, instances });
        }
    }

    /// Name and state of every instance, in order (the sd_notify `STATUS=` line).
    pub fn state_summary(&self) -> Vec<(String, engine::State)> {
        self.instances
            .iter()
            .flatten()
            .map(|inst| (inst.cfg.name.clone(), inst.engine.state()))
            .collect()
    }

    /// The JSON served at /status.
    fn status(&self, now: Instant) -> serde_json::Value {
        use serde_json::json;
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let instances: Vec<serde_json::Value> = self
            .instances
            .iter()
            .flatten()
            .map(|inst| {
                let e = &inst.engine;
                let timers: serde_json::Map<String, serde_json::Value> = [
                    ("adver", engine::Timer::Adver),
                    ("master_down", engine::Timer::MasterDown),
                    ("garp_delay", engine::Timer::GarpDelay),
                    ("garp_refresh", engine::Timer::GarpRefresh),
                ]
                .into_iter()
                .filter_map(|(n, t)| e.timers().get(t).map(|at| (format!("{n}_in_ms"), json!(ms(at.saturating_duration_since(now))))))
                .collect();
                let peers: Vec<serde_json::Value> = inst
                    .peers
                    .iter()
                    .map(|(a, p)| {
                        json!({
                            "address": a.to_string(),
                            "priority": p.priority,
                            "adverts": p.adverts,
                            "last_advert_ms_ago": ms(now.saturating_duration_since(p.last_seen)),
                            "checksum_form": p.checksum_form.as_str(),
                        })
                    })
                    .collect();
                let scripts: Vec<serde_json::Value> = inst
                    .cfg
                    .track_scripts
                    .iter()
                    .map(|t| json!({"name": t.name, "weight": t.weight, "healthy": self.track.script_healthy(&t.name)}))
                    .collect();
                let dropped: serde_json::Map<String, serde_json::Value> =
                    inst.stats.dropped.iter().map(|(r, n)| (r.as_str().to_owned(), json!(n))).collect();
                json!({
                    "name": inst.cfg.name,
                    "state": e.state().as_str(),
                    "vrid": inst.cfg.vrid,
                    "interface": inst.cfg.interface,
                    "family": inst.cfg.family.as_str(),
                    "version": if inst.cfg.version == Version::V2 { 2 } else { 3 },
                    "group": group_of(&inst.cfg),
                    "priority": e.priority(),
                    "base_priority": inst.cfg.priority,
                    "healthy": inst.healthy,
                    "source": inst.src.map(|a| a.to_string()),
                    "master": e.master().map(|(a, p)| json!({"address": a.to_string(), "priority": p})),
                    "advert_interval_ms": ms(inst.cfg.advert_interval),
                    "master_advert_interval_ms": ms(e.master_adver_interval()),
                    "master_down_interval_ms": ms(e.master_down_interval()),
                    "timers": timers,
                    "addresses": inst.cfg.virtual_ipaddress.iter().map(|v| format!("{}/{}", v.addr, v.prefix_len)).collect::<Vec<_>>(),
                    "peers": peers,
                    "scripts": scripts,
                    "stats": {
                        "adverts_sent": inst.stats.adverts_sent,
                        "adverts_received": inst.stats.adverts_received,
                        "send_errors": inst.stats.send_errors,
                        "priority_zero_sent": inst.stats.priority_zero_sent,
                        "priority_zero_received": inst.stats.priority_zero_received,
                        "address_list_mismatch": inst.stats.address_list_mismatch,
                        "transitions": inst.stats.transitions,
                        "filtered": inst.stats.filtered,
                        "dropped": dropped,
                    },
                })
            })
            .collect();
        let ports: Vec<serde_json::Value> = self
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let dropped: serde_json::Map<String, serde_json::Value> =
                    p.dropped.iter().map(|(r, n)| (r.as_str().to_owned(), json!(n))).collect();
                json!({"interface": p.iface, "family": p.family.as_str(), "wire_tap": p.tap.is_some(), "queue_overflow": p.overflow.load(std::sync::atomic::Ordering::Relaxed), "dropped_before_demux": dropped})
            })
            .collect();
        json!({
            "router_id": self.config.router_id,
            "version": env!("CARGO_PKG_VERSION"),
            "instances": instances,
            "sockets": ports,
        })
    }

    /// The port for (interface, family), opened on first use.
    fn port_for(&mut self, info: &IfaceInfo, family: Family) -> Result<usize, net::NetError> {
        let key = (info.name.clone(), family);
        if let Some(&p) = self.port_by_key.get(&key) {
            let port = self.ports[p].as_ref().expect("port in index");
            if port.ifindex == info.index {
                return Ok(p);
            }
            // The interface was re-created with a new index: reopen.
            self.close_port(p);
        }
        let sock = VrrpSocket::open(info, family).map_err(|e| {
            net::NetError::open(
                format!("VRRP {} socket", family.as_str()),
                &info.name,
                net::Capability::NetRaw,
                e,
            )
        })?;
        let sock = Arc::new(sock);
        let id = self
            .ports
            .iter()
            .position(|p| p.is_none())
            .unwrap_or(self.ports.len());
        let overflow = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader = tokio::spawn(reader_task(
            id,
            sock.clone(),
            self.pkt_tx.clone(),
            overflow.clone(),
        ));
        // Opened after the VRRP socket, so it never counts a packet that socket could not see.
        let tap = match WireTap::open(info, family) {
            Ok(t) => {
                let mut local = vec![match family {
                    Family::Ipv4 => IpAddr::V4(VRRP_V4_GROUP),
                    Family::Ipv6 => IpAddr::V6(VRRP_V6_GROUP),
                }];
                local.extend(info.ipv4_primary.map(IpAddr::V4));
                local.extend(info.ipv6_link_local.map(IpAddr::V6));
                let t = Arc::new(t);
                let task = tokio::spawn(tap_task(id, t.clone(), local, self.tap_tx.clone()));
                Some((t, task))
            }
            Err(e) => {
                warn!(interface = %info.name, "cannot open the wire tap (filtered adverts will not be counted): {e}");
                None
            }
        };
        let port = Port {
            iface: info.name.clone(),
            family,
            ifindex: info.index,
            sock,
            reader,
            overflow,
            tap,
            by_vrid: HashMap::new(),
            dropped: BTreeMap::new(),
            delivered: HashMap::new(),
            tap_prev: HashMap::new(),
            filtered_reported: HashMap::new(),
        };
        if id == self.ports.len() {
            self.ports.push(Some(port));
        } else {
            self.ports[id] = Some(port);
        }
        self.port_by_key.insert(key, id);
        Ok(id)
    }

    fn close_port(&mut self, p: usize) {
        if let Some(port) = self.ports[p].take() {
            port.reader.abort();
            if let Some((_, task)) = &port.tap {
                task.abort();
            }
            self.port_by_key.remove(&(port.iface.clone(), port.family));
            debug!(interface = %port.iface, family = port.family.as_str(), "socket closed");
        }
    }

    async fn add_instance(&mut self, cfg: InstanceConfig) -> Result<(), String> {
        let name = cfg.name.clone();
        let i = self
            .instances
            .iter()
            .position(|x| x.is_none())
            .unwrap_or(self.instances.len());
        if i == self.instances.len() {
            self.instances.push(None);
        }
        self.instances[i] = Some(Inst::new(cfg, &self.metrics));
        self.by_name.insert(name.clone(), i);
        self.resolve(i, Instant::now()).await;
        let inst = self.instances[i].as_ref().expect("just added");
        if inst.port.is_none() && inst.iface.is_some() {
            return Err("cannot open the VRRP socket (see the error above)".to_owned());
        }
        Ok(())
    }

    /// Resigns instance `i` (priority 0 when master, addresses released) and forgets it.
    fn remove_instance(&mut self, i: usize) {
        self.input(i, Instant::now(), Input::Shutdown);
        if let Some(inst) = self.instances[i].take() {
            self.by_name.remove(&inst.cfg.name);
            self.metrics.remove_instance(inst.m.labels());
            self.notifier.forget(&inst.cfg.name);
            if let Some(p) = inst.port
                && let Some(port) = self.ports[p].as_mut()
            {
                port.unregister(inst.cfg.vrid, i);
                if port.by_vrid.is_empty() {
                    self.close_port(p);
                }
            }
        }
    }

    /// SIGHUP: re-read the configuration; keep unchanged instances as they are.
    async fn reload(&mut self) {
        info!(path = %self.config_path.display(), "SIGHUP: reloading configuration");
        let loaded = match config::load(&self.config_path) {
            Ok(l) => l,
            Err(diags) => {
                for d in &diags {
                    error!("{d}");
                }
                error!("new configuration rejected; the running one is kept");
                self.metrics.config_reload(false, unix_now());
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let new = loaded.config;
        if new.scripts != self.config.scripts {
            // Scripts restart from their initial state; unchanged ones keep running untouched.
            self.scripts = track::Scripts::spawn(&new.scripts, self.track_tx.clone());
            self.track = track::TrackState::new(&new.scripts);
        }
        self.files = track::Files::spawn(
            track::tracked_files(new.instances.values()),
            self.track_tx.clone(),
        );
        if new.listen != self.config.listen {
            warn!("listen address changes take effect on restart");
        }
        let now = Instant::now();
        let (mut kept, mut updated, mut added, mut removed) = (0, 0, 0, 0);
        let names: Vec<String> = self.by_name.keys().cloned().collect();
        for name in names {
            let i = self.by_name[&name];
            let old = self.instances[i].as_ref().expect("indexed").cfg.clone();
            match new.instances.get(&name) {
                Some(c) if *c == old => kept += 1,
                Some(c)
                    if (
                        &c.interface,
                        c.vrid,
                        c.family,
                        c.version,
                        &c.virtual_ipaddress,
                    ) == (
                        &old.interface,
                        old.vrid,
                        old.family,
                        old.version,
                        &old.virtual_ipaddress,
                    ) =>
                {
                    // Same virtual router: update in place, no state change, no address flap.
                    let inst = self.instances[i].as_mut().expect("indexed");
                    inst.auth = c.auth_pass.as_deref().map(vrrp::auth_data);
                    inst.cfg = c.clone();
                    let mut actions = std::mem::take(&mut self.actions);
                    inst.engine.set_params(engine_params(c), now, &mut actions);
                    self.execute(i, &mut actions);
                    self.actions = actions;
                    self.schedule(i);
                    self.resolve(i, now).await;
                    updated += 1;
                }
                _ => {
                    self.remove_instance(i);
                    removed += 1;
                }
            }
        }
        for (name, c) in &new.instances {
            if !self.by_name.contains_key(name) {
                if let Err(e) = self.add_instance(c.clone()).await {
                    error!(instance = %name, "{e}");
                }
                added += 1;
            }
        }
        self.config = new;
        self.sync_script_metrics();
        self.metrics.config_reload(true, unix_now());
        info!(kept, updated, added, removed, "configuration reloaded");
    }

    /// Resign every instance and wait until the addresses are released.
    async fn shutdown(&mut self) {
        for i in 0..self.instances.len() {
            if self.instances[i].is_some() {
                self.remove_instance(i);
            }
        }
        let (tx, rx) = oneshot::channel();
        if self.effects.send(Effect::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        for p in 0..self.ports.len() {
            self.close_port(p);
        }
        info!("stopped");
    }
}

fn note_peer(inst: &mut Inst, src: IpAddr, priority: u8, form: ChecksumForm, now: Instant) {
    if let Some(peer) = inst.peers.get_mut(&src) {
        if peer.checksum_form != form {
            info!(instance = %inst.cfg.name, peer = %src, form = form.as_str(), "peer changed its checksum form");
        }
        peer.adverts += 1;
        peer.priority = priority;
        peer.last_seen = now;
        peer.checksum_form = form;
        peer.m.advert(priority, unix_now(), form, false);
        return;
    }
    if inst.peers.len() >= MAX_PEERS
        && let Some(oldest) = inst
            .peers
            .iter()
            .min_by_key(|(_, p)| p.last_seen)
            .map(|(a, _)| *a)
    {
        inst.peers.remove(&oldest);
        inst.m.remove_peer(oldest);
    }
    info!(instance = %inst.cfg.name, peer = %src, priority, checksum = form.as_str(), "new peer");
    let m = inst.m.peer(src);
    m.advert(priority, unix_now(), form, false);
    inst.peers.insert(
        src,
        Peer {
            adverts: 1,
            priority,
            last_seen: now,
            checksum_form: form,
            m,
        },
    );
}

fn send_advert(inst: &mut Inst, sock: &VrrpSocket, src: IpAddr, priority: u8) {
    let spec = AdvertSpec {
        version: inst.cfg.version,
        vrid: inst.cfg.vrid,
        priority,
        interval: inst.interval_field(),
        auth: inst.auth,
        addresses: &inst.addrs,
    };
    let form = match inst.cfg.v3_checksum {
        V3Checksum::PseudoHeader => ChecksumForm::PseudoHeader,
        V3Checksum::Rfc9568 => ChecksumForm::MessageOnly,
    };
    let group = match inst.cfg.family {
        Family::Ipv4 => IpAddr::V4(VRRP_V4_GROUP),
        Family::Ipv6 => IpAddr::V6(VRRP_V6_GROUP),
    };
    let peers: &[IpAddr] = if inst.cfg.unicast_peers.is_empty() {
        std::slice::from_ref(&group)
    } else {
        &inst.cfg.unicast_peers
    };
    for &dst in peers {
        vrrp::encode(&spec, src, dst, form, &mut inst.buf);
        match sock.send(&inst.buf, src, dst) {
            Ok(()) => {
                inst.m.advert_sent(priority);
                inst.stats.adverts_sent += 1;
                if priority == 0 {
                    inst.stats.priority_zero_sent += 1;
                }
            }
            Err(e) => {
                inst.stats.send_errors += 1;
                if inst.stats.send_errors.is_power_of_two() {
                    warn!(instance = %inst.cfg.name, dst = %dst, errors = inst.stats.send_errors, "advert not sent: {e}");
                }
            }
        }
    }
}

/// Counts VRRP packets on the wire per (VRID, source) and reports the totals every tick.
/// Serves /metrics, /status and /healthz on a dedicated thread with its own runtime; the
/// thread lives as long as the process.
/// Nice value of the HTTP thread: the lowest priority there is short of SCHED_IDLE (which could
/// starve scrapes altogether on a busy host).
const HTTP_NICE: i32 = 19;

fn spawn_http(
    listener: std::net::TcpListener,
    metrics: Metrics,
    status: observe::StatusSource,
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("vipd-http".into())
        .spawn(move || {
            // Nice 19 on this thread (and the blocking threads it starts, which inherit it):
            // when the CPUs are busy, the engine thread (nice 0, or whatever the service
            // manager gave it) runs first and a scrape waits.
            if let Err(e) = rustix::process::setpriority_process(None, HTTP_NICE) {
                warn!("cannot lower the HTTP thread's priority: {e}");
            }
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = observe::serve(l, metrics, status).await {
                            error!("HTTP server stopped: {e}");
                        }
                    }
                    Err(e) => error!("HTTP listener: {e}"),
                }
            })
        })?;
    Ok(())
}

async fn tap_task(
    port: usize,
    tap: Arc<WireTap>,
    local: Vec<IpAddr>,
    tx: mpsc::UnboundedSender<TapReport>,
) {
    let mut counts: HashMap<(u8, IpAddr), u64> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut tick = tokio::time::interval(OBSERVE_TICK);
    loop {
        tokio::select! {
            r = tap.recv(&mut buf) => match r {
                Ok(Some(seen)) if local.contains(&seen.dst) => {
                    let key = (seen.vrid, seen.src);
                    if counts.len() < MAX_TAP_KEYS || counts.contains_key(&key) {
                        *counts.entry(key).or_default() += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    warn!("wire tap receive failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = tick.tick() => {
                if tx.send(TapReport { port, counts: counts.clone() }).is_err() {
                    return;
                }
            }
        }
    }
}

async fn reader_task(
    port: usize,
    sock: Arc<VrrpSocket>,
    tx: mpsc::Sender<Packet>,
    overflow: Arc<std::sync::atomic::AtomicU64>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf).await {
            Ok(rx) => {
                let data = buf[rx.offset..rx.offset + rx.len].to_vec();
                match tx.try_send(Packet { port, rx, data }) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let n = overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if n.is_power_of_two() {
                            warn!(interface = %sock.ifname(), dropped = n, "engine queue full: packets dropped");
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                warn!(interface = %sock.ifname(), "receive failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> InstanceConfig {
        let c = config::parse_str(yaml, "t.yaml").expect("valid").config;
        c.instances.into_values().next().unwrap()
    }

    #[test]
    fn rfc3768_7_1_v2_auth_and_interval_checks() {
        let c = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 13\n    version: 2\n    authentication: {type: pass, password: \"1111\"}\n    virtual_ipaddress: [10.99.0.13]\n",
        );
        let src: IpAddr = [10, 99, 0, 11].into();
        let dst: IpAddr = [224, 0, 0, 18].into();
        let addrs = [IpAddr::from([10, 99, 0, 13])];
        let mk = |auth: Option<[u8; 8]>, interval: u16, version: Version| {
            let spec = AdvertSpec {
                version,
                vrid: 13,
                priority: 100,
                interval,
                auth,
                addresses: &addrs,
            };
            let mut b = Vec::new();
            vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
            b
        };
        let ok = mk(Some(vrrp::auth_data("1111")), 1, Version::V2);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&ok, src, dst).unwrap().0),
            Ok(false)
        );
        let b = mk(None, 1, Version::V2);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&b, src, dst).unwrap().0),
            Err(DropReason::AuthType)
        );
        let b = mk(Some(vrrp::auth_data("2222")), 1, Version::V2);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&b, src, dst).unwrap().0),
            Err(DropReason::AuthFailure)
        );
        let b = mk(Some(vrrp::auth_data("1111")), 2, Version::V2);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&b, src, dst).unwrap().0),
            Err(DropReason::Interval)
        );
        let b = mk(None, 100, Version::V3);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&b, src, dst).unwrap().0),
            Err(DropReason::Version)
        );
    }

    #[test]
    fn address_list_mismatch_is_reported_not_dropped() {
        let c = cfg(
            "instances:\n  V:\n    interface: eth0\n    vrid: 21\n    virtual_ipaddress: [10.99.0.21]\n",
        );
        let src: IpAddr = [10, 99, 0, 11].into();
        let dst: IpAddr = [224, 0, 0, 18].into();
        let addrs = [IpAddr::from([10, 99, 0, 99])];
        let spec = AdvertSpec {
            version: Version::V3,
            vrid: 21,
            priority: 100,
            interval: 100,
            auth: None,
            addresses: &addrs,
        };
        let mut b = Vec::new();
        vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut b);
        assert_eq!(
            check_advert(&c, &vrrp::decode(&b, src, dst).unwrap().0),
            Ok(true)
        );
    }
}

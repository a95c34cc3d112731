//! The shell around the router core: it moves bytes and runs effects, and decides nothing.
//!
//! One loop (on the engine thread) feeds the core its inputs (packets from the port readers,
//! link events, interface answers, tracking events, wire-tap counts, signals, the timer) and
//! carries out the effects it returns, in order: adverts are sent at once on the port's
//! socket; address changes, announcements and lookups go to the kernel task, so the loop
//! never awaits the kernel; facts go to the observer (metrics, logs, traces).

pub mod control;
mod http;
mod kernel;
#[doc(hidden)]
pub mod observer;
mod ports;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use crate::config::{self, Config, Vip};
use crate::net::{self, Netlink};
use crate::observe::{self, Metrics};
use crate::router::{self, Effect, Fact, Router};
use crate::track::{self, TrackEvent};
use kernel::Job;
use observer::{Observer, unix_now};
use ports::{Ports, RX_QUEUE, Rx};

pub use router::{engine_params, group_of};

/// Options for `vipd run`.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Overrides the configuration's `listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// `--web.config.file`: TLS, users and headers of the HTTP endpoint (docs/security.md).
    pub web_config: Option<PathBuf>,
    /// The control socket (`vipd drain`); default [`control::DEFAULT_PATH`].
    pub control_socket: PathBuf,
}

/// A shutdown still holding addresses after this long lets them go (a backup that never
/// takes over must not make systemd's TimeoutStopSec=20s kill us first).
const STOP_LIMIT: Duration = Duration::from_secs(15);

/// A timer wake-up this late means the loop was away (see the timer branch of [`run`]).
const LATE_WAKE: Duration = Duration::from_millis(1);

/// The signals vipd acts on.
struct Signals {
    /// Resign and exit.
    term: Signal,
    /// Same as SIGTERM (Ctrl-C in a terminal).
    int: Signal,
    /// Reload the configuration.
    hup: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// The shell's state: the core and the things that carry out its effects.
struct Shell {
    /// Every decision.
    router: Router,
    /// Where the configuration is re-read from on SIGHUP.
    config_path: PathBuf,
    /// Sockets and their reader tasks.
    ports: Ports,
    /// The kernel task's queue (ordered).
    kernel: mpsc::UnboundedSender<Job>,
    /// Metrics, logs and traces from facts.
    observer: Observer,
    /// Notify hooks, in order per instance, never blocking the loop.
    notifier: track::Notifier,
    /// Running check scripts.
    scripts: track::Scripts,
    /// The tracked-file watcher.
    files: track::Files,
    /// The tracked-process watcher (its own thread).
    processes: track::ProcessWatcher,
    /// Where scripts and files report.
    track_tx: mpsc::UnboundedSender<TrackEvent>,
    /// Lookups asked while starting (answered before the loop runs).
    startup_lookups: Option<Vec<(String, Vec<std::net::IpAddr>)>>,
    /// A port failed to open while starting (fatal then).
    startup_failed: bool,
    /// Adverts taken from the core and not yet sent: they go out together (one `sendmmsg`
    /// per port run), before the next effect that waits for them
    /// ([`Effect::waits_for_sends`]: not the observations between a round's adverts).
    sends: Vec<Send>,
}

/// One advert to send (the fields of [`Effect::Send`]).
struct Send {
    port: router::PortId,
    inst: router::InstId,
    src: std::net::IpAddr,
    dst: std::net::IpAddr,
    priority: u8,
    bytes: std::sync::Arc<[u8]>,
}

impl Shell {
    /// Carries out every queued effect.
    fn drain(&mut self) {
        while let Some(e) = self.router.poll_effect() {
            match e {
                Effect::Send {
                    port,
                    inst,
                    src,
                    dst,
                    priority,
                    bytes,
                } => self.sends.push(Send {
                    port,
                    inst,
                    src,
                    dst,
                    priority,
                    bytes,
                }),
                e => {
                    if e.waits_for_sends() {
                        self.flush_sends();
                    }
                    self.exec(e);
                }
            }
        }
        self.flush_sends();
    }

    /// Sends the queued adverts, in order, each run on one port in `sendmmsg` calls. A
    /// failed advert is counted and reported; the ones after it are still sent.
    fn flush_sends(&mut self) {
        let mut sends = std::mem::take(&mut self.sends);
        let mut at = 0;
        while at < sends.len() {
            let port = sends[at].port;
            let run = sends[at..].iter().take_while(|s| s.port == port).count();
            let end = at + run;
            while at < end {
                let msgs = sends[at..end].iter().map(|s| (&s.bytes[..], s.src, s.dst));
                let (done, err) = self.ports.send_batch(port, msgs);
                for s in &sends[at..at + done] {
                    self.observer.sent(s.inst, s.priority);
                }
                at += done;
                if let Some(e) = err {
                    if at < end {
                        let s = &sends[at];
                        let n = self.observer.send_error(s.inst);
                        if n.is_power_of_two() {
                            let name = self.router.instance_config(s.inst).map(|c| c.name.clone());
                            warn!(instance = ?name, dst = %s.dst, errors = n, "advert not sent: {e}");
                        }
                    }
                    at += 1;
                }
            }
        }
        sends.clear();
        self.sends = sends;
    }

    fn exec(&mut self, e: Effect) {
        match e {
            Effect::Send {
                port,
                inst,
                src,
                dst,
                priority,
                bytes,
            } => {
                self.sends.push(Send {
                    port,
                    inst,
                    src,
                    dst,
                    priority,
                    bytes,
                });
                self.flush_sends();
            }
            Effect::Lookup { ifname, exclude } => match &mut self.startup_lookups {
                Some(list) => list.push((ifname, exclude)),
                None => {
                    let _ = self.kernel.send(Job::Lookup { ifname, exclude });
                }
            },
            Effect::OpenPort {
                port,
                iface,
                family,
            } => {
                if let Err(err) = self.ports.open(port, &iface, family) {
                    if self.startup_lookups.is_some() {
                        self.startup_failed = true;
                    }
                    self.router.handle_port_failed(Instant::now(), port, err);
                }
            }
            Effect::ClosePort { port } => self.ports.close(port),
            Effect::SetVridFilter { port, vrids } => self.ports.set_filter(port, &vrids),
            Effect::JoinSolicited { port, addrs } => self.ports.join_solicited(port, &addrs),
            Effect::AddAddresses {
                inst,
                ifindex,
                vips,
            } => self.addresses(true, inst, ifindex, vips),
            Effect::RemoveAddresses {
                inst,
                ifindex,
                vips,
            } => self.addresses(false, inst, ifindex, vips),
            Effect::Install { inst, items } => self.items(true, inst, items),
            Effect::Uninstall { inst, items } => self.items(false, inst, items),
            Effect::Announce {
                inst,
                iface,
                addrs,
                count,
                router,
                interval,
            } => {
                let na = addrs.first().is_some_and(|a| a.is_ipv6());
                self.observer
                    .announced(inst, na, u64::from(count) * addrs.len() as u64);
                let _ = self.kernel.send(Job::Announce {
                    iface,
                    vips: addrs,
                    count,
                    router,
                    interval,
                });
            }
            Effect::Notify {
                name,
                state,
                priority,
                vrid,
                interface,
                hooks,
                ..
            } => self
                .notifier
                .notify(&name, state.upper(), priority, vrid, &interface, &hooks),
            Effect::NotifyGroup {
                group,
                state,
                hooks,
            } => self.notifier.notify_group(&group, state.upper(), &hooks),
            Effect::ReadBack { ifindex, insts } => {
                let instances = self.observer.vip_handles(insts);
                let _ = self.kernel.send(Job::ReadBack { ifindex, instances });
            }
            Effect::Scripts { stop, start } => {
                self.scripts.stop(&stop);
                self.scripts.start(&self.router.config().scripts, &start);
            }
            Effect::TrackFiles => {
                self.files = track::Files::spawn(
                    track::tracked_files(self.router.config().instances.values()),
                    self.track_tx.clone(),
                );
            }
            Effect::TrackProcesses => {
                self.processes = track::ProcessWatcher::spawn(
                    &self.router.config().processes,
                    self.track_tx.clone(),
                );
                self.observer.sync_processes(&self.router);
            }
            Effect::Barrier { inst } => {
                // Queued behind the instance's address and announcement jobs; the answer
                // comes back to the loop (nothing here waits for it).
                let _ = self.kernel.send(Job::Barrier(inst));
            }
            Effect::EnsureVmac { vmac, .. } => {
                let _ = self.kernel.send(Job::EnsureVmac(vmac));
            }
            Effect::DeleteVmac { vmac, .. } => {
                let _ = self.kernel.send(Job::DeleteVmac(vmac));
            }
            Effect::Fact(f) => {
                if let Fact::InstanceRemoved { name, .. } = &f {
                    self.notifier.forget(name);
                }
                self.observer.apply(&self.router, f);
            }
        }
    }

    fn addresses(&self, add: bool, inst: router::InstId, ifindex: u32, vips: Vec<Vip>) {
        let _ = self.kernel.send(Job::Addresses {
            add,
            ifindex,
            vips,
            name: self.name(inst),
            m: self.observer.instance(inst).cloned(),
        });
    }

    fn items(&self, add: bool, inst: Option<router::InstId>, items: Vec<router::extras::Item>) {
        let name = inst.map_or_else(|| "static".to_owned(), |i| self.name(i));
        let _ = self.kernel.send(Job::Items { add, items, name });
    }

    /// The instance's name (also while its last effects run after the core removed it).
    fn name(&self, inst: router::InstId) -> String {
        self.observer
            .instance(inst)
            .map(|m| m.labels().vr.clone())
            .unwrap_or_default()
    }

    /// Start-up: answers every interface lookup before the loop runs (waiting for the kernel
    /// is fine here, no advert is due yet), so sockets open and failures are fatal.
    async fn start(&mut self, netlink: &Netlink) -> bool {
        self.drain();
        loop {
            let asked = self
                .startup_lookups
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            if asked.is_empty() {
                break;
            }
            for (name, exclude) in asked {
                let r = netlink
                    .iface(&name, &exclude)
                    .await
                    .map_err(|e| e.to_string());
                self.router.handle_iface(Instant::now(), &name, r);
                self.drain();
            }
        }
        self.startup_lookups = None;
        !self.startup_failed
    }

    /// The `/status` document.
    fn status(&mut self, now: Instant) -> serde_json::Value {
        let mut s = self.router.status(now);
        self.observer.fill(&mut s);
        for p in &mut s.sockets {
            (p.wire_tap, p.queue_overflow) = self.ports.facts(p.port);
        }
        serde_json::to_value(s).unwrap_or_default()
    }

    /// SIGHUP: re-read the configuration on a blocking thread (parsing and validating a large
    /// file takes long enough in a debug build or on a busy host to delay adverts past a
    /// backup's master-down interval); the result comes back to the loop on `done`.
    fn start_reload(&self, done: mpsc::UnboundedSender<Reloaded>) {
        info!(path = %self.config_path.display(), "SIGHUP: reloading configuration");
        let path = self.config_path.clone();
        tokio::task::spawn_blocking(move || {
            let _ = done.send(config::load(&path));
        });
    }

    /// A re-read configuration into the core; the core decides what changes. A broken file is
    /// rejected with its errors logged and the running configuration kept.
    fn reload(&mut self, loaded: Reloaded) {
        let loaded = match loaded {
            Ok(l) => l,
            Err(diags) => {
                for d in &diags {
                    error!("{d}");
                }
                error!("new configuration rejected; the running one is kept");
                self.observer.metrics().config_reload(false, unix_now());
                return;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let plan = self.router.handle_reload(Instant::now(), loaded.config);
        self.drain();
        if plan.listen_changed {
            warn!("listen address changes take effect on restart");
        }
        self.observer.sync_scripts(&self.router);
        self.observer.metrics().config_reload(true, unix_now());
        info!(
            kept = plan.keep.len(),
            updated = plan.update.len(),
            added = plan.add.len() + plan.restart.len(),
            removed = plan.remove.len() + plan.restart.len(),
            "configuration reloaded"
        );
    }

    /// Ends the shutdown: whatever still holds its addresses lets them go (nothing does after
    /// the loop's make-before-break stop), then waits until the kernel has done it.
    async fn shutdown(&mut self) {
        self.router.handle_shutdown_now(Instant::now());
        self.drain();
        let (tx, rx) = oneshot::channel();
        if self.kernel.send(Job::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
        self.ports.close_all();
        info!("stopped");
    }
}

/// A configuration re-read on SIGHUP (see [`Shell::start_reload`]).
type Reloaded = Result<config::Loaded, Vec<config::Diagnostic>>;

/// Everything `run` needs before the loop: the configuration, the capabilities, netlink,
/// the HTTP listener. Errors are logged; the exit code is returned.
type Prepared = (
    config::Loaded,
    Netlink,
    std::net::TcpListener,
    std::sync::Arc<crate::webconfig::WebConfig>,
);

fn prepare(opts: &RunOptions) -> Result<Prepared, i32> {
    let missing = net::missing_capabilities();
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|c| c.to_string()).collect();
        error!(
            "vipd needs {}: CAP_NET_RAW for the VRRP, ARP and NA sockets, CAP_NET_ADMIN to add and remove addresses (run as root, or grant them, e.g. AmbientCapabilities= in the systemd unit)",
            names.join(" and ")
        );
        return Err(1);
    }
    let loaded = config::load(&opts.config_path).map_err(|diags| {
        for d in diags {
            error!("{d}");
        }
        2
    })?;
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let netlink = Netlink::new().map_err(|e| {
        error!("cannot open route netlink: {e}");
        1
    })?;
    let web = match &opts.web_config {
        None => crate::webconfig::WebConfig::default(),
        Some(path) => crate::webconfig::WebConfig::load(path).map_err(|e| {
            error!("web config: {e}");
            2
        })?,
    };
    let listen = opts.listen.unwrap_or(loaded.config.listen);
    let listener = observe::bind_std(listen).map_err(|e| {
        error!("cannot listen on {listen} for /metrics: {e}");
        1
    })?;
    Ok((loaded, netlink, listener, std::sync::Arc::new(web)))
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub async fn run(opts: RunOptions) -> i32 {
    let (loaded, netlink, listener, web) = match prepare(&opts) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let mut net_rx = match net::net_events() {
        Ok(rx) => rx,
        Err(e) => {
            error!("cannot subscribe to link and address events: {e}");
            return 1;
        }
    };
    let metrics = Metrics::new(env!("CARGO_PKG_VERSION"), observe::REVISION);
    metrics.config_loaded(unix_now());
    let (status_tx, mut status_rx) = mpsc::channel::<oneshot::Sender<serde_json::Value>>(16);
    if let Err(e) = http::spawn(listener, metrics.clone(), status_tx, web) {
        error!("cannot start the HTTP thread: {e}");
        return 1;
    }
    let mut signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return 1;
        }
    };
    let (pkt_tx, mut pkt_rx) = mpsc::channel::<Rx>(RX_QUEUE);
    let (tap_tx, mut tap_rx) = mpsc::unbounded_channel();
    let (track_tx, mut track_rx) = mpsc::unbounded_channel();
    let (job_tx, job_rx) = mpsc::unbounded_channel();
    let (answer_tx, mut answer_rx) = mpsc::unbounded_channel();
    let (barrier_tx, mut barrier_rx) = mpsc::unbounded_channel();
    let kernel_task = tokio::spawn(kernel::run(netlink.clone(), job_rx, answer_tx, barrier_tx));
    let config: Config = loaded.config;
    let mut sh = Shell {
        router: Router::new(config.clone(), Instant::now()),
        config_path: opts.config_path,
        ports: Ports::new(pkt_tx, tap_tx),
        kernel: job_tx,
        observer: Observer::new(metrics),
        notifier: track::Notifier::new(),
        scripts: track::Scripts::spawn(&config.scripts, track_tx.clone()),
        files: track::Files::spawn(
            track::tracked_files(config.instances.values()),
            track_tx.clone(),
        ),
        processes: track::ProcessWatcher::spawn(&config.processes, track_tx.clone()),
        track_tx,
        startup_lookups: Some(Vec::new()),
        startup_failed: false,
        sends: Vec::new(),
    };
    sh.observer.sync_scripts(&sh.router);
    sh.observer.sync_processes(&sh.router);
    if !sh.start(&netlink).await {
        error!("cannot open the VRRP socket (see the error above)");
        sh.shutdown().await;
        return 1;
    }
    info!(
        router_id = %config.router_id,
        instances = config.instances.len(),
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
            sh.shutdown().await;
            return 1;
        }
    };
    // sd_notify (src/sdnotify.rs): READY=1 now; watchdog + STATUS= from this loop.
    let mut sd = crate::sdnotify::Supervisor::from_env();
    sd.ready(&sh.router.state_summary());
    let mut control_rx = match control::spawn(&opts.control_socket) {
        Ok(rx) => {
            info!(path = %opts.control_socket.display(), "control socket ready (vipd drain / undrain)");
            Some(rx)
        }
        Err(e) => {
            // Not fatal: VRRP works without it (e.g. unprivileged, without /run/vipd).
            warn!("control socket unavailable, `vipd drain` will not work: {e}");
            None
        }
    };
    // SIGHUP reloads: the configuration is read off the loop.
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel::<Reloaded>();
    let (mut reloading, mut reload_again) = (false, false);
    // Set once SIGTERM/SIGINT started the make-before-break stop.
    let mut stop_by: Option<Instant> = None;
    loop {
        let deadline = match (sh.router.poll_timeout(), stop_by) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            biased;
            _ = signals.term.recv() => stop(&mut sh, &mut sd, &mut stop_by, "SIGTERM"),
            _ = signals.int.recv() => stop(&mut sh, &mut sd, &mut stop_by, "SIGINT"),
            _ = signals.hup.recv(), if stop_by.is_none() => {
                // One read at a time; a SIGHUP during a read asks for one more after it, so
                // that the file last written is the one that runs.
                if reloading {
                    reload_again = true;
                } else {
                    sd.reloading();
                    sh.start_reload(reload_tx.clone());
                    reloading = true;
                }
            }
            Some(loaded) = reload_rx.recv() => {
                reloading = false;
                if stop_by.is_none() {
                    sh.reload(loaded);
                    if std::mem::take(&mut reload_again) {
                        sh.start_reload(reload_tx.clone());
                        reloading = true;
                    }
                }
                if !reloading {
                    sd.ready(&sh.router.state_summary());
                }
            }
            r = timer.wait(deadline) => {
                if let Err(e) = r {
                    // Never expected; fall back to a short sleep rather than spin.
                    warn!("engine timer: {e}");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // Woken late (measured before the queue below is handled).
                let late = deadline.is_some_and(|d| Instant::now() > d + LATE_WAKE);
                // Adverts already received count before a timer expiring now: under load a
                // backup must not declare its master dead while the advert waits in the queue.
                for _ in 0..RX_QUEUE {
                    match pkt_rx.try_recv() {
                        Ok(p) => packet(&mut sh.router, p),
                        Err(_) => break,
                    }
                }
                // Woken late, this thread was busy (start-up, a reload, a stall) and the port
                // readers, tasks of this same thread, have not run since: what waits in the
                // kernel's socket buffers is read here, after the queue (it is newer).
                if late {
                    sh.ports.read_now(|p| packet(&mut sh.router, p));
                }
                let now = Instant::now();
                sh.router.handle_timeout(now);
                if stop_by.is_some_and(|t| t <= now) {
                    warn!("still holding addresses {}s after the stop request; releasing them", STOP_LIMIT.as_secs());
                    sh.router.handle_shutdown_now(now);
                }
            }
            Some(inst) = barrier_rx.recv() => sh.router.handle_announced(Instant::now(), inst),
            Some(req) = async {
                match control_rx.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => control_request(&mut sh, req),
            // In the loop that runs the timers: a stalled engine stops pinging systemd.
            _ = sd.tick() => sd.on_tick(&sh.router.state_summary()),
            Some(p) = pkt_rx.recv() => {
                packet(&mut sh.router, p);
                // Drain what is already queued before looking at timers again.
                for _ in 0..RX_QUEUE {
                    match pkt_rx.try_recv() {
                        Ok(p) => packet(&mut sh.router, p),
                        Err(_) => break,
                    }
                }
            }
            Some(ev) = net_rx.recv() => match ev {
                net::NetEvent::Link(l) => sh.router.handle_link(Instant::now(), &l.name, l.up),
                net::NetEvent::Address { index, addr, present } => {
                    sh.router.handle_address(Instant::now(), index, addr, present)
                }
            },
            Some((name, r)) = answer_rx.recv() => sh.router.handle_iface(Instant::now(), &name, r),
            Some(ev) = track_rx.recv() => {
                sh.observer.track(&ev);
                sh.router.handle_track(Instant::now(), &ev);
            }
            Some(r) = tap_rx.recv() => sh.router.handle_tap(r.port, r.counts),
            Some(reply) = status_rx.recv() => { let _ = reply.send(sh.status(Instant::now())); }
        }
        sh.drain();
        if stop_by.is_some() && sh.router.stopped() {
            break;
        }
    }
    if control_rx.is_some() {
        control::remove(&opts.control_socket);
    }
    sh.shutdown().await;
    let notifier = std::mem::take(&mut sh.notifier);
    drop(sh);
    let _ = kernel_task.await;
    notifier.finish(Duration::from_secs(10)).await;
    0
}

/// SIGTERM/SIGINT: the first starts the make-before-break stop (the core keeps each master's
/// addresses until the new master is heard); a second one lets go at once.
fn stop(
    sh: &mut Shell,
    sd: &mut crate::sdnotify::Supervisor,
    stop_by: &mut Option<Instant>,
    signal: &str,
) {
    let now = Instant::now();
    if stop_by.is_none() {
        sd.stopping();
        info!("{signal}: handing mastership over and exiting");
        *stop_by = Some(now + STOP_LIMIT);
        sh.router.handle_shutdown(now);
    } else {
        warn!("{signal} again: releasing the addresses now");
        sh.router.handle_shutdown_now(now);
    }
}

/// A control socket request into the core; the answer goes back to the client.
fn control_request(sh: &mut Shell, req: control::Request) {
    let answer = match &req.command {
        control::Command::List => {
            let d = sh.router.drained();
            Ok(if d.is_empty() {
                "no instance drained".to_owned()
            } else {
                format!("drained: {}", d.join(" "))
            })
        }
        control::Command::Drain { on, names } => sh
            .router
            .handle_drain(Instant::now(), names, *on, &req.by)
            .map(|changed| {
                let verb = if *on { "drained" } else { "undrained" };
                let now: Vec<String> = sh.router.drained();
                let changed = if changed.is_empty() {
                    format!("nothing {verb} (already so)")
                } else {
                    format!("{verb}: {}", changed.join(" "))
                };
                if now.is_empty() {
                    format!("{changed}; no instance drained")
                } else {
                    format!("{changed}; drained now: {}", now.join(" "))
                }
            }),
    };
    let _ = req.reply.send(answer);
}

/// One receive batch into the core (its buffers go back to the reader when `p` drops).
fn packet(router: &mut Router, p: Rx) {
    let now = Instant::now();
    for (rx, bytes) in p.packets() {
        router.handle_packet(
            now,
            router::Packet {
                port: p.port,
                src: rx.src,
                dst: rx.dst,
                ttl: rx.ttl,
                bytes,
            },
        );
    }
}

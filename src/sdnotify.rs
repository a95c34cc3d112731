//! vipd's side of sd_notify(3): tells systemd when vipd is ready, reloading or stopping,
//! what it is doing (`STATUS=`), and that the engine loop is alive (`WATCHDOG=1`).
//!
//! The protocol comes from the `sd-notify` crate: the message states ([`NotifyState`], with
//! `MONOTONIC_USEC=` for reloads), the watchdog variables (`WATCHDOG_USEC` honoured only when
//! `WATCHDOG_PID` is unset or names vipd). vipd keeps what is its own: the `STATUS=` text, the watchdog tick policy of
//! [`Supervisor`], and the one datagram socket it sends on.
//!
//! [`take_from_env`] reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once. The check
//! scripts and notify hooks vipd starts cannot talk to systemd as vipd (a hook's `READY=1` or
//! `STOPPING=1` would be taken as the daemon's) because they start from a clean environment
//! (`track::process`), not because vipd edits its own (that needs `unsafe`).
//!
//! Nothing here is fatal: a failed send is logged at debug level and forgotten, and without
//! `$NOTIFY_SOCKET` (not started by systemd) nothing is sent at all. The watchdog is pinged
//! from the engine loop itself (see [`Supervisor::tick`] in `daemon::run`), so an engine that
//! stops running its timers also stops pinging and is restarted by systemd (`WatchdogSec=`,
//! `Restart=on-failure`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

use crate::engine::State;

/// How often `STATUS=` is refreshed (when it changed) if the watchdog asks for no faster tick.
pub const STATUS_REFRESH: Duration = Duration::from_secs(1);

/// What the service manager handed vipd: where to send notifications and the watchdog interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemdEnv {
    /// `$NOTIFY_SOCKET`.
    pub socket: Option<OsString>,
    /// `$WATCHDOG_USEC` when it is meant for this process (`$WATCHDOG_PID`) and not zero.
    pub watchdog: Option<Duration>,
    /// Whether the variables were removed from vipd's environment: never (see [`take_from_env`]).
    pub removed: bool,
}

static TAKEN: OnceLock<SystemdEnv> = OnceLock::new();

/// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once. They stay in vipd's own
/// environment (removing them needs `unsafe` in edition 2024, and the project keeps `unsafe`
/// to src/net/packet_socket.rs): what keeps scripts and hooks from notifying systemd as vipd is
/// that they start from a clean environment (`track::process`, docs/security.md), which never
/// passes these variables on. Later calls return the first result; [`Supervisor::from_env`]
/// uses it.
pub fn take_from_env() -> &'static SystemdEnv {
    TAKEN.get_or_init(|| SystemdEnv {
        socket: std::env::var_os("NOTIFY_SOCKET"),
        watchdog: sd_notify::watchdog_enabled().filter(|d| !d.is_zero()),
        removed: false,
    })
}

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier systemd asked for (see [`take_from_env`]); `None` when `$NOTIFY_SOCKET`
    /// was unset or is unusable.
    pub fn from_env() -> Option<Notifier> {
        let env = take_from_env();
        let socket = env.socket.as_deref()?;
        match Notifier::new(socket, env.watchdog) {
            Ok(n) => Some(n),
            Err(e) => {
                debug!(socket = ?socket, "sd_notify disabled: {e}");
                None
            }
        }
    }

    /// A notifier sending to `socket` (a path or `@abstract`), with the given watchdog interval.
    pub fn new(socket: &OsStr, watchdog: Option<Duration>) -> io::Result<Notifier> {
        let addr = socket_addr(socket)?;
        let sock = UnixDatagram::unbound()?;
        sock.set_nonblocking(true)?;
        Ok(Notifier {
            sock,
            addr,
            watchdog,
        })
    }

    /// The interval within which systemd expects `WATCHDOG=1`, if it armed a watchdog for us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `READY=1`: startup finished (or a reload completed).
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (required by `Type=notify-reload`, systemd >= 253;
    /// harmless for `Type=notify`).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `STOPPING=1`: shutting down.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `STATUS=<line>` (newlines replaced by spaces: one message, one line).
    pub fn status(&self, line: &str) {
        let line = line.replace(['\n', '\r'], " ");
        self.send(&[NotifyState::Status(&line)]);
    }

    /// `WATCHDOG=1`: the engine loop is alive.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// One datagram, one `KEY=value` line per state (as `sd_notify::notify` writes them).
    fn send(&self, states: &[NotifyState]) {
        let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
        match self.sock.send_to_addr(msg.as_bytes(), &self.addr) {
            Ok(n) if n == msg.len() => {}
            Ok(n) => debug!("sd_notify: short send ({n} of {} bytes)", msg.len()),
            Err(e) => debug!("sd_notify {:?}: {e}", msg.trim_end()),
        }
    }
}

/// The socket address named by `$NOTIFY_SOCKET`: a path, or an abstract name after `@`.
pub fn socket_addr(socket: &OsStr) -> io::Result<SocketAddr> {
    let bytes = socket.as_bytes();
    match bytes.first() {
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty NOTIFY_SOCKET",
        )),
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..]),
        Some(b'/') => SocketAddr::from_pathname(socket),
        Some(_) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET must be an absolute path or start with '@'",
        )),
    }
}

/// The one-line summary sent as `STATUS=`, e.g. "2 instances: VI_1 master, VI_2 backup".
pub fn status_line(instances: &[(String, State)]) -> String {
    let n = instances.len();
    let noun = if n == 1 { "instance" } else { "instances" };
    if n == 0 {
        return format!("0 {noun}");
    }
    let list: Vec<String> = instances
        .iter()
        .map(|(name, s)| format!("{name} {}", s.as_str()))
        .collect();
    format!("{n} {noun}: {}", list.join(", "))
}

/// What the engine loop does for systemd: a no-op without `$NOTIFY_SOCKET`.
///
/// `tick()` is a branch of the loop's `select!`; on each tick the loop calls `on_tick`,
/// which pings the watchdog (if armed) and sends `STATUS=` when the summary changed.
#[derive(Debug)]
pub struct Supervisor {
    notifier: Option<Notifier>,
    ticker: Option<tokio::time::Interval>,
    last_status: String,
}

impl Supervisor {
    /// From the environment systemd set up (see [`Notifier::from_env`]).
    pub fn from_env() -> Supervisor {
        Supervisor::new(Notifier::from_env())
    }

    /// Ticks every half watchdog interval (at most every [`STATUS_REFRESH`]).
    pub fn new(notifier: Option<Notifier>) -> Supervisor {
        let ticker = notifier.as_ref().map(|n| {
            let period = n
                .watchdog_interval()
                .map_or(STATUS_REFRESH, |w| (w / 2).min(STATUS_REFRESH))
                .max(Duration::from_millis(1));
            let mut i = tokio::time::interval(period);
            // After a stall, one late ping, not a burst that would hide it.
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        Supervisor {
            notifier,
            ticker,
            last_status: String::new(),
        }
    }

    /// Whether systemd is listening.
    pub fn active(&self) -> bool {
        self.notifier.is_some()
    }

    /// Completes at the next tick; never without a notifier.
    pub async fn tick(&mut self) {
        match &mut self.ticker {
            Some(t) => {
                t.tick().await;
            }
            None => std::future::pending().await,
        }
    }

    /// Watchdog ping, plus `STATUS=` if `instances` changed since the last one sent.
    pub fn on_tick(&mut self, instances: &[(String, State)]) {
        if self.notifier.is_some() {
            self.on_tick_with(&status_line(instances));
        }
    }

    /// `READY=1` followed by the current `STATUS=`.
    pub fn ready(&mut self, instances: &[(String, State)]) {
        if self.notifier.is_some() {
            self.ready_with(&status_line(instances));
        }
    }

    /// [`Supervisor::on_tick`] with a status line of the caller's (`vipd monitor`'s).
    pub fn on_tick_with(&mut self, line: &str) {
        let Some(n) = &self.notifier else { return };
        if n.watchdog_interval().is_some() {
            n.watchdog();
        }
        self.refresh_status(line);
    }

    /// [`Supervisor::ready`] with a status line of the caller's.
    pub fn ready_with(&mut self, line: &str) {
        let Some(n) = &self.notifier else { return };
        n.ready();
        self.last_status.clear();
        self.refresh_status(line);
    }

    /// `RELOADING=1` (before re-reading the configuration).
    pub fn reloading(&self) {
        if let Some(n) = &self.notifier {
            n.reloading();
        }
    }

    /// `STOPPING=1` (before resigning).
    pub fn stopping(&self) {
        if let Some(n) = &self.notifier {
            n.stopping();
            n.status("stopping");
        }
    }

    fn refresh_status(&mut self, line: &str) {
        let Some(n) = &self.notifier else { return };
        if line != self.last_status {
            n.status(line);
            self.last_status = line.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_line(&[]), "0 instances");
        assert_eq!(
            status_line(&[("VI_1".into(), State::Master)]),
            "1 instance: VI_1 master"
        );
        assert_eq!(
            status_line(&[
                ("VI_1".into(), State::Master),
                ("VI_2".into(), State::Backup)
            ]),
            "2 instances: VI_1 master, VI_2 backup"
        );
    }

    #[test]
    fn environment_is_read_but_kept_while_other_threads_run() {
        // The test harness runs tests on several threads: the variables must stay.
        let _other = std::thread::spawn(|| std::thread::sleep(Duration::from_millis(200)));
        let env = take_from_env();
        assert!(!env.removed, "{env:?}");
    }

    #[test]
    fn socket_addresses() {
        let a = socket_addr(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(
            a.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        let a = socket_addr(OsStr::new("@vipd/notify")).unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"vipd/notify"[..]));
        assert!(socket_addr(OsStr::new("")).is_err());
        assert!(socket_addr(OsStr::new("relative")).is_err());
    }

    fn recv_all(sock: &UnixDatagram) -> Vec<String> {
        let mut out = vec![];
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[test]
    fn messages_over_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        let n = Notifier::new(path.as_os_str(), None).unwrap();
        n.ready();
        n.status("a\nb");
        n.reloading();
        n.watchdog();
        n.stopping();
        let got = recv_all(&server);
        assert_eq!(got[0], "READY=1\n");
        assert_eq!(got[1], "STATUS=a b\n");
        let mut lines = got[2].lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 = lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .and_then(|v| v.parse().ok())
            .expect("MONOTONIC_USEC");
        assert!(usec > 0);
        assert_eq!(got[3], "WATCHDOG=1\n");
        assert_eq!(got[4], "STOPPING=1\n");
    }

    #[test]
    fn messages_over_an_abstract_socket() {
        let name = format!("vipd-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server.set_nonblocking(true).unwrap();
        let n = Notifier::new(OsStr::new(&format!("@{name}")), None).unwrap();
        n.ready();
        assert_eq!(recv_all(&server), ["READY=1\n"]);
    }

    #[test]
    fn send_failures_are_not_fatal() {
        let n = Notifier::new(OsStr::new("/nonexistent/vipd/notify"), None).unwrap();
        n.ready();
        n.watchdog();
    }

    #[tokio::test]
    async fn supervisor_pings_and_sends_status_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_nonblocking(true).unwrap();
        let n = Notifier::new(path.as_os_str(), Some(Duration::from_millis(600))).unwrap();
        let mut s = Supervisor::new(Some(n));
        let backup = [("VI_1".to_string(), State::Backup)];
        let master = [("VI_1".to_string(), State::Master)];
        s.ready(&backup);
        assert_eq!(
            recv_all(&server),
            ["READY=1\n", "STATUS=1 instance: VI_1 backup\n"]
        );
        s.tick().await; // the first tick is immediate
        s.on_tick(&backup);
        assert_eq!(recv_all(&server), ["WATCHDOG=1\n"]);
        let t0 = tokio::time::Instant::now();
        s.tick().await;
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(250), "{waited:?}");
        s.on_tick(&master);
        assert_eq!(
            recv_all(&server),
            ["WATCHDOG=1\n", "STATUS=1 instance: VI_1 master\n"]
        );

        let mut off = Supervisor::new(None);
        assert!(!off.active());
        off.ready(&master);
        off.on_tick(&master);
        let never = tokio::time::timeout(Duration::from_millis(50), off.tick()).await;
        assert!(never.is_err());
    }
}

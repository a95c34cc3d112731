//! A throwaway LAN of network namespaces: the one harness behind `vipd demo` (`src/demo.rs`)
//! and the lab tests (`tests/labkit`, `tests/lab_net.rs`).
//!
//! A [`Lan`] with prefix `P` is a switch namespace `Psw` holding a bridge `br0` with multicast
//! snooping off (so VRRP multicast floods to every port) and one namespace `P<host>` per host,
//! whose interface (`eth0` unless told otherwise) is a veth into the bridge (the switch side is
//! named `p<host>`). Addresses are checked to lie in 10.99.0.0/16 (a /24) and fd00:99::/64 (a
//! /64, added `nodad`), the only ranges the lab may use. Everything goes through the `ip`
//! command (iproute2), as it always has here.
//!
//! Processes started with [`Lan::spawn`] are kept; [`Lan::teardown`] (also run on drop, so
//! after an error or a failed assertion too) ends them by pid (SIGTERM, then SIGKILL after
//! 3 s), then deletes the namespaces it created, last first. A pid is signalled only while
//! its child has not been reaped, so it cannot name another process.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// What failed, as a sentence (the `ip` command line and its stderr, say).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

/// How long a host's IPv6 link-local address (the VRRPv3 source) may take to appear.
const LINK_LOCAL_WAIT: Duration = Duration::from_secs(15);
/// How long teardown waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Runs `ip ARGS`; returns its stdout, or an error with its stderr.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error(format!("cannot run ip: {e}")))?;
    if !out.status.success() {
        return Err(Error(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One host of a [`Lan`]: its name (short: the switch port is `p<name>`, at most 15 bytes),
/// interface, MAC and addresses.
#[derive(Clone, Debug)]
pub struct Host {
    name: String,
    dev: String,
    mac: Option<String>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    dad: bool,
}

impl Host {
    /// Host `name` with `eth0`, no address yet, IPv6 duplicate address detection off.
    pub fn new(name: &str) -> Host {
        Host {
            name: name.to_owned(),
            dev: "eth0".to_owned(),
            mac: None,
            v4: None,
            v6: None,
            dad: false,
        }
    }

    /// Names the interface (default `eth0`).
    pub fn dev(mut self, dev: &str) -> Host {
        self.dev = dev.to_owned();
        self
    }

    /// Sets the interface's MAC (`02:99:...`), so that its EUI-64 link-local is known.
    pub fn mac(mut self, mac: &str) -> Host {
        self.mac = Some(mac.to_owned());
        self
    }

    /// Adds `addr/24`; it must be in 10.99.0.0/16.
    pub fn v4(mut self, addr: Ipv4Addr) -> Host {
        self.v4 = Some(addr);
        self
    }

    /// Adds `addr/64` (nodad); it must be in fd00:99::/64.
    pub fn v6(mut self, addr: Ipv6Addr) -> Host {
        self.v6 = Some(addr);
        self
    }

    /// Keeps the kernel's IPv6 duplicate address detection. Without this the host's
    /// `accept_dad` sysctls are set to 0 (which needs the `sysctl` command), so its link-local
    /// address is usable at once.
    pub fn with_dad(mut self) -> Host {
        self.dad = true;
        self
    }

    fn check(&self) -> Result<()> {
        if let Some(a) = self.v4
            && a.octets()[..2] != [10, 99]
        {
            return Err(Error(format!("{a} is outside the lab's 10.99.0.0/16")));
        }
        if let Some(a) = self.v6
            && a.segments()[..4] != [0xfd00, 0x99, 0, 0]
        {
            return Err(Error(format!("{a} is outside the lab's fd00:99::/64")));
        }
        Ok(())
    }
}

/// A LAN of network namespaces and the processes started in it; torn down on drop.
pub struct Lan {
    prefix: String,
    /// Namespaces created, in order.
    namespaces: Vec<String>,
    /// (host, interface) of each host.
    hosts: Vec<(String, String)>,
    children: Vec<Child>,
}

impl Lan {
    /// A LAN whose namespaces will be named `<prefix><host>`; nothing is created yet (the
    /// switch comes with [`Lan::switch`] or the first host). `prefix` must be unique among
    /// LANs that exist at the same time (put the pid in it).
    pub fn new(prefix: &str) -> Lan {
        Lan {
            prefix: prefix.to_owned(),
            namespaces: vec![],
            hosts: vec![],
            children: vec![],
        }
    }

    /// [`Lan::new`] and [`Lan::switch`].
    pub fn create(prefix: &str) -> Result<Lan> {
        let mut lan = Lan::new(prefix);
        lan.switch()?;
        Ok(lan)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Namespace of host `h` (`sw` is the switch).
    pub fn ns(&self, h: &str) -> String {
        format!("{}{h}", self.prefix)
    }

    /// The namespaces created so far, in order.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Interface of host `h` (`eth0` for a host not added here).
    pub fn dev(&self, h: &str) -> &str {
        self.hosts
            .iter()
            .find(|(n, _)| n == h)
            .map_or("eth0", |(_, d)| d.as_str())
    }

    /// Adds namespace `name`, deleting a leftover of the same name first.
    fn add_ns(&mut self, name: &str) -> Result<()> {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name])?;
        self.namespaces.push(name.to_owned());
        Ok(())
    }

    /// Creates the switch namespace and its bridge, unless done already.
    pub fn switch(&mut self) -> Result<()> {
        let sw = self.ns("sw");
        if self.namespaces.contains(&sw) {
            return Ok(());
        }
        self.add_ns(&sw)?;
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        Ok(())
    }

    /// Adds host `name` with `eth0` carrying `v4`/24 and, if given, `v6`/64: the common case
    /// of [`Lan::add`].
    pub fn host(&mut self, name: &str, v4: Ipv4Addr, v6: Option<Ipv6Addr>) -> Result<()> {
        let mut h = Host::new(name).v4(v4);
        if let Some(v6) = v6 {
            h = h.v6(v6);
        }
        self.add(&h)
    }

    /// Adds a host: its namespace, a veth from its interface into the bridge, loopback and
    /// the interface up, its addresses; returns once its IPv6 link-local address exists.
    pub fn add(&mut self, h: &Host) -> Result<()> {
        h.check()?;
        self.switch()?;
        let ns = self.ns(&h.name);
        let sw = self.ns("sw");
        let port = format!("p{}", h.name);
        let dev = h.dev.as_str();
        self.add_ns(&ns)?;
        self.hosts.push((h.name.clone(), h.dev.clone()));
        let mut link = vec!["link", "add", dev];
        if let Some(mac) = &h.mac {
            link.extend(["address", mac]);
        }
        link.extend([
            "netns", &ns, "type", "veth", "peer", "name", &port, "netns", &sw,
        ]);
        ip(&link)?;
        ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
        if !h.dad {
            for k in ["all", "default", dev] {
                let out = Command::new("ip")
                    .args(["netns", "exec", &ns, "sysctl", "-qw"])
                    .arg(format!("net.ipv6.conf.{k}.accept_dad=0"))
                    .output()
                    .map_err(|e| Error(format!("cannot run sysctl in {ns}: {e}")))?;
                if !out.status.success() {
                    return Err(Error(format!(
                        "sysctl accept_dad=0 in {ns} failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
            }
        }
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &ns, "link", "set", dev, "up"])?;
        if let Some(v4) = h.v4 {
            ip(&["-n", &ns, "addr", "add", &format!("{v4}/24"), "dev", dev])?;
        }
        if let Some(v6) = h.v6 {
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                dev,
                "nodad",
            ])?;
        }
        // The link-local address is the IPv6 advert source; without DAD it must also have
        // left the tentative state.
        let end = Instant::now() + LINK_LOCAL_WAIT;
        loop {
            let out = ip(&["-n", &ns, "-6", "addr", "show", "dev", dev, "scope", "link"])?;
            if out.contains("fe80") && (h.dad || !out.contains("tentative")) {
                return Ok(());
            }
            if Instant::now() > end {
                return Err(Error(format!(
                    "no usable link-local address on {ns} {dev} after {LINK_LOCAL_WAIT:?}: {out}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sets host `h`'s interface administratively up or down.
    pub fn link(&self, h: &str, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns(h), "link", "set", self.dev(h), state]).map(|_| ())
    }

    /// Sets host `h`'s switch port up or down: the host's interface stays up but loses (or
    /// regains) its carrier, like a cable pulled at the switch.
    pub fn port(&self, h: &str, up: bool) -> Result<()> {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.ns("sw"), "link", "set", &format!("p{h}"), state]).map(|_| ())
    }

    /// Whether `addr` (no prefix length) is on host `h`'s interface.
    pub fn has_addr(&self, h: &str, addr: &str) -> Result<bool> {
        let out = ip(&["-n", &self.ns(h), "addr", "show", "dev", self.dev(h)])?;
        Ok(out
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(addr)))
    }

    /// `ip netns exec <host's namespace> program`, to add arguments to and run or spawn.
    pub fn command(&self, h: &str, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(h)]).arg(program);
        cmd
    }

    /// Runs `args` in host `h` and waits; returns its stdout, or an error with its output.
    pub fn exec(&self, h: &str, args: &[&str]) -> Result<String> {
        let out = self
            .command(h, args[0])
            .args(&args[1..])
            .output()
            .map_err(|e| Error(format!("cannot run {args:?} in {h}: {e}")))?;
        if !out.status.success() {
            return Err(Error(format!(
                "{args:?} in {h} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts `cmd` (usually from [`Lan::command`]) and keeps the child, so that teardown
    /// ends it by pid.
    pub fn spawn(&mut self, mut cmd: Command) -> std::io::Result<&mut Child> {
        let child = cmd.spawn()?;
        self.children.push(child);
        Ok(self.children.last_mut().expect("just pushed"))
    }

    /// The child with `pid`, if this LAN started it.
    pub fn child(&mut self, pid: u32) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.id() == pid)
    }

    /// The exit status of child `pid` if it has exited (None while it runs or if unknown).
    pub fn try_wait(&mut self, pid: u32) -> Option<ExitStatus> {
        self.child(pid)?.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for child `pid` to exit; None if it is still running.
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait(pid) {
                return Some(st);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` to child `pid`, which must be one of ours and still running.
    pub fn signal(&mut self, pid: u32, sig: Signal) -> Result<()> {
        let running = self
            .child(pid)
            .ok_or_else(|| Error(format!("{pid} was not started by this lab")))?
            .try_wait()
            .is_ok_and(|s| s.is_none());
        if !running {
            return Err(Error(format!("{pid} has exited")));
        }
        kill(Pid::from_raw(pid as i32), sig).map_err(|e| Error(format!("kill {pid}: {e}")))
    }

    /// Ends every child still running: SIGTERM, then SIGKILL for those left after 3 s.
    pub fn stop_processes(&mut self) {
        for c in &mut self.children {
            if let Ok(None) = c.try_wait() {
                let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            }
        }
        let end = Instant::now() + STOP_GRACE;
        for c in &mut self.children {
            while Instant::now() < end && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }

    /// Ends the children, then deletes the namespaces, last first. Safe to call twice.
    pub fn teardown(&mut self) {
        self.stop_processes();
        for ns in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        self.hosts.clear();
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        self.teardown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_outside_the_lab_ranges_are_refused() {
        let v4 = |a: &str| Host::new("a").v4(a.parse().unwrap()).check().is_ok();
        let v6 = |a: &str| Host::new("a").v6(a.parse().unwrap()).check().is_ok();
        assert!(v4("10.99.3.1") && v6("fd00:99::1"));
        assert!(!v4("10.98.0.1") && !v6("fd00:99:0:1::1"));
    }
}

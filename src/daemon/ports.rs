//! The receive ports' sockets and their reader tasks: one raw VRRP socket per (interface,
//! family), plus a packet-socket wire tap that counts what arrives before the firewall.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::Family;
use crate::net::wiretap::WireTap;
use crate::net::{self, IfaceInfo, Received, VRRP_V4_GROUP, VRRP_V6_GROUP, VrrpSocket};
use crate::router::{MAX_TAP_KEYS, OBSERVE_TICK, PortId};

/// Packets queued between the socket readers and the engine; beyond it packets are dropped
/// (and counted) instead of growing memory under a flood.
pub const RX_QUEUE: usize = 4096;

/// A packet from a reader task.
pub struct Rx {
    pub port: PortId,
    pub rx: Received,
    pub data: Vec<u8>,
}

/// Counts of VRRP packets a wire tap saw per (VRID, source) since it opened.
pub struct TapReport {
    pub port: PortId,
    pub counts: HashMap<(u8, IpAddr), u64>,
}

/// The sockets of one port.
struct PortIo {
    /// Sends adverts; read by `reader`.
    sock: Arc<VrrpSocket>,
    /// Forwards received packets to the engine.
    reader: JoinHandle<()>,
    /// Packets dropped because the engine queue was full.
    overflow: Arc<AtomicU64>,
    /// The wire tap and its counting task (None when it could not be opened).
    tap: Option<(Arc<WireTap>, JoinHandle<()>)>,
}

/// Every open port, by the core's [`PortId`].
pub struct Ports {
    /// Slots indexed by `PortId`.
    slots: Vec<Option<PortIo>>,
    /// Where reader tasks send packets.
    pkt_tx: mpsc::Sender<Rx>,
    /// Where wire taps send their counts.
    tap_tx: mpsc::UnboundedSender<TapReport>,
}

impl Ports {
    pub fn new(pkt_tx: mpsc::Sender<Rx>, tap_tx: mpsc::UnboundedSender<TapReport>) -> Ports {
        Ports {
            slots: Vec::new(),
            pkt_tx,
            tap_tx,
        }
    }

    /// Opens the VRRP socket (and wire tap) of `port` and starts its readers.
    pub fn open(&mut self, port: PortId, info: &IfaceInfo, family: Family) -> Result<(), String> {
        self.close(port);
        let sock = VrrpSocket::open(info, family).map_err(|e| {
            net::NetError::open(
                format!("VRRP {} socket", family.as_str()),
                &info.name,
                net::Capability::NetRaw,
                e,
            )
            .to_string()
        })?;
        let sock = Arc::new(sock);
        let overflow = Arc::new(AtomicU64::new(0));
        let reader = tokio::spawn(reader_task(
            port,
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
                let task = tokio::spawn(tap_task(port, t.clone(), local, self.tap_tx.clone()));
                Some((t, task))
            }
            Err(e) => {
                warn!(interface = %info.name, "cannot open the wire tap (filtered adverts will not be counted): {e}");
                None
            }
        };
        if self.slots.len() <= port.0 {
            self.slots.resize_with(port.0 + 1, || None);
        }
        self.slots[port.0] = Some(PortIo {
            sock,
            reader,
            overflow,
            tap,
        });
        Ok(())
    }

    pub fn close(&mut self, port: PortId) {
        if let Some(p) = self.slots.get_mut(port.0).and_then(|o| o.take()) {
            p.reader.abort();
            if let Some((_, task)) = &p.tap {
                task.abort();
            }
            debug!(interface = %p.sock.ifname(), "socket closed");
        }
    }

    /// Kernel-side filter: only our VRIDs reach the socket (a garbage flood costs nothing).
    pub fn set_filter(&self, port: PortId, vrids: &[u8]) {
        let Some(p) = self.slots.get(port.0).and_then(|o| o.as_ref()) else {
            return;
        };
        if let Err(e) = p.sock.set_vrid_filter(vrids) {
            warn!(interface = %p.sock.ifname(), "cannot attach the VRID filter (user space filters instead): {e}");
        }
        if let Some((tap, _)) = &p.tap
            && let Err(e) = tap.set_vrid_filter(vrids)
        {
            warn!(interface = %p.sock.ifname(), "cannot filter the wire tap: {e}");
        }
    }

    /// Sends one advert (non-blocking).
    pub fn send(
        &self,
        port: PortId,
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> std::io::Result<()> {
        match self.slots.get(port.0).and_then(|o| o.as_ref()) {
            Some(p) => p.sock.send(bytes, src, dst),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "port closed",
            )),
        }
    }

    /// (wire tap open, packets lost to a full queue) of a port.
    pub fn facts(&self, port: usize) -> (bool, u64) {
        self.slots
            .get(port)
            .and_then(|o| o.as_ref())
            .map_or((false, 0), |p| {
                (p.tap.is_some(), p.overflow.load(Ordering::Relaxed))
            })
    }

    pub fn close_all(&mut self) {
        for i in 0..self.slots.len() {
            self.close(PortId(i));
        }
    }
}

async fn tap_task(
    port: PortId,
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
    port: PortId,
    sock: Arc<VrrpSocket>,
    tx: mpsc::Sender<Rx>,
    overflow: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf).await {
            Ok(rx) => {
                let data = buf[rx.offset..rx.offset + rx.len].to_vec();
                match tx.try_send(Rx { port, rx, data }) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        let n = overflow.fetch_add(1, Ordering::Relaxed) + 1;
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

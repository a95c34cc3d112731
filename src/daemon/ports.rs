//! The receive ports' sockets and their reader tasks: one raw VRRP socket per (interface,
//! family), plus a packet-socket wire tap that counts what arrives before the firewall.

use std::collections::{BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::config::Family;
use crate::fastmap::FastMap;
use crate::net::wiretap::WireTap;
use crate::net::{self, IfaceInfo, Received, VRRP_V4_GROUP, VRRP_V6_GROUP, VrrpSocket};
use crate::router::{MAX_TAP_KEYS, OBSERVE_TICK, PortId};

/// Batches queued between the socket readers and the engine (the channel's bound; the
/// pools below bound what is really in flight).
pub const RX_QUEUE: usize = 256;
/// Receive batches per port (each up to [`net::BATCH`] packets, 37 KB): what the engine may
/// be behind by in user space. When all are queued, the reader waits for one to come back and
/// the packets wait in the socket's 4 MB kernel buffer ([`net::vrrp_socket::RCVBUF`]), so
/// memory stays bounded under a flood and nothing is dropped here (issue 14: 16 batches,
/// 590 KB of the backup's heap, were in flight at start-up before).
const BATCHES_PER_PORT: usize = 4;
/// Most batches [`Ports::read_now`] reads from one socket (8,192 packets: more than its
/// 4 MB kernel buffer holds of adverts).
const READ_NOW_MAX: usize = 256;

/// One receive batch and where each packet's VRRP message is in it.
struct Batch {
    recv: net::RecvBatch,
    /// Per slot: the parsed metadata (None: not a usable datagram, already reported).
    meta: [Option<Received>; net::BATCH],
}

/// A port's batches not in flight: allocated on demand up to [`BATCHES_PER_PORT`], then
/// reused for the life of the port (steady state: no allocation per packet).
struct Pool {
    // Boxed: a batch (about 2 KB of metadata) moves between the reader and the engine by
    // pointer.
    #[allow(clippy::vec_box)]
    free: std::sync::Mutex<Vec<Box<Batch>>>,
    /// Batches allocated so far, by the reader or [`Ports::read_now`]: at most
    /// [`BATCHES_PER_PORT`].
    made: AtomicUsize,
    /// Unusable datagrams received (logged at each power of two).
    bad: AtomicU64,
    /// Signalled when a batch comes back: the reader waits on it when none is free.
    freed: tokio::sync::Notify,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            free: std::sync::Mutex::new(Vec::with_capacity(BATCHES_PER_PORT)),
            made: AtomicUsize::new(0),
            bad: AtomicU64::new(0),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// A free batch, or a new one while fewer than [`BATCHES_PER_PORT`] exist; None when
    /// every batch is in flight (the engine is behind by all of them).
    fn take(&self, sock: &VrrpSocket) -> Option<Box<Batch>> {
        if let Some(b) = self.free.lock().ok()?.pop() {
            return Some(b);
        }
        self.made
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                (m < BATCHES_PER_PORT).then_some(m + 1)
            })
            .ok()
            .map(|_| new_batch(sock))
    }

    fn give(&self, b: Box<Batch>) {
        if let Ok(mut f) = self.free.lock()
            && f.len() < BATCHES_PER_PORT
        {
            f.push(b);
        }
        self.freed.notify_one();
    }
}

/// Packets from one `recvmmsg` call of a reader task; the batch goes back to its pool when
/// this is dropped.
pub struct Rx {
    pub port: PortId,
    batch: Option<Box<Batch>>,
    pool: Arc<Pool>,
}

impl Rx {
    /// Each packet: its metadata and its VRRP message.
    pub fn packets(&self) -> impl Iterator<Item = (&Received, &[u8])> {
        let b = self.batch.as_deref();
        b.into_iter().flat_map(|b| {
            (0..b.recv.len()).filter_map(move |i| {
                let r = b.meta[i].as_ref()?;
                let data = b.recv.get(i).data;
                Some((r, &data[r.offset..r.offset + r.len]))
            })
        })
    }
}

impl Drop for Rx {
    fn drop(&mut self) {
        if let Some(b) = self.batch.take() {
            self.pool.give(b);
        }
    }
}

/// Counts of VRRP packets a wire tap saw per (VRID, source) since it opened.
pub struct TapReport {
    pub port: PortId,
    pub counts: FastMap<(u8, IpAddr), u64>,
}

/// The sockets of one port.
struct PortIo {
    /// Sends adverts; read by `reader`.
    sock: Arc<VrrpSocket>,
    /// Forwards received packets to the engine.
    reader: JoinHandle<()>,
    /// Packets dropped because the engine queue (shared by the ports) was full.
    overflow: Arc<AtomicU64>,
    /// The reader's batches not in flight (shared with [`Ports::read_now`]).
    pool: Arc<Pool>,
    /// The wire tap and its counting task (None when it could not be opened).
    tap: Option<(Arc<WireTap>, JoinHandle<()>)>,
    /// Solicited-node groups joined on the socket (`Effect::JoinSolicited`), with the index
    /// of the interface each is joined on.
    solicited: BTreeSet<(u32, Ipv6Addr)>,
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
        let pool = Arc::new(Pool::new());
        let reader = tokio::spawn(reader_task(
            port,
            sock.clone(),
            self.pkt_tx.clone(),
            overflow.clone(),
            pool.clone(),
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
            pool,
            tap,
            solicited: BTreeSet::new(),
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

    /// Reads what waits in every port's socket now, without waiting, into batches of the
    /// port's pool (shared with its reader; none free: the rest stays in the kernel), and
    /// hands each to `f`, until the socket is empty or [`READ_NOW_MAX`] batches were read (a
    /// flood cannot hold the engine here). The engine calls it when it was away long enough
    /// for a timer to be late: the reader tasks run on the engine's thread and have not read
    /// since, and an advert that arrived before a master-down deadline must count before it
    /// (after a stall of 40 ms, 250 instances at 10 ms have 1,000 adverts waiting: the
    /// newest of every instance is at the end). `f` handles each batch before the next is
    /// read, so a batch is back in the pool for the next read.
    pub fn read_now(&self, mut f: impl FnMut(Rx)) {
        for (i, p) in self.slots.iter().enumerate() {
            let Some(p) = p else { continue };
            for _ in 0..READ_NOW_MAX {
                let Some(mut batch) = p.pool.take(&p.sock) else {
                    break;
                };
                match p.sock.try_recv_batch(&mut batch.recv) {
                    Ok(n) if n > 0 => f(received(PortId(i), &p.sock, &p.pool, batch, n)),
                    r => {
                        if let Err(e) = r
                            && e.kind() != std::io::ErrorKind::WouldBlock
                        {
                            debug!(interface = %p.sock.ifname(), "read after a late wake: {e}");
                        }
                        p.pool.give(batch);
                        break;
                    }
                }
            }
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

    /// Makes the socket a member of exactly the solicited-node groups of `addrs`, each on the
    /// interface index it comes with (joins are synchronous; the memberships go with the
    /// socket, or with the interface when it is deleted).
    pub fn join_solicited(&mut self, port: PortId, addrs: &[(u32, Ipv6Addr)]) {
        let Some(p) = self.slots.get_mut(port.0).and_then(|o| o.as_mut()) else {
            return;
        };
        let want: BTreeSet<(u32, Ipv6Addr)> = addrs
            .iter()
            .map(|(i, a)| (*i, net::solicited_node(a)))
            .collect();
        for (i, g) in p.solicited.difference(&want) {
            if let Err(e) = p.sock.leave_v6_group(g, *i) {
                debug!(interface = %p.sock.ifname(), ifindex = i, group = %g, "cannot leave: {e}");
            }
        }
        for (i, g) in want.difference(&p.solicited) {
            if let Err(e) = p.sock.join_v6_group(g, *i) {
                warn!(interface = %p.sock.ifname(), ifindex = i, group = %g, "cannot join the solicited-node group (a new master may miss neighbour solicitations for a moment): {e}");
            }
        }
        p.solicited = want;
    }

    /// Sends adverts `(payload, src, dst)` on `port` in `sendmmsg` calls (non-blocking):
    /// how many went out in order, and the error that stopped the rest.
    pub fn send_batch<'a>(
        &self,
        port: PortId,
        msgs: impl Iterator<Item = (&'a [u8], IpAddr, IpAddr)>,
    ) -> (usize, Option<std::io::Error>) {
        match self.slots.get(port.0).and_then(|o| o.as_ref()) {
            Some(p) => p.sock.send_batch(msgs),
            None => (
                0,
                Some(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "port closed",
                )),
            ),
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

/// How long a frame the wire tap saw waits before it is counted: longer than the VRRP
/// socket takes to deliver it to the engine.
const TAP_SETTLE: Duration = Duration::from_millis(50);
/// Most frames waiting to be counted (50 ms of a flood); beyond, frames go uncounted.
const TAP_RECENT_MAX: usize = 4096;

type TapKey = (u8, IpAddr);

/// Counts the frames seen at least [`TAP_SETTLE`] before `now`.
fn settle(
    recent: &mut VecDeque<(tokio::time::Instant, TapKey)>,
    counts: &mut FastMap<TapKey, u64>,
    now: tokio::time::Instant,
) {
    while let Some(&(seen, key)) = recent.front() {
        if seen + TAP_SETTLE > now {
            break;
        }
        recent.pop_front();
        crate::fastmap::count_bounded(counts, key, MAX_TAP_KEYS);
    }
}

async fn tap_task(
    port: PortId,
    tap: Arc<WireTap>,
    local: Vec<IpAddr>,
    tx: mpsc::UnboundedSender<TapReport>,
) {
    let mut counts: FastMap<TapKey, u64> = FastMap::default();
    // Frames seen in the last TAP_SETTLE: the VRRP socket may not have delivered them yet,
    // so they wait for the next report (the core compares wire with delivered counts).
    let mut recent: VecDeque<(tokio::time::Instant, TapKey)> = VecDeque::new();
    let mut tick = tokio::time::interval(OBSERVE_TICK);
    loop {
        tokio::select! {
            // The tick first: a flood keeps the tap readable, and the counts must still go out.
            biased;
            at = tick.tick() => {
                settle(&mut recent, &mut counts, at);
                if tx.send(TapReport { port, counts: counts.clone() }).is_err() {
                    return;
                }
            }
            r = tap.wait() => match r {
                Ok(()) => {
                    // One clock read for everything ready: the ring hands over blocks of
                    // frames at most RING_BLOCK_TOV_MS old, so they are counted later, not
                    // earlier, than they were seen.
                    let now = tokio::time::Instant::now();
                    settle(&mut recent, &mut counts, now);
                    tap.drain(|seen| {
                        if let Some(seen) = seen
                            && local.contains(&seen.dst)
                            && recent.len() < TAP_RECENT_MAX
                        {
                            recent.push_back((now, (seen.vrid, seen.src)));
                        }
                    });
                }
                Err(e) => {
                    warn!("wire tap receive failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

fn new_batch(sock: &VrrpSocket) -> Box<Batch> {
    Box::new(Batch {
        recv: sock.batch(),
        meta: std::array::from_fn(|_| None),
    })
}

/// The `n` packets just received into `batch`, parsed, as an [`Rx`] whose batch goes back to
/// `pool`; an unusable datagram is logged (at each power of two of the pool's count) and left
/// out.
fn received(
    port: PortId,
    sock: &VrrpSocket,
    pool: &Arc<Pool>,
    mut batch: Box<Batch>,
    n: usize,
) -> Rx {
    let bad = &pool.bad;
    for i in 0..n {
        let slot = batch.recv.get(i);
        batch.meta[i] = match sock.parse(&slot) {
            Ok(r) => Some(r),
            Err(e) => {
                let count = bad.fetch_add(1, Ordering::Relaxed) + 1;
                if count.is_power_of_two() {
                    warn!(interface = %sock.ifname(), count, "unusable datagram: {e}");
                }
                None
            }
        };
    }
    Rx {
        port,
        batch: Some(batch),
        pool: pool.clone(),
    }
}

async fn reader_task(
    port: PortId,
    sock: Arc<VrrpSocket>,
    tx: mpsc::Sender<Rx>,
    overflow: Arc<AtomicU64>,
    pool: Arc<Pool>,
) {
    loop {
        // Every batch in flight: the engine is behind; the packets wait in the kernel until
        // it hands one back.
        let Some(mut batch) = pool.take(&sock) else {
            pool.freed.notified().await;
            continue;
        };
        match sock.recv_batch(&mut batch.recv).await {
            Ok(n) => {
                let rx = received(port, &sock, &pool, batch, n);
                match tx.try_send(rx) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(rx)) => {
                        note_overflow(&sock, &overflow, n);
                        drop(rx);
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                pool.give(batch);
                warn!(interface = %sock.ifname(), "receive failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// `n` packets dropped because the engine's queue is full (every port's batches queued).
fn note_overflow(sock: &VrrpSocket, overflow: &AtomicU64, n: usize) {
    let before = overflow.fetch_add(n as u64, Ordering::Relaxed);
    let after = before + n as u64;
    // Warn at each power of two crossed.
    if after.checked_next_power_of_two() != before.checked_next_power_of_two() || before == 0 {
        warn!(interface = %sock.ifname(), dropped = after, "engine queue full: packets dropped");
    }
}

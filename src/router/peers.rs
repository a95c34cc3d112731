//! The peer table: what is known of every router heard for one virtual router.
//!
//! One implementation for the daemon (the peers of each instance) and `vipd monitor` (the
//! routers of each VRID on a segment): the same record, the same bound, the same eviction
//! rule (the least recently heard goes first, ties broken by address) and the same rule for
//! "counts as a master".

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::packet::vrrp::{ChecksumForm, DropReason};

/// Most routers remembered per table; beyond it the least recently heard one is forgotten.
pub const MAX_PEERS: usize = 32;

/// A router counts as master while its last advert (priority > 0) is younger than three of
/// its advert intervals plus this.
pub const MASTER_GRACE: Duration = Duration::from_secs(1);

/// What is known about one router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Priority in its last advert.
    pub priority: u8,
    /// Advert interval in its last advert.
    pub interval: Duration,
    /// Checksum form of its last advert.
    pub form: ChecksumForm,
    /// Adverts heard from it.
    pub adverts: u64,
    /// When its first advert was heard.
    pub first: Instant,
    /// When its last advert was heard.
    pub last: Instant,
    /// Why its last advert was rejected although it is a router of this VRID on this LAN
    /// (interval, authentication, version disagree with our configuration); None when it
    /// agreed.
    pub disagrees: Option<DropReason>,
    /// When its metric series were last refreshed (see [`Recorded::report`]).
    pub reported: Instant,
}

/// How stale a peer's per-advert series (`vrrp_peer_priority`, its last-advert time) may
/// be: at most one refresh per peer per this long, unless something in it changed.
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

impl Peer {
    /// Whether it counts as a master at `now`: priority above 0 and heard within
    /// 3 x its interval + [`MASTER_GRACE`]. A router whose adverts disagree with our
    /// configuration still counts: it is advertising as master on our LAN.
    pub fn is_master(&self, now: Instant) -> bool {
        self.priority > 0
            && now.saturating_duration_since(self.last) <= self.interval * 3 + MASTER_GRACE
    }
}

/// One advert as the table records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub src: IpAddr,
    pub priority: u8,
    pub interval: Duration,
    pub form: ChecksumForm,
    /// See [`Peer::disagrees`].
    pub disagrees: Option<DropReason>,
}

/// What recording an advert changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The router was not in the table before.
    pub new: bool,
    /// The router forgotten to stay within the bound.
    pub evicted: Option<IpAddr>,
    /// Its checksum form differs from its previous advert's.
    pub form_changed: bool,
    /// Its series are due a refresh: it is new, its priority or checksum form changed, or
    /// the last refresh is [`REPORT_EVERY`] old. Between refreshes only the instance's own
    /// counters move per advert (at 10 ms intervals this spares 9 of 10 adverts the peer's
    /// series, issue 14).
    pub report: bool,
}

/// Routers of one virtual router, bounded.
#[derive(Clone, Debug)]
pub struct PeerTable {
    /// By arrival; searched linearly (one or two routers per VRID in practice, at most
    /// `cap`): one allocation and no hash per advert (docs/benchmarks.md, section 20).
    peers: Vec<(IpAddr, Peer)>,
    cap: usize,
}

impl Default for PeerTable {
    fn default() -> Self {
        PeerTable::new(MAX_PEERS)
    }
}

impl PeerTable {
    pub fn new(cap: usize) -> PeerTable {
        PeerTable {
            peers: Vec::new(),
            cap: cap.max(1),
        }
    }

    /// Records an advert heard at `now`.
    pub fn record(&mut self, now: Instant, h: Heard) -> Recorded {
        if let Some((_, p)) = self.peers.iter_mut().find(|(a, _)| *a == h.src) {
            let form_changed = p.form != h.form;
            let report = form_changed
                || p.priority != h.priority
                || now.saturating_duration_since(p.reported) >= REPORT_EVERY;
            if report {
                p.reported = now;
            }
            p.priority = h.priority;
            p.interval = h.interval;
            p.form = h.form;
            p.adverts += 1;
            p.last = now;
            p.disagrees = h.disagrees;
            return Recorded {
                form_changed,
                report,
                ..Recorded::default()
            };
        }
        let mut out = Recorded {
            new: true,
            report: true,
            ..Recorded::default()
        };
        if self.peers.len() >= self.cap
            && let Some(old) = self
                .peers
                .iter()
                .min_by(|a, b| a.1.last.cmp(&b.1.last).then(a.0.cmp(&b.0)))
                .map(|(a, _)| *a)
        {
            self.peers.retain(|(a, _)| *a != old);
            out.evicted = Some(old);
        }
        self.peers.push((
            h.src,
            Peer {
                priority: h.priority,
                interval: h.interval,
                form: h.form,
                adverts: 1,
                first: now,
                last: now,
                disagrees: h.disagrees,
                reported: now,
            },
        ));
        out
    }

    pub fn get(&self, a: &IpAddr) -> Option<&Peer> {
        self.peers.iter().find(|(b, _)| b == a).map(|(_, p)| p)
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Every router, by address.
    pub fn sorted(&self) -> Vec<(IpAddr, &Peer)> {
        let mut v: Vec<(IpAddr, &Peer)> = self.peers.iter().map(|(a, p)| (*a, p)).collect();
        v.sort_by_key(|(a, _)| *a);
        v
    }

    /// Routers counting as master at `now`, highest priority first, then by address.
    pub fn masters(&self, now: Instant) -> Vec<(IpAddr, u8)> {
        let mut m: Vec<(IpAddr, u8)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_master(now))
            .map(|(a, p)| (*a, p.priority))
            .collect();
        sort_masters(&mut m);
        m
    }
}

/// Highest priority first, then by address.
pub fn sort_masters(m: &mut [(IpAddr, u8)]) {
    m.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 99, 0, last])
    }

    fn heard(last: u8, priority: u8) -> Heard {
        Heard {
            src: ip(last),
            priority,
            interval: Duration::from_secs(1),
            form: ChecksumForm::PseudoHeader,
            disagrees: None,
        }
    }

    #[test]
    fn least_recently_heard_is_evicted_ties_by_address() {
        let t0 = Instant::now();
        let mut t = PeerTable::new(2);
        assert!(t.is_empty());
        assert!(t.record(t0, heard(2, 100)).new);
        assert!(!t.is_empty());
        assert!(t.record(t0, heard(1, 100)).new);
        // Both heard at t0: the lower address goes.
        let r = t.record(t0 + Duration::from_secs(1), heard(3, 100));
        assert_eq!(r.evicted, Some(ip(1)));
        t.record(t0 + Duration::from_secs(2), heard(2, 100));
        let r = t.record(t0 + Duration::from_secs(3), heard(4, 100));
        assert_eq!(r.evicted, Some(ip(3)));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn master_window_is_three_intervals_plus_grace_and_priority_zero_is_not_a_master() {
        let t0 = Instant::now();
        let mut t = PeerTable::default();
        t.record(t0, heard(1, 100));
        t.record(t0, heard(2, 0));
        assert_eq!(t.masters(t0 + Duration::from_secs(4)), vec![(ip(1), 100)]);
        assert!(t.masters(t0 + Duration::from_millis(4001)).is_empty());
    }

    #[test]
    fn a_disagreeing_router_still_counts_as_a_master() {
        let t0 = Instant::now();
        let mut t = PeerTable::default();
        let mut h = heard(1, 100);
        h.disagrees = Some(DropReason::Interval);
        t.record(t0, h);
        assert_eq!(t.masters(t0), vec![(ip(1), 100)]);
        assert_eq!(t.get(&ip(1)).unwrap().disagrees, Some(DropReason::Interval));
    }

    #[test]
    fn series_are_refreshed_on_news_and_every_report_interval_not_per_advert() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = PeerTable::default();
        assert!(t.record(t0, heard(1, 100)).report, "new peer");
        assert!(!t.record(t0 + ms(10), heard(1, 100)).report);
        assert!(!t.record(t0 + ms(99), heard(1, 100)).report);
        assert!(t.record(t0 + ms(100), heard(1, 100)).report, "interval");
        assert!(!t.record(t0 + ms(110), heard(1, 100)).report);
        assert!(t.record(t0 + ms(120), heard(1, 90)).report, "priority");
        assert!(!t.record(t0 + ms(130), heard(1, 90)).report);
        let mut h = heard(1, 90);
        h.form = ChecksumForm::MessageOnly;
        assert!(t.record(t0 + ms(140), h).report, "checksum form");
        // The interval counts from the last refresh, whatever caused it.
        assert!(!t.record(t0 + ms(239), h).report);
        assert!(t.record(t0 + ms(240), h).report);
        assert_eq!(t.get(&ip(1)).map(|p| p.adverts), Some(10));
    }

    #[test]
    fn form_change_is_reported() {
        let t0 = Instant::now();
        let mut t = PeerTable::default();
        t.record(t0, heard(1, 100));
        let mut h = heard(1, 100);
        h.form = ChecksumForm::MessageOnly;
        assert!(t.record(t0, h).form_changed);
    }
}

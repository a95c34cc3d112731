//! Spacing of gratuitous ARPs / unsolicited NAs on an interface (keepalived 2.2.7's
//! `vrrp_garp_interval` / `vrrp_gna_interval`, vipd's `garp.interval`): a message may go no
//! sooner than `interval` after the previous one of its kind (ARP or NA, spaced apart as
//! keepalived does) on the same interface, whichever instance sent it; with interval 0 they
//! go back to back. Pure: the shell asks [`Pacer::schedule`]
//! when each message of an [`super::Effect::Announce`] goes, and sends it then.

use std::time::{Duration, Instant};

use crate::fastmap::FastMap;

/// When each interface may send its next announcement of each kind.
#[derive(Debug, Default)]
pub struct Pacer {
    /// (ifindex, NA rather than ARP) -> earliest time of the next message.
    next: FastMap<(u32, bool), Instant>,
}

impl Pacer {
    /// The send times of `messages` announcements (NAs when `na`, else ARPs) on `ifindex`
    /// queued at `now`, each at least `interval` after the one before (also after those of
    /// earlier bursts still going).
    pub fn schedule(
        &mut self,
        now: Instant,
        (ifindex, na): (u32, bool),
        messages: usize,
        interval: Duration,
    ) -> Vec<Instant> {
        if interval.is_zero() {
            return vec![now; messages];
        }
        let start = self.next.get(&(ifindex, na)).map_or(now, |t| (*t).max(now));
        let at: Vec<Instant> = (0..messages as u32).map(|i| start + interval * i).collect();
        if let Some(last) = at.last() {
            self.next.insert((ifindex, na), *last + interval);
        }
        // Forget interfaces whose spacing has run out (bounded by the interfaces in use).
        self.next.retain(|_, t| *t > now);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn zero_interval_sends_back_to_back() {
        let mut p = Pacer::default();
        let now = Instant::now();
        assert_eq!(p.schedule(now, (2, false), 3, Duration::ZERO), vec![now; 3]);
        assert!(p.next.is_empty());
    }

    #[test]
    fn messages_on_one_interface_are_spaced_across_bursts_and_instances() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        // 5 GARPs for 2 addresses: 10 messages, 10 ms apart.
        let a = p.schedule(t0, (2, false), 10, 10 * MS);
        assert_eq!(a.first(), Some(&t0));
        for w in a.windows(2) {
            assert_eq!(w[1] - w[0], 10 * MS);
        }
        // Another instance on the same interface, 25 ms later: after the first burst's last
        // message (t0 + 90 ms), not at once.
        let b = p.schedule(t0 + 25 * MS, (2, false), 2, 10 * MS);
        assert_eq!(b, vec![t0 + 100 * MS, t0 + 110 * MS]);
        // Another interface, or NAs on this one, are not held back.
        assert_eq!(
            p.schedule(t0 + 25 * MS, (3, false), 1, 10 * MS),
            vec![t0 + 25 * MS]
        );
        assert_eq!(
            p.schedule(t0 + 25 * MS, (2, true), 1, 10 * MS),
            vec![t0 + 25 * MS]
        );
        // Once the spacing has run out, a burst starts at once.
        let later = t0 + 500 * MS;
        assert_eq!(p.schedule(later, (2, false), 1, 10 * MS), vec![later]);
        assert_eq!(p.next.len(), 1, "{:?}", p.next);
    }

    #[test]
    fn an_interface_whose_next_message_may_go_now_is_forgotten() {
        let mut p = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(p.schedule(t0, (2, false), 1, 10 * MS), vec![t0]);
        // Exactly when interface 2 may send again, interface 3 schedules: 2's entry has run
        // out (a message could go at once) and is dropped.
        let t1 = t0 + 10 * MS;
        assert_eq!(p.schedule(t1, (3, false), 1, 10 * MS), vec![t1]);
        assert_eq!(p.next.keys().collect::<Vec<_>>(), [&(3, false)]);
        assert_eq!(p.schedule(t1, (2, false), 1, 10 * MS), vec![t1]);
    }
}

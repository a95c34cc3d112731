//! The per-instance timer table: one optional deadline per timer kind.

use std::time::Instant;

/// The timers of one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Master: time to send the next advert.
    Adver = 0,
    /// Backup: Master_Down_Interval (or Skew_Time after a priority 0) without an advert.
    MasterDown = 1,
    /// Master: the second announcement burst after `garp.delay`.
    GarpDelay = 2,
    /// Master: periodic announcement refresh.
    GarpRefresh = 3,
    /// A resigning master's addresses go even though nobody took over (hold bound).
    Release = 4,
    /// A new master sends its first advert even though the announcement is not confirmed.
    FirstAdvert = 5,
}

const ALL: [Timer; 6] = [
    Timer::Adver,
    Timer::MasterDown,
    Timer::GarpDelay,
    Timer::GarpRefresh,
    Timer::Release,
    Timer::FirstAdvert,
];

/// Deadlines indexed by [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTable([Option<Instant>; 6]);

impl TimerTable {
    pub fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    pub fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }
    pub fn clear(&mut self) {
        self.0 = [None; 6];
    }
    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
    /// The earliest timer that has expired at `now`.
    pub fn expired(&self, now: Instant) -> Option<(Timer, Instant)> {
        ALL.iter()
            .filter_map(|&t| self.get(t).map(|at| (t, at)))
            .filter(|&(_, at)| at <= now)
            .min_by_key(|&(_, at)| at)
    }
}

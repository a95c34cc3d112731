//! rise/fall: consecutive results needed before a check changes state.

/// The healthy/failed state of a check with keepalived's `rise` and `fall`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hysteresis {
    /// Consecutive successes needed to go from failed to healthy (>= 1).
    pub rise: u32,
    /// Consecutive failures needed to go from healthy to failed (>= 1).
    pub fall: u32,
    healthy: bool,
    /// Consecutive results disagreeing with `healthy`.
    streak: u32,
}

impl Hysteresis {
    /// Starts `healthy` (false for `init_fail`). A rise or fall of 0 counts as 1.
    pub fn new(rise: u32, fall: u32, healthy: bool) -> Hysteresis {
        Hysteresis {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy,
            streak: 0,
        }
    }

    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Record one result; returns the new state when it changes.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if ok == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = if self.healthy { self.fall } else { self.rise };
        if self.streak >= needed {
            self.healthy = ok;
            self.streak = 0;
            Some(ok)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(h: &mut Hysteresis, results: &[bool]) -> Vec<Option<bool>> {
        results.iter().map(|ok| h.observe(*ok)).collect()
    }

    #[test]
    fn rise_and_fall_of_one_follow_every_result() {
        let mut h = Hysteresis::new(1, 1, true);
        assert_eq!(
            run(&mut h, &[true, false, false, true]),
            vec![None, Some(false), None, Some(true)]
        );
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut h = Hysteresis::new(2, 3, true);
        // A success in between resets the count.
        assert_eq!(
            run(&mut h, &[false, false, true, false, false, false]),
            vec![None, None, None, None, None, Some(false)]
        );
        assert!(!h.healthy());
        // Now failed: rise 2.
        assert_eq!(
            run(&mut h, &[true, false, true, true, true]),
            vec![None, None, None, Some(true), None]
        );
        assert!(h.healthy());
    }

    #[test]
    fn init_fail_starts_failed() {
        let mut h = Hysteresis::new(3, 1, false);
        assert!(!h.healthy());
        assert_eq!(
            run(&mut h, &[true, true, true]),
            vec![None, None, Some(true)]
        );
        assert_eq!(h.observe(false), Some(false));
    }

    #[test]
    fn zero_counts_as_one() {
        let mut h = Hysteresis::new(0, 0, true);
        assert_eq!((h.rise, h.fall), (1, 1));
        assert_eq!(h.observe(false), Some(false));
        assert_eq!(h.observe(true), Some(true));
    }
}

//! State machine tests on a virtual clock: each names the RFC rule it checks.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;
use crate::config::model::{Garp, Version};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 99, 0, last))
}

fn params(priority: u8, interval_ms: u64) -> Params {
    Params {
        version: Version::V3,
        priority,
        advert_interval: Duration::from_millis(interval_ms),
        preempt: true,
        preempt_delay: Duration::ZERO,
        garp: Garp::default(),
    }
}

const MS: Duration = Duration::from_millis(1);

/// An advert from 10.99.0.`last` at `priority`, sent every `interval`.
fn advert_from(last: u8, priority: u8, interval: Duration) -> Input {
    Input::Advert(Heard {
        src: ip(last),
        priority,
        interval,
    })
}

/// Handles every timer of `a` due by `t`, each at its deadline.
fn expire_until(a: &mut Instance, t: Instant, out: &mut Vec<Action>) {
    while let Some(d) = a.poll_timeout().filter(|d| *d <= t) {
        a.handle_timeout(d, out);
    }
}

/// 10.99.0.11 at priority 150 with a preempt_delay of 5 s, started (as backup) at the instant
/// it returns.
fn delayed_backup(interval_ms: u64) -> (Instance, Instant) {
    let mut p = params(150, interval_ms);
    p.preempt_delay = Duration::from_secs(5);
    let mut a = Instance::new(p, ip(11));
    let t0 = Instant::now();
    a.handle(t0, Input::Start { healthy: true }, &mut vec![]);
    (a, t0)
}

/// Routers on one virtual LAN with zero latency, driven by a virtual clock.
struct Lan {
    t0: Instant,
    now: Instant,
    nodes: Vec<Node>,
}

struct Node {
    inst: Instance,
    link_up: bool,
    has_vips: bool,
    sent: Vec<(Duration, u8)>,
    transitions: Vec<(Duration, State, Cause)>,
    announces: Vec<(Duration, u32)>,
}

impl Lan {
    fn new(routers: &[(u8, Params)]) -> Lan {
        let t0 = Instant::now();
        let nodes = routers
            .iter()
            .map(|(last, p)| Node {
                inst: Instance::new(p.clone(), ip(*last)),
                link_up: true,
                has_vips: false,
                sent: vec![],
                transitions: vec![],
                announces: vec![],
            })
            .collect();
        Lan { t0, now: t0, nodes }
    }

    fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn input(&mut self, i: usize, input: Input) {
        let mut out = vec![];
        self.nodes[i].inst.handle(self.now, input, &mut out);
        self.apply(i, out);
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.input(i, Input::Start { healthy: true });
        }
    }

    fn apply(&mut self, from: usize, actions: Vec<Action>) {
        let mut queue: VecDeque<(usize, Action)> = actions.into_iter().map(|a| (from, a)).collect();
        while let Some((i, a)) = queue.pop_front() {
            let at = self.at();
            match a {
                Action::SendAdvert { priority } => {
                    if !self.nodes[i].link_up {
                        continue;
                    }
                    self.nodes[i].sent.push((at, priority));
                    let heard = Heard {
                        src: self.nodes[i].inst.primary(),
                        priority,
                        interval: self.nodes[i].inst.params().advert_interval,
                    };
                    for j in 0..self.nodes.len() {
                        if j != i && self.nodes[j].link_up {
                            let mut out = vec![];
                            self.nodes[j]
                                .inst
                                .handle(self.now, Input::Advert(heard), &mut out);
                            queue.extend(out.into_iter().map(|a| (j, a)));
                        }
                    }
                }
                Action::AddAddresses => self.nodes[i].has_vips = true,
                Action::RemoveAddresses => self.nodes[i].has_vips = false,
                Action::Announce { count } => self.nodes[i].announces.push((at, count)),
                Action::Transition { to, cause, .. } => {
                    self.nodes[i].transitions.push((at, to, cause))
                }
                Action::Barrier => {
                    // Zero-latency kernel: addresses and announcements are done at once.
                    let mut out = vec![];
                    self.nodes[i]
                        .inst
                        .handle(self.now, Input::Announced, &mut out);
                    queue.extend(out.into_iter().map(|a| (i, a)));
                }
            }
        }
    }

    /// Advances the clock to `t0 + until`, firing every timer on the way in order.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            let next = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.inst.poll_timeout().map(|t| (t, i)))
                .min();
            match next {
                Some((t, i)) if t <= end => {
                    self.now = self.now.max(t);
                    let mut out = vec![];
                    self.nodes[i].inst.handle_timeout(self.now, &mut out);
                    self.apply(i, out);
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].inst.state() == State::Master)
            .collect()
    }

    fn state(&self, i: usize) -> State {
        self.nodes[i].inst.state()
    }
}

#[test]
fn rfc3768_6_1_timer_formulas() {
    // Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256; MDI = 3 * MAI + Skew.
    let i = Instance::new(params(80, 100), ip(12));
    assert_eq!(i.skew_time(), Duration::from_micros(68_750));
    assert_eq!(i.master_down_interval(), Duration::from_micros(368_750));
    let mut p = params(80, 1000);
    p.version = Version::V2;
    let i = Instance::new(p, ip(12));
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_687_500));
}

#[test]
fn rfc3768_6_4_1_owner_becomes_master_at_once() {
    let mut lan = Lan::new(&[(11, params(255, 100))]);
    lan.start_all();
    assert_eq!(lan.state(0), State::Master);
    let n = &lan.nodes[0];
    assert_eq!(n.sent, vec![(Duration::ZERO, 255)]);
    assert!(n.has_vips);
    assert_eq!(n.announces, vec![(Duration::ZERO, 5)]);
    assert_eq!(n.transitions[0].2, Cause::Owner);
}

#[test]
fn rfc3768_6_4_1_non_owner_starts_backup_and_takes_over_after_master_down_interval() {
    let mut lan = Lan::new(&[(12, params(80, 100))]);
    lan.start_all();
    assert_eq!(lan.state(0), State::Backup);
    lan.run_until(Duration::from_micros(368_749));
    assert_eq!(lan.state(0), State::Backup);
    lan.run_until(Duration::from_micros(368_750));
    assert_eq!(lan.state(0), State::Master);
    assert_eq!(lan.nodes[0].transitions[1].2, Cause::MasterDownTimer);
}

#[test]
fn election_higher_priority_wins_and_the_other_stays_backup() {
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, params(150, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![1]);
    assert!(lan.nodes[1].has_vips && !lan.nodes[0].has_vips);
    // Master sends every interval: about 100 adverts in 10 s (after ~0.35 s of election).
    let sent = lan.nodes[1].sent.len();
    assert!((95..=100).contains(&sent), "sent {sent}");
    assert!(lan.nodes[0].sent.is_empty(), "backup never advertises");
}

#[test]
fn rfc3768_6_4_3_equal_priority_tie_break_on_higher_primary_address() {
    // Partitioned, both become master; when the LAN heals, the higher address stays.
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, params(100, 100))]);
    lan.nodes[1].link_up = false;
    lan.start_all();
    lan.nodes[0].link_up = false;
    lan.nodes[1].link_up = true;
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0, 1]);
    lan.nodes[0].link_up = true;
    lan.run_until(Duration::from_secs(3));
    assert_eq!(lan.masters(), vec![1], "10.99.0.12 > 10.99.0.11");
}

#[test]
fn rfc3768_6_4_3_master_hearing_equal_priority_from_higher_address_steps_down() {
    let mut a = Instance::new(params(100, 100), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    a.handle_timeout(now + Duration::from_secs(1), &mut out);
    assert_eq!(a.state(), State::Master);
    out.clear();
    let h = Heard {
        src: ip(12),
        priority: 100,
        interval: 100 * MS,
    };
    a.handle(now + Duration::from_secs(1), Input::Advert(h), &mut out);
    assert_eq!(a.state(), State::Backup);
    assert!(out.contains(&Action::RemoveAddresses));
    assert!(out.contains(&Action::Transition {
        from: State::Master,
        to: State::Backup,
        cause: Cause::EqualPriorityHigherAddress {
            priority: 100,
            from: ip(12)
        }
    }));
}

#[test]
fn rfc9568_6_4_3_master_hearing_lower_priority_sends_advert_at_once() {
    let mut a = Instance::new(params(150, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    a.handle_timeout(now + Duration::from_secs(4), &mut out);
    a.handle(now + Duration::from_secs(4), Input::Announced, &mut out);
    assert_eq!(a.state(), State::Master);
    out.clear();
    let h = Heard {
        src: ip(12),
        priority: 100,
        interval: 1000 * MS,
    };
    a.handle(
        now + Duration::from_millis(4100),
        Input::Advert(h),
        &mut out,
    );
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
    assert_eq!(a.state(), State::Master);
}

#[test]
fn rfc3768_6_4_2_priority_zero_makes_backup_take_over_after_skew_time() {
    let mut lan = Lan::new(&[(11, params(150, 1000)), (12, params(100, 1000))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    let t_stop = lan.at();
    lan.input(0, Input::Shutdown);
    assert_eq!(*lan.nodes[0].sent.last().unwrap(), (t_stop, 0));
    // Make-before-break: the addresses stay until the new master is heard.
    assert!(lan.nodes[0].has_vips);
    assert!(lan.nodes[0].inst.holding());
    assert_eq!(lan.state(0), State::Stop);
    // Skew_Time for priority 100 at 1 s: 156/256 s = 609.375 ms.
    lan.run_until(t_stop + Duration::from_micros(609_374));
    assert_eq!(lan.state(1), State::Backup);
    assert!(lan.nodes[0].has_vips);
    lan.run_until(t_stop + Duration::from_micros(609_375));
    assert_eq!(lan.state(1), State::Master);
    assert!(!lan.nodes[0].has_vips);
    assert!(!lan.nodes[0].inst.holding());
    assert_eq!(
        lan.nodes[1].transitions.last().unwrap().2,
        Cause::MasterResigned { from: ip(11) }
    );
}

#[test]
fn rfc3768_6_4_3_master_hearing_priority_zero_sends_advert_at_once() {
    let mut a = Instance::new(params(150, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    a.handle_timeout(now + Duration::from_secs(4), &mut out);
    a.handle(now + Duration::from_secs(4), Input::Announced, &mut out);
    out.clear();
    let t = now + Duration::from_millis(4500);
    let h = Heard {
        src: ip(12),
        priority: 0,
        interval: 1000 * MS,
    };
    a.handle(t, Input::Advert(h), &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
    assert_eq!(
        a.timers().get(Timer::Adver),
        Some(t + Duration::from_secs(1))
    );
}

#[test]
fn preempt_on_higher_priority_backup_takes_over_after_master_down_interval() {
    // Node 0 (100) is master alone; node 1 (150) joins later and preempts.
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, params(150, 100))]);
    lan.input(0, Input::Start { healthy: true });
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0]);
    let join = lan.at();
    lan.input(1, Input::Start { healthy: true });
    lan.run_until(join + Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![1]);
    let (at, _, cause) = lan.nodes[1].transitions.last().unwrap();
    assert_eq!(
        *cause,
        Cause::Preempt {
            priority: 100,
            from: ip(11)
        }
    );
    // MDI for priority 150 at 100 ms: 300 + 106*100/256 ms = 341.40625 ms.
    assert_eq!(*at - join, Duration::from_nanos(341_406_250));
    assert_eq!(lan.state(0), State::Backup);
}

#[test]
fn rfc3768_6_4_2_preempt_off_higher_priority_backup_does_not_take_over() {
    let mut p = params(150, 100);
    p.preempt = false;
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, p)]);
    lan.input(0, Input::Start { healthy: true });
    lan.run_until(Duration::from_secs(2));
    let join = lan.at();
    lan.input(1, Input::Start { healthy: true });
    lan.run_until(join + Duration::from_secs(30));
    assert_eq!(lan.masters(), vec![0]);
}

#[test]
fn preempt_delay_postpones_preemption_of_a_lower_master() {
    let mut p = params(150, 100);
    p.preempt_delay = Duration::from_secs(5);
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, p)]);
    lan.input(0, Input::Start { healthy: true });
    lan.run_until(Duration::from_secs(2));
    let join = lan.at();
    lan.input(1, Input::Start { healthy: true });
    lan.run_until(join + Duration::from_millis(4900));
    assert_eq!(lan.masters(), vec![0], "still inside preempt_delay");
    lan.run_until(join + Duration::from_millis(5500));
    assert_eq!(lan.masters(), vec![1], "preempted once the delay passed");
}

#[test]
fn rfc9568_6_4_2_v3_backup_learns_the_master_interval() {
    // Master at 200 ms, backup configured 1 s: the backup's MDI follows the master.
    let mut lan = Lan::new(&[(11, params(150, 200)), (12, params(100, 1000))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    let b = &lan.nodes[1].inst;
    assert_eq!(b.master_adver_interval(), Duration::from_millis(200));
    assert_eq!(
        b.master_down_interval(),
        Duration::from_micros(600_000 + 121_875)
    );
    // Link of the master goes down: the backup takes over one learned MDI after the last advert.
    let last = lan.nodes[0].sent.last().unwrap().0;
    lan.nodes[0].link_up = false;
    lan.input(0, Input::Fault);
    lan.run_until(Duration::from_secs(12));
    assert_eq!(lan.state(1), State::Master);
    let (at, _, cause) = *lan.nodes[1].transitions.last().unwrap();
    assert_eq!(cause, Cause::MasterDownTimer);
    assert_eq!(at - last, Duration::from_micros(721_875));
}

#[test]
fn v2_backup_uses_its_own_interval() {
    let mut p1 = params(150, 1000);
    p1.version = Version::V2;
    let mut b = Instance::new(p1, ip(12));
    let now = Instant::now();
    let mut out = vec![];
    b.handle(now, Input::Start { healthy: true }, &mut out);
    let h = Heard {
        src: ip(11),
        priority: 200,
        interval: 2000 * MS,
    };
    b.handle(now, Input::Advert(h), &mut out);
    assert_eq!(b.master_adver_interval(), Duration::from_secs(1));
}

#[test]
fn a_reload_keeps_a_v3_backups_learned_interval_and_gives_a_v2_backup_its_new_one() {
    let now = Instant::now();
    let heard = Input::Advert(Heard {
        src: ip(11),
        priority: 200,
        interval: 2000 * MS,
    });
    for version in [Version::V3, Version::V2] {
        let mut p = params(150, 1000);
        p.version = version;
        let mut b = Instance::new(p.clone(), ip(12));
        let mut out = vec![];
        b.handle(now, Input::Start { healthy: true }, &mut out);
        b.handle(now, heard, &mut out);
        // A reload changing only the backup's own interval.
        let mut q = p;
        q.advert_interval = 3000 * MS;
        b.set_params(q, now, &mut out);
        let want = match version {
            // v3 (RFC 9568 6.4.2): the interval learned from the master stays.
            Version::V3 => 2000 * MS,
            // v2: a backup uses its own (new) interval.
            Version::V2 => 3000 * MS,
        };
        assert_eq!(b.master_adver_interval(), want, "{version:?}");
    }
}

#[test]
fn a_drained_backup_keeps_no_master_down_timer() {
    let now = Instant::now();
    let mut b = Instance::new(params(150, 1000), ip(12));
    let mut out = vec![];
    b.handle(now, Input::Start { healthy: true }, &mut out);
    assert!(b.poll_timeout().is_some(), "master-down timer running");
    b.handle(now, Input::Drain(true), &mut out);
    // Nothing to wake up for: a drained backup never takes over.
    assert_eq!(b.poll_timeout(), None);
    b.handle(now, Input::Drain(false), &mut out);
    assert_eq!(b.poll_timeout(), Some(now + b.master_down_interval()));
}

#[test]
fn fault_releases_addresses_and_clearing_it_rejoins_as_backup() {
    let mut lan = Lan::new(&[(11, params(150, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(1));
    assert_eq!(lan.state(0), State::Master);
    lan.input(0, Input::Fault);
    assert_eq!(lan.state(0), State::Fault);
    assert!(!lan.nodes[0].has_vips);
    assert_eq!(lan.nodes[0].inst.poll_timeout(), None, "no timers in Fault");
    lan.input(0, Input::FaultCleared);
    assert_eq!(lan.state(0), State::Backup);
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.state(0), State::Master);
}

#[test]
fn start_unhealthy_goes_to_fault() {
    let mut lan = Lan::new(&[(11, params(150, 100))]);
    lan.input(0, Input::Start { healthy: false });
    assert_eq!(lan.state(0), State::Fault);
}

#[test]
fn startup_removes_leftover_addresses_before_joining_as_backup() {
    let mut a = Instance::new(params(100, 100), ip(11));
    let mut out = vec![];
    a.handle(Instant::now(), Input::Start { healthy: true }, &mut out);
    assert_eq!(out[0], Action::RemoveAddresses);
    assert!(matches!(
        out[1],
        Action::Transition {
            to: State::Backup,
            ..
        }
    ));
}

#[test]
fn garp_bursts_at_once_and_after_delay_and_refresh() {
    let mut p = params(255, 1000);
    p.garp = Garp {
        delay: Duration::from_secs(5),
        repeat: 5,
        refresh: Duration::from_secs(60),
        interval: Duration::ZERO,
    };
    let mut lan = Lan::new(&[(11, p)]);
    lan.start_all();
    lan.run_until(Duration::from_secs(130));
    let got: Vec<_> = lan.nodes[0]
        .announces
        .iter()
        .map(|(t, c)| (t.as_secs(), *c))
        .collect();
    assert_eq!(got, vec![(0, 5), (5, 5), (60, 5), (120, 5)]);
}

#[test]
fn lowered_priority_lets_a_higher_backup_preempt() {
    let mut lan = Lan::new(&[(11, params(150, 100)), (12, params(100, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0]);
    let t = lan.at();
    lan.input(0, Input::Priority(90));
    lan.run_until(t + Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![1]);
    // Priority back up: node 0 preempts again.
    let t = lan.at();
    lan.input(0, Input::Priority(150));
    lan.run_until(t + Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![0]);
}

#[test]
fn owner_priority_is_not_changed_by_tracking() {
    let mut a = Instance::new(params(255, 100), ip(11));
    let mut out = vec![];
    a.handle(Instant::now(), Input::Priority(100), &mut out);
    assert_eq!(a.priority(), 255);
}

#[test]
fn master_advert_rhythm_does_not_drift_when_woken_late() {
    let mut a = Instance::new(params(255, 10), ip(11));
    let t0 = Instant::now();
    let mut out = vec![];
    a.handle(t0, Input::Start { healthy: true }, &mut out);
    a.handle(t0, Input::Announced, &mut out);
    // Woken 3 ms late each time: deadlines stay on the 10 ms grid.
    for k in 1..=100u32 {
        a.handle_timeout(t0 + k * 10 * MS + 3 * MS, &mut out);
        assert_eq!(a.poll_timeout(), Some(t0 + (k + 1) * 10 * MS));
    }
}

#[test]
fn master_woken_more_than_an_interval_late_sends_one_advert_and_resumes_an_interval_later() {
    let mut a = Instance::new(params(255, 10), ip(11));
    let t0 = Instant::now();
    let mut out = vec![];
    a.handle(t0, Input::Start { healthy: true }, &mut out);
    a.handle(t0, Input::Announced, &mut out);
    // Due at t0 + 10 ms, woken at t0 + 35 ms (the machine stalled): one advert, and the
    // next one interval after waking, not a burst to catch up with the missed deadlines.
    let late = t0 + 35 * MS;
    out.clear();
    a.handle_timeout(late, &mut out);
    let sent = out
        .iter()
        .filter(|x| matches!(x, Action::SendAdvert { .. }))
        .count();
    assert_eq!(sent, 1, "{out:?}");
    assert_eq!(a.poll_timeout(), Some(late + 10 * MS));
}

#[test]
fn split_then_heal_converges_to_one_master() {
    let mut lan = Lan::new(&[
        (11, params(100, 100)),
        (12, params(100, 100)),
        (13, params(120, 100)),
    ]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![2]);
    // Partition node 2 away: one of 0 and 1 takes over (a backup follows an equal priority).
    lan.nodes[2].link_up = false;
    lan.run_until(Duration::from_secs(4));
    let m = lan.masters();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1], 2);
    lan.nodes[2].link_up = true;
    lan.run_until(Duration::from_secs(6));
    assert_eq!(lan.masters(), vec![2]);
}

fn v2(mut p: Params) -> Params {
    p.version = Version::V2;
    p
}

#[test]
fn rfc3768_6_1_v2_skew_time_is_in_seconds() {
    // v2: Skew_Time = (256 - Priority) / 256 s, whatever the interval; MDI = 3 * interval + skew.
    let i = Instance::new(v2(params(80, 2000)), ip(12));
    assert_eq!(i.skew_time(), Duration::from_micros(687_500));
    assert_eq!(i.master_down_interval(), Duration::from_micros(6_687_500));
    // v3 (RFC 9568 6.1) still scales with Master_Adver_Interval: 176 * 2 s / 256.
    let i = Instance::new(params(80, 2000), ip(12));
    assert_eq!(i.skew_time(), Duration::from_micros(1_375_000));
    assert_eq!(i.master_down_interval(), Duration::from_micros(7_375_000));
}

#[test]
fn rfc3768_6_4_2_v2_priority_zero_takeover_after_skew_time_in_seconds() {
    let mut lan = Lan::new(&[(11, v2(params(150, 3000))), (12, v2(params(100, 3000)))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), vec![0]);
    let t_stop = lan.at();
    lan.input(0, Input::Shutdown);
    assert_eq!(*lan.nodes[0].sent.last().unwrap(), (t_stop, 0));
    // Skew_Time for priority 100 in v2: 156/256 s = 609.375 ms (not 3 times that).
    lan.run_until(t_stop + Duration::from_micros(609_374));
    assert_eq!(lan.state(1), State::Backup);
    lan.run_until(t_stop + Duration::from_micros(609_375));
    assert_eq!(lan.state(1), State::Master);
    let (at, _, cause) = *lan.nodes[1].transitions.last().unwrap();
    assert_eq!(at - t_stop, Duration::from_micros(609_375));
    assert_eq!(cause, Cause::MasterResigned { from: ip(11) });
}

#[test]
fn master_entering_fault_resigns_with_priority_zero_before_removing_addresses() {
    let mut a = Instance::new(params(150, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    a.handle_timeout(now + Duration::from_secs(4), &mut out);
    assert_eq!(a.state(), State::Master);
    out.clear();
    a.handle(now + Duration::from_secs(5), Input::Fault, &mut out);
    assert_eq!(
        out,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveAddresses,
            Action::Transition {
                from: State::Master,
                to: State::Fault,
                cause: Cause::Fault
            },
        ]
    );
    // A backup or a faulty backup has nothing to resign.
    out.clear();
    a.handle(now + Duration::from_secs(6), Input::Fault, &mut out);
    assert!(out.is_empty());
}

#[test]
fn master_entering_fault_lets_the_backup_take_over_after_skew_time() {
    // A tracked fault with the link still up: the resign advert reaches the backup.
    let mut lan = Lan::new(&[(11, params(150, 1000)), (12, params(100, 1000))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    let t = lan.at();
    lan.input(0, Input::Fault);
    assert_eq!(*lan.nodes[0].sent.last().unwrap(), (t, 0));
    assert_eq!(lan.state(0), State::Fault);
    // Skew_Time for priority 100 at 1 s: 156/256 s = 609.375 ms, not the 3.609375 s MDI.
    lan.run_until(t + Duration::from_micros(609_374));
    assert_eq!(lan.state(1), State::Backup);
    lan.run_until(t + Duration::from_micros(609_375));
    assert_eq!(lan.masters(), vec![1]);
    assert_eq!(
        lan.nodes[1].transitions.last().unwrap().2,
        Cause::MasterResigned { from: ip(11) }
    );
}

#[test]
fn preempt_delay_restarts_when_a_fault_clears() {
    // Node 1 (150, preempt_delay 5 s) is master, faults, node 0 (100) takes over; long after
    // start-up the fault clears: node 1 follows node 0 for 5 s more before preempting.
    let mut p = params(150, 100);
    p.preempt_delay = Duration::from_secs(5);
    let mut lan = Lan::new(&[(11, params(100, 100)), (12, p)]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![1]);
    lan.input(1, Input::Fault);
    lan.run_until(Duration::from_secs(20));
    assert_eq!(lan.masters(), vec![0]);
    let cleared = lan.at();
    lan.input(1, Input::FaultCleared);
    assert_eq!(lan.state(1), State::Backup);
    lan.run_until(cleared + Duration::from_millis(4999));
    assert_eq!(lan.masters(), vec![0], "inside the restarted preempt_delay");
    assert_eq!(
        lan.nodes[1].inst.master(),
        Some((ip(11), 100)),
        "follows node 0"
    );
    lan.run_until(cleared + Duration::from_secs(6));
    assert_eq!(lan.masters(), vec![1], "preempted once the delay passed");
    let (at, _, cause) = *lan.nodes[1].transitions.last().unwrap();
    assert_eq!(
        cause,
        Cause::Preempt {
            priority: 100,
            from: ip(11)
        }
    );
    // The last advert node 1 followed came before cleared + 5 s; the down timer it set fires
    // one MDI later (priority 150 at 100 ms: 341.40625 ms).
    let allowed = cleared + Duration::from_secs(5);
    let followed = lan.nodes[0]
        .sent
        .iter()
        .map(|&(t, _)| t)
        .filter(|&t| t < allowed)
        .max()
        .unwrap();
    assert_eq!(at - followed, Duration::from_nanos(341_406_250));
}

#[test]
fn preempt_delay_restarts_when_a_master_steps_down() {
    // Node 1 (150, preempt_delay 5 s) is master; node 2 (200) takes over and at once drops to
    // 100: node 1, just stepped down, follows the lower master for 5 s before preempting.
    let mut p = params(150, 100);
    p.preempt_delay = Duration::from_secs(5);
    let mut lan = Lan::new(&[(12, p), (13, params(200, 100))]);
    lan.input(0, Input::Start { healthy: true });
    lan.run_until(Duration::from_secs(10));
    assert_eq!(lan.masters(), vec![0]);
    lan.input(1, Input::Start { healthy: true });
    // Node 2 ignores node 0 and takes over one MDI after it started (priority 200 at 100 ms:
    // 300 + 56 * 100 / 256 ms = 321.875 ms); node 0 steps down in the same instant.
    let stepped = Duration::from_secs(10) + Duration::from_micros(321_875);
    lan.run_until(stepped);
    assert_eq!(lan.masters(), vec![1]);
    assert_eq!(
        *lan.nodes[0].transitions.last().unwrap(),
        (
            stepped,
            State::Backup,
            Cause::HigherPriority {
                priority: 200,
                from: ip(13)
            }
        )
    );
    lan.input(1, Input::Priority(100));
    assert_eq!(*lan.nodes[1].sent.last().unwrap(), (stepped, 100));
    lan.run_until(stepped + Duration::from_millis(4999));
    assert_eq!(lan.masters(), vec![1], "inside the restarted preempt_delay");
    lan.run_until(stepped + Duration::from_secs(6));
    assert_eq!(lan.masters(), vec![0], "preempted once the delay passed");
    let (at, _, cause) = *lan.nodes[0].transitions.last().unwrap();
    assert_eq!(
        cause,
        Cause::Preempt {
            priority: 100,
            from: ip(13)
        }
    );
    // Node 2 advertises every 100 ms from `stepped`, so the last advert followed is at
    // stepped + 4.9 s and the down timer fires one MDI (341.40625 ms) later.
    assert_eq!(
        at - stepped,
        Duration::from_millis(4900) + Duration::from_nanos(341_406_250)
    );
}

#[test]
fn rfc3768_6_4_1_reload_to_priority_255_makes_a_backup_the_owner_master_at_once() {
    let mut lan = Lan::new(&[(11, params(150, 100)), (12, params(100, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0]);
    let t = lan.at();
    let mut out = vec![];
    let mut p = lan.nodes[1].inst.params().clone();
    p.priority = 255;
    lan.nodes[1].inst.set_params(p, lan.now, &mut out);
    lan.apply(1, out);
    assert_eq!(lan.nodes[1].inst.priority(), 255);
    assert_eq!(lan.masters(), vec![1], "at once, no timer");
    assert_eq!(
        *lan.nodes[1].transitions.last().unwrap(),
        (t, State::Master, Cause::Owner)
    );
    assert_eq!(*lan.nodes[1].sent.last().unwrap(), (t, 255));
    assert_eq!(lan.state(0), State::Backup, "the old master heard 255");
    lan.run_until(t + Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![1]);
}

#[test]
fn reload_from_priority_255_to_lower_takes_effect_and_is_advertised() {
    let mut lan = Lan::new(&[(11, params(255, 100)), (12, params(100, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0]);
    let t = lan.at();
    let mut out = vec![];
    let mut p = lan.nodes[0].inst.params().clone();
    p.priority = 200;
    lan.nodes[0].inst.set_params(p, lan.now, &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 200 }]);
    lan.apply(0, out);
    assert_eq!(lan.nodes[0].inst.priority(), 200);
    assert_eq!(lan.nodes[1].inst.master(), Some((ip(11), 200)));
    lan.run_until(t + Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0], "still the highest priority");
    assert!(
        lan.nodes[0]
            .sent
            .iter()
            .filter(|s| s.0 > t)
            .all(|s| s.1 == 200)
    );
    // No longer the owner: tracking changes the priority again.
    lan.input(0, Input::Priority(90));
    assert_eq!(lan.nodes[0].inst.priority(), 90);
    lan.run_until(t + Duration::from_secs(3));
    assert_eq!(lan.masters(), vec![1]);
}

#[test]
fn rfc3768_6_1_address_owner_always_preempts_even_with_preempt_off() {
    // Two owners (misconfiguration): node 0 (255, preempt off) loses the tie to 10.99.0.12 and
    // follows it; node 1 is then reloaded to 100. Node 0 preempts it like any owner would.
    let mut p = params(255, 100);
    p.preempt = false;
    let mut lan = Lan::new(&[(11, p), (12, params(255, 100))]);
    lan.start_all();
    assert_eq!(lan.masters(), vec![1]);
    assert_eq!(lan.state(0), State::Backup);
    let mut out = vec![];
    let mut p1 = lan.nodes[1].inst.params().clone();
    p1.priority = 100;
    lan.nodes[1].inst.set_params(p1, lan.now, &mut out);
    lan.apply(1, out);
    lan.run_until(Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![0]);
    let (at, _, cause) = *lan.nodes[0].transitions.last().unwrap();
    assert_eq!(
        cause,
        Cause::Preempt {
            priority: 100,
            from: ip(12)
        }
    );
    // The down timer set by the last 255 advert (at 0) fires after MDI: 300 + 100/256 ms.
    assert_eq!(at, Duration::from_nanos(300_390_625));
}

/// a (150) started and heard a lower master (100 from .12): its master-down timeout makes
/// it Master by preemption (a handover). Returns a, the lower master's advert, the time of
/// the takeover and the actions of that timeout alone.
fn preempting_a_lower_master() -> (Instance, Heard, Instant, Vec<Action>) {
    let mut a = Instance::new(params(150, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    let lower = Heard {
        src: ip(12),
        priority: 100,
        interval: 1000 * MS,
    };
    a.handle(now + Duration::from_secs(1), Input::Advert(lower), &mut out);
    out.clear();
    let t = now + Duration::from_secs(4);
    a.handle_timeout(t, &mut out);
    assert_eq!(a.state(), State::Master);
    (a, lower, t, out)
}

#[test]
fn new_master_sends_its_first_advert_after_add_and_announce() {
    let (mut a, _, t, mut out) = preempting_a_lower_master();
    assert_eq!(out[0], Action::AddAddresses);
    assert!(matches!(out[1], Action::Announce { .. }));
    assert_eq!(out[2], Action::Barrier);
    assert!(!out.iter().any(|x| matches!(x, Action::SendAdvert { .. })));
    out.clear();
    a.handle(t + MS, Input::Announced, &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
    // Answered once: a late second answer sends nothing.
    out.clear();
    a.handle(t + 2 * MS, Input::Announced, &mut out);
    assert!(out.is_empty());
}

#[test]
fn first_advert_goes_out_after_the_announce_bound_without_an_answer() {
    let (mut a, _, t, mut out) = preempting_a_lower_master();
    out.clear();
    assert_eq!(a.announce_bound(), 100 * MS);
    a.handle_timeout(t + 99 * MS, &mut out);
    assert!(out.is_empty());
    a.handle_timeout(t + 100 * MS, &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
}

#[test]
fn preempted_master_releases_only_on_hearing_the_preempter() {
    // b (100) is master; a (150) comes up and preempts: b keeps its addresses while a adds
    // and announces, and lets go when a's first advert arrives.
    let mut lan = Lan::new(&[(11, params(150, 1000)), (12, params(100, 1000))]);
    lan.nodes[0].link_up = false;
    lan.input(1, Input::Start { healthy: true });
    lan.run_until(Duration::from_secs(5));
    assert_eq!(lan.masters(), vec![1]);
    lan.nodes[0].link_up = true;
    lan.input(0, Input::Start { healthy: true });
    let mut out = vec![];
    // Up to a's master-down timer, b still holds.
    lan.run_until(Duration::from_millis(8400));
    assert!(lan.nodes[1].has_vips);
    let t = lan.nodes[0].inst.poll_timeout().unwrap();
    lan.now = t;
    lan.nodes[0].inst.handle_timeout(t, &mut out);
    assert_eq!(lan.state(0), State::Master);
    // Add and announce done, no advert yet: b still has the addresses (both answer).
    assert!(lan.nodes[1].has_vips);
    lan.apply(0, out);
    assert!(lan.nodes[0].has_vips);
    assert!(!lan.nodes[1].has_vips);
    assert_eq!(lan.state(1), State::Backup);
}

#[test]
fn drain_hands_over_holds_until_heard_and_never_takes_over() {
    let mut lan = Lan::new(&[(11, params(150, 100)), (12, params(100, 100))]);
    lan.start_all();
    lan.run_until(Duration::from_secs(2));
    assert_eq!(lan.masters(), vec![0]);
    let t = lan.at();
    lan.input(0, Input::Drain(true));
    assert_eq!(lan.state(0), State::Backup);
    assert!(lan.nodes[0].inst.drained());
    assert!(lan.nodes[0].has_vips && lan.nodes[0].inst.holding());
    assert_eq!(*lan.nodes[0].sent.last().unwrap(), (t, 0));
    lan.run_until(t + Duration::from_secs(1));
    assert_eq!(lan.masters(), vec![1]);
    assert!(!lan.nodes[0].has_vips && !lan.nodes[0].inst.holding());
    // b goes away: drained a still does not take over.
    lan.nodes[1].link_up = false;
    lan.run_until(t + Duration::from_secs(5));
    assert_eq!(lan.state(0), State::Backup);
    assert!(!lan.nodes[0].has_vips);
    // Undrained, it takes over.
    lan.input(0, Input::Drain(false));
    lan.run_until(t + Duration::from_secs(6));
    assert_eq!(lan.state(0), State::Master);
}

#[test]
fn drained_owner_does_not_take_over_and_fault_ends_a_hold() {
    let mut a = Instance::new(params(255, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Drain(true), &mut out);
    a.handle(now, Input::Start { healthy: true }, &mut out);
    assert_eq!(a.state(), State::Backup);
    a.handle(now, Input::Drain(false), &mut out);
    assert_eq!(a.state(), State::Master);
    a.handle(now, Input::Announced, &mut out);
    out.clear();
    a.handle(now, Input::Drain(true), &mut out);
    assert!(a.holding());
    out.clear();
    a.handle(now, Input::Fault, &mut out);
    assert_eq!(out[0], Action::RemoveAddresses);
    assert!(!a.holding());
}

#[test]
fn master_down_takeover_advertises_at_once_as_nobody_holds_the_addresses() {
    // No old holder to release: the advert first (as before), so a lower backup whose timer
    // expires a moment later hears us in time.
    let mut a = Instance::new(params(150, 100), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    out.clear();
    a.handle_timeout(now + Duration::from_secs(1), &mut out);
    assert_eq!(out[0], Action::SendAdvert { priority: 150 });
    assert!(!out.contains(&Action::Barrier));
}

#[test]
fn a_hold_ends_only_on_a_live_advert_from_another_router() {
    // A drained master keeps its addresses until the new master is heard. Neither a
    // priority-0 advert (a router resigning is not a new master) nor its own advert coming
    // back (the same source) ends the hold; a live advert from another router does.
    let mut a = Instance::new(params(150, 100), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t, &mut out);
    a.handle(t, Input::Announced, &mut out);
    assert_eq!(a.state(), State::Master);
    a.handle(t, Input::Drain(true), &mut out);
    assert!(a.holding());
    for (input, what) in [
        (
            advert_from(12, 0, 100 * MS),
            "a priority-0 advert from another router",
        ),
        (advert_from(11, 150, 100 * MS), "its own advert"),
    ] {
        out.clear();
        a.handle(t + MS, input, &mut out);
        assert!(a.holding(), "{what} ended the hold: {out:?}");
        assert!(!out.contains(&Action::RemoveAddresses), "{what}: {out:?}");
    }
    out.clear();
    a.handle(t + 2 * MS, advert_from(12, 100, 100 * MS), &mut out);
    assert!(!a.holding());
    assert!(out.contains(&Action::RemoveAddresses), "{out:?}");
}

#[test]
fn preempt_delay_starts_afresh_at_the_first_lower_master_after_a_better_one() {
    // a (150, preempt_delay 5 s) follows c (200) long after its start (its start's delay is
    // over); c goes silent and b (100) advertises: a follows b for 5 s from b's first advert,
    // then preempts.
    let (mut a, t0) = delayed_backup(100);
    let mut t = t0;
    let step = |a: &mut Instance, t: Instant, input: Input| {
        let mut out = vec![];
        expire_until(a, t, &mut out);
        a.handle(t, input, &mut out);
    };
    // c (200) is master from the start, heard every 100 ms for 10 s.
    while t < t0 + Duration::from_secs(10) {
        step(&mut a, t, advert_from(13, 200, 100 * MS));
        t += 100 * MS;
    }
    assert_eq!(a.state(), State::Backup);
    // Then only b (100), from t1: followed for the 5 s of the delay.
    let t1 = t;
    while t < t1 + Duration::from_millis(4900) {
        step(&mut a, t, advert_from(12, 100, 100 * MS));
        assert_eq!(
            a.state(),
            State::Backup,
            "preempted {:?} after b's first advert",
            t - t1
        );
        t += 100 * MS;
    }
    // After it, a preempts b within a master-down interval.
    while t < t1 + Duration::from_secs(6) {
        step(&mut a, t, advert_from(12, 100, 100 * MS));
        t += 100 * MS;
    }
    assert_eq!(a.state(), State::Master);
}

#[test]
fn no_garp_master_delay_means_one_announcement_burst_only() {
    // keepalived's `garp_master_delay 0`: no second burst after the first, and no refresh.
    let mut p = params(255, 100);
    p.garp = Garp {
        delay: Duration::ZERO,
        repeat: 3,
        refresh: Duration::ZERO,
        interval: Duration::ZERO,
    };
    let mut lan = Lan::new(&[(11, p)]);
    lan.start_all();
    lan.run_until(Duration::from_secs(30));
    assert_eq!(lan.nodes[0].announces, vec![(Duration::ZERO, 3)]);
}

#[test]
fn a_master_advertises_at_once_when_its_priority_falls_not_when_it_rises() {
    // A lower priority may let a backup preempt now; a higher one changes no election and goes
    // out with the next advert (keepalived 2.2.7 does the same).
    let mut a = Instance::new(params(150, 1000), ip(11));
    let t0 = Instant::now();
    let mut out = vec![];
    a.handle(t0, Input::Start { healthy: true }, &mut out);
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t, &mut out);
    assert_eq!(a.state(), State::Master);
    let next = a.poll_timeout();
    out.clear();
    a.handle(t + MS, Input::Priority(100), &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 100 }]);
    out.clear();
    a.handle(t + 2 * MS, Input::Priority(120), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(a.priority(), 120);
    assert_eq!(a.poll_timeout(), next, "the advert rhythm is unchanged");
}

#[test]
fn preempt_delay_runs_from_entering_backup_not_from_the_first_lower_advert() {
    // a (150, preempt_delay 5 s) starts as backup at t0; the lower master b (100) is first
    // heard 2 s later. The delay ends at t0 + 5 s, so a preempts at b's advert then and is
    // master one master-down interval (3.41 s) after the advert before: by t0 + 7.5 s.
    let (mut a, t0) = delayed_backup(1000);
    let mut out = vec![];
    // b advertises once a second from t0 + 2 s; the clock moves in 100 ms steps.
    let mut t = t0 + Duration::from_secs(2);
    while t <= t0 + Duration::from_millis(7500) && a.state() != State::Master {
        expire_until(&mut a, t, &mut out);
        if (t - t0).as_millis().is_multiple_of(1000) && a.state() != State::Master {
            a.handle(t, advert_from(12, 100, Duration::from_secs(1)), &mut out);
        }
        t += 100 * MS;
    }
    assert_eq!(a.state(), State::Master, "still backup at {:?}", t - t0);
}

#[test]
fn a_backup_reloaded_to_owner_hands_over_from_the_master_it_hears() {
    // RFC 3768 6.4.1: the owner is Master at once. A master is still out there holding the
    // addresses, so it is a handover: add and announce first, the first advert after.
    let mut a = Instance::new(params(100, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    let higher = Heard {
        src: ip(12),
        priority: 200,
        interval: 1000 * MS,
    };
    a.handle(
        now + Duration::from_secs(1),
        Input::Advert(higher),
        &mut out,
    );
    assert_eq!(a.state(), State::Backup);
    out.clear();
    let mut p = a.params().clone();
    p.priority = 255;
    a.set_params(p, now + Duration::from_secs(2), &mut out);
    assert_eq!(a.state(), State::Master);
    assert_eq!(out[0], Action::AddAddresses, "{out:?}");
    assert!(out.contains(&Action::Barrier), "{out:?}");
    assert!(
        !out.iter().any(|x| matches!(x, Action::SendAdvert { .. })),
        "{out:?}"
    );
    // An owner starting alone has nobody to hand over from: its advert goes at once.
    let mut b = Instance::new(params(255, 1000), ip(13));
    out.clear();
    b.handle(now, Input::Start { healthy: true }, &mut out);
    assert_eq!(b.state(), State::Master);
    assert_eq!(out[0], Action::SendAdvert { priority: 255 }, "{out:?}");
    assert!(!out.contains(&Action::Barrier), "{out:?}");
}

#[test]
fn a_master_sent_to_backup_by_its_sync_group_waits_a_full_master_down_interval() {
    let mut a = Instance::new(params(150, 1000), ip(11));
    let now = Instant::now();
    let mut out = vec![];
    a.handle(now, Input::Start { healthy: true }, &mut out);
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t, &mut out);
    assert_eq!(a.state(), State::Master);
    let t = t + Duration::from_secs(5);
    out.clear();
    a.handle(t, Input::SyncBackup, &mut out);
    assert_eq!(a.state(), State::Backup);
    assert_eq!(
        a.timers().get(Timer::MasterDown),
        Some(t + a.master_down_interval())
    );
    // Nothing heard since: it takes over again only after that interval.
    out.clear();
    a.handle_timeout(t + a.master_down_interval() - MS, &mut out);
    assert_eq!(a.state(), State::Backup);
}

#[test]
fn a_new_master_awaiting_its_announce_does_not_answer_a_lower_master_early() {
    let (mut a, lower, t, mut out) = preempting_a_lower_master();
    // The preempted master advertises again before our add and announce are done: our first
    // advert still waits for them (make-before-break).
    out.clear();
    a.handle(t + MS, Input::Advert(lower), &mut out);
    assert!(
        !out.iter().any(|x| matches!(x, Action::SendAdvert { .. })),
        "{out:?}"
    );
    // Once announced, a lower master's advert is answered at once (RFC 9568 6.4.3).
    a.handle(t + 2 * MS, Input::Announced, &mut out);
    out.clear();
    a.handle(t + 3 * MS, Input::Advert(lower), &mut out);
    assert_eq!(out, vec![Action::SendAdvert { priority: 150 }]);
}

#[test]
fn transition_causes_read_as_the_log_and_status_show_them() {
    assert_eq!(Cause::Startup.to_string(), "startup");
    assert_eq!(
        Cause::HigherPriority {
            priority: 200,
            from: ip(12)
        }
        .to_string(),
        "higher priority 200 from 10.99.0.12"
    );
    assert_eq!(
        Cause::MasterResigned { from: ip(12) }.to_string(),
        "master 10.99.0.12 resigned (priority 0), skew time expired"
    );
}

/// 10.99.0.11 at priority 100, advert interval 100 ms, alone: Master once its
/// Master_Down_Interval has passed. Returns it and the instant it became Master.
fn lone_master() -> (Instance, Instant) {
    let mut a = Instance::new(params(100, 100), ip(11));
    let t0 = Instant::now();
    let mut out = vec![];
    a.handle(t0, Input::Start { healthy: true }, &mut out);
    assert_eq!(
        a.master(),
        None,
        "a backup that heard nobody follows nobody"
    );
    let t = t0 + Duration::from_secs(1);
    expire_until(&mut a, t, &mut out);
    assert_eq!(a.state(), State::Master);
    (a, t)
}

#[test]
fn the_master_reported_is_ourselves_as_master_and_the_preempter_once_stepped_down() {
    let (mut a, t) = lone_master();
    assert_eq!(a.master(), Some((ip(11), 100)));
    let mut out = vec![];
    a.handle(t, advert_from(12, 200, 100 * MS), &mut out);
    assert_eq!(a.state(), State::Backup);
    assert_eq!(a.master(), Some((ip(12), 200)), "the router we now follow");
    a.handle(t, Input::Fault, &mut out);
    assert_eq!(a.master(), None, "in Fault we follow nobody");
}

#[test]
fn start_is_ignored_while_running_and_rejoins_after_shutdown() {
    let (mut a, t) = lone_master();
    let mut out = vec![];
    a.handle(t, Input::Start { healthy: true }, &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(a.state(), State::Master);
    a.handle(t, Input::Shutdown, &mut out);
    assert_eq!(a.state(), State::Stop);
    out.clear();
    a.handle(t + MS, Input::Start { healthy: true }, &mut out);
    assert_eq!(a.state(), State::Backup, "{out:?}");
    assert_eq!(
        out[0],
        Action::RemoveAddresses,
        "leftovers go before joining"
    );
}

#[test]
fn a_drained_master_shut_down_while_holding_keeps_the_hold_for_a_full_bound() {
    let (mut a, t) = lone_master();
    let mut out = vec![];
    a.handle(t, Input::Drain(true), &mut out);
    assert!(a.holding());
    let t2 = t + 10 * MS;
    a.handle(t2, Input::Shutdown, &mut out);
    assert!(a.holding());
    let end = t2 + a.hold_bound();
    assert_eq!(a.poll_timeout(), Some(end));
    out.clear();
    expire_until(&mut a, end - MS, &mut out);
    assert!(a.holding() && out.is_empty(), "{out:?}");
    expire_until(&mut a, end, &mut out);
    assert!(!a.holding());
    assert_eq!(out, [Action::RemoveAddresses]);
}

#[test]
fn a_tracked_priority_of_zero_is_ignored() {
    let (mut a, t) = lone_master();
    let mut out = vec![];
    a.handle(t, Input::Priority(0), &mut out);
    assert!(out.is_empty(), "no resignation by accident: {out:?}");
    assert_eq!(a.priority(), 100);
    assert_eq!(a.state(), State::Master);
}

#[test]
fn a_master_hearing_its_own_advert_stays_master_and_sends_nothing() {
    // Its own advert looped back (same address, same priority) is no equal-priority rival
    // with a higher address.
    let (mut a, t) = lone_master();
    let mut out = vec![];
    a.handle(t, advert_from(11, 100, 100 * MS), &mut out);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(a.state(), State::Master);
}

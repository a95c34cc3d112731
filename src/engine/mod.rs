//! The VRRP state machine (RFC 3768 section 6, RFC 9568 section 6), pure.
//!
//! No sockets, no clock: every call takes `now`, and effects come back as [`Action`]s.
//! The daemon asks [`Instance::poll_timeout`] when to call [`Instance::handle_timeout`] next.
//! The same inputs at the same times always give the same actions.

#[cfg(test)]
mod tests;
mod timers;

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use timers::{Timer, TimerTable};

use crate::config::model::Garp;
use crate::packet::Version;

/// RFC 3768 / 9568 states, plus `Stop` after a shutdown (kept for observation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Init,
    Backup,
    Master,
    Fault,
    Stop,
}

impl State {
    /// Every state, for metrics that keep a series per state.
    pub const ALL: [State; 5] = [
        State::Init,
        State::Backup,
        State::Master,
        State::Fault,
        State::Stop,
    ];

    /// Lower-case label (metrics, JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "init",
            State::Backup => "backup",
            State::Master => "master",
            State::Fault => "fault",
            State::Stop => "stop",
        }
    }

    /// Upper-case name as keepalived prints it (logs, notify hooks).
    pub fn upper(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.upper())
    }
}

/// Why a transition happened; printed in the one log line per state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Started (or link came back) and joined as backup.
    Startup,
    /// Priority 255: the address owner becomes master at once.
    Owner,
    /// No advert from the master within Master_Down_Interval.
    MasterDownTimer,
    /// The master sent priority 0; we waited Skew_Time.
    MasterResigned { from: IpAddr },
    /// We ignored a lower-priority master (preempt) until the down timer fired.
    Preempt { priority: u8, from: IpAddr },
    /// A master heard a higher priority.
    HigherPriority { priority: u8, from: IpAddr },
    /// A master heard the same priority from a higher primary address.
    EqualPriorityHigherAddress { priority: u8, from: IpAddr },
    /// The instance's interface (or a tracked condition) went down.
    Fault,
    /// The fault cleared.
    FaultCleared,
    /// Shutdown requested (SIGTERM, reload removed the instance).
    Shutdown,
    /// An operator drained the instance (`vipd drain`).
    Drained,
    /// Another member of its sync group left Master (`router::sync`).
    SyncGroupBackup,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Startup => write!(f, "startup"),
            Cause::Owner => write!(f, "priority 255 address owner"),
            Cause::MasterDownTimer => write!(f, "master down timer expired"),
            Cause::MasterResigned { from } => {
                write!(f, "master {from} resigned (priority 0), skew time expired")
            }
            Cause::Preempt { priority, from } => {
                write!(f, "preempting lower priority {priority} from {from}")
            }
            Cause::HigherPriority { priority, from } => {
                write!(f, "higher priority {priority} from {from}")
            }
            Cause::EqualPriorityHigherAddress { priority, from } => {
                write!(f, "equal priority {priority} from higher address {from}")
            }
            Cause::Fault => write!(f, "fault"),
            Cause::FaultCleared => write!(f, "fault cleared"),
            Cause::Shutdown => write!(f, "shutdown"),
            Cause::Drained => write!(f, "drained by an operator"),
            Cause::SyncGroupBackup => write!(f, "sync group: another member left master"),
        }
    }
}

/// What the engine asks the daemon to do, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send one advertisement with this priority (0 = resign).
    SendAdvert { priority: u8 },
    /// Put the virtual addresses on the interface.
    AddAddresses,
    /// Take the virtual addresses off the interface.
    RemoveAddresses,
    /// Announce the addresses: `count` gratuitous ARPs / unsolicited NAs per address.
    Announce { count: u32 },
    /// The state changed.
    Transition {
        from: State,
        to: State,
        cause: Cause,
    },
    /// Answer with [`Input::Announced`] once every address and announcement action before
    /// this one has been carried out (the new master's first advert waits for it).
    Barrier,
}

/// The protocol parameters of one instance (derived from its configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub version: Version,
    /// Configured priority, 1..=255.
    pub priority: u8,
    /// Our Advertisement_Interval.
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub garp: Garp,
}

/// An advertisement that passed validation, as the state machine needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    /// Source address (the sender's primary address).
    pub src: IpAddr,
    pub priority: u8,
    /// The sender's advertisement interval.
    pub interval: Duration,
}

/// Inputs besides timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Startup event (RFC "Startup"); `healthy` false starts in Fault.
    Start { healthy: bool },
    /// A valid advertisement for our VRID.
    Advert(Heard),
    /// The instance became unable to serve (interface down, tracked fault).
    Fault,
    /// The fault cleared.
    FaultCleared,
    /// The effective priority changed (tracking); ignored for the owner (configured 255)
    /// and for 0. A Backup whose effective priority becomes 255 is Master at once (tracking
    /// clamps to 254; a reload to 255 goes through [`Instance::set_params`]).
    Priority(u8),
    /// Our primary address (tie-break) changed.
    PrimaryAddress(IpAddr),
    /// Shutdown event. A master sends priority 0 but keeps its addresses (make-before-break)
    /// until it hears the new master or [`Instance::hold_bound`] passes; see
    /// [`Instance::holding`].
    Shutdown,
    /// Drain (true) or undrain (false): a drained instance hands mastership over like a
    /// shutdown and then stays Backup, never taking over, until undrained.
    Drain(bool),
    /// The answer to [`Action::Barrier`]: our addresses are in place and announced.
    Announced,
    /// Sync group: every member wants Master; a Backup that wants it becomes Master now
    /// (with the cause its own timer had). Anything else ignores it.
    SyncMaster,
    /// Sync group: another member left Master; a Master resigns (priority 0, keeping its
    /// addresses until the new master is heard, as on a drain) and becomes Backup with its
    /// master-down timer running. Anything else ignores it.
    SyncBackup,
}

/// One virtual router.
#[derive(Clone, Debug)]
pub struct Instance {
    params: Params,
    state: State,
    /// Effective priority (base plus tracking).
    priority: u8,
    /// Our primary address, compared with a peer's on equal priority.
    primary: IpAddr,
    /// Master_Adver_Interval: learned from the master (v3), our own in v2.
    master_adver_interval: Duration,
    timers: TimerTable,
    /// The router we currently follow and its last priority.
    master: Option<(IpAddr, u8)>,
    /// A lower-priority master we are ignoring to preempt it.
    preempting: Option<(IpAddr, u8)>,
    /// The master that resigned (priority 0) and started the skew timer.
    resigned: Option<IpAddr>,
    /// Earliest time a lower-priority master may be preempted (preempt_delay).
    preempt_allowed_at: Option<Instant>,
    /// We gave mastership away (shutdown, drain) and still hold the addresses until the new
    /// master is heard or [`Timer::Release`] fires.
    holding: bool,
    /// Master waiting for [`Input::Announced`] before its first advert.
    awaiting_announce: bool,
    /// Drained by an operator: never becomes master.
    drained: bool,
    /// Member of a sync group: an expired master-down timer only records the wish
    /// (`wants`) and the group decides ([`Input::SyncMaster`]).
    gated: bool,
    /// Gated Backup whose master-down timer expired: the cause it would take over with.
    wants: Option<Cause>,
}

impl Instance {
    pub fn new(params: Params, primary: IpAddr) -> Instance {
        Instance {
            priority: params.priority,
            master_adver_interval: params.advert_interval,
            params,
            state: State::Init,
            primary,
            timers: TimerTable::default(),
            master: None,
            preempting: None,
            resigned: None,
            preempt_allowed_at: None,
            holding: false,
            awaiting_announce: false,
            drained: false,
            gated: false,
            wants: None,
        }
    }

    /// Makes the instance a sync group member (or not): see [`Input::SyncMaster`].
    pub fn set_gated(&mut self, gated: bool) {
        self.gated = gated;
        if !gated {
            self.wants = None;
        }
    }

    /// A sync group member in Backup whose master-down timer expired: it would be Master.
    pub fn wants_master(&self) -> bool {
        self.wants.is_some()
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn params(&self) -> &Params {
        &self.params
    }
    /// Effective priority.
    pub fn priority(&self) -> u8 {
        self.priority
    }
    pub fn primary(&self) -> IpAddr {
        self.primary
    }
    /// The master we follow (address, last priority); ourselves when master.
    pub fn master(&self) -> Option<(IpAddr, u8)> {
        match self.state {
            State::Master => Some((self.primary, self.priority)),
            State::Backup => self.master,
            _ => None,
        }
    }
    pub fn master_adver_interval(&self) -> Duration {
        self.master_adver_interval
    }
    /// Skew_Time: v3 (RFC 9568 6.1) `((256 - Priority) * Master_Adver_Interval) / 256`;
    /// v2 (RFC 3768 6.1) `(256 - Priority) / 256` seconds, whatever the advert interval
    /// (keepalived computes it the same way).
    pub fn skew_time(&self) -> Duration {
        let unit = match self.params.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self.master_adver_interval,
        };
        let ns = unit.as_nanos() * (256 - u128::from(self.priority)) / 256;
        Duration::from_nanos(ns as u64)
    }
    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        3 * self.master_adver_interval + self.skew_time()
    }
    pub fn timers(&self) -> &TimerTable {
        &self.timers
    }
    /// Mastership was given away (shutdown, drain) but the addresses are still ours, until
    /// the new master is heard or the hold bound passes.
    pub fn holding(&self) -> bool {
        self.holding
    }
    /// Drained by an operator.
    pub fn drained(&self) -> bool {
        self.drained
    }
    /// How long a resigning master keeps its addresses at most: the longest
    /// Master_Down_Interval any backup can have (priority 1, our Master_Adver_Interval).
    /// A backup that missed our priority 0 takes over within it; after it nobody will.
    pub fn hold_bound(&self) -> Duration {
        let unit = match self.params.version {
            Version::V2 => Duration::from_secs(1),
            Version::V3 => self.master_adver_interval,
        };
        let skew = Duration::from_nanos((unit.as_nanos() * 255 / 256) as u64);
        3 * self.master_adver_interval + skew
    }
    /// How long a new master waits for [`Input::Announced`] before sending its first advert
    /// anyway (a slow kernel must not keep the others waiting): a tenth of the interval.
    pub fn announce_bound(&self) -> Duration {
        self.params.advert_interval / 10
    }

    /// Replaces parameters in place (reload with changes that need no restart).
    ///
    /// A new configured priority becomes the effective priority (the daemon reapplies
    /// tracking afterwards). Unlike [`Input::Priority`] this also applies to and from 255:
    /// a reload to 255 makes a Backup the owner and Master at once; a reload from 255 to a
    /// lower priority keeps a Master but advertises the new priority at once.
    pub fn set_params(&mut self, params: Params, now: Instant, out: &mut Vec<Action>) {
        let prio_changed = params.priority != self.params.priority;
        self.params = params;
        if self.params.version == Version::V2 || self.state == State::Master {
            self.master_adver_interval = self.params.advert_interval;
        }
        if prio_changed {
            self.set_priority(now, self.params.priority, out);
        }
    }

    /// The next time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Handles every timer that has expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        while let Some((timer, at)) = self.timers.expired(now) {
            self.timers.stop(timer);
            match (timer, self.state) {
                (Timer::MasterDown, State::Backup) if self.drained => {}
                (Timer::MasterDown, State::Backup) => {
                    let cause = if let Some(from) = self.resigned {
                        Cause::MasterResigned { from }
                    } else if let Some((from, priority)) = self.preempting {
                        Cause::Preempt { priority, from }
                    } else {
                        Cause::MasterDownTimer
                    };
                    if self.gated {
                        // The group decides; meanwhile the wish stands until a master is
                        // heard, and the timer runs again (keepalived 2.2.7 re-arms it too).
                        self.wants = Some(cause);
                        self.timers
                            .set(Timer::MasterDown, now + self.master_down_interval());
                    } else {
                        self.become_master(now, cause, out);
                    }
                }
                (Timer::Adver, State::Master) => {
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    // Keep the rhythm from the deadline, not from when we woke up.
                    let mut next = at + self.params.advert_interval;
                    if next <= now {
                        next = now + self.params.advert_interval;
                    }
                    self.timers.set(Timer::Adver, next);
                }
                (Timer::Release, _) => self.release(out),
                (Timer::FirstAdvert, State::Master) => self.first_advert(now, out),
                (Timer::GarpDelay, State::Master) => {
                    out.push(Action::Announce {
                        count: self.params.garp.repeat,
                    });
                }
                (Timer::GarpRefresh, State::Master) => {
                    out.push(Action::Announce {
                        count: self.params.garp.repeat,
                    });
                    self.timers
                        .set(Timer::GarpRefresh, now + self.params.garp.refresh);
                }
                _ => {}
            }
        }
    }

    /// Handles one input.
    pub fn handle(&mut self, now: Instant, input: Input, out: &mut Vec<Action>) {
        match input {
            Input::Start { healthy } => {
                if self.state != State::Init && self.state != State::Stop {
                    return;
                }
                if healthy {
                    self.join(now, Cause::Startup, out);
                } else {
                    out.push(Action::RemoveAddresses);
                    self.transition(State::Fault, Cause::Fault, out);
                }
            }
            Input::Advert(h) => self.on_advert(now, h, out),
            Input::Fault => match self.state {
                State::Master => {
                    // Resign as on shutdown (keepalived does too), so the backups take over
                    // after Skew_Time instead of Master_Down_Interval. The daemon skips the
                    // send when the link itself is down.
                    out.push(Action::SendAdvert { priority: 0 });
                    out.push(Action::RemoveAddresses);
                    self.timers.clear();
                    self.awaiting_announce = false;
                    self.transition(State::Fault, Cause::Fault, out);
                }
                State::Backup | State::Init => {
                    // A drained instance still holding its addresses lets them go now.
                    self.release(out);
                    self.timers.clear();
                    self.transition(State::Fault, Cause::Fault, out);
                }
                State::Fault | State::Stop => {}
            },
            Input::FaultCleared => {
                if self.state == State::Fault {
                    self.join(now, Cause::FaultCleared, out);
                }
            }
            Input::Priority(p) => {
                if self.params.priority == 255 {
                    return;
                }
                self.set_priority(now, p, out);
            }
            Input::PrimaryAddress(a) => self.primary = a,
            Input::Shutdown => {
                let was_master = self.state == State::Master;
                self.timers.clear();
                self.awaiting_announce = false;
                if was_master {
                    self.resign(now, out);
                } else if self.holding {
                    // Drained and still holding: keep holding, with the same bound.
                    self.timers.set(Timer::Release, now + self.hold_bound());
                }
                if self.state != State::Stop {
                    self.transition(State::Stop, Cause::Shutdown, out);
                }
            }
            Input::Drain(on) => self.set_drained(now, on, out),
            Input::Announced => {
                if self.state == State::Master && self.awaiting_announce {
                    self.first_advert(now, out);
                }
            }
            Input::SyncMaster => {
                if self.state == State::Backup
                    && !self.drained
                    && let Some(cause) = self.wants.take()
                {
                    self.become_master(now, cause, out);
                }
            }
            Input::SyncBackup => {
                if self.state == State::Master {
                    self.timers.clear();
                    self.awaiting_announce = false;
                    self.resign(now, out);
                    self.master = None;
                    self.preempting = None;
                    self.resigned = None;
                    self.restart_preempt_delay(now);
                    self.timers
                        .set(Timer::MasterDown, now + self.master_down_interval());
                    self.transition(State::Backup, Cause::SyncGroupBackup, out);
                }
            }
        }
    }

    /// Makes `p` (1..=255; 0 is ignored) the effective priority.
    fn set_priority(&mut self, now: Instant, p: u8, out: &mut Vec<Action>) {
        if p == 0 || p == self.priority {
            return;
        }
        let old = self.priority;
        self.priority = p;
        match self.state {
            State::Master if p < old => {
                // Tell the backups now so a higher one can preempt without waiting an interval.
                out.push(Action::SendAdvert { priority: p });
            }
            // RFC 3768 6.4.1: the address owner is Master without waiting.
            State::Backup if p == 255 && !self.drained => {
                self.become_master(now, Cause::Owner, out)
            }
            _ => {}
        }
    }

    /// Startup / fault cleared: owner -> Master, otherwise -> Backup (RFC 3768 6.4.1).
    fn join(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        if self.priority == 255 && !self.drained {
            self.become_master(now, Cause::Owner, out);
        } else {
            // Addresses of ours left on the interface (crash, other daemon) go first.
            out.push(Action::RemoveAddresses);
            self.master_adver_interval = self.params.advert_interval;
            self.master = None;
            self.preempting = None;
            self.resigned = None;
            self.restart_preempt_delay(now);
            self.timers.clear();
            self.holding = false;
            self.timers
                .set(Timer::MasterDown, now + self.master_down_interval());
            self.transition(State::Backup, cause, out);
        }
    }

    /// Master giving mastership away on purpose (shutdown, drain): priority 0 now, the
    /// addresses kept (and answered for) until the new master's advert is heard or
    /// [`Instance::hold_bound`] passes.
    fn resign(&mut self, now: Instant, out: &mut Vec<Action>) {
        out.push(Action::SendAdvert { priority: 0 });
        self.holding = true;
        self.timers.set(Timer::Release, now + self.hold_bound());
    }

    /// The hold is over: the addresses go.
    fn release(&mut self, out: &mut Vec<Action>) {
        if self.holding {
            self.holding = false;
            self.timers.stop(Timer::Release);
            out.push(Action::RemoveAddresses);
        }
    }

    /// Ends a hold at once (a reload removing the instance, a second SIGTERM).
    pub fn release_now(&mut self, out: &mut Vec<Action>) {
        self.release(out);
    }

    /// The new master's first advert, once its addresses are in place and announced.
    fn first_advert(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.awaiting_announce = false;
        self.timers.stop(Timer::FirstAdvert);
        out.push(Action::SendAdvert {
            priority: self.priority,
        });
        self.timers
            .set(Timer::Adver, now + self.params.advert_interval);
    }

    fn set_drained(&mut self, now: Instant, on: bool, out: &mut Vec<Action>) {
        if on == self.drained {
            return;
        }
        self.drained = on;
        match (on, self.state) {
            (true, State::Master) => {
                self.timers.clear();
                self.awaiting_announce = false;
                self.resign(now, out);
                self.master = None;
                self.preempting = None;
                self.resigned = None;
                self.restart_preempt_delay(now);
                self.transition(State::Backup, Cause::Drained, out);
            }
            (true, State::Backup) => {
                self.timers.stop(Timer::MasterDown);
                self.preempting = None;
            }
            (false, State::Backup) => {
                if self.priority == 255 {
                    self.become_master(now, Cause::Owner, out);
                } else {
                    self.timers
                        .set(Timer::MasterDown, now + self.master_down_interval());
                }
            }
            _ => {}
        }
    }

    /// Make-before-break on the new master: addresses first, then the announcement, then
    /// (once the shell reports both done, [`Action::Barrier`]) the first advert, which is what
    /// makes a resigning or preempted master let go. Clients have moved to us before the old
    /// master stops answering.
    ///
    /// Only where an old master still holds the addresses (it resigned, or we preempt it):
    /// after a master-down timeout nobody answers for them anyway, and an advert at once keeps
    /// lower backups whose timers expire a moment later from taking over too.
    fn become_master(&mut self, now: Instant, cause: Cause, out: &mut Vec<Action>) {
        let handover = match cause {
            Cause::MasterResigned { .. } | Cause::Preempt { .. } => true,
            Cause::Owner => self.master.is_some(),
            _ => false,
        };
        self.timers.clear();
        self.master = None;
        self.preempting = None;
        self.resigned = None;
        self.holding = false;
        if !handover {
            out.push(Action::SendAdvert {
                priority: self.priority,
            });
        }
        out.push(Action::AddAddresses);
        if self.params.garp.repeat > 0 {
            out.push(Action::Announce {
                count: self.params.garp.repeat,
            });
        }
        if handover {
            out.push(Action::Barrier);
            self.awaiting_announce = true;
            self.timers
                .set(Timer::FirstAdvert, now + self.announce_bound());
        } else {
            self.timers
                .set(Timer::Adver, now + self.params.advert_interval);
        }
        if self.params.garp.delay > Duration::ZERO && self.params.garp.repeat > 0 {
            self.timers
                .set(Timer::GarpDelay, now + self.params.garp.delay);
        }
        if self.params.garp.refresh > Duration::ZERO && self.params.garp.repeat > 0 {
            self.timers
                .set(Timer::GarpRefresh, now + self.params.garp.refresh);
        }
        self.master_adver_interval = self.params.advert_interval;
        self.transition(State::Master, cause, out);
    }

    fn become_backup(&mut self, now: Instant, h: Heard, cause: Cause, out: &mut Vec<Action>) {
        self.timers.clear();
        self.awaiting_announce = false;
        // The preempter's advert comes after its own addresses and announcement: releasing
        // now is make-before-break.
        out.push(Action::RemoveAddresses);
        self.follow(now, h);
        self.restart_preempt_delay(now);
        self.transition(State::Backup, cause, out);
    }

    /// Accept `h` as the master: learn its interval (v3) and restart the down timer.
    fn follow(&mut self, now: Instant, h: Heard) {
        if self.params.version == Version::V3 {
            self.master_adver_interval = h.interval;
        }
        self.master = Some((h.src, h.priority));
        self.preempting = None;
        self.resigned = None;
        // A master is heard: a sync group member no longer wants to take over.
        self.wants = None;
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval());
    }

    fn on_advert(&mut self, now: Instant, h: Heard, out: &mut Vec<Action>) {
        if h.priority > 0 && h.src != self.primary {
            // The new master is up (its advert follows its announcement): let go (if held).
            self.release(out);
        }
        match self.state {
            State::Backup => {
                if h.priority == 0 {
                    // RFC 3768 6.4.2: the master resigned; take over after Skew_Time.
                    self.resigned = Some(h.src);
                    self.timers.set(Timer::MasterDown, now + self.skew_time());
                } else if !self.preempts() || h.priority >= self.priority {
                    if h.priority >= self.priority {
                        // A better master: a later lower one restarts the preempt delay.
                        self.preempt_allowed_at = None;
                    }
                    self.follow(now, h);
                } else if self.preempt_delayed(now) {
                    self.follow(now, h);
                } else {
                    // Preempt: discard the advert and let the down timer fire.
                    self.preempting = Some((h.src, h.priority));
                    self.master = Some((h.src, h.priority));
                }
            }
            State::Master => {
                if h.priority == 0 {
                    if self.awaiting_announce {
                        // Our first advert is on its way (after the announcement).
                        return;
                    }
                    // RFC 3768 6.4.3: another master resigned; assert ourselves now.
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.timers
                        .set(Timer::Adver, now + self.params.advert_interval);
                } else if h.priority > self.priority {
                    let cause = Cause::HigherPriority {
                        priority: h.priority,
                        from: h.src,
                    };
                    self.become_backup(now, h, cause, out);
                } else if h.priority == self.priority && addr_key(h.src) > addr_key(self.primary) {
                    let cause = Cause::EqualPriorityHigherAddress {
                        priority: h.priority,
                        from: h.src,
                    };
                    self.become_backup(now, h, cause, out);
                } else if h.src != self.primary && !self.awaiting_announce {
                    // RFC 9568 6.4.3: a lower-priority master is out there; make it step down now.
                    out.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                }
            }
            State::Init | State::Fault | State::Stop => {}
        }
    }

    /// Preempt_Mode; RFC 3768 6.1: the address owner (255) always preempts, whatever the flag.
    fn preempts(&self) -> bool {
        self.params.preempt || self.priority == 255
    }

    /// Entering Backup (startup, fault cleared, stepped down from Master) starts preempt_delay
    /// afresh, as keepalived does.
    fn restart_preempt_delay(&mut self, now: Instant) {
        self.preempt_allowed_at =
            (!self.params.preempt_delay.is_zero()).then(|| now + self.params.preempt_delay);
    }

    /// preempt_delay: after entering Backup, or after first hearing a lower-priority master,
    /// follow it until the delay has passed.
    fn preempt_delayed(&mut self, now: Instant) -> bool {
        if self.params.preempt_delay.is_zero() {
            return false;
        }
        let at = *self
            .preempt_allowed_at
            .get_or_insert(now + self.params.preempt_delay);
        now < at
    }

    fn transition(&mut self, to: State, cause: Cause, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.wants = None;
        if to != State::Backup {
            self.master = None;
        }
        out.push(Action::Transition { from, to, cause });
    }
}

/// Addresses compared as unsigned integers in network byte order (RFC 3768 6.4.3).
fn addr_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

//! Sync groups (`sync_groups:`, keepalived's `vrrp_sync_group`): instances that change state
//! together, e.g. the outside and inside legs of a NAT gateway, so one node holds both.
//!
//! The rules, as keepalived 2.2.7 applies them (`vrrp_sync.c`):
//! - **Fault**: a member in Fault puts the others in Fault (a Master resigns with priority 0
//!   and removes its addresses, as on its own fault); the group leaves Fault only when every
//!   member is healthy again. In the core this is a fold: a member's health is its own health
//!   and that of every other started member ([`Router::group_healthy`]).
//! - **Backup**: a member that leaves Master for Backup (it heard a higher priority) makes
//!   the other Masters follow. vipd makes them resign make-before-break (priority 0, keeping
//!   their addresses until the new master is heard, as a drain does), so the peer takes over
//!   after Skew_Time; keepalived removes the addresses at once.
//! - **Master**: a member whose master-down timer expires only records that it wants Master
//!   (the engine's `gated` mode); the group goes Master when every member wants it (or is
//!   Master already), and then all of them become Master at once. While the group is Master a
//!   member that wants Master (e.g. one restarted by a reload) becomes Master at once.
//! - The group state is MASTER when every member is, FAULT when one is, BACKUP otherwise
//!   (INIT before every member has started, STOP on shutdown); each change runs the group's
//!   notify hooks (`GROUP <name> <STATE> 0` appended for `any`, keepalived's argv) and is a
//!   [`Fact::SyncGroup`].
//! - A group of one instance is ignored, as keepalived does (validation warns).
//!
//! Differences from keepalived, on purpose: the resignation on Backup above; and the
//! instance hooks of members still run on every member transition (keepalived skips an
//! instance's hooks when it is forced into the state its group is already in).

use std::collections::HashMap;
use std::time::Instant;

use super::{Effect, Fact, InstId, Router};
use crate::config::{Config, Notify};
use crate::engine::{Input, State};

/// One active sync group (two members or more).
#[derive(Clone, Debug)]
pub(super) struct Group {
    pub(super) name: String,
    pub(super) members: Vec<String>,
    notify: Notify,
    /// The group state last reported (None: never).
    state: Option<State>,
    /// Each member's state at the end of the last sync step.
    last: HashMap<String, State>,
}

/// The groups of a configuration (groups of one are left out).
pub(super) fn groups(config: &Config, old: &[Group]) -> Vec<Group> {
    config
        .sync_groups
        .values()
        .filter(|g| g.instances.len() >= 2)
        .map(|g| {
            let prev = old.iter().find(|o| o.name == g.name);
            Group {
                name: g.name.clone(),
                members: g.instances.clone(),
                notify: g.notify.clone(),
                state: prev.and_then(|p| p.state),
                last: prev.map(|p| p.last.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The state a group shows for its members' states (`None`: no member is live).
pub(super) fn group_state(members: &[State], shutting_down: bool) -> Option<State> {
    if shutting_down {
        return Some(State::Stop);
    }
    if members.is_empty() {
        return None;
    }
    Some(if members.contains(&State::Fault) {
        State::Fault
    } else if members.contains(&State::Init) {
        State::Init
    } else if members.iter().all(|s| *s == State::Master) {
        State::Master
    } else {
        State::Backup
    })
}

impl Router {
    /// The group of a member (active groups only).
    fn group_of_member(&self, name: &str) -> Option<usize> {
        self.sync
            .iter()
            .position(|g| g.members.iter().any(|m| m == name))
    }

    /// Live (not stopping) members of group `g`, in configuration order.
    fn members(&self, g: usize) -> Vec<(String, InstId)> {
        self.sync[g]
            .members
            .iter()
            .filter_map(|m| {
                let id = *self.by_name.get(m)?;
                self.inst(id)
                    .filter(|x| !x.stopping)
                    .map(|_| (m.clone(), id))
            })
            .collect()
    }

    /// Whether every other started member of `id`'s group is healthy on its own (true
    /// outside a group). Members not started yet do not count: nothing is known of them.
    pub(super) fn group_healthy(&self, id: InstId) -> bool {
        let Some(name) = self.inst(id).map(|x| x.cfg.name.clone()) else {
            return true;
        };
        let Some(g) = self.group_of_member(&name) else {
            return true;
        };
        self.members(g)
            .iter()
            .filter(|(m, _)| *m != name)
            .filter_map(|(_, o)| self.inst(*o))
            .all(|x| !x.started || x.own_healthy)
    }

    /// Applies the group rules until nothing changes, then reports group state changes.
    /// Called after every input and timeout; re-entry (from the inputs it feeds) is a no-op.
    pub(super) fn sync_step(&mut self, now: Instant) {
        if self.sync.is_empty() || self.syncing {
            return;
        }
        self.syncing = true;
        // One pass reaches the fixed point. Its three rules run in order, each on the states
        // the one before left: the refold makes every member's health agree with the group's
        // (a reassess changes no other member's own health or start); SyncBackup turns
        // Masters into Backups, which changes no health, wants nothing, and the pass's
        // snapshot records them as Backup; SyncMaster turns members that wanted it into
        // Masters, which no rule acts on. Test builds (every unit, model-checking and
        // conformance test) run a second pass and check that it changes nothing.
        let changed = self.sync_once(now);
        debug_assert!(
            !(changed && self.sync_once(now)),
            "a second sync pass changed something"
        );
        for g in 0..self.sync.len() {
            self.report(g);
        }
        self.syncing = false;
    }

    /// One pass over every group; true when it fed an input.
    fn sync_once(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for g in 0..self.sync.len() {
            let members = self.members(g);
            // Gating follows membership (instances come and go on reload).
            for (_, id) in &members {
                if let Some(inst) = self.inst_mut(*id) {
                    inst.engine.set_gated(true);
                }
            }
            // Fault: a member's health includes the others'; refold those that disagree.
            let refold: Vec<InstId> = members
                .iter()
                .filter(|(_, id)| {
                    self.inst(*id).is_some_and(|x| {
                        x.started && x.healthy != (x.own_healthy && self.group_healthy(*id))
                    })
                })
                .map(|(_, id)| *id)
                .collect();
            for id in refold {
                self.reassess(id, now);
                changed = true;
            }
            // Backup: a member that left Master for Backup takes the other Masters along.
            let left_master = members.iter().any(|(m, id)| {
                self.sync[g].last.get(m) == Some(&State::Master)
                    && self.engine(*id).map(|e| e.state()) == Some(State::Backup)
            });
            if left_master {
                for (_, id) in &members {
                    if self.engine(*id).map(|e| e.state()) == Some(State::Master) {
                        self.input(*id, now, Input::SyncBackup);
                        changed = true;
                    }
                }
            }
            // Master: only when every member wants it (or is Master already, or the group is).
            let states: Vec<(InstId, State, bool)> = members
                .iter()
                .filter_map(|(_, id)| self.engine(*id).map(|e| (*id, e.state(), e.wants_master())))
                .collect();
            let any_wants = states.iter().any(|(_, _, w)| *w);
            let all_ready = states.iter().all(|(_, s, w)| *w || *s == State::Master);
            let group_master = self.sync[g].state == Some(State::Master);
            if any_wants && (all_ready || group_master) {
                for (id, _, wants) in states {
                    if wants {
                        self.input(id, now, Input::SyncMaster);
                        changed = true;
                    }
                }
            }
            let snapshot: HashMap<String, State> = members
                .iter()
                .filter_map(|(m, id)| self.engine(*id).map(|e| (m.clone(), e.state())))
                .collect();
            self.sync[g].last = snapshot;
        }
        changed
    }

    /// Reports a change of group `g`'s state: a fact, and the group's hooks.
    fn report(&mut self, g: usize) {
        let states: Vec<State> = self
            .members(g)
            .iter()
            .filter_map(|(_, id)| self.engine(*id).map(|e| e.state()))
            .collect();
        let Some(to) = group_state(&states, self.shutting_down) else {
            return;
        };
        let group = &mut self.sync[g];
        let from = group.state;
        if from == Some(to) {
            return;
        }
        group.state = Some(to);
        let (name, hooks) = (group.name.clone(), group.notify.clone());
        self.fact(Fact::SyncGroup {
            group: name.clone(),
            from: from.unwrap_or(State::Init),
            to,
        });
        if to != State::Init && !hooks.is_empty() {
            self.out.push_back(Effect::NotifyGroup {
                group: name,
                state: to,
                hooks,
            });
        }
    }

    /// The groups for `/status`, in configuration order: the state last reported (`init`
    /// before the first) and each member's state.
    pub(super) fn sync_status(&self) -> Vec<crate::status::SyncGroupStatus> {
        self.sync
            .iter()
            .map(|g| crate::status::SyncGroupStatus {
                name: g.name.clone(),
                state: g.state.unwrap_or(State::Init).as_str().to_owned(),
                members: g
                    .members
                    .iter()
                    .map(|m| crate::status::SyncMemberStatus {
                        name: m.clone(),
                        state: self
                            .by_name
                            .get(m)
                            .and_then(|&id| self.engine(id))
                            .map_or("absent", |e| e.state().as_str())
                            .to_owned(),
                    })
                    .collect(),
            })
            .collect()
    }

    /// Every active group and its state (None before it was first reported).
    pub fn sync_groups(&self) -> Vec<(String, Option<State>)> {
        self.sync
            .iter()
            .map(|g| (g.name.clone(), g.state))
            .collect()
    }

    /// A reload: the new configuration's groups (states kept by name); members leaving
    /// every group are no longer gated.
    pub(super) fn sync_reload(&mut self, new: &Config) {
        let groups = groups(new, &self.sync);
        for id in self.ids() {
            let Some(name) = self.inst(id).map(|x| x.cfg.name.clone()) else {
                continue;
            };
            let member = groups.iter().any(|g| g.members.contains(&name));
            if !member && let Some(inst) = self.inst_mut(id) {
                inst.engine.set_gated(false);
            }
        }
        let gone: Vec<String> = self
            .sync
            .iter()
            .filter(|o| !groups.iter().any(|g| g.name == o.name))
            .map(|o| o.name.clone())
            .collect();
        for group in gone {
            self.fact(Fact::SyncGroupRemoved { group });
        }
        self.sync = groups;
    }
}

//! The reload plan: what a new configuration changes, decided from the two values alone.

use std::collections::BTreeSet;

use crate::config::{Config, InstanceConfig};

/// What to do with each instance and script on reload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Identical: nothing happens.
    pub keep: Vec<String>,
    /// Same virtual router (interface, VRID, family, version, addresses), other parameters
    /// changed: updated in place (a master stays master, no address flap).
    pub update: Vec<String>,
    /// The virtual router itself changed: resign the old one, start the new one.
    pub restart: Vec<String>,
    /// New instances.
    pub add: Vec<String>,
    /// Gone: resign.
    pub remove: Vec<String>,
    /// Scripts to (re)start: new, or their configuration changed (their health restarts
    /// from the initial state).
    pub scripts_start: Vec<String>,
    /// Scripts to stop: removed, or changed (stopped before restarted). Scripts in neither
    /// list keep running and keep their health.
    pub scripts_stop: Vec<String>,
    /// The set of tracked files changed.
    pub files_changed: bool,
    /// The top-level `processes` changed (the watcher restarts with a full scan).
    pub processes_changed: bool,
    /// `listen` changed (takes effect on restart only).
    pub listen_changed: bool,
}

impl Plan {
    /// Nothing at all changes.
    pub fn is_empty(&self) -> bool {
        self.update.is_empty()
            && self.restart.is_empty()
            && self.add.is_empty()
            && self.remove.is_empty()
            && self.scripts_start.is_empty()
            && self.scripts_stop.is_empty()
            && !self.files_changed
            && !self.processes_changed
            && !self.listen_changed
    }
}

/// The identity of a virtual router: what cannot change without restarting it.
fn identity(c: &InstanceConfig) -> impl PartialEq + '_ {
    (
        &c.interface,
        c.vrid,
        c.family,
        c.version,
        &c.virtual_ipaddress,
        // What moves with the master: a restart removes the old set and adds the new.
        (
            &c.virtual_ipaddress_excluded,
            &c.virtual_routes,
            &c.virtual_rules,
        ),
        // The metrics' `group` label: the series are renamed by recreating the instance.
        &c.group,
    )
}

/// Compares two configurations.
pub fn plan(old: &Config, new: &Config) -> Plan {
    let mut p = Plan::default();
    for (name, o) in &old.instances {
        match new.instances.get(name) {
            Some(n) if n == o => p.keep.push(name.clone()),
            Some(n) if identity(n) == identity(o) => p.update.push(name.clone()),
            Some(_) => p.restart.push(name.clone()),
            None => p.remove.push(name.clone()),
        }
    }
    p.add = new
        .instances
        .keys()
        .filter(|n| !old.instances.contains_key(*n))
        .cloned()
        .collect();
    for (name, o) in &old.scripts {
        match new.scripts.get(name) {
            Some(n) if n == o => {}
            Some(_) => {
                p.scripts_stop.push(name.clone());
                p.scripts_start.push(name.clone());
            }
            None => p.scripts_stop.push(name.clone()),
        }
    }
    p.scripts_start.extend(
        new.scripts
            .keys()
            .filter(|n| !old.scripts.contains_key(*n))
            .cloned(),
    );
    let files = |c: &Config| -> BTreeSet<_> {
        crate::track::tracked_files(c.instances.values())
            .into_iter()
            .collect()
    };
    p.files_changed = files(old) != files(new);
    p.processes_changed = old.processes != new.processes;
    p.listen_changed = old.listen != new.listen;
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Config {
        crate::config::parse_str(yaml, "t.yaml")
            .expect("valid")
            .config
    }

    #[test]
    fn a_plan_is_empty_only_when_every_part_is() {
        assert!(Plan::default().is_empty());
        let one = "x".to_owned();
        let plans = [
            Plan {
                keep: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                update: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                restart: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                add: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                remove: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                scripts_start: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                scripts_stop: vec![one.clone()],
                ..Plan::default()
            },
            Plan {
                files_changed: true,
                ..Plan::default()
            },
            Plan {
                processes_changed: true,
                ..Plan::default()
            },
            Plan {
                listen_changed: true,
                ..Plan::default()
            },
        ];
        // Kept instances change nothing; every other part is a change.
        let empty: Vec<bool> = plans.iter().map(Plan::is_empty).collect();
        assert_eq!(
            empty,
            [
                true, false, false, false, false, false, false, false, false, false
            ]
        );
    }

    const BASE: &str = "scripts:\n  a: {command: [/bin/true]}\n  b: {command: [/bin/true]}\ninstances:\n  V1:\n    interface: eth0\n    vrid: 1\n    priority: 100\n    track_scripts: [a]\n    virtual_ipaddress: [10.99.0.1/24]\n  V2:\n    interface: eth0\n    vrid: 2\n    virtual_ipaddress: [10.99.0.2/24]\n";

    #[test]
    fn identical_configurations_plan_nothing() {
        let p = plan(&parse(BASE), &parse(BASE));
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.keep, vec!["V1", "V2"]);
    }

    #[test]
    fn priority_change_is_an_update_in_place_address_change_a_restart() {
        let new = BASE
            .replace("priority: 100", "priority: 120")
            .replace("10.99.0.2/24", "10.99.0.3/24");
        let p = plan(&parse(BASE), &parse(&new));
        assert_eq!(p.update, vec!["V1"]);
        assert_eq!(p.restart, vec!["V2"]);
        assert!(p.scripts_start.is_empty() && p.scripts_stop.is_empty());
    }

    #[test]
    fn group_label_change_restarts_the_instance() {
        let new = BASE.replace("    vrid: 2\n", "    vrid: 2\n    group: lan1\n");
        let p = plan(&parse(BASE), &parse(&new));
        assert_eq!(p.restart, vec!["V2"]);
        assert_eq!(p.keep, vec!["V1"]);
    }

    #[test]
    fn group_label_is_bounded_and_survives_adding_an_address() {
        let one = parse(BASE);
        assert_eq!(crate::router::group_of(&one.instances["V2"]), "10.99.0.2");
        // Adding addresses (252 of them, some sorting before it as text) keeps the label.
        let vips: Vec<String> = (3..=254).map(|n| format!("10.99.0.{n}/24")).collect();
        let many = parse(&BASE.replace(
            "[10.99.0.2/24]",
            &format!("[10.99.0.2/24, {}]", vips.join(", ")),
        ));
        assert_eq!(crate::router::group_of(&many.instances["V2"]), "10.99.0.2");
        let named = parse(&BASE.replace("    vrid: 2\n", "    vrid: 2\n    group: lan1\n"));
        assert_eq!(crate::router::group_of(&named.instances["V2"]), "lan1");
    }

    #[test]
    fn reload_keeps_script_health_only_the_changed_script_restarts() {
        let new = BASE.replace(
            "b: {command: [/bin/true]}",
            "b: {command: [/bin/false]}\n  c: {command: [/bin/true]}",
        );
        let p = plan(&parse(BASE), &parse(&new));
        assert_eq!(p.scripts_stop, vec!["b"]);
        assert_eq!(p.scripts_start, vec!["b", "c"]);
        assert_eq!(p.keep, vec!["V1", "V2"]);
    }

    #[test]
    fn added_and_removed_instances() {
        let new = BASE.replace("  V2:", "  V3:");
        let p = plan(&parse(BASE), &parse(&new));
        assert_eq!(p.remove, vec!["V2"]);
        assert_eq!(p.add, vec!["V3"]);
    }
}

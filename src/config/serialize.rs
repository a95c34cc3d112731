//! [`serde::Serialize`] for the configuration model: the YAML `vipd check` reads back into the
//! same values (`parse_str(serialize(c)) == c`, but for the `reverse` of script and process
//! definitions, folded into their entries). Keys left at their default are not written, so
//! the output stays short; what differs between keepalived and vipd (`version`, `priority`,
//! `advert_interval`) is always written. `vipd import-keepalived` builds these types and
//! serialises them.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::time::Duration;

use super::duration::format_duration;
use super::model::{
    ChecksumForm, Config, Garp, InstanceConfig, LogFormat, Notify, ProcessConfig, ScriptConfig,
    SyncGroupConfig, TrackFile, TrackInterface, TrackProcess, TrackScript, Version, Vip,
};
use super::model::{Family, Route, RouteType, Rule};

/// A duration as vipd writes it (`1s`, `200ms`).
struct Dur(Duration);

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl Serialize for Vip {
    /// `addr/len`, or the mapping form when an option is set.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = format!("{}/{}", self.addr, self.prefix_len);
        if self.is_plain() {
            return s.serialize_str(&text);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("address", &text)?;
        if let Some(d) = &self.dev {
            m.serialize_entry("dev", d)?;
        }
        if let Some(x) = self.scope {
            m.serialize_entry("scope", x.as_str())?;
        }
        if let Some(l) = &self.label {
            m.serialize_entry("label", l)?;
        }
        if let Some(b) = self.brd {
            m.serialize_entry("brd", &b.to_string())?;
        }
        if self.noprefixroute {
            m.serialize_entry("noprefixroute", &true)?;
        }
        m.end()
    }
}

/// `addr/len`.
fn net((a, l): (std::net::IpAddr, u8)) -> String {
    format!("{a}/{l}")
}

impl Serialize for Route {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("to", &net(self.to))?;
        if self.kind != RouteType::Unicast {
            m.serialize_entry("type", self.kind.as_str())?;
        }
        if let Some(v) = self.via {
            m.serialize_entry("via", &v.to_string())?;
        }
        if let Some(v) = self.or {
            m.serialize_entry("or", &v.to_string())?;
        }
        if let Some(d) = &self.dev {
            m.serialize_entry("dev", d)?;
        }
        if let Some(v) = self.src {
            m.serialize_entry("src", &v.to_string())?;
        }
        if let Some(t) = self.table {
            m.serialize_entry("table", &t)?;
        }
        if let Some(t) = self.metric {
            m.serialize_entry("metric", &t)?;
        }
        if let Some(x) = self.scope {
            m.serialize_entry("scope", x.as_str())?;
        }
        if let Some(p) = self.proto {
            m.serialize_entry("proto", &p)?;
        }
        m.end()
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(x) = self.from {
            m.serialize_entry("from", &net(x))?;
        }
        if let Some(x) = self.to {
            m.serialize_entry("to", &net(x))?;
        }
        if self.from.is_none() && self.to.is_none() && self.family == Family::Ipv6 {
            m.serialize_entry("family", "ipv6")?;
        }
        m.serialize_entry("table", &self.table)?;
        if let Some(p) = self.priority {
            m.serialize_entry("priority", &p)?;
        }
        if let Some(d) = &self.iif {
            m.serialize_entry("iif", d)?;
        }
        if let Some(d) = &self.oif {
            m.serialize_entry("oif", d)?;
        }
        match self.fwmark {
            Some((v, None)) => m.serialize_entry("fwmark", &v)?,
            Some((v, Some(k))) => m.serialize_entry("fwmark", &format!("{v:#x}/{k:#x}"))?,
            None => {}
        }
        if let Some(p) = self.proto {
            m.serialize_entry("proto", &p)?;
        }
        m.end()
    }
}

/// The default `listen` (see validate).
const DEFAULT_LISTEN: &str = "0.0.0.0:9797";

impl Serialize for Config {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("router_id", &self.router_id)?;
        if self.listen.to_string() != DEFAULT_LISTEN {
            m.serialize_entry("listen", &self.listen.to_string())?;
        }
        if self.log_format == LogFormat::Json {
            m.serialize_entry("log", &LogJson)?;
        }
        if let Some(o) = &self.otlp {
            m.serialize_entry("otlp", &Endpoint(&o.endpoint))?;
        }
        if !self.scripts.is_empty() {
            m.serialize_entry("scripts", &self.scripts)?;
        }
        if !self.processes.is_empty() {
            m.serialize_entry("processes", &self.processes)?;
        }
        m.serialize_entry("instances", &self.instances)?;
        if !self.sync_groups.is_empty() {
            m.serialize_entry("sync_groups", &self.sync_groups)?;
        }
        if !self.statics.addresses.is_empty() {
            m.serialize_entry("static_ipaddress", &List(&self.statics.addresses))?;
        }
        if !self.statics.routes.is_empty() {
            m.serialize_entry("static_routes", &List(&self.statics.routes))?;
        }
        if !self.statics.rules.is_empty() {
            m.serialize_entry("static_rules", &List(&self.statics.rules))?;
        }
        m.end()
    }
}

impl Serialize for SyncGroupConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("instances", &self.instances)?;
        if !self.notify.is_empty() {
            m.serialize_entry("notify", &self.notify)?;
        }
        if self.tracking_weight {
            m.serialize_entry("tracking_weight", &true)?;
        }
        m.end()
    }
}

struct LogJson;

impl Serialize for LogJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("format", "json")?;
        m.end()
    }
}

struct Endpoint<'a>(&'a str);

impl Serialize for Endpoint<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("endpoint", self.0)?;
        m.end()
    }
}

impl Serialize for ScriptConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("command", &self.command)?;
        if self.interval != Duration::from_secs(1) {
            m.serialize_entry("interval", &Dur(self.interval))?;
        }
        if self.timeout != self.interval {
            m.serialize_entry("timeout", &Dur(self.timeout))?;
        }
        if self.weight != 0 {
            m.serialize_entry("weight", &self.weight)?;
        }
        if self.rise != 1 {
            m.serialize_entry("rise", &self.rise)?;
        }
        if self.fall != 1 {
            m.serialize_entry("fall", &self.fall)?;
        }
        if let Some(u) = &self.user {
            m.serialize_entry("user", u)?;
        }
        if self.init_fail {
            m.serialize_entry("init_fail", &true)?;
        }
        // `reverse` is not written: it is only the default of the `track_scripts` entries,
        // which are written resolved (see [`Resolved`]).
        m.end()
    }
}

/// `{name, weight}` (or `{path, weight}`) entry of a tracking list, with `reverse: true`
/// when reversed.
struct Weighted<'a> {
    key: &'static str,
    name: &'a str,
    weight: Option<i32>,
    reverse: bool,
}

impl Serialize for Weighted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.key, self.name)?;
        if let Some(w) = self.weight {
            m.serialize_entry("weight", &w)?;
        }
        if self.reverse {
            m.serialize_entry("reverse", &true)?;
        }
        m.end()
    }
}

/// A `track_scripts` / `track_processes` entry: `{name, weight}`, and `reverse: true` when
/// reversed. The entry holds the resolved values; the definitions' defaults (`weight`,
/// `reverse`) are not needed to read it back, so a definition's `reverse` is not written:
/// `parse_str(serialize(c))` has the same entries, with `reverse: false` definitions.
struct Resolved<'a> {
    name: &'a str,
    weight: i32,
    reverse: bool,
}

impl Serialize for Resolved<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", self.name)?;
        m.serialize_entry("weight", &self.weight)?;
        if self.reverse {
            m.serialize_entry("reverse", &true)?;
        }
        m.end()
    }
}

impl Serialize for TrackInterface {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.weight.is_none() && !self.reverse {
            return s.serialize_str(&self.name);
        }
        Weighted {
            key: "name",
            name: &self.name,
            weight: self.weight,
            reverse: self.reverse,
        }
        .serialize(s)
    }
}

impl Serialize for TrackScript {
    /// Always with its weight and `reverse`: the model holds the resolved ones, which may
    /// differ from the script's own (`reverse: false` is written when the script's is true).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Resolved {
            name: &self.name,
            weight: self.weight,
            reverse: self.reverse,
        }
        .serialize(s)
    }
}

impl Serialize for TrackProcess {
    /// Always with its weight and `reverse`, as [`TrackScript`].
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Resolved {
            name: &self.name,
            weight: self.weight,
            reverse: self.reverse,
        }
        .serialize(s)
    }
}

impl Serialize for ProcessConfig {
    /// `name`, and what differs from the defaults (quorum 1, no maximum, weight 0, no delays).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.matcher.name)?;
        if let Some((params, how)) = &self.matcher.params {
            m.serialize_entry("args", &params.join(" "))?;
            m.serialize_entry("param_match", how.as_str())?;
        } else if self.matcher.full_command {
            m.serialize_entry("full_command", &true)?;
        }
        if self.quorum != 1 && self.quorum_max != 0 {
            m.serialize_entry("quorum", &self.quorum)?;
        }
        if self.quorum_max != u32::MAX {
            m.serialize_entry("quorum_max", &self.quorum_max)?;
        }
        if self.weight != 0 {
            m.serialize_entry("weight", &self.weight)?;
        }
        if !self.fork_delay.is_zero() {
            m.serialize_entry("fork_delay", &Dur(self.fork_delay))?;
        }
        if !self.terminate_delay.is_zero() {
            m.serialize_entry("terminate_delay", &Dur(self.terminate_delay))?;
        }
        // `reverse`: not written, as for scripts (the entries carry it).
        m.end()
    }
}

impl Serialize for TrackFile {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let path = self.path.to_string_lossy();
        if self.weight == 1 && !self.reverse {
            s.serialize_str(&path)
        } else {
            Weighted {
                key: "path",
                name: &path,
                weight: Some(self.weight),
                reverse: self.reverse,
            }
            .serialize(s)
        }
    }
}

impl Serialize for Notify {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in [
            ("master", &self.master),
            ("backup", &self.backup),
            ("fault", &self.fault),
            ("stop", &self.stop),
            ("any", &self.any),
        ] {
            match (v, self.run_as.get(k)) {
                (Some(argv), None) => m.serialize_entry(k, argv)?,
                (Some(argv), Some(r)) => m.serialize_entry(k, &Hook(argv, r))?,
                (None, _) => {}
            }
        }
        m.end()
    }
}

/// A hook run as another user: `{command, user, group}`.
struct Hook<'a>(&'a [String], &'a super::model::RunAs);

impl Serialize for Hook<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("command", self.0)?;
        m.serialize_entry("user", &self.1.user)?;
        if let Some(g) = &self.1.group {
            m.serialize_entry("group", g)?;
        }
        m.end()
    }
}

impl Serialize for Garp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = Garp::default();
        let mut m = s.serialize_map(None)?;
        if self.delay != d.delay {
            m.serialize_entry("delay", &Dur(self.delay))?;
        }
        if self.repeat != d.repeat {
            m.serialize_entry("repeat", &self.repeat)?;
        }
        if self.refresh != d.refresh {
            m.serialize_entry("refresh", &Dur(self.refresh))?;
        }
        if self.interval != d.interval {
            m.serialize_entry("interval", &Dur(self.interval))?;
        }
        m.end()
    }
}

struct Auth<'a>(&'a str);

impl Serialize for Auth<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", "pass")?;
        m.serialize_entry("password", self.0)?;
        m.end()
    }
}

/// A list written only when it is not empty.
struct List<'a, T>(&'a [T]);

impl<T: Serialize> Serialize for List<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            q.serialize_element(x)?;
        }
        q.end()
    }
}

impl Serialize for InstanceConfig {
    /// The instance's body (its name is the key it is written under).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("interface", &self.interface)?;
        if let Some(g) = &self.group {
            m.serialize_entry("group", g)?;
        }
        m.serialize_entry("vrid", &self.vrid)?;
        m.serialize_entry("priority", &self.priority)?;
        m.serialize_entry(
            "version",
            &match self.version {
                Version::V2 => 2,
                Version::V3 => 3,
            },
        )?;
        m.serialize_entry("advert_interval", &Dur(self.advert_interval))?;
        if !self.preempt {
            m.serialize_entry("preempt", &false)?;
        }
        if !self.preempt_delay.is_zero() {
            m.serialize_entry("preempt_delay", &Dur(self.preempt_delay))?;
        }
        if let Some(p) = &self.auth_pass {
            m.serialize_entry("authentication", &Auth(p))?;
        }
        // None: an instance without addresses (the key is left out, as keepalived's is).
        if !self.virtual_ipaddress.is_empty() {
            m.serialize_entry("virtual_ipaddress", &List(&self.virtual_ipaddress))?;
        }
        if !self.virtual_ipaddress_excluded.is_empty() {
            m.serialize_entry(
                "virtual_ipaddress_excluded",
                &List(&self.virtual_ipaddress_excluded),
            )?;
        }
        if !self.virtual_routes.is_empty() {
            m.serialize_entry("virtual_routes", &List(&self.virtual_routes))?;
        }
        if !self.virtual_rules.is_empty() {
            m.serialize_entry("virtual_rules", &List(&self.virtual_rules))?;
        }
        if !self.unicast_peers.is_empty() {
            let peers: Vec<Peer> = self
                .unicast_peers
                .iter()
                .map(|a| Peer(*a, self.unicast_peer_ttl.get(a).copied()))
                .collect();
            m.serialize_entry("unicast_peers", &peers)?;
        }
        if let Some(a) = &self.unicast_src {
            m.serialize_entry("unicast_src", &a.to_string())?;
        }
        if self.check_unicast_src {
            m.serialize_entry("check_unicast_src", &true)?;
        }
        if !self.track_interfaces.is_empty() {
            m.serialize_entry("track_interfaces", &List(&self.track_interfaces))?;
        }
        if !self.track_scripts.is_empty() {
            m.serialize_entry("track_scripts", &List(&self.track_scripts))?;
        }
        if !self.track_files.is_empty() {
            m.serialize_entry("track_files", &List(&self.track_files))?;
        }
        if !self.track_processes.is_empty() {
            m.serialize_entry("track_processes", &List(&self.track_processes))?;
        }
        if !self.notify.is_empty() {
            m.serialize_entry("notify", &self.notify)?;
        }
        if self.garp != Garp::default() {
            m.serialize_entry("garp", &self.garp)?;
        }
        if self.v3_checksum == ChecksumForm::MessageOnly {
            m.serialize_entry("v3_checksum", "rfc9568")?;
        }
        if let Some(v) = &self.vmac {
            if v.name == format!("vrrp.{}", self.vrid) {
                m.serialize_entry("use_vmac", &true)?;
            } else {
                m.serialize_entry("use_vmac", &v.name)?;
            }
            if v.xmit_base {
                m.serialize_entry("vmac_xmit_base", &true)?;
            }
            if !v.link_local && self.family == Family::Ipv6 {
                m.serialize_entry("vmac_link_local", &false)?;
            }
        }
        m.end()
    }
}

/// A unicast peer: its address, or `{address, min_ttl, max_ttl}` with a TTL range.
struct Peer(std::net::IpAddr, Option<super::model::TtlRange>);

impl Serialize for Peer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(r) = self.1 else {
            return s.serialize_str(&self.0.to_string());
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("address", &self.0.to_string())?;
        // At least one key, so that the range reads back.
        if r.min != 0 || r.max == 255 {
            m.serialize_entry("min_ttl", &r.min)?;
        }
        if r.max != 255 {
            m.serialize_entry("max_ttl", &r.max)?;
        }
        m.end()
    }
}

/// YAML text of any model value (a whole [`Config`], one instance, one script, ...).
pub fn to_yaml<T: Serialize>(v: &T) -> String {
    serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"))
}

#[cfg(test)]
mod tests {
    use super::to_yaml;
    use crate::config::parse_str;

    /// Every shipped example (config/vipd.yaml shows every key) reads back to the same values.
    #[test]
    fn serialised_config_reads_back_to_the_same_values() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut files = vec![dir.join("vipd.yaml")];
        for sub in ["master-backup", "dual-master"] {
            for e in std::fs::read_dir(dir.join(sub)).unwrap() {
                files.push(e.unwrap().path());
            }
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let a = parse_str(&text, "a").unwrap().config;
            let yaml = to_yaml(&a);
            let b = parse_str(&yaml, "b")
                .unwrap_or_else(|d| panic!("{}: {d:?}\n{yaml}", f.display()))
                .config;
            assert_eq!(a, b, "{}:\n{yaml}", f.display());
        }
    }

    #[test]
    fn every_instance_key_round_trips_and_defaults_are_left_out() {
        let text = "router_id: r1\nlisten: \"127.0.0.1:9800\"\nlog: {format: json}\n\
            scripts:\n  chk: {command: [/bin/true, \"a b\"], interval: 2s, timeout: 500ms, weight: -20, rise: 2, fall: 3, user: nobody, init_fail: true}\n  plain: {command: [\"0011\"]}\n\
            instances:\n  V:\n    interface: eth0\n    vrid: 9\n    priority: 120\n    version: 3\n    advert_interval: 150ms\n    preempt: false\n    preempt_delay: 1.5s\n\
            \x20   virtual_ipaddress: [10.99.0.9/24, 10.99.0.10]\n    unicast_peers: [10.99.0.2]\n    unicast_src: 10.99.0.1\n\
            \x20   track_interfaces: [eth1, {name: eth2, weight: -10}]\n    track_scripts: [chk, {name: plain, weight: 5}]\n\
            \x20   track_files: [/run/a, {path: /run/b, weight: -3}]\n    notify: {master: [/bin/m, \"x y\"], any: [/bin/a]}\n\
            \x20   garp: {delay: 0s, repeat: 2, refresh: 30s}\n    v3_checksum: rfc9568\n\
            \x20 N:\n    interface: eth0\n    vrid: 10\n    version: 2\n";
        let a = parse_str(text, "a").unwrap().config;
        let yaml = to_yaml(&a);
        let b = parse_str(&yaml, "b")
            .unwrap_or_else(|d| panic!("{d:?}\n{yaml}"))
            .config;
        assert_eq!(a, b, "{yaml}");
        let n = to_yaml(&a.instances["N"]);
        assert!(!n.contains("virtual_ipaddress"), "{n}");
        assert!(!n.contains("garp") && !n.contains("preempt"), "{n}");
        assert!(
            n.contains("version: 2") && n.contains("advert_interval: 1s"),
            "{n}"
        );
    }
}

//! The optional YAML file of `vipd monitor` (`--config FILE`): the interfaces to watch and,
//! per interface, the virtual routers expected on it and each one's expected master.
//!
//! ```yaml
//! interfaces:
//!   eth0:
//!     expect:
//!       - { vrid: 51, master: 10.0.0.2 }       # family from the address; version: any
//!       - { vrid: 52, version: 3, family: ipv6 }
//!   vlan20: {}
//! ```
//!
//! Parsed with serde-saphyr (unknown keys refused, syntax and type errors at their line),
//! then validated: every problem is reported, each at its `path:line:column`.

use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use crate::config::Diagnostic;
use crate::packet::{Family, Version};

/// A virtual router expected on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub family: Family,
    pub vrid: u8,
    /// The VRRP version its master must advertise; None: either.
    pub version: Option<Version>,
    /// The address its master advertises from; None: any router may be master.
    pub master: Option<IpAddr>,
}

/// One interface of the file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// Sorted by (family, VRID); no (family, VRID) twice.
    pub expect: Vec<Expected>,
}

/// A validated monitor file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorFile {
    /// At least one; no name twice.
    pub interfaces: Vec<Interface>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    interfaces: Spanned<Ordered>,
}

/// A mapping kept in file order (interface names are keys).
struct Ordered(Vec<(Spanned<String>, Option<RawInterface>)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of interface names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = a.next_entry()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Ordered, E> {
                Ok(Ordered(Vec::new()))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    #[serde(default)]
    expect: Vec<Spanned<RawExpected>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpected {
    vrid: Spanned<i64>,
    version: Option<Spanned<i64>>,
    family: Option<Spanned<String>>,
    master: Option<Spanned<String>>,
}

fn diag(path: &str, at: Location, message: String) -> Diagnostic {
    Diagnostic {
        path: path.to_owned(),
        line: usize::try_from(at.line()).unwrap_or(0),
        column: usize::try_from(at.column()).unwrap_or(0),
        message,
        warning: false,
    }
}

/// Reads and validates `path`. `Err` holds every problem found, in file order.
pub fn load(path: &Path) -> Result<MonitorFile, Vec<Diagnostic>> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &shown),
        Err(e) => Err(vec![Diagnostic {
            path: shown,
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            warning: false,
        }]),
    }
}

/// Validates the text of a monitor file; `path` is used only in messages.
pub fn parse_str(text: &str, path: &str) -> Result<MonitorFile, Vec<Diagnostic>> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    let raw: RawFile = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let at = e.location().unwrap_or(Location::UNKNOWN);
        let msg = UserMessageFormatter.format_message(e.without_snippet());
        let msg: String = msg
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        vec![diag(path, at, msg)]
    })?;
    let mut errors = Vec::new();
    let mut interfaces: Vec<Interface> = Vec::new();
    if raw.interfaces.value.0.is_empty() {
        errors.push(diag(
            path,
            raw.interfaces.referenced,
            "interfaces: at least one interface is needed".to_owned(),
        ));
    }
    for (name, body) in raw.interfaces.value.0 {
        let n = name.value.trim().to_owned();
        if n.is_empty() {
            errors.push(diag(
                path,
                name.referenced,
                "empty interface name".to_owned(),
            ));
            continue;
        }
        if interfaces.iter().any(|i| i.name == n) {
            errors.push(diag(
                path,
                name.referenced,
                format!("interface {n} given twice"),
            ));
            continue;
        }
        let mut expect: Vec<Expected> = Vec::new();
        for e in body.map(|b| b.expect).unwrap_or_default() {
            match expected(path, &e.value) {
                Ok(x) => {
                    if expect
                        .iter()
                        .any(|y| (y.family, y.vrid) == (x.family, x.vrid))
                    {
                        errors.push(diag(
                            path,
                            e.referenced,
                            format!(
                                "{n}: VRID {} ({}) expected twice",
                                x.vrid,
                                x.family.as_str()
                            ),
                        ));
                    } else {
                        expect.push(x);
                    }
                }
                Err(mut d) => errors.append(&mut d),
            }
        }
        expect.sort_by_key(|e| (e.family, e.vrid));
        interfaces.push(Interface { name: n, expect });
    }
    if errors.is_empty() {
        Ok(MonitorFile { interfaces })
    } else {
        errors.sort_by_key(|d| (d.line, d.column));
        Err(errors)
    }
}

/// One `expect` entry, checked: VRID 1-255, version 2 or 3, family ipv4 or ipv6 and
/// consistent with the master's address, no VRRPv2 over IPv6.
fn expected(path: &str, e: &RawExpected) -> Result<Expected, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let vrid = match u8::try_from(e.vrid.value) {
        Ok(v) if v > 0 => v,
        _ => {
            errors.push(diag(
                path,
                e.vrid.referenced,
                format!("vrid: {} is not a VRID (1-255)", e.vrid.value),
            ));
            0
        }
    };
    let version = match &e.version {
        None => None,
        Some(v) if v.value == 2 => Some(Version::V2),
        Some(v) if v.value == 3 => Some(Version::V3),
        Some(v) => {
            errors.push(diag(
                path,
                v.referenced,
                format!("version: {} is not a VRRP version (2 or 3)", v.value),
            ));
            None
        }
    };
    let master = match &e.master {
        None => None,
        Some(m) => match m.value.trim().parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_multicast() => {
                errors.push(diag(
                    path,
                    m.referenced,
                    format!("master: {a} is not a router's address"),
                ));
                None
            }
            Ok(a) => Some((a, m.referenced)),
            Err(_) => {
                errors.push(diag(
                    path,
                    m.referenced,
                    format!("master: {:?} is not an IP address", m.value),
                ));
                None
            }
        },
    };
    let family = match &e.family {
        None => None,
        Some(f) => match f.value.as_str() {
            "ipv4" => Some((Family::Ipv4, f.referenced)),
            "ipv6" => Some((Family::Ipv6, f.referenced)),
            other => {
                errors.push(diag(
                    path,
                    f.referenced,
                    format!("family: {other:?} is neither ipv4 nor ipv6"),
                ));
                None
            }
        },
    };
    let of_master = master.map(|(a, at)| {
        (
            if a.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            },
            at,
        )
    });
    let family = match (family, of_master) {
        (Some((f, _)), Some((fm, at))) if f != fm => {
            errors.push(diag(
                path,
                at,
                format!(
                    "master: {} is not an {} address (family: {})",
                    master.map(|m| m.0.to_string()).unwrap_or_default(),
                    f.as_str(),
                    f.as_str()
                ),
            ));
            f
        }
        (Some((f, _)), _) => f,
        (None, Some((fm, _))) => fm,
        (None, None) => Family::Ipv4,
    };
    if family == Family::Ipv6 && version == Some(Version::V2) {
        let at = e
            .version
            .as_ref()
            .map(|v| v.referenced)
            .unwrap_or(e.vrid.referenced);
        errors.push(diag(
            path,
            at,
            "version: VRRPv2 has no IPv6 (RFC 3768); use version 3".to_owned(),
        ));
    }
    if errors.is_empty() {
        Ok(Expected {
            family,
            vrid,
            version,
            master: master.map(|m| m.0),
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> MonitorFile {
        parse_str(text, "mon.yml").unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn errs(text: &str) -> Vec<String> {
        parse_str(text, "mon.yml")
            .expect_err("must be refused")
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn the_documented_example() {
        let f = ok(
            "interfaces:\n  eth0:\n    expect:\n      - { vrid: 51, master: 10.0.0.2 }\n      \
                    - { vrid: 52, version: 3, family: ipv6 }\n  vlan20: {}\n  vlan30:\n",
        );
        let names: Vec<&str> = f.interfaces.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth0", "vlan20", "vlan30"], "file order");
        assert_eq!(
            f.interfaces[0].expect,
            vec![
                Expected {
                    family: Family::Ipv4,
                    vrid: 51,
                    version: None,
                    master: Some("10.0.0.2".parse().unwrap()),
                },
                Expected {
                    family: Family::Ipv6,
                    vrid: 52,
                    version: Some(Version::V3),
                    master: None,
                },
            ]
        );
        assert!(f.interfaces[1].expect.is_empty());
        assert!(f.interfaces[2].expect.is_empty());
        // The family follows the master's address.
        let f = ok("interfaces:\n  eth0:\n    expect:\n      - { vrid: 7, master: \"fe80::1\" }\n");
        assert_eq!(f.interfaces[0].expect[0].family, Family::Ipv6);
    }

    #[test]
    fn unknown_keys_and_syntax_errors_have_their_line() {
        let e = errs("interfaces:\n  eth0:\n    expect:\n      - { vrid: 51, mastr: 10.0.0.2 }\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("mon.yml:4:"), "{e:?}");
        assert!(e[0].contains("mastr"), "{e:?}");
        let e = errs("interface:\n  eth0: {}\n");
        assert!(e[0].starts_with("mon.yml:1:"), "{e:?}");
        let e = errs("interfaces:\n  eth0:\n    expect: [ { vrid: 51 }\n");
        assert!(e[0].starts_with("mon.yml:"), "{e:?}");
        let e = errs("interfaces:\n  eth0:\n    expect:\n      - { vrid: fifty }\n");
        assert!(e[0].starts_with("mon.yml:4:"), "{e:?}");
    }

    #[test]
    fn every_bad_value_is_reported_at_its_position() {
        let e = errs(
            "interfaces:\n  eth0:\n    expect:\n      - { vrid: 0 }\n      - { vrid: 300 }\n      \
             - { vrid: 5, version: 4 }\n      - { vrid: 6, family: ipx }\n      \
             - { vrid: 7, master: nobody }\n      - { vrid: 8, master: 224.0.0.18 }\n      \
             - { vrid: 9, family: ipv6, master: 10.0.0.1 }\n      \
             - { vrid: 10, version: 2, family: ipv6 }\n      - { vrid: 11 }\n      \
             - { vrid: 11, master: 10.0.0.3 }\n",
        );
        let want = [
            "mon.yml:4:17: vrid: 0 is not a VRID (1-255)",
            "mon.yml:5:17: vrid: 300 is not a VRID (1-255)",
            "mon.yml:6:29: version: 4 is not a VRRP version (2 or 3)",
            "mon.yml:7:28: family: \"ipx\" is neither ipv4 nor ipv6",
            "mon.yml:8:28: master: \"nobody\" is not an IP address",
            "mon.yml:9:28: master: 224.0.0.18 is not a router's address",
            "mon.yml:10:42: master: 10.0.0.1 is not an ipv6 address (family: ipv6)",
            "mon.yml:11:30: version: VRRPv2 has no IPv6 (RFC 3768); use version 3",
            "mon.yml:13:9: eth0: VRID 11 (ipv4) expected twice",
        ];
        assert_eq!(e, want);
        // The parser refuses a key given twice (an interface listed twice).
        let e = errs("interfaces:\n  eth0: {}\n  eth0: {}\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("mon.yml:3:3:") && e[0].contains("eth0"),
            "{e:?}"
        );
        let e = errs("interfaces: {}\n");
        assert_eq!(
            e,
            ["mon.yml:1:13: interfaces: at least one interface is needed"]
        );
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let f = ok(include_str!("../../config/vipd-monitor.example.yml"));
        assert_eq!(f.interfaces.len(), 2);
        assert_eq!(f.interfaces[0].expect.len(), 2);
        assert_eq!(f.interfaces[0].expect[0].version, Some(Version::V2));
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let e = load(Path::new("/nonexistent/vipd-monitor.yml")).unwrap_err();
        assert!(e[0].to_string().contains("cannot read"), "{e:?}");
    }
}

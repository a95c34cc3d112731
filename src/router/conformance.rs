//! Conformance scenarios as data: every `conformance/*.jsonl` file is a list of timed inputs
//! to router cores on a virtual LAN and the effects expected, one JSON object per line:
//!
//! - `{"comment": "..."}`: what the scenario checks and where the rule comes from;
//! - `{"node": "a", "address": "10.99.0.11", "config": "<vipd YAML, flow style>"}`: a host
//!   (optional `"mtu": 1280` and `"ipv6_forwarding": true` for its `eth0`);
//! - `{"at_ms": 1000, "node": "a", "input": <input>}` where `<input>` is `"shutdown"`,
//!   `"link_down"`, `"link_up"`, `{"script": {"name": "chk", "healthy": false}}`,
//!   `{"drain": true}` (`vipd drain` of every instance; false: undrain),
//!   `{"ttl": 254}` (the TTL its adverts arrive with), `{"reload": "<YAML>"}` or
//!   `{"advert": {"src": "fe80::11", "vrid": 6, "priority": 200, "addresses": ["fd00:99::1"]}}`
//!   (a v3 advert from a router outside the scenario, received by the node);
//! - `{"at_ms": 1687.5, "node": "b", "expect": "transition BACKUP -> MASTER"}`: the node
//!   does something whose summary starts with this at exactly that time;
//! - `{"from_ms": 0, "until_ms": 5000, "node": "b", "absent": "send"}`: it does nothing
//!   like this in that window;
//! - `{"from_ms": 5000, "order": [["b", "announce"], ["b", "send prio=100"], ["a", "remove"]]}`:
//!   the first such event of each, from that time on, happen in this order (effect order,
//!   also within one instant).
//!
//! The summaries are those of `testnet::Event` (`send prio=100 dst=224.0.0.18 count=1`,
//! `add`, `remove`, `announce count=5 router=false`, `transition BACKUP -> MASTER`, ...).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::testnet::Net;
use crate::track::TrackEvent;

#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Line {
    Comment {
        #[allow(dead_code)]
        comment: String,
    },
    Node {
        node: String,
        address: std::net::Ipv4Addr,
        config: String,
        #[serde(default)]
        mtu: Option<u32>,
        #[serde(default)]
        ipv6_forwarding: bool,
    },
    Input {
        at_ms: f64,
        node: String,
        input: Input,
    },
    Expect {
        at_ms: f64,
        node: String,
        expect: String,
    },
    Absent {
        from_ms: f64,
        until_ms: f64,
        node: String,
        absent: String,
    },
    Order {
        from_ms: f64,
        order: Vec<(String, String)>,
    },
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
enum Input {
    Shutdown,
    LinkDown,
    LinkUp,
    Script {
        name: String,
        healthy: bool,
    },
    Ttl(u8),
    Reload(String),
    Advert(Foreign),
    /// `vipd drain` (true) / `vipd undrain` (false) of every instance.
    Drain(bool),
}

/// An advert from a router that is not part of the scenario.
#[derive(Deserialize, Debug)]
struct Foreign {
    src: std::net::IpAddr,
    vrid: u8,
    priority: u8,
    addresses: Vec<std::net::IpAddr>,
    /// Centiseconds (default 100).
    #[serde(default = "one_second")]
    interval: u16,
}

fn one_second() -> u16 {
    100
}

fn ms(x: f64) -> Duration {
    Duration::from_nanos((x * 1e6).round() as u64)
}

/// Runs one scenario file; returns what failed.
fn run(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("readable scenario");
    let mut lines = Vec::new();
    for (n, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(l) {
            Ok(x) => lines.push(x),
            Err(e) => return vec![format!("{}:{}: {e}", path.display(), n + 1)],
        }
    }
    let mut net = Net::new();
    let mut end = Duration::ZERO;
    let mut inputs = Vec::new();
    for l in &lines {
        match l {
            Line::Node {
                node,
                address,
                config,
                mtu,
                ipv6_forwarding,
            } => {
                net.node_with(node, address.octets(), config, |f| {
                    if let Some(m) = mtu {
                        f.mtu = *m;
                    }
                    f.ipv6_forwarding = *ipv6_forwarding;
                });
            }
            Line::Input { at_ms, node, input } => inputs.push((ms(*at_ms), node, input)),
            Line::Expect { at_ms, .. } => end = end.max(ms(*at_ms)),
            Line::Absent { until_ms, .. } => end = end.max(ms(*until_ms)),
            Line::Comment { .. } | Line::Order { .. } => {}
        }
    }
    inputs.sort_by_key(|(t, _, _)| *t);
    for (t, node, input) in inputs {
        net.run_until(t);
        let i = net
            .nodes
            .iter()
            .position(|n| &n.name == node)
            .expect("input for a declared node");
        match input {
            Input::Shutdown => net.with(i, |r, now| r.handle_shutdown(now)),
            Input::LinkDown => net.link(i, false),
            Input::LinkUp => net.link(i, true),
            Input::Script { name, healthy } => {
                let ev = TrackEvent::Script {
                    name: name.clone(),
                    healthy: *healthy,
                };
                net.with(i, |r, now| r.handle_track(now, &ev));
            }
            Input::Ttl(ttl) => net.nodes[i].ttl = *ttl,
            Input::Drain(on) => net.with(i, |r, now| {
                r.handle_drain(now, &[], *on, "test")
                    .expect("drain of every instance");
            }),
            Input::Advert(a) => {
                let dst: std::net::IpAddr = if a.src.is_ipv6() {
                    "ff02::12".parse().unwrap()
                } else {
                    "224.0.0.18".parse().unwrap()
                };
                let bytes = super::testnet::advert(
                    crate::packet::Version::V3,
                    a.vrid,
                    a.priority,
                    a.interval,
                    &a.addresses,
                    a.src,
                    dst,
                );
                net.with(i, |r, now| {
                    r.handle_packet(
                        now,
                        super::Packet {
                            port: super::PortId(0),
                            src: a.src,
                            dst,
                            ttl: 255,
                            bytes: &bytes,
                        },
                    )
                });
            }
            Input::Reload(yaml) => {
                let c = super::testnet::config(yaml);
                net.with(i, |r, now| {
                    r.handle_reload(now, c);
                });
            }
        }
    }
    net.run_until(end + Duration::from_millis(1));
    let mut failed = Vec::new();
    for l in &lines {
        match l {
            Line::Expect {
                at_ms,
                node,
                expect,
            } => {
                let at = ms(*at_ms);
                let found = net.find(node, expect, at);
                if found.first().map(|e| e.at) != Some(at) {
                    let near: Vec<String> = net
                        .find(node, expect, Duration::ZERO)
                        .iter()
                        .map(|e| format!("{:?}", e.at))
                        .collect();
                    failed.push(format!(
                        "{}: {node} `{expect}` expected at {at:?}, seen at [{}]",
                        path.display(),
                        near.join(", ")
                    ));
                }
            }
            Line::Absent {
                from_ms,
                until_ms,
                node,
                absent,
            } => {
                let (from, until) = (ms(*from_ms), ms(*until_ms));
                if let Some(e) = net.find(node, absent, from).iter().find(|e| e.at <= until) {
                    failed.push(format!(
                        "{}: {node} `{absent}` must not happen in {from:?}..{until:?}, seen `{}` at {:?}",
                        path.display(),
                        e.what,
                        e.at
                    ));
                }
            }
            Line::Order { from_ms, order } => {
                let from = ms(*from_ms);
                let pos: Vec<Option<usize>> = order
                    .iter()
                    .map(|(node, what)| {
                        net.events.iter().position(|e| {
                            &e.node == node && e.at >= from && e.what.starts_with(what.as_str())
                        })
                    })
                    .collect();
                let ordered =
                    pos.iter().all(Option::is_some) && pos.windows(2).all(|w| w[0] < w[1]);
                if !ordered {
                    failed.push(format!(
                        "{}: from {from:?}, expected in order {order:?}, positions {pos:?}",
                        path.display()
                    ));
                }
            }
            _ => {}
        }
    }
    failed
}

#[test]
fn conformance_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/router/conformance");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("conformance directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "scenarios missing: {files:?}");
    let failed: Vec<String> = files.iter().flat_map(|f| run(f)).collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

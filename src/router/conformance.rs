//! Conformance scenarios as data: every `conformance/*.jsonl` file is a list of timed inputs
//! to router cores on a virtual LAN and the effects expected, one JSON object per line:
//!
//! - `{"comment": "..."}`: what the scenario checks and where the rule comes from;
//! - `{"node": "a", "address": "10.99.0.11", "config": "<vipd YAML, flow style>"}`: a host;
//! - `{"at_ms": 1000, "node": "a", "input": <input>}` where `<input>` is `"shutdown"`,
//!   `"link_down"`, `"link_up"`, `{"script": {"name": "chk", "healthy": false}}`,
//!   `{"ttl": 254}` (the TTL its adverts arrive with) or `{"reload": "<YAML>"}`;
//! - `{"at_ms": 1687.5, "node": "b", "expect": "transition BACKUP -> MASTER"}`: the node
//!   does something whose summary starts with this at exactly that time;
//! - `{"from_ms": 0, "until_ms": 5000, "node": "b", "absent": "send"}`: it does nothing
//!   like this in that window.
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
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "snake_case")]
enum Input {
    Shutdown,
    LinkDown,
    LinkUp,
    Script { name: String, healthy: bool },
    Ttl(u8),
    Reload(String),
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
            } => {
                net.node(node, address.octets(), config);
            }
            Line::Input { at_ms, node, input } => inputs.push((ms(*at_ms), node, input)),
            Line::Expect { at_ms, .. } => end = end.max(ms(*at_ms)),
            Line::Absent { until_ms, .. } => end = end.max(ms(*until_ms)),
            Line::Comment { .. } => {}
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

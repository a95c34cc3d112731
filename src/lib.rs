//! vipd: a VRRP (v2 and v3, IPv4 and IPv6) daemon that keeps virtual IP addresses alive.
//!
//! Layout follows the data flow: `packet` (bytes <-> typed adverts, pure) ->
//! `engine` (the RFC state machine, pure, time is an argument) -> `daemon` (tokio wiring:
//! sockets, timers, netlink, signals) using `net` (the only place that touches the OS) and
//! `config` (YAML model and validation). `security` (finding a program, script security) is a
//! leaf used by both `track` and `config`'s lint pass. `netlab` builds the throwaway LAN of
//! network namespaces that `vipd demo` and the lab tests run in.

pub mod config;
pub mod daemon;
pub mod demo;
pub mod engine;
pub(crate) mod fastmap;
/// Fuzz and model-checking harnesses (fuzz/, tests/fuzz_corpus.rs, tests/model_check.rs).
#[doc(hidden)]
pub mod fuzzing;
pub mod import;
pub mod monitor;
pub mod net;
pub mod netlab;
pub mod observe;
pub mod packet;
pub mod router;
pub mod sdnotify;
pub mod security;
pub mod status;
pub mod status_cli;
pub mod telemetry;
pub mod track;
pub mod webconfig;

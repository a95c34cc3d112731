//! Configuration: YAML file -> validated [`Config`].
//!
//! Every problem is reported as a [`Diagnostic`] carrying `path:line:column`; validation
//! keeps going after an error so one run shows everything that is wrong. Checks of the host
//! rather than the file (do the programs it runs exist, are they safe to run as root) are the
//! [`lint`] pass, which [`parse_str`] and [`load`] run after validation.

mod duration;
pub mod lint;
pub mod model;
mod node;
mod serialize;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::path::Path;

pub use duration::{format_duration, parse_duration};
pub use model::*;
pub use serialize::to_yaml;

/// One problem found in a config file, printed as `path:line:column: message`, or
/// `path: message` when it has no position (the file could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub path: String,
    /// 1-based; 0 when unknown (e.g. the file could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 when unknown.
    pub column: usize,
    pub message: String,
    /// A warning does not make the configuration invalid.
    pub warning: bool,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: ", self.path)?;
        } else {
            write!(f, "{}:{}:{}: ", self.path, self.line, self.column)?;
        }
        if self.warning {
            f.write_str("warning: ")?;
        }
        f.write_str(&self.message)
    }
}

/// A successfully validated configuration and the warnings found on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
}

/// Read and validate a file. `Err` holds every error found (and any warnings), in file order.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
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

/// Validate configuration text, then run the [`lint`] pass on the programs it names (their
/// warnings are in the result too); `path` is used only in messages.
pub fn parse_str(text: &str, path: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let root = match node::parse(text) {
        Ok(root) => root,
        Err((pos, message)) => {
            return Err(vec![Diagnostic {
                path: path.to_owned(),
                line: pos.line,
                column: pos.column,
                message,
                warning: false,
            }]);
        }
    };
    let validate::Validated {
        config,
        mut diags,
        programs,
    } = validate::validate(&root, path);
    diags.extend(lint::lint(path, &programs));
    diags.sort_by_key(|d| (d.line, d.column));
    match config {
        Some(config) if !diags.iter().any(|d| !d.warning) => Ok(Loaded {
            config,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

/// The node name used when `router_id` is not set: the kernel hostname, else "vipd".
pub fn default_router_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "vipd".to_owned())
}

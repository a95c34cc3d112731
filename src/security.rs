//! Finding a program and keepalived's script security: a program run as root must not be
//! replaceable by a non-root user.
//!
//! A leaf module (std and serde only) shared by the script runner (`track`) and the configuration's lint
//! pass (`config::lint`, which `vipd check` shows).
//!
//! These functions touch the filesystem (blocking, but only `stat` calls); the runtime calls
//! them from `spawn_blocking`.

use std::fmt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What [`Secret`] shows instead of its value.
pub const REDACTED: &str = "<redacted>";

/// A value that must never reach a log line, `/status`, a metric, a trace or `Debug` output:
/// the VRRP v2 password (`Secret<String>`) and the 8 authentication bytes made from it
/// (`Secret<[u8; 8]>`). `Debug`, `Display` and `Serialize` print [`REDACTED`]; the value is
/// reached on purpose only, through `Deref` (`&*secret`, `as_deref()`) or [`Secret::expose`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value itself.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::Deref for Secret<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Search path used when `PATH` is not set.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of vipd's own environment that scripts and hooks inherit (when set); everything
/// else is cleared. `PATH` is set to [`DEFAULT_PATH`] when vipd has none. On top of these, a
/// notify hook gets its `VIPD_*` variables (docs/security.md).
pub const INHERITED_ENV: [&str; 4] = ["PATH", "LANG", "LC_ALL", "TZ"];

/// The environment a script or hook starts with, before its own variables: [`INHERITED_ENV`]
/// taken from `lookup` (vipd's environment).
pub fn script_env(lookup: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&'static str, String)> = INHERITED_ENV
        .iter()
        .filter_map(|k| lookup(k).map(|v| (*k, v)))
        .collect();
    if !env.iter().any(|(k, _)| *k == "PATH") {
        env.insert(0, ("PATH", DEFAULT_PATH.to_owned()));
    }
    env
}

/// The capabilities vipd keeps: CAP_NET_RAW (VRRP, ARP and NA sockets) and CAP_NET_ADMIN
/// (addresses, SO_RCVBUFFORCE) always; CAP_SETUID, CAP_SETGID and CAP_KILL when a script runs
/// as another `user` (switching to it, and killing its process group on timeout);
/// CAP_NET_BIND_SERVICE when the HTTP port is below 1024 (so a restart of the listener could
/// bind it again; the socket is bound before the drop in any case).
pub fn kept_capabilities(script_users: bool, low_port: bool) -> Vec<caps::Capability> {
    use caps::Capability::*;
    let mut keep = vec![CAP_NET_ADMIN, CAP_NET_RAW];
    if script_users {
        keep.extend([CAP_SETUID, CAP_SETGID, CAP_KILL]);
    }
    if low_port {
        keep.push(CAP_NET_BIND_SERVICE);
    }
    keep
}

/// What [`drop_capabilities`] did.
#[derive(Debug, Default)]
pub struct Dropped {
    /// Capabilities kept (and held: a kept one vipd did not have is not listed).
    pub kept: Vec<caps::Capability>,
    /// Whether the bounding set was reduced too (needs CAP_SETPCAP, which root has; under
    /// systemd, `CapabilityBoundingSet=` has done it already).
    pub bounding: bool,
    /// Whether any set changed (under the systemd unit none does: nothing to drop).
    pub changed: bool,
}

/// Keeps only `keep` of the calling thread's capabilities: the bounding set (when it may),
/// the ambient, inheritable, permitted and effective sets (an ambient capability that is kept
/// stays ambient, and so inheritable). Capabilities are per thread: call
/// this before any other thread is started, so that every later thread and child inherits
/// the reduced sets.
pub fn drop_capabilities(keep: &[caps::Capability]) -> Result<Dropped, String> {
    use caps::{CapSet, CapsHashSet};
    let err =
        |what: &str, e: caps::errors::CapsError| format!("cannot drop capabilities ({what}): {e}");
    let keep: CapsHashSet = keep.iter().copied().collect();
    let permitted = caps::read(None, CapSet::Permitted).map_err(|e| err("read", e))?;
    let bounding =
        caps::has_cap(None, CapSet::Effective, caps::Capability::CAP_SETPCAP).unwrap_or(false);
    if bounding {
        for c in caps::runtime::thread_all_supported() {
            if !keep.contains(&c) {
                caps::drop(None, CapSet::Bounding, c).map_err(|e| err("bounding set", e))?;
            }
        }
    }
    // Ambient capabilities are what systemd's AmbientCapabilities= gives a non-root vipd, and
    // what its scripts and hooks (same user) inherit: those among the kept ones stay (they
    // need to be inheritable too), every other one goes. Started as root, there are none.
    let ambient = caps::read(None, CapSet::Ambient).unwrap_or_default();
    let held: CapsHashSet = keep.intersection(&permitted).copied().collect();
    let passed: CapsHashSet = ambient.intersection(&held).copied().collect();
    let effective = caps::read(None, CapSet::Effective).map_err(|e| err("read", e))?;
    let inheritable = caps::read(None, CapSet::Inheritable).map_err(|e| err("read", e))?;
    // Nothing to change (the systemd unit's case) makes no capset call at all: the unit's
    // system call filter does not allow it.
    let changed = bounding || permitted != held || effective != held || inheritable != passed;
    if ambient != passed {
        caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient set", e))?;
    }
    if changed {
        caps::set(None, CapSet::Inheritable, &passed).map_err(|e| err("inheritable set", e))?;
        caps::set(None, CapSet::Effective, &held).map_err(|e| err("effective set", e))?;
        caps::set(None, CapSet::Permitted, &held).map_err(|e| err("permitted set", e))?;
    }
    if ambient != passed {
        for c in &passed {
            caps::raise(None, CapSet::Ambient, *c).map_err(|e| err("ambient set", e))?;
        }
    }
    let changed = changed || ambient != passed;
    let mut kept: Vec<_> = held.into_iter().collect();
    kept.sort_by_key(|c| c.index());
    Ok(Dropped {
        kept,
        bounding,
        changed,
    })
}

/// The file `program` (argv[0]) names: a path if it contains `/` (relative to the current
/// directory), else the first executable match in `PATH`, like `execvp`.
pub fn resolve_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        let path = if path.is_absolute() {
            path
        } else {
            std::env::current_dir()
                .map(|d| d.join(&path))
                .unwrap_or(path)
        };
        return match std::fs::metadata(&path) {
            Err(e) => Err(format!("`{program}` cannot be used: {e}")),
            Ok(m) if !m.is_file() => Err(format!("`{program}` is not a regular file")),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Err(format!("`{program}` is not executable"))
            }
            Ok(_) => Ok(path),
        };
    }
    let search = std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned());
    search
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| format!("`{program}` is not found in PATH ({search})"))
}

/// Why `program` could be changed by a non-root user, or None if it is safe to run as root.
///
/// keepalived's rule, applied to the file and every directory above it (both along the path as
/// written and along its resolved, symlink-free form): the owner must be root, and it must not be
/// writable by a non-root group or by everyone. A world- or group-writable directory with the
/// sticky bit (like /tmp) is accepted, since others cannot replace entries they do not own.
pub fn insecure(program: &Path) -> Option<String> {
    let mut checked: Vec<PathBuf> = Vec::new();
    let resolved = std::fs::canonicalize(program).ok();
    for start in std::iter::once(program).chain(resolved.as_deref()) {
        for p in start.ancestors() {
            if p.as_os_str().is_empty() || checked.iter().any(|c| c == p) {
                continue;
            }
            checked.push(p.to_path_buf());
            let Ok(m) = std::fs::metadata(p) else {
                continue;
            };
            let mode = m.mode();
            let what = if m.is_dir() { "directory" } else { "file" };
            let sticky_dir = m.is_dir() && mode & 0o1000 != 0;
            if m.uid() != 0 {
                return Some(format!(
                    "{what} `{}` is owned by uid {}, not root",
                    p.display(),
                    m.uid()
                ));
            }
            if !sticky_dir && mode & 0o002 != 0 {
                return Some(format!("{what} `{}` is writable by everyone", p.display()));
            }
            if !sticky_dir && mode & 0o020 != 0 && m.gid() != 0 {
                return Some(format!(
                    "{what} `{}` is writable by group {}",
                    p.display(),
                    m.gid()
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secrets_print_redacted() {
        let s = Secret::from("hunter22");
        assert_eq!(
            format!("{s:?} {s} {s:#?}"),
            "<redacted> <redacted> <redacted>"
        );
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
        assert_eq!(&*s, "hunter22");
        let b = Secret::new(*b"hunter22");
        assert_eq!(format!("{:?}", Some(b)), "Some(<redacted>)");
        assert_eq!(b.expose(), b"hunter22");
    }

    /// The password of a loaded configuration, of the router core built from it and of the
    /// advert it sends, decoded again: none of their `Debug` output contains it, in text or
    /// as the byte values `Debug` would print for `[u8; 8]`.
    #[test]
    fn the_vrrp_password_is_never_in_debug_output() {
        use crate::packet::{ChecksumForm, vrrp};
        let yaml = "instances:\n  VI_1:\n    interface: eth0\n    vrid: 7\n    priority: 150\n    version: 2\n    advert_interval: 1s\n    authentication: {type: pass, password: Zq9wXy}\n    virtual_ipaddress: [\"10.99.0.7\"]\n";
        let loaded = crate::config::parse_str(yaml, "t.yaml").unwrap_or_else(|d| panic!("{d:?}"));
        let inst = loaded.config.instances.values().next().unwrap();
        assert_eq!(inst.auth_pass.as_ref().map(|p| p.as_str()), Some("Zq9wXy"));
        let mut router =
            crate::router::Router::new(loaded.config.clone(), std::time::Instant::now());
        let mut effects = Vec::new();
        while let Some(e) = router.poll_effect() {
            effects.push(format!("{e:?}"));
        }
        let addrs = [std::net::IpAddr::from([10, 99, 0, 7])];
        let spec = vrrp::AdvertSpec {
            version: crate::packet::Version::V2,
            vrid: 7,
            priority: 150,
            interval: 1,
            auth: Some(vrrp::auth_data("Zq9wXy")),
            addresses: &addrs,
        };
        let (src, dst) = ([10, 99, 0, 11].into(), [224, 0, 0, 18].into());
        let mut wire = Vec::new();
        vrrp::encode(&spec, src, dst, ChecksumForm::PseudoHeader, &mut wire);
        let (advert, _) = vrrp::decode(&wire, src, dst).unwrap();
        let bytes = format!("{:?}", *b"Zq9wXy\0\0");
        for text in [
            format!("{:?}", loaded.config),
            format!("{:#?}", loaded.config),
            format!("{router:?}"),
            format!("{effects:?}"),
            format!("{spec:?}"),
            format!("{advert:?}"),
        ] {
            assert!(!text.contains("Zq9wXy"), "{text}");
            assert!(!text.contains(&bytes[1..bytes.len() - 1]), "{text}");
        }
        assert!(format!("{:?}", loaded.config).contains(REDACTED));
    }

    #[test]
    fn script_env_is_a_fixed_set() {
        let env = script_env(|k| match k {
            "LANG" => Some("C.UTF-8".into()),
            "HOME" | "SSH_AUTH_SOCK" => Some("leak".into()),
            _ => None,
        });
        assert_eq!(
            env,
            vec![
                ("PATH", DEFAULT_PATH.to_owned()),
                ("LANG", "C.UTF-8".to_owned())
            ]
        );
        let env = script_env(|k| (k == "PATH").then(|| "/opt/bin:/usr/bin".to_owned()));
        assert_eq!(env, vec![("PATH", "/opt/bin:/usr/bin".to_owned())]);
    }

    #[test]
    fn kept_capabilities_follow_the_features() {
        use caps::Capability::*;
        assert_eq!(
            kept_capabilities(false, false),
            vec![CAP_NET_ADMIN, CAP_NET_RAW]
        );
        let k = kept_capabilities(true, true);
        for c in [CAP_SETUID, CAP_SETGID, CAP_KILL, CAP_NET_BIND_SERVICE] {
            assert!(k.contains(&c), "{c}");
        }
    }

    #[test]
    fn resolve() {
        assert!(resolve_program("sh").is_ok());
        let e = resolve_program("/nonexistent/vipd-check").unwrap_err();
        assert!(e.contains("cannot be used"), "{e}");
        let e = resolve_program("vipd-no-such-program-xyz").unwrap_err();
        assert!(e.contains("not found in PATH"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plain");
        std::fs::write(&f, "x").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = resolve_program(f.to_str().unwrap()).unwrap_err();
        assert!(e.contains("not executable"), "{e}");
        let e = resolve_program(dir.path().to_str().unwrap()).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn world_writable_is_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("check.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o757)).unwrap();
        let why = insecure(&f).expect("world-writable file");
        // Owned by a non-root user (tests run unprivileged) or writable by everyone.
        assert!(
            why.contains("writable by everyone") || why.contains("not root"),
            "{why}"
        );
    }

    #[test]
    fn root_owned_system_binary_is_secure() {
        let sh = resolve_program("sh").unwrap();
        let owner = std::fs::metadata(&sh).unwrap().uid();
        if owner == 0 {
            assert_eq!(insecure(&sh), None);
        }
    }
}

//! Finding a program and keepalived's script security: a program run as root must not be
//! replaceable by a non-root user.
//!
//! A leaf module (std only) shared by the script runner (`track`) and the configuration's lint
//! pass (`config::lint`, which `vipd check` shows).
//!
//! These functions touch the filesystem (blocking, but only `stat` calls); the runtime calls
//! them from `spawn_blocking`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Search path used when `PATH` is not set.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

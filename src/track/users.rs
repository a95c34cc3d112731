//! User and group names of scripts, notify hooks and `vipd check`: the C library first, then
//! the host's `getent`.
//!
//! The static musl build (README, "Two builds") has no NSS: its `getpwnam` reads only
//! `/etc/passwd` (and an nscd socket). A user that the host knows from LDAP, sssd or
//! systemd-userdb is found by the host's own `getent passwd NAME` (Debian's libc-bin, with
//! glibc's NSS), so both builds resolve the same names. It runs only when the C library knows
//! no such name, off the runtime threads like the rest of a program's preparation.

use std::process::{Command, Stdio};

/// Where `getent` is looked for: absolute paths, not `$PATH`.
const GETENT: [&str; 2] = ["/usr/bin/getent", "/bin/getent"];

/// `name`'s uid and primary gid, or `None` when neither the C library nor `getent` knows it.
pub(crate) fn lookup_user(name: &str) -> Result<Option<(u32, u32)>, String> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(Some((u.uid.as_raw(), u.gid.as_raw()))),
        Ok(None) => Ok(getent("passwd", name).and_then(|out| passwd_entry(&out, name))),
        Err(e) => Err(format!("cannot look up user `{name}`: {e}")),
    }
}

/// `name`'s gid, or `None` when neither the C library nor `getent` knows it.
pub(crate) fn lookup_group(name: &str) -> Result<Option<u32>, String> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(Some(g.gid.as_raw())),
        Ok(None) => Ok(getent("group", name).and_then(|out| group_entry(&out, name))),
        Err(e) => Err(format!("cannot look up group `{name}`: {e}")),
    }
}

/// `getent DB -- NAME`'s output, if a `getent` exists and found the name (exit 0).
fn getent(db: &str, name: &str) -> Option<String> {
    let path = GETENT
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let out = Command::new(path)
        .args([db, "--", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// uid and gid from a passwd(5) line of `name` (`name:x:uid:gid:gecos:home:shell`). The name
/// must match: `getent passwd 1000` finds uid 1000, whatever its name.
pub(crate) fn passwd_entry(text: &str, name: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 || f[0] != name {
            return None;
        }
        Some((f[2].parse().ok()?, f[3].parse().ok()?))
    })
}

/// gid from a group(5) line of `name` (`name:x:gid:members`).
pub(crate) fn group_entry(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 || f[0] != name {
            return None;
        }
        f[2].parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_group_lines_give_ids_of_that_name_only() {
        let line = "alice:*:20001:20001:Alice,,,:/home/alice:/bin/bash\n";
        assert_eq!(passwd_entry(line, "alice"), Some((20001, 20001)));
        // `getent passwd 20001` answers with alice's line: not a user named "20001".
        assert_eq!(passwd_entry(line, "20001"), None);
        assert_eq!(
            passwd_entry("alice:x:notanumber:1::/:/bin/sh", "alice"),
            None
        );
        assert_eq!(passwd_entry("alice:x:1", "alice"), None, "too few fields");
        assert_eq!(passwd_entry("", "alice"), None);
        assert_eq!(group_entry("web:x:3001:alice,bob\n", "web"), Some(3001));
        assert_eq!(group_entry("web:x:3001:\n", "3001"), None);
        assert_eq!(group_entry("web:x", "web"), None);
    }

    #[test]
    fn lookups_agree_with_the_c_library_and_miss_unknown_names() {
        assert_eq!(lookup_user("root"), Ok(Some((0, 0))));
        assert_eq!(lookup_group("root"), Ok(Some(0)));
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        assert_eq!(
            lookup_user("nobody"),
            Ok(Some((nobody.uid.as_raw(), nobody.gid.as_raw())))
        );
        assert_eq!(lookup_user("vipd-no-such-user-x"), Ok(None));
        assert_eq!(lookup_group("vipd-no-such-group-x"), Ok(None));
        // A name getent would take as an option is passed after `--`.
        assert_eq!(lookup_user("--help"), Ok(None));
    }
}

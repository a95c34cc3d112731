//! The lint pass: what the configuration names, checked against this host rather than the file.
//!
//! Validation only reads the text. This pass looks at the filesystem and the user database:
//! whether each check script's and notify hook's program exists and is executable, whether vipd
//! would refuse to run it as root (script security, [`crate::security`]), and whether a script's
//! `user` exists. Its findings are warnings (the host can change before a program runs); the
//! script runner applies the same rules when it starts a program. [`super::parse_str`] and
//! [`super::load`] run it after validation, so `vipd check` and the daemon print its warnings
//! with the others.

use super::Diagnostic;

/// A value as written in the file, with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written<T> {
    pub value: T,
    pub line: usize,
    pub column: usize,
}

/// A program the configuration runs: a check script's `command` or a notify hook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// The key, as messages name it: "script `a`: command", "instance `VI_1`: notify: master".
    pub what: String,
    /// argv[0]; None when the command itself is invalid (validation has reported it).
    pub program: Option<Written<String>>,
    /// The script's `user` and its key as messages name it ("script `a`: user"); None: the
    /// daemon's user, root as far as script security is concerned (notify hooks always).
    pub user: Option<(String, Written<String>)>,
}

/// Warnings about `programs` on this host; `path` is used only in messages.
pub fn lint(path: &str, programs: &[Program]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut warn = |at_line: usize, at_column: usize, message: String| {
        out.push(Diagnostic {
            path: path.to_owned(),
            line: at_line,
            column: at_column,
            message,
            warning: true,
        });
    };
    for p in programs {
        let mut runs_as_root = true;
        if let Some((what, u)) = &p.user {
            match crate::track::lookup_user(&u.value) {
                Ok(Some((uid, gid))) => {
                    runs_as_root = uid == 0;
                    // `vipd check` runs as the daemon will (the unit's ExecStartPre): its own
                    // credentials say whether the switch to this user can work.
                    if let Some(why) = crate::track::current_switch_problem(&u.value, uid, gid) {
                        warn(u.line, u.column, format!("{what}: {why}"));
                    }
                }
                Ok(None) => {
                    warn(
                        u.line,
                        u.column,
                        format!("{what}: no user `{}` on this host", u.value),
                    );
                    runs_as_root = false;
                }
                Err(_) => runs_as_root = false,
            }
        }
        let Some(program) = &p.program else {
            continue;
        };
        // A program that cannot run, or that vipd would refuse to run as root.
        match crate::security::resolve_program(&program.value) {
            Err(e) => warn(program.line, program.column, format!("{}: {e}", p.what)),
            Ok(path) => {
                if runs_as_root && let Some(why) = crate::security::insecure(&path) {
                    warn(
                        program.line,
                        program.column,
                        format!(
                            "{}: {why}; vipd refuses to run it as root: make it and its \
                             directories writable by root only, or set a non-root `user`",
                            p.what
                        ),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(value: &str, line: usize, column: usize) -> Written<String> {
        Written {
            value: value.to_owned(),
            line,
            column,
        }
    }

    #[test]
    fn warnings_at_the_program_and_the_user() {
        let programs = [
            Program {
                what: "script `a`: command".into(),
                program: Some(at("/nonexistent/check", 3, 15)),
                user: Some(("script `a`: user".into(), at("vipd-no-such-user", 4, 11))),
            },
            // Invalid command: only its user is checked.
            Program {
                what: "script `b`: command".into(),
                program: None,
                user: Some(("script `b`: user".into(), at("vipd-no-such-user", 7, 11))),
            },
            Program {
                what: "instance `V`: notify: master".into(),
                program: Some(at("true", 9, 16)),
                user: None,
            },
        ];
        let w: Vec<_> = lint("t.yaml", &programs)
            .into_iter()
            .map(|d| {
                assert!(d.warning && d.path == "t.yaml");
                (d.line, d.column, d.message)
            })
            .collect();
        assert_eq!(w.len(), 3, "{w:#?}");
        assert_eq!(
            (w[0].0, w[0].1, w[0].2.as_str()),
            (
                4,
                11,
                "script `a`: user: no user `vipd-no-such-user` on this host"
            )
        );
        assert_eq!((w[1].0, w[1].1), (3, 15));
        assert!(
            w[1].2
                .starts_with("script `a`: command: `/nonexistent/check` cannot be used"),
            "{}",
            w[1].2
        );
        assert_eq!((w[2].0, w[2].1), (7, 11));
        assert!(lint("t.yaml", &[]).is_empty());
    }

    #[test]
    fn invalid_configuration_keeps_its_lint_warnings() {
        // The lint pass runs on what validation saw, also when the file has errors.
        let e = super::super::parse_str(
            "scripts:\n  a:\n    command: [/nonexistent/check]\n    rise: 0\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(
            e.iter().any(|d| d.warning
                && (d.line, d.column) == (3, 15)
                && d.message.contains("cannot be used")),
            "{e:#?}"
        );
        assert!(e.iter().any(|d| !d.warning && d.line == 4), "{e:#?}");
    }
}

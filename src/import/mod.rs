//! `vipd import-keepalived`: translate a keepalived.conf (VRRP part) into vipd's YAML.
//!
//! [`lexer`] turns the file (and whatever it `include`s) into a tree of statements with file
//! and line; [`translate`] walks that tree and writes a commented YAML document, collecting
//! what it could not translate as [`Finding`]s. The result is always checked with
//! [`crate::config::parse_str`] before it is handed out.
//!
//! [`translate`] has one function per keepalived block (`global_defs`, `vrrp_script`,
//! `vrrp_track_file`, `vrrp_instance` and its `authentication`, address source, ...) and
//! builds vipd's own configuration model ([`crate::config::ScriptConfig`],
//! [`crate::config::InstanceConfig`], ...), serialised with [`crate::config::to_yaml`] and
//! commented with the source line of each block.
//!
//! Exit status of the command ([`run`]): [`EXIT_COMPLETE`] (0) when everything was
//! translated, [`EXIT_INCOMPLETE`] (3) when the YAML was written but something was listed
//! as not translated, or when vipd's validation refuses the translation (nothing is written;
//! vipd's reasons are printed), [`EXIT_ERROR`] (2) on a syntax error, an unreadable file, or
//! when there is no `vrrp_instance` to translate.

pub mod lexer;
mod routes;
mod translate;

use std::fmt;
use std::path::Path;

pub use lexer::{LoadError, SyntaxError, shell_split};

/// Everything was translated.
pub const EXIT_COMPLETE: u8 = 0;
/// Syntax error, unreadable file, or no instance to translate.
pub const EXIT_ERROR: u8 = 2;
/// Something in the input was not translated (listed on stderr): the YAML was written without
/// it, or (vipd's validation refused the result) not written at all.
pub const EXIT_INCOMPLETE: u8 = 3;

/// Something in the input that was not translated (or a note about how it was).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    /// 1-based line in `path`.
    pub line: usize,
    /// The keyword (with its name for named blocks, e.g. `vrrp_sync_group VG_1`).
    pub keyword: String,
    /// What to do instead (for untranslated items) or what was done (for notes).
    pub message: String,
    /// A note: translated, but with a remark worth reading. Does not affect the exit status.
    pub note: bool,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.note { "note" } else { "not translated" };
        write!(
            f,
            "{}:{}: {}: {what}: {}",
            self.path, self.line, self.keyword, self.message
        )
    }
}

/// A translation: the YAML document and what could not be (or was loosely) translated.
#[derive(Clone, Debug)]
pub struct Translation {
    /// A commented vipd YAML document; it passes [`crate::config::parse_str`].
    pub yaml: String,
    /// Items not translated, in input order.
    pub untranslated: Vec<Finding>,
    /// Remarks on items that were translated.
    pub notes: Vec<Finding>,
}

impl Translation {
    /// True when nothing was left out.
    pub fn is_complete(&self) -> bool {
        self.untranslated.is_empty()
    }

    /// The exit status `vipd import-keepalived` uses for this translation.
    pub fn exit_code(&self) -> u8 {
        if self.is_complete() {
            EXIT_COMPLETE
        } else {
            EXIT_INCOMPLETE
        }
    }
}

/// Why no translation could be produced.
#[derive(Debug)]
pub enum ImportError {
    /// Unreadable file or syntax error.
    Load(LoadError),
    /// No vipd configuration could be produced; the findings say what was left out.
    Nothing {
        message: String,
        untranslated: Vec<Finding>,
    },
    /// The generated YAML was rejected by vipd's validation (e.g. duplicate VRIDs, a value
    /// keepalived would have refused too); the messages are vipd's, the YAML is attached.
    Invalid {
        yaml: String,
        diagnostics: Vec<crate::config::Diagnostic>,
        untranslated: Vec<Finding>,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Load(e) => e.fmt(f),
            ImportError::Nothing { message, .. } => f.write_str(message),
            ImportError::Invalid { diagnostics, .. } => {
                f.write_str("the translation is not a valid vipd configuration:")?;
                for d in diagnostics.iter().filter(|d| !d.warning) {
                    write!(f, "\n  {d}")?;
                }
                Ok(())
            }
        }
    }
}

/// How to read the keepalived file.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// keepalived's `-i ID`: which conditional `@ID` lines are read. None: the short host
    /// name, as keepalived does without `-i`.
    pub config_id: Option<String>,
}

impl Options {
    /// The config id used, and whether it came from the host name.
    fn config_id(&self) -> (String, bool) {
        match &self.config_id {
            Some(id) => (id.clone(), false),
            None => (short_hostname(), true),
        }
    }
}

/// The host name up to its first dot (keepalived's default config id: uname's nodename so cut).
pub fn short_hostname() -> String {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    h.trim().split('.').next().unwrap_or_default().to_owned()
}

/// Translates the keepalived configuration at `path` (and the files it includes).
pub fn import_file(path: &Path) -> Result<Translation, ImportError> {
    import_file_with(path, &Options::default())
}

/// [`import_file`] with [`Options`].
pub fn import_file_with(path: &Path, opts: &Options) -> Result<Translation, ImportError> {
    let (id, from_host) = opts.config_id();
    let src = lexer::load(path, Some(&id)).map_err(ImportError::Load)?;
    from_source(&src, from_host)
}

/// Translates keepalived configuration text; `path` names it in messages and is the base for
/// relative `include`s (which are read from disk).
pub fn import_str(text: &str, path: &Path) -> Result<Translation, ImportError> {
    import_str_with(text, path, &Options::default())
}

/// [`import_str`] with [`Options`].
pub fn import_str_with(
    text: &str,
    path: &Path,
    opts: &Options,
) -> Result<Translation, ImportError> {
    let (id, from_host) = opts.config_id();
    let src = lexer::load_text(text, path, Some(&id)).map_err(ImportError::Load)?;
    from_source(&src, from_host)
}

fn from_source(src: &lexer::Source, id_from_host: bool) -> Result<Translation, ImportError> {
    let top =
        lexer::tree(&src.lines, &src.files).map_err(|e| ImportError::Load(LoadError::Syntax(e)))?;
    let mut out = translate::translate(src, &top);
    if let Some((file, line, _, word)) = src.conditional.first() {
        let id = src.config_id.clone().unwrap_or_default();
        let whence = if id_from_host {
            "the short host name, as keepalived uses without `-i`; choose another with --config-id"
        } else {
            "--config-id, keepalived's `-i`"
        };
        let kept: Vec<String> = src
            .conditional
            .iter()
            .filter(|c| c.2)
            .map(|c| c.1.to_string())
            .collect();
        let dropped: Vec<String> = src
            .conditional
            .iter()
            .filter(|c| !c.2)
            .map(|c| c.1.to_string())
            .collect();
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                format!(
                    "line{} {}",
                    if v.len() == 1 { "" } else { "s" },
                    v.join(", ")
                )
            }
        };
        let message = format!(
            "conditional lines read for config id `{id}` (from {whence}): kept {} (`@{id}` and `@^OTHER`), left out {}",
            list(&kept),
            list(&dropped)
        );
        if let Some(y) = out.yaml.as_mut()
            && let Some(at) = y.find("\n\n")
        {
            y.insert_str(
                at + 1,
                &format!("# Conditional `@ID` lines read for config id `{id}`.\n"),
            );
        }
        out.notes.push(Finding {
            path: src.files[*file].clone(),
            line: *line,
            keyword: word.clone(),
            message,
            note: true,
        });
    }
    finish(out)
}

fn finish(out: translate::Output) -> Result<Translation, ImportError> {
    let Some(yaml) = out.yaml else {
        return Err(ImportError::Nothing {
            message: out.empty_reason,
            untranslated: out.untranslated,
        });
    };
    if let Err(diagnostics) = crate::config::parse_str(&yaml, "<translation>") {
        return Err(ImportError::Invalid {
            yaml,
            diagnostics,
            untranslated: out.untranslated,
        });
    }
    Ok(Translation {
        yaml,
        untranslated: out.untranslated,
        notes: out.notes,
    })
}

/// The `vipd import-keepalived PATH [-o FILE]` command: YAML on stdout, or into `out` (written
/// only when a translation is produced, never over PATH itself); findings on stderr (one
/// `path:line: keyword: not translated: what to do instead` per item); returns the exit status.
pub fn run(path: &Path, out: Option<&Path>, opts: &Options) -> u8 {
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b);
    if let Some(out) = out
        && same(path, out)
    {
        eprintln!(
            "vipd import-keepalived: -o {} is the keepalived file itself; choose another file",
            out.display()
        );
        return EXIT_ERROR;
    }
    let not_written = out.map_or(String::new(), |o| {
        format!("; {} was not written", o.display())
    });
    match import_file_with(path, opts) {
        Ok(t) => {
            match out {
                None => print!("{}", t.yaml),
                Some(o) => {
                    if let Err(e) = std::fs::write(o, &t.yaml) {
                        eprintln!("vipd import-keepalived: cannot write {}: {e}", o.display());
                        return EXIT_ERROR;
                    }
                }
            }
            let mut all: Vec<&Finding> = t.notes.iter().chain(&t.untranslated).collect();
            all.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
            for f in all {
                eprintln!("{f}");
            }
            if !t.is_complete() {
                eprintln!(
                    "{}: {} item{} not translated (see above); review before use",
                    path.display(),
                    t.untranslated.len(),
                    if t.untranslated.len() == 1 { "" } else { "s" }
                );
            }
            if let Some(o) = out {
                eprintln!(
                    "vipd import-keepalived: wrote {}; check it with `vipd check {}`",
                    o.display(),
                    o.display()
                );
            }
            t.exit_code()
        }
        Err(e) => {
            match &e {
                ImportError::Nothing { untranslated, .. }
                | ImportError::Invalid { untranslated, .. } => {
                    for f in untranslated {
                        eprintln!("{f}");
                    }
                }
                ImportError::Load(_) => {}
            }
            if let ImportError::Invalid { yaml, .. } = &e {
                eprintln!("--- translation (line numbers below refer to it):");
                for (i, l) in yaml.lines().enumerate() {
                    eprintln!("{:4} {l}", i + 1);
                }
            }
            eprintln!("vipd import-keepalived: {e}{not_written}");
            // vipd's validation refused the translation: nothing is written, and the reasons
            // above say what to fix (in the keepalived file, which keepalived mostly refuses
            // too); that is an incomplete translation, not an unreadable input.
            if matches!(e, ImportError::Invalid { .. }) {
                EXIT_INCOMPLETE
            } else {
                EXIT_ERROR
            }
        }
    }
}

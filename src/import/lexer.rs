//! keepalived.conf syntax: words, quoted strings, comments, braces and `include`, into a tree
//! of statements that remember their file and line.
//!
//! The tokenizer and the tree builder are pure; only [`load`] touches the file system (to
//! read the file and whatever it includes).

use std::fmt;
use std::path::{Path, PathBuf};

/// One word of a line. A quoted string is one word, without its quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Written between double quotes (so never a brace or a comment).
    pub quoted: bool,
}

impl Word {
    fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
}

/// The words of one source line, with where the line came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Index into [`Source::files`].
    pub file: usize,
    /// 1-based.
    pub line: usize,
    pub words: Vec<Word>,
}

/// A syntax problem: file, 1-based line, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub path: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.path, self.message)
        } else {
            write!(f, "{}:{}: {}", self.path, self.line, self.message)
        }
    }
}

/// Splits one file's text into lines of words. `#` and `!` start a comment anywhere outside
/// a quoted string; `{` and `}` are words of their own even when written against a word.
pub fn tokenize(text: &str, file: usize, path: &str) -> Result<Vec<Line>, SyntaxError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut chars = raw.chars().peekable();
        let flush = |cur: &mut String, words: &mut Vec<Word>| {
            if !cur.is_empty() {
                words.push(Word {
                    text: std::mem::take(cur),
                    quoted: false,
                });
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '#' | '!' => break,
                '"' => {
                    flush(&mut cur, &mut words);
                    let mut s = String::new();
                    let mut closed = false;
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => {
                                closed = true;
                                break;
                            }
                            // keepalived keeps backslashes; only `\"` needs care so the
                            // string does not end there.
                            '\\' if chars.peek() == Some(&'"') => {
                                s.push('\\');
                                s.push('"');
                                chars.next();
                            }
                            _ => s.push(q),
                        }
                    }
                    if !closed {
                        return Err(SyntaxError {
                            path: path.to_owned(),
                            line: n,
                            message: "unterminated quoted string".to_owned(),
                        });
                    }
                    words.push(Word {
                        text: s,
                        quoted: true,
                    });
                }
                '{' | '}' => {
                    flush(&mut cur, &mut words);
                    words.push(Word {
                        text: c.to_string(),
                        quoted: false,
                    });
                }
                c if c.is_whitespace() => flush(&mut cur, &mut words),
                c => cur.push(c),
            }
        }
        flush(&mut cur, &mut words);
        if !words.is_empty() {
            lines.push(Line {
                file,
                line: n,
                words,
            });
        }
    }
    Ok(lines)
}

/// A statement: a keyword, its arguments and an optional `{ ... }` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stmt {
    pub file: usize,
    pub line: usize,
    pub keyword: Word,
    pub args: Vec<Word>,
    pub block: Option<Vec<Stmt>>,
}

/// Builds the statement tree. A statement ends at the end of its line, at `{` (which opens
/// its block, possibly on the next line) or at `}`. Words after `{` or `}` on the same line
/// start new statements, so whole blocks may sit on one line.
pub fn tree(lines: &[Line], files: &[String]) -> Result<Vec<Stmt>, SyntaxError> {
    // Flatten into (line index, word) with an end-of-line marker.
    enum Tok<'a> {
        W(usize, &'a Word),
        Eol,
    }
    let mut toks = Vec::new();
    for (li, l) in lines.iter().enumerate() {
        for w in &l.words {
            toks.push(Tok::W(li, w));
        }
        toks.push(Tok::Eol);
    }
    let err = |li: usize, message: String| {
        let l = &lines[li];
        SyntaxError {
            path: files[l.file].clone(),
            line: l.line,
            message,
        }
    };
    /// An open block: its statements so far and the statement (with its line index) owning it.
    type Open = (Vec<Stmt>, Option<(usize, Stmt)>);
    let mut stack: Vec<Open> = vec![(Vec::new(), None)];
    let mut i = 0;
    while i < toks.len() {
        let (li, w) = match &toks[i] {
            Tok::Eol => {
                i += 1;
                continue;
            }
            Tok::W(li, w) => (*li, *w),
        };
        if w.is("}") {
            let (body, owner) = stack.pop().expect("the root is never popped");
            let Some((_, mut st)) = owner else {
                return Err(err(li, "`}` without a matching `{`".to_owned()));
            };
            st.block = Some(body);
            stack.last_mut().expect("parent").0.push(st);
            i += 1;
            continue;
        }
        if w.is("{") {
            return Err(err(li, "`{` without a keyword before it".to_owned()));
        }
        // A statement: words up to the end of the line or a brace.
        let l = &lines[li];
        let mut st = Stmt {
            file: l.file,
            line: l.line,
            keyword: w.clone(),
            args: Vec::new(),
            block: None,
        };
        i += 1;
        let mut opens = false;
        while i < toks.len() {
            match &toks[i] {
                Tok::Eol => {
                    // A `{` alone at the start of the next line belongs to this statement.
                    if let Some(Tok::W(_, nw)) = toks.get(i + 1)
                        && nw.is("{")
                    {
                        opens = true;
                        i += 2;
                    } else {
                        i += 1;
                    }
                    break;
                }
                Tok::W(_, a) if a.is("{") => {
                    opens = true;
                    i += 1;
                    break;
                }
                Tok::W(_, a) if a.is("}") => break,
                Tok::W(_, a) => {
                    st.args.push((*a).clone());
                    i += 1;
                }
            }
        }
        if opens {
            stack.push((Vec::new(), Some((li, st))));
        } else {
            stack.last_mut().expect("open block").0.push(st);
        }
    }
    let (body, owner) = stack.pop().expect("root");
    if let Some((li, st)) = owner {
        return Err(err(
            li,
            format!("block `{}` is never closed (missing `}}`)", st.keyword.text),
        ));
    }
    Ok(body)
}

/// Whether `name` matches the shell-style `pattern` (`*`, `?`, `[...]`, `[!...]`).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p[0] == '['; returns (matched, length of the class).
        let mut i = 1;
        let negate = matches!(p.get(1), Some('!') | Some('^'));
        if negate {
            i += 1;
        }
        let mut matched = false;
        let mut first = true;
        while i < p.len() && (first || p[i] != ']') {
            first = false;
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                if p[i] <= c && c <= p[i + 2] {
                    matched = true;
                }
                i += 3;
            } else {
                if p[i] == c {
                    matched = true;
                }
                i += 1;
            }
        }
        (i < p.len()).then_some((matched != negate, i + 1))
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') if !n.is_empty() => match class(p, n[0]) {
                Some((true, len)) => go(&p[len..], &n[1..]),
                Some((false, _)) => false,
                None => n[0] == '[' && go(&p[1..], &n[1..]),
            },
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    go(&p, &n)
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a glob pattern component by component, sorted like glob(3). Hidden files match
/// only a pattern component that starts with a dot.
pub fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let mut cur: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in pattern.components() {
        let s = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &cur {
            if has_magic(&s) {
                let dir = if base.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    base.clone()
                };
                let Ok(rd) = std::fs::read_dir(&dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| (!n.starts_with('.') || s.starts_with('.')) && glob_match(&s, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                let p = base.join(comp.as_os_str());
                if p.exists() || !has_magic(&pattern.to_string_lossy()) {
                    next.push(p);
                }
            }
        }
        cur = next;
    }
    cur
}

/// Everything read: the files (display paths) and their lines, includes spliced in.
#[derive(Debug, Default)]
pub struct Source {
    pub files: Vec<String>,
    pub lines: Vec<Line>,
    /// `include` patterns that matched no file: (file, line, pattern).
    pub empty_includes: Vec<(usize, usize, String)>,
    /// The config id the `@ID` lines were read with (keepalived's `-i ID`).
    pub config_id: Option<String>,
    /// Every conditional line: (file, line, kept, its `@ID` word).
    pub conditional: Vec<(usize, usize, bool, String)>,
}

/// keepalived 2.2.7's conditional lines: a line whose first word is `@ID` is read (without
/// that word) only when ID is the config id, `@^ID` only when it is not; a line with
/// nothing after the word is dropped. None when `l` is not conditional, else whether it
/// is kept (and `l` stripped of the word).
fn conditional(l: &mut Line, config_id: Option<&str>) -> Option<bool> {
    let first = l.words.first().filter(|w| !w.quoted)?;
    let rest = first.text.strip_prefix('@')?;
    let (negated, id) = match rest.strip_prefix('^') {
        Some(id) => (true, id),
        None => (false, rest),
    };
    // keepalived: no config id matches nothing (so `@^ID` lines are read).
    let matches = config_id == Some(id);
    let keep = matches != negated && l.words.len() > 1;
    if keep {
        l.words.remove(0);
    }
    Some(keep)
}

/// Problems reading: an unreadable file or a syntax error.
#[derive(Debug)]
pub enum LoadError {
    Read { path: String, message: String },
    Syntax(SyntaxError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, message } => write!(f, "{path}: cannot read: {message}"),
            LoadError::Syntax(e) => e.fmt(f),
        }
    }
}

/// Reads `path` and, recursively, the files its `include` lines name (a glob, relative to
/// the including file's directory), as keepalived does.
pub fn load(path: &Path, config_id: Option<&str>) -> Result<Source, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    load_text(&text, path, config_id)
}

/// Like [`load`] for a main file whose text is already known. `config_id` selects the
/// conditional `@ID` lines (see [`conditional`]).
pub fn load_text(text: &str, path: &Path, config_id: Option<&str>) -> Result<Source, LoadError> {
    let mut src = Source {
        config_id: config_id.map(str::to_owned),
        ..Source::default()
    };
    add_file(&mut src, text, path, 0)?;
    Ok(src)
}

fn add_file(src: &mut Source, text: &str, path: &Path, depth: usize) -> Result<(), LoadError> {
    let shown = path.display().to_string();
    let idx = src.files.len();
    src.files.push(shown.clone());
    let lines = tokenize(text, idx, &shown).map_err(LoadError::Syntax)?;
    for mut l in lines {
        let word = l.words[0].text.clone();
        if let Some(keep) = conditional(&mut l, src.config_id.as_deref()) {
            src.conditional.push((idx, l.line, keep, word));
            if !keep {
                continue;
            }
        }
        if !l.words[0].is("include") {
            src.lines.push(l);
            continue;
        }
        let Some(pat) = l.words.get(1).filter(|_| l.words.len() == 2) else {
            return Err(LoadError::Syntax(SyntaxError {
                path: shown,
                line: l.line,
                message: "`include` takes exactly one file name or glob".to_owned(),
            }));
        };
        if depth >= 16 {
            return Err(LoadError::Syntax(SyntaxError {
                path: shown,
                line: l.line,
                message: "includes nested more than 16 deep (an include loop?)".to_owned(),
            }));
        }
        let pat_path = Path::new(&pat.text);
        let full = if pat_path.is_absolute() {
            pat_path.to_path_buf()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(pat_path)
        };
        let found = if has_magic(&pat.text) {
            expand_glob(&full)
        } else {
            vec![full.clone()]
        };
        if found.is_empty() {
            src.empty_includes.push((idx, l.line, pat.text.clone()));
        }
        for f in found {
            if f.is_dir() {
                continue;
            }
            let text = std::fs::read_to_string(&f).map_err(|e| LoadError::Read {
                path: format!("{} (included at {}:{})", f.display(), shown, l.line),
                message: e.to_string(),
            })?;
            add_file(src, &text, &f, depth + 1)?;
        }
    }
    Ok(())
}

/// Splits a command string into argv like a shell would split words: whitespace separates,
/// single quotes keep everything, double quotes keep everything but `\"` and `\\`, a
/// backslash outside quotes escapes the next character. Returns None on an unclosed quote.
pub fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        q => cur.push(q),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            e @ ('"' | '\\' | '$' | '`') => cur.push(e),
                            e => {
                                cur.push('\\');
                                cur.push(e);
                            }
                        },
                        q => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    cur.push(e);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

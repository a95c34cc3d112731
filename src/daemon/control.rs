//! The local control socket (`vipd drain` / `vipd undrain`): a Unix stream socket, mode 0600,
//! one request line and one answer line per connection. Who asked (SO_PEERCRED uid and pid)
//! goes with the request to the core, which decides; this only moves the bytes.
//!
//! Protocol: `drain [INSTANCE...]\n` or `undrain [INSTANCE...]\n` (no instance: all);
//! `drained\n` lists the drained instances. Answer: `ok <text>\n` or `error <text>\n`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// Where `vipd run` listens and `vipd drain` connects unless told otherwise (the unit's
/// `RuntimeDirectory=vipd`).
pub const DEFAULT_PATH: &str = "/run/vipd/control";

/// Longest request line accepted.
const MAX_LINE: usize = 4096;
/// A client that says nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Drain (true) or undrain these instances (empty: all).
    Drain { on: bool, names: Vec<String> },
    /// List the drained instances.
    List,
}

/// One request for the engine loop; answer on `reply`.
#[derive(Debug)]
pub struct Request {
    pub command: Command,
    /// `uid=0 pid=1234` of the client, for the log.
    pub by: String,
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// Parses one request line.
pub fn parse(line: &str) -> Result<Command, String> {
    let mut words = line.split_whitespace();
    let verb = words
        .next()
        .ok_or("empty request (expected `drain`, `undrain` or `drained`)")?;
    let names: Vec<String> = words.map(str::to_owned).collect();
    if let Some(bad) = names.iter().find(|n| n.chars().any(char::is_control)) {
        return Err(format!("instance name {bad:?} has control characters"));
    }
    match verb {
        "drain" => Ok(Command::Drain { on: true, names }),
        "undrain" => Ok(Command::Drain { on: false, names }),
        "drained" if names.is_empty() => Ok(Command::List),
        "drained" => Err("`drained` takes no arguments".into()),
        other => Err(format!(
            "unknown request `{other}` (expected `drain`, `undrain` or `drained`)"
        )),
    }
}

/// Binds the socket at `path` (mode 0600, owned by this process's user) and serves it;
/// requests go to the returned queue. A stale socket left by a crash is replaced; a live one
/// (another vipd answers on it) is an error.
pub fn spawn(path: &Path) -> Result<mpsc::Receiver<Request>, String> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{} is in use by another running vipd",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot remove stale {}: {e}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    let (tx, rx) = mpsc::channel(16);
    let owned = path.to_path_buf();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(serve(stream, tx.clone()));
                }
                Err(e) => {
                    warn!(path = %owned.display(), "control socket accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(rx)
}

/// Removes the socket file (shutdown).
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

async fn serve(stream: UnixStream, tx: mpsc::Sender<Request>) {
    let by = match stream.peer_cred() {
        Ok(c) => match c.pid() {
            Some(pid) => format!("uid={} pid={pid}", c.uid()),
            None => format!("uid={}", c.uid()),
        },
        Err(_) => "unknown peer".to_owned(),
    };
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::new(rd).take(MAX_LINE as u64 + 1);
    let mut line = String::new();
    let answer = match tokio::time::timeout(READ_TIMEOUT, rd.read_line(&mut line)).await {
        Err(_) => Err("no request within 5 s".to_owned()),
        Ok(Err(e)) => Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) if line.len() > MAX_LINE => Err(format!("request longer than {MAX_LINE} bytes")),
        Ok(Ok(_)) => match parse(&line) {
            Err(e) => Err(e),
            Ok(command) => {
                let (reply, rx) = oneshot::channel();
                let req = Request {
                    command,
                    by: by.clone(),
                    reply,
                };
                if tx.send(req).await.is_err() {
                    Err("vipd is shutting down".to_owned())
                } else {
                    rx.await
                        .unwrap_or_else(|_| Err("vipd is shutting down".to_owned()))
                }
            }
        },
    };
    if let Err(e) = &answer {
        warn!(by = %by, "control request refused: {e}");
    }
    let text = match answer {
        Ok(t) => format!("ok {t}\n"),
        Err(e) => format!("error {e}\n"),
    };
    if let Err(e) = wr.write_all(text.as_bytes()).await {
        debug!("control answer not delivered: {e}");
    }
}

/// `vipd drain` / `vipd undrain` / `vipd drained`: sends one request, prints the answer.
/// Exit status 0 on `ok`, 1 otherwise.
pub fn client(path: &Path, request: &str) -> u8 {
    let fail = |msg: String| {
        eprintln!("vipd: {msg}");
        1
    };
    let mut s = match std::os::unix::net::UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(format!(
                "no control socket at {} (is vipd running? `--control-socket` must match `vipd run`'s)",
                path.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return fail(format!(
                "permission denied on {} (it is mode 0600: run as vipd's user or root)",
                path.display()
            ));
        }
        Err(e) => return fail(format!("cannot connect to {}: {e}", path.display())),
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if let Err(e) = s.write_all(format!("{request}\n").as_bytes()) {
        return fail(format!("cannot send the request: {e}"));
    }
    let mut answer = String::new();
    if let Err(e) = BufReader::new(&s).read_line(&mut answer) {
        return fail(format!("no answer: {e}"));
    }
    let answer = answer.trim_end();
    if let Some(ok) = answer.strip_prefix("ok ") {
        println!("{ok}");
        0
    } else if let Some(err) = answer.strip_prefix("error ") {
        fail(err.to_owned())
    } else {
        fail(format!("unexpected answer {answer:?}"))
    }
}

/// The request line for a command.
pub fn request_line(on: bool, names: &[String]) -> String {
    let verb = if on { "drain" } else { "undrain" };
    std::iter::once(verb.to_owned())
        .chain(names.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Default path as a `PathBuf`.
pub fn default_path() -> PathBuf {
    PathBuf::from(DEFAULT_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests_and_rejects_bad_ones() {
        assert_eq!(
            parse("drain VI_1 VI_2\n"),
            Ok(Command::Drain {
                on: true,
                names: vec!["VI_1".into(), "VI_2".into()]
            })
        );
        assert_eq!(
            parse("undrain"),
            Ok(Command::Drain {
                on: false,
                names: vec![]
            })
        );
        assert_eq!(parse("drained\n"), Ok(Command::List));
        assert!(parse("").unwrap_err().contains("empty request"));
        assert!(
            parse("reboot now")
                .unwrap_err()
                .contains("unknown request `reboot`")
        );
        assert!(parse("drained VI_1").is_err());
        assert!(
            parse("drain VI\u{7}1")
                .unwrap_err()
                .contains("control characters")
        );
        assert_eq!(request_line(true, &["a".into()]), "drain a");
    }
}

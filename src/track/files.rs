//! Tracked files: an integer written by other software steers the priority.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};

use super::TrackEvent;

/// How often tracked files are read.
pub const FILE_POLL: Duration = Duration::from_millis(500);

/// Parse a tracked file's content: an optionally signed decimal integer, surrounding
/// whitespace ignored.
pub fn parse_value(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("the file is empty".to_owned());
    }
    t.parse::<i64>().map_err(|_| {
        let shown: String = t.chars().take(40).collect();
        format!("`{shown}` is not an integer")
    })
}

/// The polling task for tracked files. Dropping it stops polling.
pub struct Files {
    task: JoinHandle<()>,
}

impl Files {
    /// Poll `paths` (duplicates ignored) every [`FILE_POLL`], the first time at once. Sends
    /// [`TrackEvent::File`] for every path after the first read, then whenever its value
    /// changes; `value: None` = missing, unreadable, empty or not an integer (logged once).
    pub fn spawn(paths: Vec<PathBuf>, tx: UnboundedSender<TrackEvent>) -> Files {
        let mut paths = paths;
        paths.sort();
        paths.dedup();
        Files {
            task: tokio::spawn(poll(paths, tx)),
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read(path: &PathBuf) -> Result<i64, String> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => parse_value(&text),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

async fn poll(paths: Vec<PathBuf>, tx: UnboundedSender<TrackEvent>) {
    if paths.is_empty() {
        return;
    }
    // Per path: the last value sent (None before the first read).
    let mut last: Vec<Option<Option<i64>>> = vec![None; paths.len()];
    let mut last_err: Vec<Option<String>> = vec![None; paths.len()];
    let mut ticker = tokio::time::interval(FILE_POLL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for (i, path) in paths.iter().enumerate() {
            let value = match read(path).await {
                Ok(v) => {
                    if last_err[i].take().is_some() {
                        info!(file = %path.display(), value = v, "tracked file readable again");
                    }
                    Some(v)
                }
                Err(e) => {
                    if last_err[i].as_deref() != Some(e.as_str()) {
                        warn!(file = %path.display(), problem = %e, "tracked file has no value; counted as 0");
                        last_err[i] = Some(e);
                    }
                    None
                }
            };
            if last[i] != Some(value) {
                last[i] = Some(value);
                let ev = TrackEvent::File {
                    path: path.clone(),
                    value,
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_value("42"), Ok(42));
        assert_eq!(parse_value("  -7\n"), Ok(-7));
        assert_eq!(parse_value("+3"), Ok(3));
        assert_eq!(parse_value("0\n"), Ok(0));
        assert!(parse_value("").unwrap_err().contains("empty"));
        assert!(parse_value(" \n").unwrap_err().contains("empty"));
        assert!(parse_value("12abc").unwrap_err().contains("not an integer"));
        assert!(parse_value("1.5").unwrap_err().contains("not an integer"));
        assert!(parse_value("1 2").is_err());
        assert!(parse_value("99999999999999999999").is_err());
    }
}

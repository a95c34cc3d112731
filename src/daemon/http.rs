//! The HTTP thread: `/metrics`, `/status`, `/healthz` on a thread and runtime of their own,
//! at the lowest priority, so a scrape never runs on the thread that sends adverts.

use tracing::{error, warn};

use crate::observe::{self, Metrics};

/// Nice value of the HTTP thread: the lowest priority there is short of SCHED_IDLE (which
/// could starve scrapes altogether on a busy host).
const HTTP_NICE: i32 = 19;

/// Starts the thread; it lives as long as the process.
pub fn spawn(
    listener: std::net::TcpListener,
    metrics: Metrics,
    status: observe::StatusSource,
    web: std::sync::Arc<crate::webconfig::WebConfig>,
) -> std::io::Result<()> {
    // Its blocking threads encode /metrics (at most MAX_ENCODES at once) and, with a web
    // configuration, check bcrypt hashes and load TLS settings: a few are enough, and each
    // thread costs a stack and, with glibc, possibly a malloc arena of its own.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(observe::MAX_ENCODES + 2)
        .build()?;
    std::thread::Builder::new()
        .name("vipd-http".into())
        .spawn(move || {
            // Nice 19 on this thread (and the blocking threads it starts, which inherit it):
            // when the CPUs are busy, the engine thread runs first and a scrape waits.
            if let Err(e) = rustix::process::setpriority_process(None, HTTP_NICE) {
                warn!("cannot lower the HTTP thread's priority: {e}");
            }
            rt.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        if let Err(e) = observe::serve_with(l, metrics, status, web).await {
                            error!("HTTP server stopped: {e}");
                        }
                    }
                    Err(e) => error!("HTTP listener: {e}"),
                }
            })
        })?;
    Ok(())
}

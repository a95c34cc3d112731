//! The engine's timer: a timerfd on CLOCK_MONOTONIC (nanosecond resolution, the clock
//! `std::time::Instant` reads) instead of tokio's 1 ms timer wheel, which rounds every deadline
//! up to the next millisecond and so adds up to 1 ms to each failover.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Instant;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

use super::packet_socket::register_readable;

/// Owns the timerfd; the reactor needs `AsRawFd`.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// One re-armable deadline.
pub struct Deadline {
    fd: AsyncFd<Fd>,
    /// The deadline the timerfd is armed for, so an unchanged deadline costs no syscall.
    armed: Option<Instant>,
}

impl Deadline {
    /// Needs a tokio runtime.
    pub fn new() -> io::Result<Deadline> {
        let tfd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Deadline {
            fd: register_readable(Fd(tfd))?,
            armed: None,
        })
    }

    /// Resolves at `at` (at once if it has passed; never for None). Cancel-safe: dropped
    /// before it resolves, the timer stays armed and the next call for the same deadline
    /// simply waits on. A wake-up may come early after the deadline changed (the caller
    /// only acts on what is due).
    pub async fn wait(&mut self, at: Option<Instant>) -> io::Result<()> {
        let Some(at) = at else {
            return std::future::pending().await;
        };
        if self.armed != Some(at) {
            let d = at.saturating_duration_since(Instant::now());
            if d.is_zero() {
                self.armed = None;
                return Ok(());
            }
            let spec = Expiration::OneShot(TimeSpec::from_duration(d));
            self.fd.get_ref().0.set(spec, TimerSetTimeFlags::empty())?;
            self.armed = Some(at);
        }
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|f| {
                let mut buf = [0u8; 8];
                nix::unistd::read(f.get_ref().0.as_fd(), &mut buf).map_err(io::Error::from)
            }) {
                Ok(Ok(_)) => {
                    self.armed = None;
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn fires_at_the_deadline_and_again_when_re_armed() {
        let mut t = Deadline::new().unwrap();
        for ms in [3u64, 1, 7] {
            let at = Instant::now() + Duration::from_millis(ms);
            t.wait(Some(at)).await.unwrap();
            assert!(Instant::now() >= at, "never early");
        }
        // A deadline in the past resolves at once.
        t.wait(Some(Instant::now())).await.unwrap();
    }
}

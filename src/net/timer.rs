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

    /// Resolves at `at` (at once if it has passed; never for None), or earlier: at the
    /// deadline already armed when that is earlier than `at`. Only a deadline earlier than
    /// the armed one re-arms the timerfd. A backup's next deadline moves later with nearly
    /// every advert it receives (that instance's Master_Down timer restarts), and re-arming
    /// for each would cost a system call per advert; the timer armed for the old deadline
    /// instead fires once, early, and the caller, which only acts on what is due, asks
    /// again. Cancel-safe: dropped before it resolves, the timer stays armed and the next
    /// call simply waits on.
    pub async fn wait(&mut self, at: Option<Instant>) -> io::Result<()> {
        let Some(at) = at else {
            return match self.armed {
                // Fires once for the old deadline, as for a later one.
                Some(_) => self.fired().await,
                None => std::future::pending().await,
            };
        };
        if self.armed.is_none_or(|a| a > at) {
            let d = at.saturating_duration_since(Instant::now());
            if d.is_zero() {
                self.armed = None;
                return Ok(());
            }
            let spec = Expiration::OneShot(TimeSpec::from_duration(d));
            self.fd.get_ref().0.set(spec, TimerSetTimeFlags::empty())?;
            self.armed = Some(at);
        }
        self.fired().await
    }

    /// Waits for the armed timerfd to expire.
    async fn fired(&mut self) -> io::Result<()> {
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

    #[tokio::test]
    async fn only_an_earlier_deadline_re_arms() {
        let mut t = Deadline::new().unwrap();
        let t0 = Instant::now();
        let soon = t0 + Duration::from_millis(20);
        let later = t0 + Duration::from_secs(3600);
        // Armed for `soon`, dropped before it fires (a packet came first).
        assert!(
            tokio::time::timeout(Duration::from_millis(1), t.wait(Some(soon)))
                .await
                .is_err()
        );
        // The deadline moved later: the timer armed for `soon` still fires, once.
        t.wait(Some(later)).await.unwrap();
        let woke = Instant::now();
        assert!(woke >= soon, "not before the armed deadline");
        assert!(woke < later, "the early wake-up for the old deadline");
        // Nothing armed now: the later deadline is armed for real.
        assert!(
            tokio::time::timeout(Duration::from_millis(30), t.wait(Some(later)))
                .await
                .is_err()
        );
        // An earlier deadline re-arms.
        let sooner = Instant::now() + Duration::from_millis(5);
        t.wait(Some(sooner)).await.unwrap();
        assert!(Instant::now() >= sooner);
        // No deadline while one is armed: that one fires, then none.
        let soon = Instant::now() + Duration::from_millis(5);
        assert!(
            tokio::time::timeout(Duration::from_millis(1), t.wait(Some(soon)))
                .await
                .is_err()
        );
        t.wait(None).await.unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(30), t.wait(None))
                .await
                .is_err()
        );
    }
}

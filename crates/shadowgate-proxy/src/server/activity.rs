//! [`Activity`]: what one client connection is doing, kept in atomics that the connection's IO,
//! its requests and its watchdog share, and the watchdog that turns it into the connection
//! limits: `header_read_timeout`, `idle_timeout` and `send_timeout`.
//!
//! The rules, for HTTP/1.1 and h2 alike unless said otherwise:
//! - a new connection must start its first request within `header_read_timeout` of being
//!   accepted (the TLS handshake included), or it is cut;
//! - a connection with no request in flight for `idle_timeout` is closed gracefully; a request
//!   is in flight from its head until its response body is done, so long requests and
//!   streaming responses are never cut;
//! - HTTP/1.1 only: once the first byte of a further request head arrives, the whole head must
//!   arrive within `header_read_timeout` (slowloris), or the connection is cut. (h2 frames
//!   such as PING arrive on idle connections, so h2 has only the idle rule.)
//! - a connection whose writes to the client have been blocked (the client reads nothing) for
//!   `send_timeout` is cut, as nginx's `send_timeout` does; its response body is dropped with
//!   it, which frees the backend's `max_connections` slot. A response that is merely slow to
//!   come from the upstream never blocks a write, so it is not cut.
//!
//! hyper's own HTTP/1 `header_read_timeout` is not used: its clock also runs while a keep-alive
//! connection waits for its next request, so it would close idle connections long before
//! `idle_timeout`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::settings::Limits;

/// `head_since` when no further request head has started.
const NONE: u64 = u64::MAX;

/// Why the watchdog ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No request in flight for `idle_timeout`: close gracefully.
    Idle,
    /// A request head did not arrive whole within `header_read_timeout`: cut.
    HeadTimeout,
    /// Writing to the client made no progress for `send_timeout`: cut.
    SendTimeout,
}

/// One connection's activity. Hot-path cost: a few relaxed atomic operations per read and per
/// request, one clock read when a request ends and one when a new head starts.
#[derive(Debug)]
pub(crate) struct Activity {
    /// When the connection was accepted; the millisecond fields count from here.
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Requests started so far.
    requests: AtomicU64,
    /// When `in_flight` last fell to zero.
    idle_since: AtomicU64,
    /// When the first byte arrived after going idle (HTTP/1.1), or [`NONE`].
    head_since: AtomicU64,
    /// The connection speaks h2 (known from its first request).
    http2: AtomicBool,
    /// Since when writes to the client have been blocked, or [`NONE`].
    blocked_since: AtomicU64,
}

impl Activity {
    /// A connection accepted at `epoch`.
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            http2: AtomicBool::new(false),
            blocked_since: AtomicU64::new(NONE),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Bytes arrived from the client.
    pub(crate) fn on_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == NONE
            && self.requests.load(Ordering::Relaxed) > 0
            && !self.http2.load(Ordering::Relaxed)
        {
            self.head_since.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// A write to the client could not go on (the client is not reading).
    pub(crate) fn on_write_blocked(&self) {
        if self.blocked_since.load(Ordering::Relaxed) == NONE {
            self.blocked_since.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Bytes went out to the client. One relaxed load per write; a store only after a block.
    pub(crate) fn on_write(&self) {
        if self.blocked_since.load(Ordering::Relaxed) != NONE {
            self.blocked_since.store(NONE, Ordering::Relaxed);
        }
    }

    /// A request head was read; the request is in flight until its [`InFlight`] is dropped.
    pub(crate) fn begin(&self, http2: bool) {
        if http2 {
            self.http2.store(true, Ordering::Relaxed);
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A request's response is done (or abandoned).
    pub(crate) fn end(&self) {
        // `idle_since` first: the watchdog (on another thread for h2) must never see no request
        // in flight next to the idle time of an earlier quiet spell. `fetch_max`, since h2
        // streams end on several threads.
        self.idle_since.fetch_max(self.now_ms(), Ordering::Release);
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.head_since.store(NONE, Ordering::Relaxed);
        }
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// The deadline that applies now: the send deadline while writes are blocked, else `None`
    /// while a request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Expiry)> {
        let blocked_since = self.blocked_since.load(Ordering::Relaxed);
        if blocked_since != NONE {
            return Some((
                self.at(blocked_since) + limits.send_timeout,
                Expiry::SendTimeout,
            ));
        }
        if self.requests.load(Ordering::Acquire) == 0 {
            return Some((self.epoch + limits.header_read_timeout, Expiry::HeadTimeout));
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head_since = self.head_since.load(Ordering::Relaxed);
        if head_since != NONE && !self.http2.load(Ordering::Relaxed) {
            return Some((
                self.at(head_since) + limits.header_read_timeout,
                Expiry::HeadTimeout,
            ));
        }
        let idle_since = self.idle_since.load(Ordering::Acquire);
        Some((self.at(idle_since) + limits.idle_timeout, Expiry::Idle))
    }

    /// Resolves when the connection passes one of its limits. Poll it from the task that drives
    /// the connection: requests start only while that task runs, so the verdict cannot race a
    /// new request (and `end` publishes the idle time before the request count falls).
    pub(crate) async fn expired(&self, limits: Limits) -> Expiry {
        // No signal per request: the watchdog re-reads the atomics when its timer fires, and
        // never sleeps past a deadline that could appear meanwhile. A request in flight ends
        // no sooner than now, so the idle deadline it leaves is at least `idle_timeout` away;
        // a head that starts later has its deadline at least `header_read_timeout` away, and a
        // write blocked later at least `send_timeout`. So sleeping until the earliest of the
        // known deadline and `now + min(all three)` is never
        // late, and on a busy connection the timer is re-armed once per that period, not per
        // request.
        // At least 1 ms (the clock's granularity here): zero timeouts in hand-built `Limits`
        // must not spin.
        let recheck = limits
            .idle_timeout
            .min(limits.header_read_timeout)
            .min(limits.send_timeout)
            .max(Duration::from_millis(1));
        let sleep = tokio::time::sleep_until(self.epoch + limits.header_read_timeout);
        tokio::pin!(sleep);
        loop {
            let now = Instant::now();
            let wake_at = match self.deadline(&limits) {
                None => now + recheck,
                Some((deadline, expiry)) => {
                    if now >= deadline {
                        return expiry;
                    }
                    deadline.min(now + recheck)
                }
            };
            if sleep.deadline() != wake_at {
                sleep.as_mut().reset(wake_at);
            }
            sleep.as_mut().await;
        }
    }
}

/// A request in flight; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct InFlight(std::sync::Arc<Activity>);

impl InFlight {
    /// Begins a request on `activity`.
    pub(crate) fn begin(activity: &std::sync::Arc<Activity>, http2: bool) -> Self {
        activity.begin(http2);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            ..Limits::default()
        }
    }

    async fn expires_after(activity: &Activity) -> (Duration, Expiry) {
        let start = Instant::now();
        let expiry = activity.expired(limits()).await;
        (start.elapsed(), expiry)
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_without_a_request_is_cut_at_the_header_read_timeout() {
        let activity = Activity::new(Instant::now());
        activity.on_read();
        let (after, expiry) = expires_after(&activity).await;
        assert_eq!(expiry, Expiry::HeadTimeout);
        assert_eq!(after, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_before() {
        let activity = Arc::new(Activity::new(Instant::now()));
        drop(InFlight::begin(&activity, false));
        let (after, expiry) = expires_after(&activity).await;
        assert_eq!(expiry, Expiry::Idle);
        assert_eq!(after, Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_cut() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let request = InFlight::begin(&activity, true);
        let watch = expires_after(&activity);
        tokio::pin!(watch);
        let waited = tokio::time::timeout(Duration::from_secs(3600), watch.as_mut()).await;
        assert!(waited.is_err(), "cut while a request was in flight");
        drop(request);
        let (_, expiry) = watch.await;
        assert_eq!(expiry, Expiry::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_further_head_on_http1_is_cut_at_the_header_read_timeout() {
        let activity = Arc::new(Activity::new(Instant::now()));
        drop(InFlight::begin(&activity, false));
        let watch = expires_after(&activity);
        tokio::pin!(watch);
        assert!(
            tokio::time::timeout(Duration::from_secs(30), watch.as_mut())
                .await
                .is_err()
        );
        activity.on_read();
        let (after, expiry) = watch.await;
        assert_eq!(expiry, Expiry::HeadTimeout);
        assert_eq!(after, Duration::from_secs(40));
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_clock_counts_from_the_last_request() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let start = Instant::now();
        let watch = activity.expired(limits());
        tokio::pin!(watch);
        for _ in 0..5 {
            drop(InFlight::begin(&activity, false));
            let waited = tokio::time::timeout(Duration::from_secs(50), watch.as_mut()).await;
            assert!(waited.is_err(), "closed while requests kept coming");
        }
        assert_eq!(watch.await, Expiry::Idle);
        // The last request ended at 200 s; closed 60 s later, not at the first deadline.
        assert_eq!(start.elapsed(), Duration::from_secs(260));
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_started_in_time_is_not_cut_and_idles_from_its_end() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let start = Instant::now();
        let watch = activity.expired(limits());
        tokio::pin!(watch);
        // The head arrives just inside the header read timeout; the request takes 30 s.
        let early = tokio::time::timeout(Duration::from_secs(9), watch.as_mut()).await;
        assert!(early.is_err(), "cut before the header read timeout");
        let request = InFlight::begin(&activity, false);
        let held = tokio::time::timeout(Duration::from_secs(30), watch.as_mut()).await;
        assert!(held.is_err(), "cut while its first request was in flight");
        drop(request);
        assert_eq!(watch.await, Expiry::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(9 + 30 + 60));
    }

    #[tokio::test(start_paused = true)]
    async fn body_bytes_of_an_http1_request_in_flight_do_not_start_a_head_clock() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let start = Instant::now();
        drop(InFlight::begin(&activity, false));
        let upload = InFlight::begin(&activity, false);
        let watch = activity.expired(limits());
        tokio::pin!(watch);
        // A long upload: body bytes every 5 s for an hour.
        for _ in 0..720 {
            activity.on_read();
            let waited = tokio::time::timeout(Duration::from_secs(5), watch.as_mut()).await;
            assert!(waited.is_err(), "an upload in flight was cut");
        }
        drop(upload);
        assert_eq!(watch.await, Expiry::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(3600 + 60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_whose_writes_stay_blocked_is_cut_at_the_send_timeout() {
        let activity = Arc::new(Activity::new(Instant::now()));
        let start = Instant::now();
        let _request = InFlight::begin(&activity, false);
        let watch = activity.expired(limits());
        tokio::pin!(watch);
        // Blocked, then progress: the clock starts again at each block.
        activity.on_write_blocked();
        let waited = tokio::time::timeout(Duration::from_secs(50), watch.as_mut()).await;
        assert!(waited.is_err(), "cut before the send timeout");
        activity.on_write();
        let waited = tokio::time::timeout(Duration::from_secs(100), watch.as_mut()).await;
        assert!(waited.is_err(), "cut while nothing was blocked");
        activity.on_write_blocked();
        assert_eq!(watch.await, Expiry::SendTimeout);
        assert_eq!(start.elapsed(), Duration::from_secs(150 + 60));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_on_an_idle_h2_connection_do_not_start_a_head_clock() {
        let activity = Arc::new(Activity::new(Instant::now()));
        drop(InFlight::begin(&activity, true));
        activity.on_read();
        let (after, expiry) = expires_after(&activity).await;
        assert_eq!(expiry, Expiry::Idle);
        assert_eq!(after, Duration::from_secs(60));
    }
}

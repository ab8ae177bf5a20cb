//! A target's circuit breaker: `failures` consecutive transport failures or timeouts open it;
//! while open, copies are dropped (`dropped_circuit_open`) with no I/O at all; after
//! `retry_after` one copy goes out as a probe (half-open), and its fate closes or reopens it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use prometheus_client::metrics::gauge::Gauge;

/// Default consecutive failures that open the circuit.
pub const DEFAULT_CIRCUIT_FAILURES: u32 = 5;
/// Default time an open circuit waits before its probe.
pub const DEFAULT_CIRCUIT_RETRY_AFTER: Duration = Duration::from_secs(60);

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// The state of a target's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Copies flow.
    Closed,
    /// Copies are dropped without I/O until the probe is due.
    Open,
    /// One probe is in flight; other copies are dropped.
    HalfOpen,
}

impl CircuitState {
    /// The label used in logs and listings: `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

/// The low bits of [`Circuit::word`] hold the state.
const STATE_BITS: u32 = 2;
const STATE_MASK: u64 = (1 << STATE_BITS) - 1;

/// A state and a time in nanoseconds since the epoch, in one word.
fn pack(state: u8, since: u64) -> u64 {
    (since.min(u64::MAX >> STATE_BITS) << STATE_BITS) | u64::from(state)
}

fn unpack(word: u64) -> (u8, u64) {
    // The mask keeps two bits, so the cast cannot truncate.
    ((word & STATE_MASK) as u8, word >> STATE_BITS)
}

#[derive(Debug)]
pub(crate) struct Circuit {
    /// 0 disables the breaker.
    failures: u32,
    retry_after: Duration,
    /// A probe not heard from within this long is taken as lost, and another may go out.
    probe_lost_after: Duration,
    /// The state, and when it last opened or sent a probe (nanoseconds since `epoch`), packed
    /// into one atomic so that claiming the probe is one compare-and-swap on both: a caller
    /// that read either before another caller's claim cannot win too.
    word: AtomicU64,
    consecutive: AtomicU32,
    /// When it opened after being closed, as nanoseconds since `epoch` plus one; 0 while closed.
    failing_since: AtomicU64,
    epoch: Instant,
    gauge: Gauge,
    target: std::sync::Arc<str>,
}

impl Circuit {
    /// `timeout` is the copies' timeout: a probe lasts at most that long.
    pub(crate) fn new(
        failures: u32,
        retry_after: Duration,
        timeout: Duration,
        gauge: Gauge,
        target: std::sync::Arc<str>,
    ) -> Self {
        gauge.set(0);
        Self {
            failures,
            retry_after,
            probe_lost_after: retry_after.saturating_add(timeout),
            word: AtomicU64::new(pack(CLOSED, 0)),
            consecutive: AtomicU32::new(0),
            failing_since: AtomicU64::new(0),
            epoch: Instant::now(),
            gauge,
            target,
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match unpack(self.word.load(Ordering::Acquire)).0 {
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }

    /// Whether a copy may be admitted now. On the request path: atomics only. When a probe is
    /// due, exactly one caller wins the switch to half-open and sends it. A probe that was never
    /// heard from (dropped from a full queue, expired in it) is replaced once it is overdue.
    pub(crate) fn admit(&self) -> bool {
        let word = self.word.load(Ordering::Acquire);
        let (state, since) = unpack(word);
        if state == CLOSED {
            return true;
        }
        let now = self.now();
        if !self.probe_due(state, since, now) {
            return false;
        }
        let won = self
            .word
            .compare_exchange(
                word,
                pack(HALF_OPEN, now),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if won && state != HALF_OPEN {
            self.changed(CircuitState::HalfOpen);
        }
        won
    }

    /// Whether a copy would be dropped by the circuit now (no state change).
    pub(crate) fn is_blocking(&self) -> bool {
        let (state, since) = unpack(self.word.load(Ordering::Acquire));
        state != CLOSED && !self.probe_due(state, since, self.now())
    }

    /// How long the circuit has been open or half-open since it was last closed (`None` while
    /// closed): how long the target has been failing.
    pub(crate) fn failing_for(&self) -> Option<Duration> {
        match self.failing_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_nanos(
                self.now().saturating_sub(since.saturating_sub(1)),
            )),
        }
    }

    /// The target answered.
    pub(crate) fn on_success(&self) {
        self.consecutive.store(0, Ordering::Relaxed);
        // CLOSED is 0: clearing the state bits closes it and keeps the time.
        let old = self.word.fetch_and(!STATE_MASK, Ordering::AcqRel);
        if unpack(old).0 != CLOSED {
            self.failing_since.store(0, Ordering::Release);
            self.changed(CircuitState::Closed);
        }
    }

    /// A transport failure or a timeout on the wire.
    pub(crate) fn on_failure(&self) {
        if self.failures == 0 {
            return;
        }
        let n = self
            .consecutive
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let (from, _) = unpack(word);
            if !(from == HALF_OPEN || (from == CLOSED && n >= self.failures)) {
                return;
            }
            let now = self.now();
            match self.word.compare_exchange_weak(
                word,
                pack(OPEN, now),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if from == CLOSED {
                        self.failing_since
                            .store(now.saturating_add(1), Ordering::Release);
                    }
                    return self.changed(CircuitState::Open);
                }
                Err(current) => word = current,
            }
        }
    }

    fn probe_due(&self, state: u8, since: u64, now: u64) -> bool {
        let wait = if state == HALF_OPEN {
            self.probe_lost_after
        } else {
            self.retry_after
        };
        now.saturating_sub(since) >= u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX)
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn changed(&self, to: CircuitState) {
        self.gauge.set(match to {
            CircuitState::Closed => 0,
            CircuitState::Open => 1,
            CircuitState::HalfOpen => 2,
        });
        tracing::warn!(target: "shadowgate::mirror", mirror = %self.target, state = to.as_str(), "mirror circuit changed state");
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::advance;

    use super::*;

    const RETRY_AFTER: Duration = Duration::from_secs(60);
    const TIMEOUT: Duration = Duration::from_secs(2);
    const NANO: Duration = Duration::from_nanos(1);

    fn circuit(failures: u32) -> Circuit {
        Circuit::new(failures, RETRY_AFTER, TIMEOUT, Gauge::default(), "t".into())
    }

    /// Opens `c` (built with `failures` = 1).
    fn open(c: &Circuit) {
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_exactly_n_consecutive_failures() {
        let c = circuit(3);
        c.on_failure();
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Closed);
        assert!(c.admit() && !c.is_blocking());
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Open);
        assert_eq!(c.gauge.get(), 1);
        assert!(!c.admit());
        assert!(c.is_blocking());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let c = circuit(3);
        c.on_failure();
        c.on_failure();
        c.on_success();
        c.on_failure();
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Closed, "2 since the success");
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn stays_open_until_retry_after_then_exactly_one_probe() {
        let c = circuit(1);
        open(&c);
        advance(RETRY_AFTER - NANO).await;
        assert!(!c.admit(), "1 ns early");
        assert!(c.is_blocking());
        assert_eq!(c.state(), CircuitState::Open);
        advance(NANO).await;
        assert!(!c.is_blocking(), "the probe is due");
        assert!(c.admit(), "the first caller wins the probe");
        assert_eq!(c.state(), CircuitState::HalfOpen);
        assert_eq!(c.gauge.get(), 2);
        for _ in 0..10 {
            assert!(!c.admit(), "no second probe while the first is out");
        }
        assert!(c.is_blocking());
    }

    #[tokio::test(start_paused = true)]
    async fn of_racing_callers_exactly_one_wins_the_probe() {
        let rt = tokio::runtime::Handle::current();
        for _ in 0..200 {
            let c = std::sync::Arc::new(circuit(1));
            open(&c);
            advance(RETRY_AFTER).await;
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let racers: Vec<_> = (0..4)
                .map(|_| {
                    let (c, rt, start) = (c.clone(), rt.clone(), start.clone());
                    std::thread::spawn(move || {
                        // Inside the runtime's context, so the threads read its paused clock.
                        let _rt = rt.enter();
                        start.wait();
                        (0..10).filter(|_| c.admit()).count()
                    })
                })
                .collect();
            let won: usize = racers.into_iter().map(|r| r.join().unwrap()).sum();
            assert_eq!(won, 1);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_success_closes_it() {
        let c = circuit(1);
        open(&c);
        advance(RETRY_AFTER).await;
        assert!(c.admit());
        c.on_success();
        assert_eq!(c.state(), CircuitState::Closed);
        assert_eq!(c.gauge.get(), 0);
        assert!(c.admit() && c.admit(), "closed: everything is admitted");
        assert_eq!(c.failing_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_failure_reopens_it_for_another_retry_after() {
        let c = circuit(1);
        open(&c);
        advance(RETRY_AFTER).await;
        assert!(c.admit());
        c.on_failure();
        assert_eq!(c.state(), CircuitState::Open);
        assert_eq!(c.gauge.get(), 1);
        advance(RETRY_AFTER - NANO).await;
        assert!(!c.admit(), "the wait starts again at the reopening");
        advance(NANO).await;
        assert!(c.admit(), "the next probe");
    }

    #[tokio::test(start_paused = true)]
    async fn an_overdue_probe_is_replaced_after_retry_after_plus_timeout() {
        let c = circuit(1);
        open(&c);
        advance(RETRY_AFTER).await;
        assert!(c.admit(), "the probe, never heard from");
        advance(RETRY_AFTER + TIMEOUT - NANO).await;
        assert!(!c.admit(), "1 ns before it is overdue");
        assert!(c.is_blocking());
        advance(NANO).await;
        assert!(c.admit(), "overdue: a new probe");
        assert!(!c.admit(), "and only one");
        assert_eq!(c.state(), CircuitState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_for_runs_from_the_first_opening_until_it_closes() {
        let c = circuit(1);
        assert_eq!(c.failing_for(), None);
        open(&c);
        advance(RETRY_AFTER).await;
        assert_eq!(c.failing_for(), Some(RETRY_AFTER));
        assert!(c.admit());
        c.on_failure();
        advance(Duration::from_secs(5)).await;
        assert_eq!(
            c.failing_for(),
            Some(RETRY_AFTER + Duration::from_secs(5)),
            "reopening keeps the start"
        );
        advance(RETRY_AFTER).await;
        assert!(c.admit());
        c.on_success();
        assert_eq!(c.failing_for(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_failures_disables_it() {
        let c = circuit(0);
        for _ in 0..100 {
            c.on_failure();
        }
        assert_eq!(c.state(), CircuitState::Closed);
        assert!(c.admit());
    }
}

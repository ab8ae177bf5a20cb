//! [`Budget`]: the bytes every copy of a layer holds, together, under one limit
//! (`memory_budget`, "Bounded memory" in docs/contract.md). A copy reserves what it holds as it
//! grows ([`Reservation::grow`]) and gives it back when the last thing holding it is dropped:
//! the reservation lives inside what it pays for (the captured head, the tee, then the shared
//! chunks every queued job and copy body point at), so every path (sent, dropped, timed out,
//! shut down) releases exactly what it took.
//!
//! The counter is the `shadowgate_mirror_memory_bytes` gauge's own atomic, so the gauge is the
//! budget's state, never an estimate of it, and can never show more than the limit. Reserving is
//! one compare-and-swap loop; releasing is one `fetch_sub`. No lock, no allocation.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;

/// The default `memory_budget`: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;

/// The layer's byte budget.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: i64,
    /// Bytes reserved now, by every copy of the layer.
    held: Gauge,
}

impl Budget {
    /// A budget of `limit` bytes counted in `held`.
    pub(crate) fn new(limit: usize, held: Gauge) -> Arc<Self> {
        Arc::new(Self {
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            held,
        })
    }

    /// Bytes reserved now.
    #[cfg(test)]
    pub(crate) fn held(&self) -> i64 {
        self.held.get()
    }

    /// Takes `n` bytes if they fit under the limit.
    fn take(&self, n: usize) -> bool {
        let Ok(n) = i64::try_from(n) else {
            return false;
        };
        let counter = self.held.inner();
        let mut now = counter.load(Ordering::Relaxed);
        loop {
            match now.checked_add(n) {
                Some(next) if next <= self.limit => {}
                _ => return false,
            }
            match counter.compare_exchange_weak(now, now + n, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => now = seen,
            }
        }
    }

    fn give_back(&self, n: usize) {
        // `n` was taken by `take`, so it fits in an i64.
        self.held.dec_by(n as i64);
    }
}

/// Bytes reserved from a [`Budget`] by one thing a copy holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    /// Reserves `bytes`, or `None` when they do not fit.
    pub(crate) fn new(budget: &Arc<Budget>, bytes: usize) -> Option<Self> {
        budget.take(bytes).then(|| Self {
            budget: budget.clone(),
            bytes,
        })
    }

    /// Reserves `more` bytes on top; false (and nothing taken) when they do not fit.
    pub(crate) fn grow(&mut self, more: usize) -> bool {
        if !self.budget.take(more) {
            return false;
        }
        self.bytes += more;
        true
    }

    /// Bytes reserved.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_under_the_limit_and_are_given_back_on_drop() {
        let budget = Budget::new(100, Gauge::default());
        let mut a = Reservation::new(&budget, 60).unwrap();
        assert!(Reservation::new(&budget, 41).is_none(), "60 + 41 > 100");
        assert_eq!(budget.held(), 60, "a refusal takes nothing");
        assert!(a.grow(40), "exactly at the limit");
        assert!(!a.grow(1));
        assert_eq!(a.bytes(), 100);
        drop(a);
        assert_eq!(budget.held(), 0);
        assert!(Reservation::new(&budget, 100).is_some());
        assert_eq!(budget.held(), 0, "the temporary was dropped");
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let budget = Budget::new(1000, Gauge::default());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        if let Some(r) = Reservation::new(&budget, 300) {
                            assert!(budget.held() <= 1000);
                            drop(r);
                        }
                    }
                });
            }
        });
        assert_eq!(budget.held(), 0);
    }
}

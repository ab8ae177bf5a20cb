//! What the demo measures on each side: latency samples (exact percentiles, no buckets) and a
//! status-class mix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::StatusCode;

/// Most samples one recorder keeps. The traffic is rate-bounded (a few hundred requests a second
/// for at most 60 s), so this is never reached in practice; it only bounds memory.
const MAX_SAMPLES: usize = 100_000;

/// Latency samples of one side, kept whole so the percentiles printed are exact.
#[derive(Debug, Default)]
pub(crate) struct Latencies {
    samples: Mutex<Vec<Duration>>,
}

impl Latencies {
    /// Records one sample (cheap: a push under a short lock).
    pub(crate) fn record(&self, d: Duration) {
        // A panic elsewhere cannot leave a Vec of durations inconsistent; keep recording.
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if samples.len() < MAX_SAMPLES {
            samples.push(d);
        }
    }

    /// The percentiles of everything recorded so far.
    pub(crate) fn summary(&self) -> LatencySummary {
        let mut sorted = self
            .samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        sorted.sort_unstable();
        LatencySummary::of_sorted(&sorted)
    }
}

/// Percentiles of a set of samples; `None` when there were none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LatencySummary {
    pub(crate) count: usize,
    pub(crate) p50: Option<Duration>,
    pub(crate) p95: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    pub(crate) max: Option<Duration>,
}

impl LatencySummary {
    pub(crate) fn of_sorted(sorted: &[Duration]) -> Self {
        Self {
            count: sorted.len(),
            p50: percentile(sorted, 0.50),
            p95: percentile(sorted, 0.95),
            p99: percentile(sorted, 0.99),
            max: sorted.last().copied(),
        }
    }
}

/// The nearest-rank percentile `q` (0..=1) of ascending samples: the smallest sample with at least
/// `q` of all samples at or below it.
pub(crate) fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // ceil(q * n), less a hair so that float error (0.7 * 10 = 7.000000000000001) cannot push the
    // rank up by one; it is in 0..=n for q in 0..=1, and rank 0 means the first sample.
    let rank = (q.clamp(0.0, 1.0) * n as f64 - 1e-9).ceil() as usize;
    sorted.get(rank.clamp(1, n) - 1).copied()
}

/// Counts of responses by status class (1xx..5xx), indexed by [`class_index`].
#[derive(Debug, Default)]
pub(crate) struct StatusMix {
    classes: [AtomicU64; 5],
}

impl StatusMix {
    pub(crate) fn record(&self, status: StatusCode) {
        self.classes[class_index(status)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> [u64; 5] {
        std::array::from_fn(|i| self.classes[i].load(Ordering::Relaxed))
    }
}

/// 0 for 1xx up to 4 for 5xx.
fn class_index(status: StatusCode) -> usize {
    usize::from((status.as_u16() / 100).clamp(1, 5)) - 1
}

/// The names of the status classes, in [`StatusMix::snapshot`] order.
pub(crate) const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|m| Duration::from_millis(*m)).collect()
    }

    #[test]
    fn percentile_of_nothing_is_none() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(LatencySummary::of_sorted(&[]), LatencySummary::default());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let s = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&s, 0.50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&s, 0.95), Some(Duration::from_millis(95)));
        assert_eq!(percentile(&s, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&s, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&s, 0.0), Some(Duration::from_millis(1)));
        let four = ms(&[10, 20, 30, 40]);
        assert_eq!(percentile(&four, 0.5), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&four, 0.51), Some(Duration::from_millis(30)));
        assert_eq!(percentile(&ms(&[7]), 0.99), Some(Duration::from_millis(7)));
        let ten = ms(&(1..=10).collect::<Vec<_>>());
        assert_eq!(percentile(&ten, 0.7), Some(Duration::from_millis(7)));
    }

    #[test]
    fn one_slow_sample_shows_in_p99_not_p50() {
        let mut s = ms(&[1; 99]);
        s.push(Duration::from_millis(300));
        let sum = LatencySummary::of_sorted(&s);
        assert_eq!(sum.count, 100);
        assert_eq!(sum.p50, Some(Duration::from_millis(1)));
        assert_eq!(sum.p99, Some(Duration::from_millis(1)));
        assert_eq!(sum.max, Some(Duration::from_millis(300)));
        s.push(Duration::from_millis(300));
        assert_eq!(
            LatencySummary::of_sorted(&s).p99,
            Some(Duration::from_millis(300))
        );
    }

    #[test]
    fn recorder_sorts_before_summarising() {
        let l = Latencies::default();
        for m in [30, 10, 20] {
            l.record(Duration::from_millis(m));
        }
        let sum = l.summary();
        assert_eq!(sum.p50, Some(Duration::from_millis(20)));
        assert_eq!(sum.max, Some(Duration::from_millis(30)));
    }

    #[test]
    fn status_mix_counts_by_class() {
        let mix = StatusMix::default();
        for s in [200, 201, 404, 500, 503, 302, 101] {
            mix.record(StatusCode::from_u16(s).unwrap());
        }
        assert_eq!(mix.snapshot(), [1, 2, 1, 1, 2]);
    }
}

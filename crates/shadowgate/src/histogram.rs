//! A lock-free duration histogram for Prometheus: one atomic per bucket and one for the sum.
//! prometheus_client's own `Histogram` takes a lock on every observation, which has no place on
//! a request path or in a mirror worker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds of the duration buckets in nanoseconds: 100 µs doubling to about 13 s.
const BOUNDS_NS: [u64; 18] = {
    let mut b = [0u64; 18];
    let mut i = 0;
    while i < b.len() {
        b[i] = 100_000 << i;
        i += 1;
    }
    b
};

/// A duration histogram with buckets from 100 µs doubling to about 13 s. Cheap to clone (the
/// cells are shared).
#[derive(Clone, Debug, Default)]
pub struct DurationHistogram {
    inner: Arc<HistogramCells>,
}

#[derive(Debug, Default)]
struct HistogramCells {
    /// One per bound, plus `+Inf`; not cumulative (the encoder sums them).
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl DurationHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let index = BOUNDS_NS
            .iter()
            .position(|b| ns <= *b)
            .unwrap_or(BOUNDS_NS.len());
        self.inner.buckets[index].fetch_add(1, Ordering::Relaxed);
        self.inner.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts as they are now, as `/metrics` encodes them.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut count = 0;
        let mut buckets = Vec::with_capacity(BOUNDS_NS.len() + 1);
        for (i, cell) in self.inner.buckets.iter().enumerate() {
            count += cell.load(Ordering::Relaxed);
            let bound = BOUNDS_NS
                .get(i)
                .map_or(f64::INFINITY, |ns| *ns as f64 / 1e9);
            buckets.push((bound, count));
        }
        let sum = self.inner.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        HistogramSnapshot {
            buckets,
            sum,
            count,
        }
    }
}

/// A [`DurationHistogram`]'s counts at one moment.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, in increasing
    /// order; the last bound is infinite.
    pub buckets: Vec<(f64, u64)>,
    /// The sum of the observations, in seconds.
    pub sum: f64,
    /// The number of observations.
    pub count: u64,
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snapshot = self.snapshot();
        // The encoder wants each bucket's own count, and `f64::MAX` for `+Inf`.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = snapshot
            .buckets
            .iter()
            .map(|&(bound, cumulative)| {
                let own = cumulative - below;
                below = cumulative;
                (if bound.is_finite() { bound } else { f64::MAX }, own)
            })
            .collect();
        encoder.encode_histogram::<NoLabelSet>(snapshot.sum, snapshot.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

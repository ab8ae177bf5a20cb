//! Latency per endpoint and side, in a fixed log-scale histogram: 96 buckets growing by 20%
//! from 50 µs (the last one reaches about half an hour), so a quantile is read within 20% of the
//! true value and an endpoint's three histograms take 1.2 KiB whatever the traffic.

use std::time::Duration;

use serde::Serialize;

const BUCKETS: usize = 96;
const FIRST_US: f64 = 50.0;
const GROWTH: f64 = 1.2;

/// One side's latencies at one endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Latency {
    counts: [u32; BUCKETS],
    total: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
        }
    }
}

/// p50, p90 and p99 in milliseconds (the upper bound of the bucket each falls in); `null`
/// without a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantiles {
    /// The median.
    pub p50: Option<f64>,
    /// The 90th percentile.
    pub p90: Option<f64>,
    /// The 99th percentile.
    pub p99: Option<f64>,
}

impl Latency {
    pub(crate) fn observe(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us <= FIRST_US {
            0
        } else {
            ((us / FIRST_US).ln() / GROWTH.ln()).ceil() as usize
        };
        self.counts[i.min(BUCKETS - 1)] = self.counts[i.min(BUCKETS - 1)].saturating_add(1);
        self.total += 1;
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                let ms = FIRST_US * GROWTH.powi(i as i32) / 1000.0;
                return Some((ms * 1000.0).round() / 1000.0);
            }
        }
        None
    }

    pub(crate) fn quantiles(&self) -> Quantiles {
        Quantiles {
            p50: self.quantile(0.5),
            p90: self.quantile(0.9),
            p99: self.quantile(0.99),
        }
    }
}

/// Whether `other` took noticeably longer than `primary` (docs/verdicts.md, "Latency"): more
/// than 1.25 times as long and 25 ms more.
pub(crate) fn slower(primary: Duration, other: Duration) -> bool {
    other > primary.mul_f64(1.25) && other > primary + Duration::from_millis(25)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut l = Latency::default();
        assert_eq!(l.quantiles().p50, None);
        for ms in 1..=100 {
            l.observe(Duration::from_millis(ms));
        }
        let q = l.quantiles();
        let within = |got: Option<f64>, want: f64| {
            let got = got.unwrap();
            assert!(
                got >= want && got <= want * GROWTH + 0.001,
                "{got} vs {want}"
            );
        };
        within(q.p50, 50.0);
        within(q.p90, 90.0);
        within(q.p99, 99.0);
        l.observe(Duration::from_secs(100_000));
        assert!(
            l.quantiles().p99.is_some(),
            "the last bucket takes the rest"
        );
    }

    #[test]
    fn slower_needs_both_the_ratio_and_the_margin() {
        let ms = Duration::from_millis;
        assert!(!slower(ms(1), ms(20)), "20x but only 19 ms");
        assert!(slower(ms(1), ms(51)));
        assert!(!slower(ms(1000), ms(1200)), "200 ms but only 1.2x");
        assert!(slower(ms(1000), ms(1300)));
    }
}

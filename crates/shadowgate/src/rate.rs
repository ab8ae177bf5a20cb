//! A target's `rate_limit`: a token bucket holding one second's worth of tokens, kept without a
//! lock as GCRA's "theoretical arrival time" in a single atomic.
//!
//! Time is counted in *emission intervals* (`1 / per_second` seconds) since the bucket was made:
//! `now = floor(elapsed_ns × per_second / 10⁹)`, exact in integers. `tat` is the interval at which
//! the bucket would be full again. A copy is admitted when `max(tat, now) − now < per_second`
//! (fewer than `per_second` tokens are spent), and admitting it moves `tat` to
//! `max(tat, now) + 1`. So, exactly:
//! - a full bucket admits `per_second` copies at one instant, and never more;
//! - one token comes back at each emission interval, `per_second` of them a second;
//! - an idle bucket refills to `per_second` tokens, no further.
//!
//! A refusal is one atomic load; an admission one compare-and-swap (retried only when another
//! thread admitted in between). The clock is [`tokio::time::Instant`], so paused-time tests
//! drive it.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Allows `per_second` copies a second, with a burst of one second's worth.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: u64,
    epoch: Instant,
    /// The theoretical arrival time, in emission intervals since `epoch`.
    tat: AtomicU64,
}

impl RateLimit {
    /// `None` for 0, which means no limit.
    pub(crate) fn new(per_second: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: u64::from(per_second),
            epoch: Instant::now(),
            tat: AtomicU64::new(0),
        })
    }

    /// Takes a token if one is there.
    pub(crate) fn try_take(&self) -> bool {
        let now = self.now();
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now >= self.per_second {
                return false;
            }
            // The atomic is the whole state, so no other memory needs ordering against it.
            match self.tat.compare_exchange_weak(
                tat,
                start + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(current) => tat = current,
            }
        }
    }

    /// Whole emission intervals since `epoch`: `floor(elapsed_ns × per_second / 10⁹)`, split so
    /// that nothing overflows (the sub-second product is below 2³² × 10⁹).
    fn now(&self) -> u64 {
        let elapsed = self.epoch.elapsed();
        let whole = elapsed.as_secs().saturating_mul(self.per_second);
        let part = u64::from(elapsed.subsec_nanos()) * self.per_second / NANOS_PER_SEC;
        whole.saturating_add(part)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn takes(r: &RateLimit, tries: usize) -> usize {
        (0..tries).filter(|_| r.try_take()).count()
    }

    #[test]
    fn zero_is_no_limit() {
        assert!(RateLimit::new(0).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn exactly_rate_admissions_at_a_frozen_clock() {
        let r = RateLimit::new(10).unwrap();
        assert_eq!(takes(&r, 100), 10);
        assert_eq!(
            takes(&r, 100),
            0,
            "nothing comes back while the clock stands"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_token_per_interval_and_rate_per_second() {
        let r = RateLimit::new(4).unwrap();
        assert_eq!(takes(&r, 100), 4);
        tokio::time::advance(Duration::from_millis(249)).await;
        assert_eq!(takes(&r, 100), 0, "the first token is due at 250 ms");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(takes(&r, 100), 1);
        tokio::time::advance(Duration::from_millis(750)).await;
        assert_eq!(takes(&r, 100), 3, "a second brings back `rate` tokens");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_holds_no_more_than_capacity() {
        let r = RateLimit::new(3).unwrap();
        assert_eq!(takes(&r, 100), 3);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            takes(&r, 100),
            3,
            "an hour idle refills one second's worth, no more"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            takes(&r, 100),
            3,
            "a rate that does not divide 10⁹ ns still refills whole"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_takers_share_exactly_capacity() {
        let rt = tokio::runtime::Handle::current();
        for _ in 0..20 {
            let r = std::sync::Arc::new(RateLimit::new(1000).unwrap());
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let (r, rt, start) = (r.clone(), rt.clone(), start.clone());
                    std::thread::spawn(move || {
                        // Inside the runtime's context, so the threads read its paused clock.
                        let _rt = rt.enter();
                        start.wait();
                        takes(&r, 1000)
                    })
                })
                .collect();
            let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            assert_eq!(total, 1000);
        }
    }
}

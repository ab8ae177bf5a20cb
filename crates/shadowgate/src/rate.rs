//! A token bucket for a target's `rate_limit`.

use std::sync::Mutex;
use std::time::Instant;

/// Allows `per_second` copies a second, with a burst of one second's worth.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub(crate) fn new(per_second: u32) -> Option<Self> {
        (per_second > 0).then(|| Self {
            per_second: f64::from(per_second),
            state: Mutex::new((f64::from(per_second), Instant::now())),
        })
    }

    /// Takes a token if one is there.
    pub(crate) fn try_take(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            // A poisoned lock only means a panic elsewhere; admitting is the safe side.
            return true;
        };
        let now = Instant::now();
        let (tokens, last) = &mut *state;
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second)
            .min(self.per_second);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_is_one_second_of_tokens() {
        let r = RateLimit::new(10).unwrap();
        let taken = (0..100).filter(|_| r.try_take()).count();
        assert!((10..=11).contains(&taken), "{taken}");
        assert!(RateLimit::new(0).is_none());
    }
}

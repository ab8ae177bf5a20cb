//! The demo's `on_outcome` hook: what the canary answered and how long it took.

use std::sync::atomic::{AtomicU64, Ordering};

use shadowgate::{OnOutcome, Outcome, OutcomeEvent};

use super::latency::{Latencies, StatusMix};

/// Aggregates the outcome events of one target: every event counted, and the status class and
/// round trip of each completed copy. Cheap: atomics and one short lock.
#[derive(Debug)]
pub(crate) struct CanaryObserver {
    target: String,
    pub(crate) status: StatusMix,
    pub(crate) latency: Latencies,
    pub(crate) events: AtomicU64,
}

impl CanaryObserver {
    pub(crate) fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            status: StatusMix::default(),
            latency: Latencies::default(),
            events: AtomicU64::new(0),
        }
    }
}

impl OnOutcome for CanaryObserver {
    fn on_outcome(&self, event: &OutcomeEvent<'_>) {
        if event.target != self.target {
            return;
        }
        self.events.fetch_add(1, Ordering::Relaxed);
        if event.outcome != Outcome::Completed {
            return;
        }
        if let Some(status) = event.status {
            self.status.record(status);
        }
        if let Some(elapsed) = event.elapsed {
            self.latency.record(elapsed);
        }
    }
}

//! Where a target's outcomes go: its metric handles (resolved when the target was built) and the
//! layer's [`OnOutcome`] hook. Every outcome of every copy passes through [`Observer`].

use std::sync::Arc;

use http::HeaderValue;

use crate::metrics::TargetMetrics;
use crate::outcome::{OnOutcome, Outcome, OutcomeEvent};

/// One target's outcome sink, cloned into its handle and its workers.
#[derive(Clone)]
pub(crate) struct Observer {
    name: Arc<str>,
    pub(crate) metrics: TargetMetrics,
    hook: Arc<dyn OnOutcome>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Observer {
    pub(crate) fn new(name: Arc<str>, metrics: TargetMetrics, hook: Arc<dyn OnOutcome>) -> Self {
        Self {
            name,
            metrics,
            hook,
        }
    }

    /// An outcome with no response: a drop, or a copy that ended before any answer.
    pub(crate) fn record(&self, outcome: Outcome, request_id: Option<&HeaderValue>) {
        self.record_event(OutcomeEvent {
            target: &self.name,
            outcome,
            request_id,
            status: None,
            elapsed: None,
        });
    }

    /// Counts the event, records the response when there is one, and calls the hook.
    pub(crate) fn record_event(&self, event: OutcomeEvent<'_>) {
        self.metrics.count(event.outcome);
        if let (Some(status), Some(elapsed)) = (event.status, event.elapsed) {
            self.metrics.response(status, elapsed);
        }
        self.hook.on_outcome(&event);
    }
}

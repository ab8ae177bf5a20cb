//! What became of each copy, and the hook that hears about it.

use std::fmt;
use std::time::Duration;

use http::{HeaderValue, StatusCode};

/// What happened to one copy of a request for one target.
///
/// Every sampled request gets exactly one *terminal* outcome per target it was sampled for.
/// [`Outcome::Dispatched`] is the one non-terminal event: it says the copy was admitted to the
/// target's queue, and it is always followed by `Completed`, `Failed`, `TimedOut` or
/// `DroppedShutdown` for the same copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Admitted to the target's queue (not terminal).
    Dispatched,
    /// The target answered (any status, 5xx included) and its response was read to the end.
    Completed,
    /// A transport failure: refused, reset, TLS or protocol error.
    Failed,
    /// The timeout, counted from dispatch (queue wait plus round trip), passed.
    TimedOut,
    /// The target's queue was full.
    DroppedQueueFull,
    /// The request body was larger than the target's `max_body_bytes`.
    DroppedBodyTooLarge,
    /// The client's request body failed or was abandoned before its end, so no whole copy exists.
    DroppedBodyIncomplete,
    /// Keeping the copy would have taken the layer's copies past its `memory_budget`.
    DroppedMemoryBudget,
    /// The target's circuit breaker was open.
    DroppedCircuitOpen,
    /// The target's `rate_limit` was reached.
    DroppedRateLimited,
    /// The copy was queued or in flight when the layer shut down, or arrived after.
    DroppedShutdown,
    /// An upgrade (WebSocket) or CONNECT request: proxied for the primary, never mirrored.
    SkippedUpgrade,
    /// The request arrived marked as a copy (`X-Mirror`): proxied for the primary, never copied
    /// again, so that mirrors pointing at each other cannot loop.
    SkippedLoop,
}

impl Outcome {
    /// Every outcome, in the order of the metric's documentation.
    pub const ALL: [Outcome; 13] = [
        Outcome::Dispatched,
        Outcome::Completed,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::DroppedQueueFull,
        Outcome::DroppedBodyTooLarge,
        Outcome::DroppedBodyIncomplete,
        Outcome::DroppedMemoryBudget,
        Outcome::DroppedCircuitOpen,
        Outcome::DroppedRateLimited,
        Outcome::DroppedShutdown,
        Outcome::SkippedUpgrade,
        Outcome::SkippedLoop,
    ];

    /// The `outcome` label value of `shadowgate_mirror_requests_total`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Dispatched => "dispatched",
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::DroppedQueueFull => "dropped_queue_full",
            Outcome::DroppedBodyTooLarge => "dropped_body_too_large",
            Outcome::DroppedBodyIncomplete => "dropped_body_incomplete",
            Outcome::DroppedMemoryBudget => "dropped_memory_budget",
            Outcome::DroppedCircuitOpen => "dropped_circuit_open",
            Outcome::DroppedRateLimited => "dropped_rate_limited",
            Outcome::DroppedShutdown => "dropped_shutdown",
            Outcome::SkippedUpgrade => "skipped_upgrade",
            Outcome::SkippedLoop => "skipped_loop",
        }
    }

    /// Whether this ends the story of a copy (all but `Dispatched`).
    pub const fn is_terminal(self) -> bool {
        !matches!(self, Outcome::Dispatched)
    }

    /// Whether the copy was dropped or skipped before any network I/O.
    pub const fn is_drop(self) -> bool {
        matches!(
            self,
            Outcome::DroppedQueueFull
                | Outcome::DroppedBodyTooLarge
                | Outcome::DroppedBodyIncomplete
                | Outcome::DroppedMemoryBudget
                | Outcome::DroppedCircuitOpen
                | Outcome::DroppedRateLimited
                | Outcome::DroppedShutdown
                | Outcome::SkippedUpgrade
                | Outcome::SkippedLoop
        )
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event for an [`OnOutcome`] hook.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OutcomeEvent<'a> {
    /// The target's name: its configured name, or its URL.
    pub target: &'a str,
    /// What happened.
    pub outcome: Outcome,
    /// The `X-Request-Id` shared by the primary and the copy, when the copy was built.
    pub request_id: Option<&'a HeaderValue>,
    /// The target's status, for `Completed`.
    pub status: Option<StatusCode>,
    /// The round trip (from the worker sending the copy to the end of the response body), for
    /// `Completed`, `Failed` and `TimedOut`.
    pub elapsed: Option<Duration>,
}

/// Observes copy outcomes, like tower-http's `on_response` hooks: `()` does nothing, and any
/// `Fn(&OutcomeEvent<'_>) + Send + Sync` closure is a hook.
///
/// Hooks run on the worker tasks and, for drops, on the request path: keep them cheap and never
/// block. Prometheus metrics are recorded whatever the hook is.
pub trait OnOutcome: Send + Sync + 'static {
    /// Called once per event.
    fn on_outcome(&self, event: &OutcomeEvent<'_>);
}

impl OnOutcome for () {
    fn on_outcome(&self, _: &OutcomeEvent<'_>) {}
}

impl<F> OnOutcome for F
where
    F: Fn(&OutcomeEvent<'_>) + Send + Sync + 'static,
{
    fn on_outcome(&self, event: &OutcomeEvent<'_>) {
        self(event)
    }
}

impl<T: OnOutcome + ?Sized> OnOutcome for std::sync::Arc<T> {
    fn on_outcome(&self, event: &OutcomeEvent<'_>) {
        (**self).on_outcome(event)
    }
}

/// The `status_class` label values, indexed by [`status_index`].
pub(crate) const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index into [`STATUS_CLASSES`] of a status code.
pub(crate) fn status_index(status: StatusCode) -> usize {
    usize::from((status.as_u16() / 100).clamp(1, 5)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_follow_all() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i, "{o}");
        }
    }

    #[test]
    fn only_dispatched_is_not_terminal() {
        let open: Vec<_> = Outcome::ALL.iter().filter(|o| !o.is_terminal()).collect();
        assert_eq!(open, [&Outcome::Dispatched]);
    }
}

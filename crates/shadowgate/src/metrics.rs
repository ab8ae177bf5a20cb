//! Prometheus metrics for the mirror (DESIGN §7), with per-target handles resolved once, when a
//! target is built.

use std::sync::Arc;

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::histogram::DurationHistogram;
use crate::outcome::{status_index, Outcome, STATUS_CLASSES};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetOutcomeLabels {
    target: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetStatusLabels {
    target: String,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

/// The mirror's metric families. Cheap to clone (the families are shared).
///
/// Register them in your registry with [`MirrorMetrics::register`], or let the layer keep a
/// private, unregistered set (counters still work, for example for [`crate::TargetStats`]).
#[derive(Clone, Debug, Default)]
pub struct MirrorMetrics {
    requests: Family<TargetOutcomeLabels, Counter>,
    responses: Family<TargetStatusLabels, Counter>,
    duration: Family<TargetLabels, DurationHistogram>,
    queue_depth: Family<TargetLabels, Gauge>,
    in_flight: Family<TargetLabels, Gauge>,
    circuit_state: Family<TargetLabels, Gauge>,
}

impl MirrorMetrics {
    /// New families registered under `registry` with the `shadowgate_mirror_` names.
    /// Pass a registry built with `Registry::with_prefix("shadowgate")`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "mirror_requests",
            "Copies per target and outcome",
            m.requests.clone(),
        );
        registry.register(
            "mirror_responses",
            "Shadow responses per target and status class",
            m.responses.clone(),
        );
        registry.register(
            "mirror_duration_seconds",
            "Shadow round trip per target, from sending the copy to the end of the response",
            m.duration.clone(),
        );
        registry.register(
            "mirror_queue_depth",
            "Copies waiting in the target's queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "mirror_in_flight",
            "Copies being sent to the target",
            m.in_flight.clone(),
        );
        registry.register(
            "mirror_circuit_state",
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            m.circuit_state.clone(),
        );
        m
    }

    /// Resolves every handle for one target (done once, when the target is built).
    pub(crate) fn for_target(&self, target: &str) -> TargetMetrics {
        let outcome = |o: Outcome| {
            self.requests
                .get_or_create(&TargetOutcomeLabels {
                    target: target.to_owned(),
                    outcome: o.as_str(),
                })
                .clone()
        };
        let class = |c: &'static str| {
            self.responses
                .get_or_create(&TargetStatusLabels {
                    target: target.to_owned(),
                    status_class: c,
                })
                .clone()
        };
        let labels = TargetLabels {
            target: target.to_owned(),
        };
        TargetMetrics {
            outcomes: Arc::new(Outcome::ALL.map(outcome)),
            responses: Arc::new(STATUS_CLASSES.map(class)),
            duration: self.duration.get_or_create(&labels).clone(),
            queue_depth: self.queue_depth.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
            circuit_state: self.circuit_state.get_or_create(&labels).clone(),
        }
    }
}

/// One target's handles.
#[derive(Clone, Debug)]
pub(crate) struct TargetMetrics {
    outcomes: Arc<[Counter; Outcome::ALL.len()]>,
    responses: Arc<[Counter; 5]>,
    duration: DurationHistogram,
    pub(crate) queue_depth: Gauge,
    pub(crate) in_flight: Gauge,
    pub(crate) circuit_state: Gauge,
}

impl TargetMetrics {
    pub(crate) fn count(&self, outcome: Outcome) {
        self.outcomes[outcome.index()].inc();
    }

    pub(crate) fn get(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()].get()
    }

    pub(crate) fn response(&self, status: StatusCode, elapsed: std::time::Duration) {
        self.responses[status_index(status)].inc();
        self.duration.observe(elapsed);
    }
}

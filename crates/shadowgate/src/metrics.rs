//! Prometheus metrics for the mirror (the catalogue in docs/operations.md), with per-target handles
//! resolved once, when a target is built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::compare::CompareResult;
use crate::histogram::{DurationHistogram, HistogramSnapshot};
use crate::outcome::{status_index, Outcome, STATUS_CLASSES};

// The family names, registered under the registry's prefix (`shadowgate_`).
const REQUESTS: &str = "mirror_requests";
const RESPONSES: &str = "mirror_responses";
const DURATION: &str = "mirror_duration_seconds";
const QUEUE_DEPTH: &str = "mirror_queue_depth";
const IN_FLIGHT: &str = "mirror_in_flight";
const CIRCUIT_STATE: &str = "mirror_circuit_state";
const MEMORY: &str = "mirror_memory_bytes";
const COMPARE_RESULTS: &str = "compare_results";
const COMPARE_REGRESSIONS: &str = "compare_regressions";
const COMPARE_DURATION: &str = "compare_duration_seconds";

/// One series of a metric family as it is now, read from its handle: what the text exposition
/// shows as one line (a histogram as its lines). For callers that want the numbers rather than
/// the text, such as the proxy's `/stats`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Series {
    /// The family's name as registered (without the registry's prefix or a `_total` suffix).
    pub name: &'static str,
    /// `(label, value)` pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: SeriesValue,
}

impl Series {
    /// A series of `name` with `labels`.
    pub fn new(
        name: &'static str,
        labels: Vec<(&'static str, String)>,
        value: SeriesValue,
    ) -> Self {
        Self {
            name,
            labels,
            value,
        }
    }
}

/// A [`Series`]' value, by the kind of metric.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SeriesValue {
    /// A counter (its text name ends in `_total`).
    Counter(u64),
    /// A gauge.
    Gauge(i64),
    /// A histogram (`_bucket`, `_sum` and `_count` in the text).
    Histogram(HistogramSnapshot),
}

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
struct TargetResultLabels {
    target: String,
    result: &'static str,
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
    compare_results: Family<TargetResultLabels, Counter>,
    compare_regressions: Family<TargetLabels, Gauge>,
    compare_duration: Family<TargetLabels, DurationHistogram>,
    /// The bytes every copy holds now: the layer's memory budget counts in this gauge itself
    /// (`budget.rs`), so layers built with one `MirrorMetrics` share one count.
    pub(crate) memory: Gauge,
    /// Every target's handles by name, to read them back ([`MirrorMetrics::series`]). Written
    /// only when a target is built or removed.
    targets: Arc<Mutex<BTreeMap<String, TargetMetrics>>>,
}

impl MirrorMetrics {
    /// New families registered under `registry` with the `shadowgate_mirror_` names.
    /// Pass a registry built with `Registry::with_prefix("shadowgate")`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            REQUESTS,
            "Copies per target and outcome",
            m.requests.clone(),
        );
        registry.register(
            RESPONSES,
            "Shadow responses per target and status class",
            m.responses.clone(),
        );
        registry.register(
            DURATION,
            "Shadow round trip per target, from sending the copy to the end of the response",
            m.duration.clone(),
        );
        registry.register(
            QUEUE_DEPTH,
            "Copies waiting in the target's queue",
            m.queue_depth.clone(),
        );
        registry.register(
            IN_FLIGHT,
            "Copies being sent to the target",
            m.in_flight.clone(),
        );
        registry.register(
            CIRCUIT_STATE,
            "Circuit breaker state: 0 closed, 1 open, 2 half-open",
            m.circuit_state.clone(),
        );
        registry.register(
            MEMORY,
            "Bytes held by copies (heads, bodies, their overhead), counted against the memory budget",
            m.memory.clone(),
        );
        registry.register(
            COMPARE_RESULTS,
            "Compared copies per target and result",
            m.compare_results.clone(),
        );
        registry.register(
            COMPARE_REGRESSIONS,
            "Fields currently judged a regression, per target",
            m.compare_regressions.clone(),
        );
        registry.register(
            COMPARE_DURATION,
            "Time the comparator spent on one pair, per target",
            m.compare_duration.clone(),
        );
        m
    }

    /// Resolves the comparison handles of one target (done once, when it is built).
    pub(crate) fn for_compare(&self, target: &str) -> CompareMetrics {
        let result = |r: CompareResult| {
            self.compare_results
                .get_or_create(&TargetResultLabels {
                    target: target.to_owned(),
                    result: r.as_str(),
                })
                .clone()
        };
        let labels = TargetLabels {
            target: target.to_owned(),
        };
        CompareMetrics {
            results: Arc::new(CompareResult::ALL.map(result)),
            regressions: self.compare_regressions.get_or_create(&labels).clone(),
            duration: self.compare_duration.get_or_create(&labels).clone(),
        }
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
        let handles = TargetMetrics {
            outcomes: Arc::new(Outcome::ALL.map(outcome)),
            responses: Arc::new(STATUS_CLASSES.map(class)),
            duration: self.duration.get_or_create(&labels).clone(),
            queue_depth: self.queue_depth.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
            circuit_state: self.circuit_state.get_or_create(&labels).clone(),
        };
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(target.to_owned(), handles.clone());
        handles
    }

    /// Drops a removed target's series from the families (so `/metrics` no longer shows them)
    /// and from [`MirrorMetrics::series`]. Handles still held, by the removed target's draining
    /// workers, keep counting unseen; a target added again under the name starts at zero.
    pub(crate) fn remove_target(&self, target: &str) {
        let owned = || target.to_owned();
        for o in Outcome::ALL {
            self.requests.remove(&TargetOutcomeLabels {
                target: owned(),
                outcome: o.as_str(),
            });
        }
        for status_class in STATUS_CLASSES {
            self.responses.remove(&TargetStatusLabels {
                target: owned(),
                status_class,
            });
        }
        let labels = TargetLabels { target: owned() };
        self.duration.remove(&labels);
        self.queue_depth.remove(&labels);
        self.in_flight.remove(&labels);
        self.circuit_state.remove(&labels);
        self.compare_regressions.remove(&labels);
        self.compare_duration.remove(&labels);
        for r in CompareResult::ALL {
            self.compare_results.remove(&TargetResultLabels {
                target: owned(),
                result: r.as_str(),
            });
        }
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(target);
    }

    /// Every series of the families, read from the handles: the same numbers `/metrics` shows.
    pub fn series(&self) -> Vec<Series> {
        let targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all = Vec::with_capacity(targets.len() * (Outcome::ALL.len() + 9));
        for (target, m) in targets.iter() {
            let labels = |more: Option<(&'static str, &str)>| {
                let mut labels = vec![("target", target.clone())];
                labels.extend(more.map(|(k, v)| (k, v.to_owned())));
                labels
            };
            for (o, counter) in Outcome::ALL.iter().zip(m.outcomes.iter()) {
                let labels = labels(Some(("outcome", o.as_str())));
                all.push(Series::new(
                    REQUESTS,
                    labels,
                    SeriesValue::Counter(counter.get()),
                ));
            }
            for (class, counter) in STATUS_CLASSES.iter().zip(m.responses.iter()) {
                let labels = labels(Some(("status_class", class)));
                all.push(Series::new(
                    RESPONSES,
                    labels,
                    SeriesValue::Counter(counter.get()),
                ));
            }
            let duration = SeriesValue::Histogram(m.duration.snapshot());
            all.push(Series::new(DURATION, labels(None), duration));
            for (name, gauge) in [
                (QUEUE_DEPTH, &m.queue_depth),
                (IN_FLIGHT, &m.in_flight),
                (CIRCUIT_STATE, &m.circuit_state),
            ] {
                all.push(Series::new(
                    name,
                    labels(None),
                    SeriesValue::Gauge(gauge.get()),
                ));
            }
        }
        all.push(Series::new(
            MEMORY,
            Vec::new(),
            SeriesValue::Gauge(self.memory.get()),
        ));
        all
    }
}

/// One target's comparison handles.
#[derive(Clone, Debug)]
pub(crate) struct CompareMetrics {
    results: Arc<[Counter; CompareResult::ALL.len()]>,
    pub(crate) regressions: Gauge,
    pub(crate) duration: DurationHistogram,
}

impl CompareMetrics {
    pub(crate) fn result(&self, result: CompareResult) {
        self.results[result.index()].inc();
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

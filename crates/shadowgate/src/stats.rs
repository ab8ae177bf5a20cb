//! [`TargetStats`]: a snapshot of one target's settings and counters.

use std::time::Duration;

use crate::circuit::CircuitState;
use crate::handle::TargetHandle;
use crate::outcome::Outcome;

/// A snapshot of one target: its settings and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetStats {
    /// The name in metrics.
    pub name: String,
    /// The URL.
    pub url: String,
    /// The sample ratio.
    pub sample: f64,
    /// `(outcome, count)` for every outcome, in [`Outcome::ALL`] order.
    pub outcomes: Vec<(Outcome, u64)>,
    /// The circuit breaker's state.
    pub circuit: CircuitState,
    /// How long the circuit has been open or half-open since it was last closed: how long the
    /// target has been failing (`None` while closed). The proxy removes runtime targets failing
    /// longer than its `remove_after`.
    pub failing_for: Option<Duration>,
}

impl TargetStats {
    pub(crate) fn of(t: &TargetHandle) -> Self {
        TargetStats {
            name: t.config.name().to_owned(),
            url: t.config.url().to_owned(),
            sample: t.config.sample(),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (*o, t.observer.metrics.get(*o)))
                .collect(),
            circuit: t.circuit.state(),
            failing_for: t.circuit.failing_for(),
        }
    }

    /// The count of one outcome.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.outcomes
            .iter()
            .find(|(o, _)| *o == outcome)
            .map_or(0, |(_, n)| *n)
    }

    /// Copies dropped or skipped before any I/O, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| o.is_drop())
            .map(|(_, n)| n)
            .sum()
    }
}

//! Removing failing runtime targets: a runtime target that is not persistent and whose circuit has
//! been open or half-open for `remove_after` is taken out of the layer and the state file.

use std::sync::Arc;
use std::time::Duration;

use super::RuntimeTargets;

/// How often the remover looks at the circuits, at most and at least.
const SWEEP_MAX: Duration = Duration::from_secs(1);
const SWEEP_MIN: Duration = Duration::from_millis(10);

impl RuntimeTargets {
    /// Removes the runtime targets that are not persistent and have been failing (circuit open
    /// or half-open) for `remove_after`; runs until the task is dropped. Without `remove_after`,
    /// returns at once.
    pub(crate) async fn remove_failing(self: Arc<Self>) {
        let Some(limit) = self.remove_after else {
            return;
        };
        let mut tick = tokio::time::interval((limit / 5).clamp(SWEEP_MIN, SWEEP_MAX));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let failing: Vec<(String, Duration)> = {
                let book = self.book().clone();
                self.mirror
                    .stats()
                    .into_iter()
                    .filter(|s| book.get(&s.name).is_some_and(|e| !e.persistent))
                    .filter_map(|s| s.failing_for.filter(|f| *f >= limit).map(|f| (s.name, f)))
                    .collect()
            };
            if failing.is_empty() {
                continue;
            }
            let _changing = self.changes.lock().await;
            // Checked again under the lock: a DELETE may have come first.
            let names: Vec<String> = failing
                .iter()
                .filter(|(name, _)| self.is_runtime(name))
                .map(|(name, _)| name.clone())
                .collect();
            match self.remove_locked(&names).await {
                Ok(()) => {
                    for (name, failing_for) in failing.iter().filter(|(n, _)| names.contains(n)) {
                        tracing::warn!(url = %name, ?failing_for, remove_after = ?limit, "runtime target removed: it kept failing");
                    }
                }
                Err(message) => {
                    tracing::error!(%message, "failing runtime targets not removed; will try again")
                }
            }
        }
    }
}

//! [`CompareResult`]: how each compared copy ends (docs/verdicts.md, "Results"). Every compared
//! copy gets exactly one, counted in `shadowgate_compare_results_total` and passed to the
//! [`crate::OnCompare`] hook.

use std::fmt;

/// The one result of a compared copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompareResult {
    /// Compared: no difference left after the rules.
    Equal,
    /// Compared: at least one difference.
    Different,
    /// A body (either side's) was longer than the comparison's `max_body_bytes`.
    SkippedBodyTooLarge,
    /// The primary's response did not end (the client went away, the upstream failed).
    SkippedPrimaryIncomplete,
    /// The shadow's copy was not sent (its outcome says why), failed or timed out.
    SkippedShadowFailed,
    /// The control's copy was not sent, failed or timed out, or the control target is gone.
    SkippedControlFailed,
    /// The comparison queue was full.
    SkippedQueueFull,
    /// Over the target's comparisons per second.
    SkippedBudget,
    /// Keeping a body would have taken the layer's memory budget past its limit.
    SkippedMemoryBudget,
    /// The layer was shutting down.
    SkippedShutdown,
}

impl CompareResult {
    /// Every result, in the order of the metric's series.
    pub const ALL: [CompareResult; 10] = [
        CompareResult::Equal,
        CompareResult::Different,
        CompareResult::SkippedBodyTooLarge,
        CompareResult::SkippedPrimaryIncomplete,
        CompareResult::SkippedShadowFailed,
        CompareResult::SkippedControlFailed,
        CompareResult::SkippedQueueFull,
        CompareResult::SkippedBudget,
        CompareResult::SkippedMemoryBudget,
        CompareResult::SkippedShutdown,
    ];

    /// The label value: `equal`, `different`, `skipped_body_too_large`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            CompareResult::Equal => "equal",
            CompareResult::Different => "different",
            CompareResult::SkippedBodyTooLarge => "skipped_body_too_large",
            CompareResult::SkippedPrimaryIncomplete => "skipped_primary_incomplete",
            CompareResult::SkippedShadowFailed => "skipped_shadow_failed",
            CompareResult::SkippedControlFailed => "skipped_control_failed",
            CompareResult::SkippedQueueFull => "skipped_queue_full",
            CompareResult::SkippedBudget => "skipped_budget",
            CompareResult::SkippedMemoryBudget => "skipped_memory_budget",
            CompareResult::SkippedShutdown => "skipped_shutdown",
        }
    }

    pub(crate) fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for CompareResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! The verdict rule (docs/verdicts.md, "The rule"): whether a field that differs between the
//! primary and the shadow is a regression, noise, too thin to say, or fine.
//!
//! The evidence for one (endpoint, field, kind) is two counts over the same compared requests:
//! how many pairs had the field and how many of those differed, for the shadow against the
//! primary, and, when there is a control, for the control against the primary. A regression
//! needs real evidence:
//! - at least [`Rule::min_differing`] differing pairs out of at least [`Rule::min_pairs`];
//! - the shadow's difference rate above the control's beyond chance: the lower end of the
//!   shadow rate's Wilson score interval above the upper end of the control rate's, each at
//!   [`Rule::z`] (3.29: two-sided 99.9%). Without a control the control's rate is taken as 0.
//!
//! Two intervals that must not overlap make a stricter test than one interval against a point:
//! a field that differs at the same rate for both (a timestamp, a shuffled set) is never a
//! regression however many pairs are seen, which is what an A/A run needs when every endpoint
//! and field is judged at once. Diffy's rule (a relative difference above 20% and an absolute one
//! above 0.03%) is [`diffy`], kept as the benchmark's baseline.

/// What the counts say about one (endpoint, field, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// No pair differed.
    Ok,
    /// Differences, but too few pairs, or too few differing ones, to say.
    Insufficient,
    /// The control differs as much as the shadow: the field changes between any two runs.
    Noise,
    /// The shadow differs more than the control beyond chance.
    Regression,
}

impl Verdict {
    /// The name used by the admin API and the metrics: `ok`, `insufficient`, `noise`,
    /// `regression`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Insufficient => "insufficient",
            Verdict::Noise => "noise",
            Verdict::Regression => "regression",
        }
    }
}

/// Pairs that had a field, and how many of them differed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Evidence {
    /// Compared pairs in which the field was on at least one side.
    pub pairs: u64,
    /// Of those, the pairs in which it differed (with the kind judged).
    pub differing: u64,
}

impl Evidence {
    /// `differing` of `pairs`.
    pub fn new(pairs: u64, differing: u64) -> Self {
        Self {
            pairs,
            differing: differing.min(pairs),
        }
    }

    /// The difference rate, 0 when no pair was seen.
    pub fn rate(self) -> f64 {
        if self.pairs == 0 {
            0.0
        } else {
            self.differing as f64 / self.pairs as f64
        }
    }

    /// The Wilson score interval of the rate at `z`: `(low, high)`, within `0..=1`.
    pub fn wilson(self, z: f64) -> (f64, f64) {
        if self.pairs == 0 {
            return (0.0, 1.0);
        }
        let n = self.pairs as f64;
        let p = self.rate();
        let z2 = z * z;
        let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
        let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
        ((centre - half).max(0.0), (centre + half).min(1.0))
    }
}

/// The thresholds of the rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// The normal quantile of each interval (3.29: two-sided 99.9%).
    pub z: f64,
    /// Differing pairs a regression needs at least.
    pub min_differing: u64,
    /// Pairs (the shadow's, and the control's when there is one) a verdict other than `ok`
    /// needs at least; fewer is `insufficient`.
    pub min_pairs: u64,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            z: 3.29,
            min_differing: 5,
            min_pairs: 20,
        }
    }
}

impl Rule {
    /// The verdict for the shadow's evidence against the control's (`None`: no control).
    pub fn judge(&self, shadow: Evidence, control: Option<Evidence>) -> Verdict {
        if shadow.differing == 0 {
            return Verdict::Ok;
        }
        let thin = |e: Evidence| e.pairs < self.min_pairs;
        if shadow.differing < self.min_differing || thin(shadow) || control.is_some_and(thin) {
            return Verdict::Insufficient;
        }
        let (shadow_low, _) = shadow.wilson(self.z);
        let control_high = control.map_or(0.0, |c| c.wilson(self.z).1);
        if shadow_low > control_high {
            Verdict::Regression
        } else if control.is_some_and(|c| c.differing > 0) {
            Verdict::Noise
        } else {
            Verdict::Insufficient
        }
    }
}

/// Diffy's rule, for comparison only: a field is flagged when the shadow's difference rate
/// exceeds the control's by more than 20% of the control's rate (relative) and by more than
/// 0.03 percentage points (absolute).
pub fn diffy(shadow: Evidence, control: Evidence) -> bool {
    let (s, c) = (shadow.rate(), control.rate());
    let absolute = s - c;
    let relative = if c > 0.0 { absolute / c } else { f64::INFINITY };
    absolute > 0.0003 && relative > 0.2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(shadow: (u64, u64), control: Option<(u64, u64)>) -> Verdict {
        Rule::default().judge(
            Evidence::new(shadow.0, shadow.1),
            control.map(|(n, d)| Evidence::new(n, d)),
        )
    }

    #[test]
    fn the_wilson_interval_matches_worked_values() {
        // 100 of 10,000 at z = 3.29.
        let (low, high) = Evidence::new(10_000, 100).wilson(3.29);
        assert!((low - 0.00723).abs() < 0.0001, "{low}");
        assert!((high - 0.01384).abs() < 0.0001, "{high}");
        // None of 10,000: the upper end is about z²/n.
        let (low, high) = Evidence::new(10_000, 0).wilson(3.29);
        assert_eq!(low, 0.0);
        assert!((high - 0.00108).abs() < 0.00002, "{high}");
        assert_eq!(Evidence::new(0, 0).wilson(3.29), (0.0, 1.0));
    }

    #[test]
    fn no_difference_is_ok_and_thin_evidence_is_insufficient() {
        assert_eq!(judge((10_000, 0), Some((10_000, 0))), Verdict::Ok);
        assert_eq!(judge((10_000, 4), Some((10_000, 0))), Verdict::Insufficient);
        assert_eq!(judge((10, 10), Some((10, 0))), Verdict::Insufficient);
        assert_eq!(judge((1_000, 500), Some((10, 0))), Verdict::Insufficient);
    }

    #[test]
    fn injected_rates_are_regressions_with_a_control() {
        // 1% of 10,000; 5% of 2,000; 2% of 2,000 (2xx -> 5xx): each over a clean control.
        assert_eq!(judge((10_000, 100), Some((10_000, 0))), Verdict::Regression);
        assert_eq!(judge((2_000, 100), Some((2_000, 0))), Verdict::Regression);
        assert_eq!(judge((2_000, 40), Some((2_000, 0))), Verdict::Regression);
        // Over a control that differs now and then (1 in 1,000): still a regression at 5%.
        assert_eq!(judge((2_000, 100), Some((2_000, 2))), Verdict::Regression);
    }

    #[test]
    fn a_field_that_differs_as_much_for_the_control_is_noise() {
        // A timestamp: every pair differs for both.
        assert_eq!(
            judge((10_000, 10_000), Some((10_000, 10_000))),
            Verdict::Noise
        );
        // A shuffled set: about half, up to several standard deviations apart.
        assert_eq!(
            judge((10_000, 5_150), Some((10_000, 4_850))),
            Verdict::Noise
        );
        // Differences for both at a low rate.
        assert_eq!(judge((10_000, 12), Some((10_000, 9))), Verdict::Noise);
    }

    #[test]
    fn without_a_control_any_sure_difference_is_a_regression() {
        assert_eq!(judge((100, 5), None), Verdict::Regression);
        assert_eq!(judge((100, 4), None), Verdict::Insufficient);
    }

    #[test]
    fn diffys_rule_flags_two_in_a_thousand() {
        // The case the issue names: 2 differences in 1,000 against a clean control.
        assert!(diffy(Evidence::new(1_000, 2), Evidence::new(1_000, 0)));
        assert_eq!(judge((1_000, 2), Some((1_000, 0))), Verdict::Insufficient);
        assert!(!diffy(Evidence::new(1_000, 500), Evidence::new(1_000, 480)));
    }
}

//! The counts one target's verdicts are judged on (docs/verdicts.md, "Counting"), bounded in
//! every dimension a client or a target can grow: endpoints past [`Bounds::endpoints`] are
//! counted under `~other`, fields of an endpoint past [`Bounds::fields`] under `/~other`, status
//! pairs past [`Bounds::statuses`] under `0 → 0`.
//!
//! Per endpoint: compared pairs (and pairs the control answered too); per (field, kind): pairs
//! in which the shadow differed, in which the difference was only masked (two values of one
//! shape, on either side: see docs/verdicts.md, "Masking"), and in which the control differed. A field's rate
//! is taken over all of its endpoint's pairs: a field that is absent from some responses has a
//! lower rate than over the pairs that hold it, which errs towards `insufficient`, never towards
//! `regression`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use super::diff::{Difference, Kind};
use super::shape::masked;
use super::verdict::{Evidence, Rule, Verdict};

/// The endpoint that stands for every endpoint past the bound.
pub const OTHER_ENDPOINT: &str = "~other";
/// The field that stands for every field past the bound.
pub const OTHER_FIELD: &str = "/~other";

/// How much one target's tally may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Endpoints kept apart.
    pub endpoints: usize,
    /// (field, kind) pairs kept apart per endpoint.
    pub fields: usize,
    /// Status pairs kept apart per endpoint.
    pub statuses: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            endpoints: 256,
            fields: 256,
            statuses: 32,
        }
    }
}

/// The longest field kept by name; a longer one (a hostile target's keys) is counted as
/// `/~other`.
pub const MAX_FIELD_LEN: usize = 256;
/// The longest endpoint kept by name; a longer one (a hostile client's path) is counted as
/// `~other`.
pub const MAX_ENDPOINT_LEN: usize = 256;

/// Counts for one (field, kind).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldCounts {
    /// Pairs in which the shadow differed.
    pub differing: u64,
    /// Pairs in which the shadow's difference was two values of one shape (no control).
    pub masked: u64,
    /// Pairs in which the control differed from the primary.
    pub control_differing: u64,
    /// Ids of kept samples that show it (at most a few; some may have been let go since).
    pub samples: Vec<u64>,
}

/// Counts for one endpoint.
#[derive(Debug, Clone, Default)]
pub struct EndpointCounts {
    /// Compared pairs.
    pub pairs: u64,
    /// Pairs with at least one difference of the shadow's that was not masked.
    pub differing_pairs: u64,
    /// Of those, the pairs the control answered too.
    pub control_pairs: u64,
    /// Per (field, kind).
    pub fields: HashMap<(String, Kind), FieldCounts>,
    /// (primary status, shadow status) → pairs.
    pub statuses: BTreeMap<(u16, u16), u64>,
}

impl EndpointCounts {
    /// The verdict of every counted (field, kind) under `rule`.
    pub fn verdicts(&self, rule: &Rule) -> Vec<(&str, Kind, Verdict)> {
        let control = (self.control_pairs > 0).then_some(self.control_pairs);
        let mut out: Vec<_> = (self.fields.iter())
            .map(|((field, kind), c)| {
                let shadow = Evidence::new(self.pairs, c.differing);
                let control = control.map(|n| Evidence::new(n, c.control_differing));
                (field.as_str(), *kind, rule.judge(shadow, control))
            })
            .collect();
        out.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        out
    }
}

/// One target's counts, by endpoint.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    bounds: Bounds,
    /// Whether two values of one shape count as masked (docs/verdicts.md, "Masking").
    shapes: bool,
    endpoints: HashMap<String, EndpointCounts>,
}

/// One compared request: its endpoint, statuses and differences.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    /// The endpoint ([`super::endpoint`]).
    pub endpoint: &'a str,
    /// The primary's status.
    pub primary_status: u16,
    /// The shadow's status.
    pub shadow_status: u16,
    /// The shadow against the primary.
    pub shadow: &'a [Difference],
    /// The control against the primary, when a control answered.
    pub control: Option<&'a [Difference]>,
}

impl Tally {
    /// An empty tally within `bounds`.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            shapes: true,
            endpoints: HashMap::new(),
        }
    }

    /// An empty tally that counts every difference, shapes or not: the "rules only" mode of
    /// the detection benchmark.
    pub fn without_shapes(bounds: Bounds) -> Self {
        Self {
            shapes: false,
            ..Self::new(bounds)
        }
    }

    /// The endpoint `endpoint` is counted under: itself, or `~other` past the bound.
    pub fn key_of<'a>(&self, endpoint: &'a str) -> &'a str {
        if endpoint.len() > MAX_ENDPOINT_LEN {
            return OTHER_ENDPOINT;
        }
        if self.endpoints.contains_key(endpoint) || self.endpoints.len() < self.bounds.endpoints {
            endpoint
        } else {
            OTHER_ENDPOINT
        }
    }

    /// The (field, kind) `field` is counted under at the endpoint counted as `key`.
    pub fn field_key(&self, key: &str, field: &str, kind: Kind) -> (String, Kind) {
        match self.endpoints.get(key) {
            Some(counts) => bounded(counts, self.bounds.fields, field, kind),
            None => (field.to_owned(), kind),
        }
    }

    /// The sample ids of a counted (field, kind).
    pub fn samples(&self, key: &str, field: &str, kind: Kind) -> &[u64] {
        (self.endpoints.get(key))
            .and_then(|c| c.fields.get(&(field.to_owned(), kind)))
            .map_or(&[], |c| &c.samples)
    }

    /// The sample ids of a (field, kind), to change.
    pub fn samples_mut(&mut self, key: &str, field: &str, kind: Kind) -> &mut Vec<u64> {
        let counts = self.endpoints.entry(key.to_owned()).or_default();
        &mut counts
            .fields
            .entry((field.to_owned(), kind))
            .or_default()
            .samples
    }

    /// Counts one compared pair, judging shapes at `now`.
    pub fn record(&mut self, pair: Pair<'_>, now: SystemTime) {
        let (bounds, shapes) = (self.bounds, self.shapes);
        let shaped = |d: &Difference| {
            shapes && matches!((&d.primary, &d.shadow), (Some(p), Some(s)) if masked(p, s, now))
        };
        let key = self.key_of(pair.endpoint);
        let counts = self.endpoints.entry(key.to_owned()).or_default();
        counts.pairs += 1;
        let status = (pair.primary_status, pair.shadow_status);
        let status =
            if counts.statuses.contains_key(&status) || counts.statuses.len() < bounds.statuses {
                status
            } else {
                (0, 0)
            };
        *counts.statuses.entry(status).or_default() += 1;

        // Each (field, kind) once per pair, however many elements of an array differed, and
        // `/~other` once however many fields past the bound differed.
        let mut seen: HashSet<(String, Kind)> = HashSet::new();
        let mut differing = false;
        for d in pair.shadow {
            let key = bounded(counts, bounds.fields, &d.field, d.kind);
            if !seen.insert(key.clone()) {
                continue;
            }
            let only_masked = shaped(d);
            let c = counts.fields.entry(key).or_default();
            if only_masked {
                c.masked += 1;
            } else {
                c.differing += 1;
                differing = true;
            }
        }
        counts.differing_pairs += u64::from(differing);
        if let Some(control) = pair.control {
            counts.control_pairs += 1;
            let mut seen: HashSet<(String, Kind)> = HashSet::new();
            for d in control {
                if shaped(d) {
                    continue;
                }
                let key = bounded(counts, bounds.fields, &d.field, d.kind);
                if seen.insert(key.clone()) {
                    counts.fields.entry(key).or_default().control_differing += 1;
                }
            }
        }
    }

    /// The counts of every endpoint.
    pub fn endpoints(&self) -> &HashMap<String, EndpointCounts> {
        &self.endpoints
    }
}

/// The key of (`name`, `kind`) in `counts`: itself, or (`/~other`, `kind`) past the bound.
fn bounded(counts: &EndpointCounts, bound: usize, name: &str, kind: Kind) -> (String, Kind) {
    let key = (name.to_owned(), kind);
    if name.len() > MAX_FIELD_LEN {
        return (OTHER_FIELD.to_owned(), kind);
    }
    if counts.fields.contains_key(&key) || counts.fields.len() < bound {
        key
    } else {
        (OTHER_FIELD.to_owned(), kind)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn d(field: &str, kind: Kind, p: Value, s: Value) -> Difference {
        Difference {
            pointer: field.replace('*', "0"),
            field: field.to_owned(),
            kind,
            primary: Some(p),
            shadow: Some(s),
        }
    }

    fn pair<'a>(
        endpoint: &'a str,
        shadow: &'a [Difference],
        control: Option<&'a [Difference]>,
    ) -> Pair<'a> {
        Pair {
            endpoint,
            primary_status: 200,
            shadow_status: 200,
            shadow,
            control,
        }
    }

    #[test]
    fn a_renamed_field_is_a_regression_and_a_timestamp_is_noise_with_a_control() {
        let mut t = Tally::new(Bounds::default());
        let now = SystemTime::now();
        // 10% of 1,000 pairs lose a field; every pair's time differs, for the control too.
        for i in 0..1_000 {
            let time = d("/body/at", Kind::Value, json!(i), json!(i + 1));
            let mut shadow = vec![time.clone()];
            if i % 10 == 0 {
                shadow.push(d("/body/plan", Kind::Missing, json!("pro"), Value::Null));
            }
            t.record(pair("/api/users/{}", &shadow, Some(&[time])), now);
        }
        let verdicts = t.endpoints()["/api/users/{}"].verdicts(&Rule::default());
        assert_eq!(
            verdicts,
            [
                ("/body/at", Kind::Value, Verdict::Noise),
                ("/body/plan", Kind::Missing, Verdict::Regression)
            ]
        );
    }

    #[test]
    fn without_a_control_two_values_of_one_shape_are_masked() {
        let mut t = Tally::new(Bounds::default());
        let now = SystemTime::now();
        let id = d(
            "/body/id",
            Kind::Value,
            json!("3f2c1a9e-2b4d-4c8e-9f00-1234567890ab"),
            json!("00000000-2b4d-4c8e-9f00-1234567890ab"),
        );
        for _ in 0..50 {
            t.record(pair("/e", std::slice::from_ref(&id), None), now);
        }
        let counts = &t.endpoints()["/e"].fields[&("/body/id".to_owned(), Kind::Value)];
        assert_eq!((counts.differing, counts.masked), (0, 50));
        assert_eq!(
            t.endpoints()["/e"].verdicts(&Rule::default()),
            [("/body/id", Kind::Value, Verdict::Ok)]
        );
    }

    #[test]
    fn each_field_counts_once_per_pair() {
        let mut t = Tally::new(Bounds::default());
        let shadow = [
            d("/body/items/*/price", Kind::Value, json!(1), json!(2)),
            d("/body/items/*/price", Kind::Value, json!(3), json!(4)),
        ];
        t.record(pair("/e", &shadow, None), SystemTime::now());
        let counts = &t.endpoints()["/e"].fields[&("/body/items/*/price".to_owned(), Kind::Value)];
        assert_eq!(counts.differing, 1);
    }

    #[test]
    fn a_long_endpoint_is_counted_as_other() {
        let mut t = Tally::new(Bounds::default());
        let long = format!("/{}", "{}/".repeat(MAX_ENDPOINT_LEN));
        t.record(pair(&long, &[], None), SystemTime::now());
        t.record(pair("/short", &[], None), SystemTime::now());
        let names: Vec<_> = t.endpoints().keys().map(String::as_str).collect();
        assert!(
            names.contains(&OTHER_ENDPOINT) && names.contains(&"/short"),
            "{names:?}"
        );
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn cardinality_is_bounded() {
        let bounds = Bounds {
            endpoints: 3,
            fields: 4,
            statuses: 2,
        };
        let mut t = Tally::new(bounds);
        let now = SystemTime::now();
        for i in 0..1_000u16 {
            let endpoint = format!("/e{i}");
            let shadow: Vec<_> = (0..20)
                .map(|f| d(&format!("/body/f{i}_{f}"), Kind::Value, json!(1), json!(2)))
                .collect();
            let mut p = pair(&endpoint, &shadow, None);
            p.shadow_status = 200 + i;
            t.record(p, now);
        }
        assert_eq!(t.endpoints().len(), 4, "three endpoints and ~other");
        let other = &t.endpoints()[OTHER_ENDPOINT];
        assert_eq!(other.pairs, 997);
        assert_eq!(other.fields.len(), 5, "four fields and /~other");
        assert_eq!(
            other.fields[&(OTHER_FIELD.to_owned(), Kind::Value)].differing,
            997
        );
        assert_eq!(other.statuses.len(), 3, "two status pairs and 0 -> 0");
        assert_eq!(other.statuses[&(0, 0)], 995);
    }
}

//! [`Book`]: one target's comparison at run time. It takes each resolved pair (or the reason
//! there is none), budgets and queues it for the comparator, and keeps what the comparisons
//! found: results, the bounded tally, latency per endpoint and side, and kept samples, all
//! behind one lock that the comparator and the admin readers share.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_channel::{Sender, TrySendError};
use bytes::Bytes;
use http::HeaderValue;
use serde_json::json;
use tokio::time::Instant;

use super::config::{Comparison, Control};
use super::diff::{Difference, Kind, Rules};
use super::document::{compare, Side};
use super::endpoint::endpoint;
use super::latency::{slower, Latency};
use super::pairing::{Answer, Resolved};
use super::replay::PrimaryReplay;
use super::report::{
    rfc3339, CompareEvent, CompareReport, EndpointReport, FieldReport, LatencyReport, OnCompare,
    Sample, StatusCount, VerdictCounts,
};
use super::result::CompareResult;
use super::rules::RuntimeRules;
use super::samples::{self, Samples, SAMPLES_PER_FIELD};
use super::tally::{Bounds, Pair, Tally};
use super::verdict::{Rule, Verdict};
use crate::copy::CopyHead;
use crate::metrics::CompareMetrics;
use crate::rate::RateLimit;

/// How often, at most, a target's regressions are judged again as pairs come (a report judges
/// at once): judging an endpoint walks every field it has.
const JUDGE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// The field latency is judged under.
pub const LATENCY_FIELD: &str = "/latency";

/// Sample ids, unique in the process.
static NEXT_SAMPLE: AtomicU64 = AtomicU64::new(1);

/// A resolved pair on its way to the comparator.
pub(crate) struct Job {
    book: Arc<Book>,
    head: Arc<CopyHead>,
    pair: Resolved,
}

impl Job {
    /// Compares the pair and records it (on the comparator's thread).
    pub(crate) fn run(self) {
        self.book.compare(&self.head, &self.pair);
    }
}

/// What the layer's targets share for comparing: the comparator's queue, the hook, the
/// run-time rules.
#[derive(Clone)]
pub(crate) struct CompareEnv {
    pub(crate) queue: Sender<Job>,
    /// Sends `control = "primary"` replays, when the server gave one.
    pub(crate) replay: Option<Arc<dyn PrimaryReplay>>,
    pub(crate) hook: Arc<dyn OnCompare>,
    pub(crate) rules: Arc<RuntimeRules>,
}

/// One target's comparison.
pub(crate) struct Book {
    pub(crate) target: Arc<str>,
    pub(crate) comparison: Arc<Comparison>,
    rate: Option<RateLimit>,
    env: CompareEnv,
    metrics: CompareMetrics,
    rule: Rule,
    ledger: Mutex<Ledger>,
}

struct Ledger {
    since: SystemTime,
    results: [u64; CompareResult::ALL.len()],
    tally: Tally,
    /// Per endpoint key of the tally: primary, shadow, control.
    latency: HashMap<String, [Latency; 3]>,
    samples: Samples,
    /// Regressions per endpoint, as last judged.
    regressions: HashMap<String, u64>,
    /// Endpoints with pairs not judged yet, and when the last judgement was.
    dirty: HashSet<String>,
    judged_at: Instant,
}

impl Ledger {
    fn new(shapes: bool) -> Self {
        let tally = match shapes {
            true => Tally::new(Bounds::default()),
            false => Tally::without_shapes(Bounds::default()),
        };
        Self {
            since: SystemTime::now(),
            results: [0; CompareResult::ALL.len()],
            tally,
            latency: HashMap::new(),
            samples: Samples::default(),
            regressions: HashMap::new(),
            dirty: HashSet::new(),
            judged_at: Instant::now(),
        }
    }
}

impl Book {
    pub(crate) fn new(
        target: Arc<str>,
        comparison: Arc<Comparison>,
        env: CompareEnv,
        metrics: CompareMetrics,
    ) -> Self {
        let shapes = comparison.shapes;
        Self {
            rate: RateLimit::new(comparison.max_per_second),
            target,
            comparison,
            env,
            metrics,
            rule: Rule::default(),
            ledger: Mutex::new(Ledger::new(shapes)),
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a compared copy that ended without a comparison.
    pub(crate) fn skipped(&self, result: CompareResult, request_id: &HeaderValue) {
        self.ledger().results[result.index()] += 1;
        self.metrics.result(result);
        self.env.hook.on_compare(&CompareEvent {
            target: &self.target,
            request_id,
            endpoint: "",
            result,
            differences: &[],
            control: None,
            statuses: None,
        });
    }

    /// Queues a resolved pair for the comparator, or counts why not: over the budget, the
    /// queue full, or the layer shut down. Never waits.
    pub(crate) fn submit(book: &Arc<Book>, head: Arc<CopyHead>, pair: Resolved) {
        if book.rate.as_ref().is_some_and(|r| !r.try_take()) {
            return book.skipped(CompareResult::SkippedBudget, &head.request_id);
        }
        let job = Job {
            book: book.clone(),
            head,
            pair,
        };
        let (why, job) = match book.env.queue.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => (CompareResult::SkippedQueueFull, job),
            Err(TrySendError::Closed(job)) => (CompareResult::SkippedShutdown, job),
        };
        book.skipped(why, &job.head.request_id);
    }

    /// The rules for a pair at `endpoint`: the configured ones and the run-time ignores.
    fn rules(&self, endpoint: &str) -> Cow<'_, Rules> {
        let extra = self.env.rules.ignores_for(&self.target, endpoint);
        if extra.is_empty() {
            return Cow::Borrowed(&self.comparison.rules);
        }
        let mut rules = self.comparison.rules.clone();
        rules.ignore.extend(extra);
        Cow::Owned(rules)
    }

    fn compare(&self, head: &CopyHead, pair: &Resolved) {
        let started = Instant::now();
        let path = head.path_and_query().path();
        let endpoint = endpoint(path, &self.comparison.templates);
        let rules = self.rules(&endpoint);
        let primary_body = join(&pair.primary.body);
        let shadow_body = join(&pair.shadow.body);
        let control_body = pair.control.as_ref().map(|c| join(&c.body));
        fn side<'a>(a: &'a Answer, body: &'a [u8]) -> Side<'a> {
            Side {
                status: a.status,
                headers: &a.headers,
                body,
            }
        }
        // Decoded bodies stand in for encoded ones (gzip, deflate, br), within the cap.
        let primary_plain = super::decode::decoded(
            &pair.primary.headers,
            &primary_body,
            self.comparison.max_body_bytes,
        );
        let shadow_plain = super::decode::decoded(
            &pair.shadow.headers,
            &shadow_body,
            self.comparison.max_body_bytes,
        );
        let control_plain = (pair.control.as_ref().zip(control_body.as_ref()))
            .map(|(c, b)| super::decode::decoded(&c.headers, b, self.comparison.max_body_bytes));
        let p = side(&pair.primary, &primary_plain);
        let mut differences = Vec::new();
        compare(
            &p,
            &side(&pair.shadow, &shadow_plain),
            &rules,
            &mut differences,
        );
        latency(&pair.primary, &pair.shadow, &rules, &mut differences);
        let control_differences =
            (pair.control.as_ref().zip(control_plain.as_ref())).map(|(c, body)| {
                let mut out = Vec::new();
                compare(&p, &side(c, body), &rules, &mut out);
                latency(&pair.primary, c, &rules, &mut out);
                out
            });
        let result = match differences.is_empty() {
            true => CompareResult::Equal,
            false => CompareResult::Different,
        };
        let statuses = (pair.primary.status.as_u16(), pair.shadow.status.as_u16());
        {
            let mut ledger = self.ledger();
            let ledger = &mut *ledger;
            let key = ledger.tally.key_of(&endpoint).to_owned();
            ledger.tally.record(
                Pair {
                    endpoint: &key,
                    primary_status: statuses.0,
                    shadow_status: statuses.1,
                    shadow: &differences,
                    control: control_differences.as_deref(),
                },
                SystemTime::now(),
            );
            let latency = ledger.latency.entry(key.clone()).or_default();
            latency[0].observe(pair.primary.elapsed);
            latency[1].observe(pair.shadow.elapsed);
            if let Some(c) = &pair.control {
                latency[2].observe(c.elapsed);
            }
            ledger.results[result.index()] += 1;
            self.keep_sample(
                ledger,
                &key,
                head,
                pair,
                (&primary_plain, &shadow_plain, control_plain.as_deref()),
                &differences,
                control_differences.as_deref().unwrap_or(&[]),
            );
            if !ledger.dirty.contains(&key) {
                ledger.dirty.insert(key);
            }
            if ledger.judged_at.elapsed() >= JUDGE_EVERY {
                self.judge(ledger);
            }
        }
        self.metrics.result(result);
        self.metrics.duration.observe(started.elapsed());
        self.env.hook.on_compare(&CompareEvent {
            target: &self.target,
            request_id: &head.request_id,
            endpoint: &endpoint,
            result,
            differences: &differences,
            control: control_differences.as_deref(),
            statuses: Some(statuses),
        });
    }

    /// Keeps the pair as a sample when it shows a (field, kind) of its endpoint that has fewer
    /// than [`SAMPLES_PER_FIELD`] samples still kept.
    #[allow(clippy::too_many_arguments)]
    fn keep_sample(
        &self,
        ledger: &mut Ledger,
        key: &str,
        head: &CopyHead,
        pair: &Resolved,
        bodies: (&[u8], &[u8], Option<&[u8]>),
        differences: &[Difference],
        control_differences: &[Difference],
    ) {
        if differences.is_empty() {
            return;
        }
        let Ledger { tally, samples, .. } = ledger;
        let mut wanting: Vec<(String, Kind)> = Vec::new();
        let mut seen = HashSet::new();
        for d in differences {
            let field = tally.field_key(key, &d.field, d.kind);
            if !seen.insert(field.clone()) {
                continue;
            }
            let kept = tally
                .samples(key, &field.0, field.1)
                .iter()
                .filter(|id| samples.contains(**id))
                .count();
            if kept < SAMPLES_PER_FIELD {
                wanting.push(field);
            }
        }
        if wanting.is_empty() {
            return;
        }
        let id = NEXT_SAMPLE.fetch_add(1, Ordering::Relaxed);
        samples.keep(samples::build(samples::Parts {
            id,
            target: &self.target,
            endpoint: key,
            head,
            primary: (&pair.primary, bodies.0),
            shadow: (&pair.shadow, bodies.1),
            control: pair.control.as_deref().zip(bodies.2),
            differences,
            control_differences,
        }));
        for (field, kind) in wanting {
            let ids = tally.samples_mut(key, &field, kind);
            ids.retain(|id| samples.contains(*id));
            if ids.len() < SAMPLES_PER_FIELD {
                ids.push(id);
            }
        }
    }

    /// Judges the endpoints that have new pairs since the last time: their regressions, and the
    /// gauge over all of them.
    fn judge(&self, ledger: &mut Ledger) {
        for key in std::mem::take(&mut ledger.dirty) {
            let regressions = (ledger.tally.endpoints().get(&key)).map_or(0, |c| {
                c.verdicts(&self.rule)
                    .iter()
                    .filter(|(field, kind, v)| {
                        *v == Verdict::Regression
                            && !self.env.rules.ignored(&self.target, &key, field, *kind)
                    })
                    .count() as u64
            });
            ledger.regressions.insert(key, regressions);
        }
        ledger.judged_at = Instant::now();
        let total = ledger.regressions.values().sum::<u64>();
        self.metrics.regressions.set(total as i64);
    }

    /// Clears the counts and samples.
    pub(crate) fn reset(&self) {
        *self.ledger() = Ledger::new(self.comparison.shapes);
        self.metrics.regressions.set(0);
    }

    /// The report behind `GET /compare`.
    pub(crate) fn report(&self) -> CompareReport {
        let mut ledger = self.ledger();
        self.judge(&mut ledger);
        let results: BTreeMap<&'static str, u64> = (CompareResult::ALL.iter())
            .map(|r| (r.as_str(), ledger.results[r.index()]))
            .collect();
        let mut endpoints: Vec<EndpointReport> = (ledger.tally.endpoints().iter())
            .map(|(name, counts)| {
                let mut verdicts = VerdictCounts::default();
                for (field, kind, v) in counts.verdicts(&self.rule) {
                    if self.env.rules.ignored(&self.target, name, field, kind) {
                        continue;
                    }
                    match v {
                        Verdict::Regression => verdicts.regression += 1,
                        Verdict::Noise => verdicts.noise += 1,
                        Verdict::Insufficient => verdicts.insufficient += 1,
                        Verdict::Ok => verdicts.ok += 1,
                    }
                }
                let latency = ledger.latency.get(name);
                let q = |i: usize| {
                    latency
                        .map(|l| l[i].quantiles())
                        .unwrap_or_else(|| Latency::default().quantiles())
                };
                EndpointReport {
                    endpoint: name.clone(),
                    pairs: counts.pairs,
                    differing: counts.differing_pairs,
                    verdicts,
                    statuses: (counts.statuses.iter())
                        .map(|((primary, shadow), count)| StatusCount {
                            primary: *primary,
                            shadow: *shadow,
                            count: *count,
                        })
                        .collect(),
                    latency: LatencyReport {
                        primary: q(0),
                        shadow: q(1),
                        control: q(2),
                    },
                }
            })
            .collect();
        endpoints.sort_by(|a, b| {
            b.pairs
                .cmp(&a.pairs)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        let control = self.comparison.control.as_ref().map(|c| match c {
            Control::Primary => "primary".to_owned(),
            Control::Target(name) => name.clone(),
        });
        CompareReport {
            target: self.target.to_string(),
            control,
            since: rfc3339(ledger.since),
            pairs: results["equal"] + results["different"],
            regressions: ledger.regressions.values().sum(),
            results,
            endpoints,
        }
    }

    /// Every (field, kind) of `endpoint` with at least one difference, regressions first.
    /// `None` when the endpoint has no pairs.
    pub(crate) fn fields(&self, endpoint: &str) -> Option<Vec<FieldReport>> {
        let ledger = self.ledger();
        let counts = ledger.tally.endpoints().get(endpoint)?;
        let verdicts = counts.verdicts(&self.rule);
        let mut out: Vec<FieldReport> = (verdicts.into_iter())
            .filter(|(field, kind, _)| {
                !self.env.rules.ignored(&self.target, endpoint, field, *kind)
            })
            .filter_map(|(field, kind, verdict)| {
                let c = counts.fields.get(&(field.to_owned(), kind))?;
                if c.differing + c.masked + c.control_differing == 0 {
                    return None;
                }
                Some(FieldReport {
                    path: field.to_owned(),
                    kind: kind.as_str(),
                    seen: counts.pairs,
                    diff: c.differing,
                    rate: if counts.pairs == 0 {
                        0.0
                    } else {
                        c.differing as f64 / counts.pairs as f64
                    },
                    control_seen: counts.control_pairs,
                    control_diff: c.control_differing,
                    masked: c.masked,
                    verdict: verdict.as_str(),
                    samples: (c.samples.iter().copied())
                        .filter(|id| ledger.samples.contains(*id))
                        .collect(),
                })
            })
            .collect();
        let rank = |v: &str| match v {
            "regression" => 0,
            "noise" => 1,
            "insufficient" => 2,
            _ => 3,
        };
        out.sort_by(|a, b| {
            (rank(a.verdict), std::cmp::Reverse(a.diff), &a.path).cmp(&(
                rank(b.verdict),
                std::cmp::Reverse(b.diff),
                &b.path,
            ))
        });
        Some(out)
    }

    /// A kept sample.
    pub(crate) fn sample(&self, id: u64) -> Option<Arc<Sample>> {
        self.ledger().samples.get(id)
    }

    /// Every kept sample, oldest first.
    pub(crate) fn samples(&self) -> Vec<Arc<Sample>> {
        self.ledger().samples.all()
    }
}

/// The body's chunks as one slice (borrowed when there is one chunk).
fn join(chunks: &[Bytes]) -> Cow<'_, [u8]> {
    match chunks {
        [] => Cow::Borrowed(&[]),
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    }
}

/// Appends a `slower` difference at `/latency` when `other` took noticeably longer.
fn latency(primary: &Answer, other: &Answer, rules: &Rules, out: &mut Vec<Difference>) {
    if !slower(primary.elapsed, other.elapsed)
        || rules.ignore.iter().any(|g| g.matches(LATENCY_FIELD))
    {
        return;
    }
    let ms = |a: &Answer| json!((a.elapsed.as_secs_f64() * 1e6).round() / 1e3);
    out.push(Difference {
        pointer: LATENCY_FIELD.to_owned(),
        field: LATENCY_FIELD.to_owned(),
        kind: Kind::Slower,
        primary: Some(ms(primary)),
        shadow: Some(ms(other)),
    });
}

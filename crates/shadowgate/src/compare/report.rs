//! What comparison shows: the per-target report behind `GET /compare`, the fields behind
//! `GET /compare/fields`, the kept sample pairs, and the [`OnCompare`] hook's event. All of it
//! serialises to the JSON documented in docs/admin-api.md.

use std::collections::BTreeMap;

use http::HeaderValue;
use serde::Serialize;

use super::diff::Difference;
use super::latency::Quantiles;
use super::result::CompareResult;

/// One target's comparison so far.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CompareReport {
    /// The target.
    pub target: String,
    /// The control: a target's name, `"primary"`, or `null`.
    pub control: Option<String>,
    /// When the counts started (RFC 3339, UTC): the target's start or its last reset.
    pub since: String,
    /// Pairs compared (`equal` + `different`).
    pub pairs: u64,
    /// Compared copies by result.
    pub results: BTreeMap<&'static str, u64>,
    /// Fields currently judged `regression`, over every endpoint.
    pub regressions: u64,
    /// Per endpoint, the busiest first.
    pub endpoints: Vec<EndpointReport>,
}

/// One endpoint of a [`CompareReport`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EndpointReport {
    /// The endpoint: a template, or the path with identifiers as `{}`, or `~other`.
    pub endpoint: String,
    /// Pairs compared.
    pub pairs: u64,
    /// Pairs with at least one difference that was not masked.
    pub differing: u64,
    /// Fields by verdict.
    pub verdicts: VerdictCounts,
    /// (primary status, shadow status) pairs.
    pub statuses: Vec<StatusCount>,
    /// Latency per side.
    pub latency: LatencyReport,
}

/// How many (field, kind)s have each verdict.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct VerdictCounts {
    /// Judged a regression.
    pub regression: u64,
    /// Judged noise.
    pub noise: u64,
    /// Too little evidence either way.
    pub insufficient: u64,
    /// No difference.
    pub ok: u64,
}

/// A status pair and how often it was seen.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StatusCount {
    /// The primary's status (0: every pair past the bound).
    pub primary: u16,
    /// The shadow's status.
    pub shadow: u16,
    /// Pairs.
    pub count: u64,
}

/// Latency per side, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyReport {
    /// The primary, from the request to the end of its body.
    pub primary: Quantiles,
    /// The shadow, from sending the copy to the end of its body.
    pub shadow: Quantiles,
    /// The control, likewise.
    pub control: Quantiles,
}

/// One (field, kind) of an endpoint with at least one difference.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FieldReport {
    /// The field's pointer (indices as `*`), `/latency` for latency.
    pub path: String,
    /// The kind of difference.
    pub kind: &'static str,
    /// Pairs of the endpoint.
    pub seen: u64,
    /// Pairs in which the shadow differed.
    pub diff: u64,
    /// `diff / seen`.
    pub rate: f64,
    /// Pairs the control answered.
    pub control_seen: u64,
    /// Pairs in which the control differed.
    pub control_diff: u64,
    /// Pairs in which the only difference was two values of one shape (no control).
    pub masked: u64,
    /// `regression`, `noise`, `insufficient` or `ok`.
    pub verdict: &'static str,
    /// Kept sample pairs that show it.
    pub samples: Vec<u64>,
}

/// One kept pair: what was asked and what each side answered, with every difference.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Sample {
    /// Its id, for `GET /compare/samples/ID`.
    pub id: u64,
    /// The target.
    pub target: String,
    /// The endpoint.
    pub endpoint: String,
    /// When it was compared (RFC 3339, UTC).
    pub at: String,
    /// The request head, credentials redacted.
    pub request: SampleRequest,
    /// The primary's answer.
    pub primary: SampleSide,
    /// The shadow's answer.
    pub shadow: SampleSide,
    /// The control's answer, when there is a control.
    pub control: Option<SampleSide>,
    /// The shadow's differences from the primary.
    pub differences: Vec<SampleDifference>,
    /// The control's differences from the primary.
    pub control_differences: Vec<SampleDifference>,
}

/// The request of a [`Sample`].
#[derive(Debug, Clone, Serialize)]
pub struct SampleRequest {
    /// The method.
    pub method: String,
    /// The path and query (credential-like query values redacted).
    pub path: String,
    /// The `X-Request-Id`.
    pub request_id: String,
    /// Header name → value (credentials redacted).
    pub headers: BTreeMap<String, String>,
}

/// One side of a [`Sample`].
#[derive(Debug, Clone, Serialize)]
pub struct SampleSide {
    /// The status.
    pub status: u16,
    /// Header name → value (credentials redacted).
    pub headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced), cut at the sample's body cap.
    pub body: String,
    /// The body's whole length in bytes.
    pub body_bytes: usize,
    /// Whether `body` was cut.
    pub truncated: bool,
    /// Milliseconds to the end of the body.
    pub elapsed_ms: f64,
}

/// One difference of a [`Sample`], with its exact pointer.
#[derive(Debug, Clone, Serialize)]
pub struct SampleDifference {
    /// The exact pointer (indices as numbers).
    pub pointer: String,
    /// The field (indices as `*`).
    pub field: String,
    /// The kind.
    pub kind: &'static str,
    /// The primary's value, if it has one.
    pub primary: Option<serde_json::Value>,
    /// The other side's value, if it has one.
    pub shadow: Option<serde_json::Value>,
}

/// Every compared copy's result, as the [`OnCompare`] hook sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct CompareEvent<'a> {
    /// The target.
    pub target: &'a str,
    /// The request's `X-Request-Id`.
    pub request_id: &'a HeaderValue,
    /// The endpoint (empty for a skipped copy, which was never parsed).
    pub endpoint: &'a str,
    /// The result.
    pub result: CompareResult,
    /// The shadow's differences from the primary (empty unless `different`).
    pub differences: &'a [Difference],
    /// The control's differences from the primary, when a control answered.
    pub control: Option<&'a [Difference]>,
    /// The statuses (primary, shadow) of a compared pair.
    pub statuses: Option<(u16, u16)>,
}

/// Sees every compared copy's result and differences: a sink for files, queues and tests.
/// Called on the comparator's thread (or, for a skip, wherever the copy ended); keep it quick.
pub trait OnCompare: Send + Sync + 'static {
    /// Called once per compared copy.
    fn on_compare(&self, event: &CompareEvent<'_>);
}

impl<F: Fn(&CompareEvent<'_>) + Send + Sync + 'static> OnCompare for F {
    fn on_compare(&self, event: &CompareEvent<'_>) {
        self(event)
    }
}

impl OnCompare for () {
    fn on_compare(&self, _: &CompareEvent<'_>) {}
}

/// `t` as RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_215_502);
        assert_eq!(rfc3339(t), "2026-12-02T12:45:02Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_825_600);
        assert_eq!(rfc3339(leap), "2000-02-29T12:00:00Z");
    }
}

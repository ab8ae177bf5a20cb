//! [`TargetBuilder`]: a shadow target's settings as given, checked all at once into a
//! [`TargetConfig`], every problem tagged with its [`Field`].

use std::time::Duration;

use http::Method;

use crate::circuit::{DEFAULT_CIRCUIT_FAILURES, DEFAULT_CIRCUIT_RETRY_AFTER};
use crate::compare::config::{CompareConfig, Control};
use crate::error::{Field, InvalidValue, Problem, TargetError};
use crate::header::{parse_header, parse_header_name};
use crate::host::HostMode;
use crate::policy::{SampleBy, SampleRatio};
use crate::target::{
    TargetConfig, DEFAULT_MAX_BODY_BYTES, DEFAULT_QUEUE, DEFAULT_TIMEOUT, DEFAULT_WORKERS,
    MAX_CIRCUIT_FAILURES, MAX_DURATION, MAX_MAX_BODY_BYTES, MAX_QUEUE, MAX_RATE_LIMIT, MAX_WORKERS,
};
use crate::url::TargetUrl;

/// Builds a [`TargetConfig`]; every setting is checked in [`TargetBuilder::build`], which reports
/// every bad value with its [`Field`]. Two builders are equal when every setting is.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetBuilder {
    url: String,
    name: Option<String>,
    sample: f64,
    sample_by: Option<SampleBy>,
    workers: usize,
    queue: usize,
    timeout: Duration,
    max_body_bytes: usize,
    body: bool,
    host: HostSetting,
    add_headers: Vec<(String, String)>,
    remove_headers: Vec<String>,
    methods: Vec<Method>,
    rate_limit: u32,
    circuit_failures: u32,
    circuit_retry_after: Duration,
    routed: bool,
    compare: Option<CompareConfig>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostSetting {
    Original,
    Target,
    Literal(String),
    /// The config form, parsed by [`HostMode::parse`].
    Text(String),
}

impl TargetConfig {
    /// Starts a target for `url`, with the defaults. (Defined here, beside the builder, so that
    /// `target.rs` need not import the builder that imports it.)
    pub fn builder(url: impl Into<String>) -> TargetBuilder {
        TargetBuilder::new(url)
    }
}

impl TargetBuilder {
    fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: None,
            sample: 1.0,
            sample_by: None,
            workers: DEFAULT_WORKERS,
            queue: DEFAULT_QUEUE,
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body: true,
            host: HostSetting::Original,
            add_headers: Vec::new(),
            remove_headers: Vec::new(),
            methods: Vec::new(),
            rate_limit: 0,
            circuit_failures: DEFAULT_CIRCUIT_FAILURES,
            circuit_retry_after: DEFAULT_CIRCUIT_RETRY_AFTER,
            routed: false,
            compare: None,
        }
    }

    /// Replaces the URL (for a template of settings, such as the proxy's `[mirror_defaults]`,
    /// applied to several targets).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// A routed target gets copies only from the services made by
    /// [`crate::MirrorLayer::layer_selecting`] that name it (a proxy route's mirror list); an
    /// unrouted one (the default) gets copies from every service the layer wraps.
    pub fn routed(mut self, on: bool) -> Self {
        self.routed = on;
        self
    }

    /// The name used in metrics (default: the URL).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Share of requests copied: 0 never, 1 always (default 1). Outside `0..=1` fails the build.
    pub fn sample(mut self, ratio: f64) -> Self {
        self.sample = ratio;
        self
    }

    /// Consistent sampling: requests with the same key value get the same decision.
    pub fn sample_by(mut self, by: SampleBy) -> Self {
        self.sample_by = Some(by);
        self
    }

    /// Copies in flight at most (default [`DEFAULT_WORKERS`]).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Copies waiting at most; when full, new copies are dropped (default [`DEFAULT_QUEUE`]).
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }

    /// Timeout of a copy from dispatch: queue wait plus round trip (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Largest request body a copy carries; a larger body drops the copy, never the primary
    /// (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// Whether copies carry the request body (default true). Bodiless copies go out at once.
    pub fn body(mut self, on: bool) -> Self {
        self.body = on;
        self
    }

    /// Copies carry the client's `Host` (the default).
    pub fn host_original(mut self) -> Self {
        self.host = HostSetting::Original;
        self
    }

    /// Copies carry the target URL's authority as `Host`.
    pub fn host_target(mut self) -> Self {
        self.host = HostSetting::Target;
        self
    }

    /// Copies carry this literal `Host`.
    pub fn host_literal(mut self, host: impl Into<String>) -> Self {
        self.host = HostSetting::Literal(host.into());
        self
    }

    /// The `Host` in its config form (see [`HostMode::parse`]): `original`, `target`, or a
    /// literal `host[:port]`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = HostSetting::Text(host.into());
        self
    }

    /// Sets a header on copies only (applied after removals).
    pub fn add_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.add_headers.push((name.into(), value.into()));
        self
    }

    /// Removes a header from copies only.
    pub fn remove_header(mut self, name: impl Into<String>) -> Self {
        self.remove_headers.push(name.into());
        self
    }

    /// Copies only requests with one of these methods (empty, the default: all).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Copies per second at most; 0 (the default) means no limit.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = per_second;
        self
    }

    /// The circuit breaker: `failures` consecutive transport failures or timeouts open it (0
    /// turns it off); while open, copies are dropped with no I/O; after `retry_after` one probe
    /// goes out, and its answer closes it. Defaults: [`crate::DEFAULT_CIRCUIT_FAILURES`],
    /// [`crate::DEFAULT_CIRCUIT_RETRY_AFTER`].
    pub fn circuit(mut self, failures: u32, retry_after: Duration) -> Self {
        self.circuit_failures = failures;
        self.circuit_retry_after = retry_after;
        self
    }

    /// Compares the target's answers with the primary's (docs/verdicts.md).
    pub fn compare(mut self, compare: CompareConfig) -> Self {
        self.compare = Some(compare);
        self
    }

    /// Checks every setting and reports every bad one, each with its [`Field`].
    pub fn build(self) -> Result<TargetConfig, TargetError> {
        let mut problems = Vec::new();
        let p = &mut problems;
        let target_url = take(p, Field::Url, TargetUrl::parse(&self.url));
        let sample = take(p, Field::Sample, SampleRatio::new(self.sample));
        take(p, Field::Workers, count_in(self.workers, 1, MAX_WORKERS));
        take(p, Field::Queue, count_in(self.queue, 1, MAX_QUEUE));
        take(
            p,
            Field::Timeout,
            positive(self.timeout).and_then(|()| at_most_a_day(self.timeout)),
        );
        let body = count_in(self.max_body_bytes, 0, MAX_MAX_BODY_BYTES);
        take(p, Field::MaxBodyBytes, body);
        take(
            p,
            Field::RateLimit,
            count_in(self.rate_limit, 0, MAX_RATE_LIMIT),
        );
        let failures = count_in(self.circuit_failures, 0, MAX_CIRCUIT_FAILURES);
        take(p, Field::CircuitFailures, failures);
        let retry_after = at_most_a_day(self.circuit_retry_after);
        take(p, Field::CircuitRetryAfter, retry_after);
        let host = match &self.host {
            HostSetting::Original => Ok(HostMode::Original),
            HostSetting::Target => Ok(HostMode::Target),
            HostSetting::Literal(h) => HostMode::literal(h),
            HostSetting::Text(h) => HostMode::parse(h),
        };
        let host = take(p, Field::Host, host);
        let add_headers: Vec<_> = (self.add_headers.iter())
            .filter_map(|(n, v)| take(p, Field::AddHeader(n.clone()), parse_header(n, v)))
            .collect();
        let remove_headers: Vec<_> = (self.remove_headers.iter().enumerate())
            .filter_map(|(i, n)| take(p, Field::RemoveHeader(i), parse_header_name(n)))
            .collect();
        let name = self.name.unwrap_or_else(|| self.url.clone());
        let compare = self.compare.as_ref().and_then(|c| c.check(p));
        if let Some(Control::Target(control)) = compare.as_ref().and_then(|c| c.control()) {
            if *control == name {
                p.push(Problem {
                    field: Field::Compare("control".into()),
                    error: InvalidValue::quoted(control, "is this target itself"),
                });
            }
        }
        let (Some(target_url), Some(sample), Some(host), true) =
            (target_url, sample, host, problems.is_empty())
        else {
            return Err(TargetError { problems });
        };
        Ok(TargetConfig {
            name: name.into(),
            url: self.url.into(),
            target_url,
            sample,
            sample_by: self.sample_by,
            workers: self.workers,
            queue: self.queue,
            timeout: self.timeout,
            max_body_bytes: self.max_body_bytes,
            body: self.body,
            host,
            add_headers,
            remove_headers,
            methods: self.methods,
            rate_limit: self.rate_limit,
            circuit_failures: self.circuit_failures,
            circuit_retry_after: self.circuit_retry_after,
            routed: self.routed,
            compare,
        })
    }
}

/// The value, or `None` with the problem recorded against `field`.
fn take<T>(problems: &mut Vec<Problem>, field: Field, r: Result<T, InvalidValue>) -> Option<T> {
    r.map_err(|error| problems.push(Problem { field, error }))
        .ok()
}

/// `n` within `min..=max` (the bounds in docs/configuration.md).
fn count_in<T: PartialOrd + std::fmt::Display>(n: T, min: T, max: T) -> Result<(), InvalidValue> {
    if n < min {
        return Err(InvalidValue::new(
            n.to_string(),
            format!("must be at least {min}"),
        ));
    }
    if n > max {
        let why = format!("is more than the largest allowed, {max}");
        return Err(InvalidValue::new(n.to_string(), why));
    }
    Ok(())
}

/// `d` more than zero.
fn positive(d: Duration) -> Result<(), InvalidValue> {
    if d.is_zero() {
        return Err(InvalidValue::new(
            format!("{d:?}"),
            "must be greater than zero",
        ));
    }
    Ok(())
}

/// `d` no longer than [`MAX_DURATION`].
fn at_most_a_day(d: Duration) -> Result<(), InvalidValue> {
    if d > MAX_DURATION {
        let why = "is more than the longest allowed, 24h";
        return Err(InvalidValue::new(format!("{d:?}"), why));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::header::HeaderValue;

    use super::*;

    fn problems(b: TargetBuilder) -> Vec<String> {
        b.build()
            .unwrap_err()
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn url_is_parsed_once() {
        let t = TargetConfig::builder("http://canary:8080/base/")
            .build()
            .unwrap();
        assert_eq!(t.target_url().base_path(), "/base");
        assert_eq!(t.url(), "http://canary:8080/base/");
        assert_eq!(t.name(), "http://canary:8080/base/");
    }

    #[test]
    fn every_setting_has_an_upper_bound_and_its_largest_value_builds() {
        let day = MAX_DURATION;
        let over = TargetConfig::builder("http://x")
            .workers(MAX_WORKERS + 1)
            .queue(MAX_QUEUE + 1)
            .timeout(Duration::from_secs(u64::MAX))
            .max_body_bytes(MAX_MAX_BODY_BYTES + 1)
            .rate_limit(MAX_RATE_LIMIT + 1)
            .circuit(MAX_CIRCUIT_FAILURES + 1, day + Duration::from_millis(1));
        assert_eq!(
            problems(over),
            [
                "workers: 1000001 is more than the largest allowed, 1000000",
                "queue: 1000001 is more than the largest allowed, 1000000",
                "timeout: 18446744073709551615s is more than the longest allowed, 24h",
                "max_body_bytes: 1073741825 is more than the largest allowed, 1073741824",
                "rate_limit: 1000001 is more than the largest allowed, 1000000",
                "circuit failures: 1000001 is more than the largest allowed, 1000000",
                "circuit retry_after: 86400.001s is more than the longest allowed, 24h",
            ]
        );
        let edge = TargetConfig::builder("http://x")
            .workers(MAX_WORKERS)
            .queue(MAX_QUEUE)
            .timeout(day)
            .max_body_bytes(MAX_MAX_BODY_BYTES)
            .rate_limit(MAX_RATE_LIMIT)
            .circuit(MAX_CIRCUIT_FAILURES, day);
        assert!(edge.build().is_ok());
    }

    #[test]
    fn every_problem_is_reported_with_its_field_and_value() {
        let b = TargetConfig::builder("ftp://x")
            .sample(1.5)
            .workers(0)
            .queue(0)
            .timeout(Duration::ZERO)
            .host("a b")
            .add_header("X-Ok", "1")
            .add_header("bad name", "1")
            .add_header("X-A", "a\nb")
            .remove_header("x-fine")
            .remove_header("also bad");
        assert_eq!(
            problems(b.clone()),
            [
                "url: \"ftp://x\" is not an http:// or https:// URL",
                "sample: 1.5 is outside 0..=1",
                "workers: 0 must be at least 1",
                "queue: 0 must be at least 1",
                "timeout: 0ns must be greater than zero",
                "host: \"a b\" is not original, target or a host[:port]",
                "add_header \"bad name\": \"bad name\" is not a valid header name",
                "add_header \"X-A\": the value has characters a header cannot carry",
                "remove_header[1]: \"also bad\" is not a valid header name",
            ]
        );
        let err = b.build().unwrap_err();
        assert_eq!(err.problems[0].field, Field::Url);
        assert!(err.to_string().contains("; sample: 1.5"), "{err}");
    }

    #[test]
    fn host_forms() {
        let host = |b: TargetBuilder| b.build().map(|t| t.host().clone());
        let b = || TargetConfig::builder("http://x");
        assert_eq!(host(b().host("original")), Ok(HostMode::Original));
        assert_eq!(host(b().host("target")), Ok(HostMode::Target));
        assert_eq!(
            host(b().host("lit:1")),
            Ok(HostMode::Literal(HeaderValue::from_static("lit:1")))
        );
        assert_eq!(
            problems(b().host_literal("a b")),
            ["host: \"a b\" is not a host[:port]"]
        );
        assert!(HostMode::parse("a/b").is_err());
    }

    #[test]
    fn a_valid_builder_builds_and_equal_builders_compare_equal() {
        let b = || TargetConfig::builder("http://x").sample(0.0).workers(1);
        assert!(b().build().is_ok());
        assert_eq!(b(), b());
        assert_ne!(b(), b().queue(3));
    }
}

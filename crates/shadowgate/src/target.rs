//! A shadow target's settings, built and validated by [`TargetBuilder`].

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::uri::{Authority, Scheme};
use http::{Method, Uri};

use crate::circuit::{DEFAULT_CIRCUIT_FAILURES, DEFAULT_CIRCUIT_RETRY_AFTER};
use crate::error::BuildError;
use crate::policy::{SampleBy, SampleRatio};

/// Default number of copies in flight per target.
pub const DEFAULT_WORKERS: usize = 64;
/// Default number of copies waiting per target.
pub const DEFAULT_QUEUE: usize = 256;
/// Default timeout of a copy, from dispatch (queue wait plus round trip).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest request body a copy carries (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Which `Host` header a copy carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostMode {
    /// The client's original `Host` (the default).
    #[default]
    Original,
    /// The target URL's authority.
    Target,
    /// This literal value.
    Literal(HeaderValue),
}

/// The validated settings of one shadow target. Two configs are equal when every setting is.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    pub(crate) name: Arc<str>,
    pub(crate) url: Arc<str>,
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The URL's path without a trailing `/` ("" for the root).
    pub(crate) base_path: Arc<str>,
    pub(crate) sample: SampleRatio,
    pub(crate) sample_by: Option<SampleBy>,
    pub(crate) workers: usize,
    pub(crate) queue: usize,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) body: bool,
    pub(crate) host: HostMode,
    pub(crate) add_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) remove_headers: Vec<HeaderName>,
    pub(crate) methods: Vec<Method>,
    pub(crate) rate_limit: u32,
    pub(crate) circuit_failures: u32,
    pub(crate) circuit_retry_after: Duration,
    pub(crate) routed: bool,
}

impl TargetConfig {
    /// Starts a target for `url`, with the defaults.
    pub fn builder(url: impl Into<String>) -> TargetBuilder {
        TargetBuilder::new(url)
    }

    /// The name used in metrics and events: the configured name, or the URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sample ratio.
    pub fn sample(&self) -> f64 {
        self.sample.get()
    }

    /// Copies in flight at most.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Copies waiting at most.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Timeout from dispatch.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Largest body a copy carries.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether copies carry the request body.
    pub fn body(&self) -> bool {
        self.body
    }

    /// The consistent-sampling key, if any (`None`: each request is sampled at random).
    pub fn sample_by(&self) -> Option<&SampleBy> {
        self.sample_by.as_ref()
    }

    /// Which `Host` header copies carry.
    pub fn host(&self) -> &HostMode {
        &self.host
    }

    /// Headers set on copies only, in the order given.
    pub fn add_headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.add_headers
    }

    /// Headers removed from copies only.
    pub fn remove_headers(&self) -> &[HeaderName] {
        &self.remove_headers
    }

    /// The methods copied; empty is every method.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// Copies per second at most; 0 is unlimited.
    pub fn rate_limit(&self) -> u32 {
        self.rate_limit
    }

    /// Consecutive failures that open the circuit (0: the breaker is off).
    pub fn circuit_failures(&self) -> u32 {
        self.circuit_failures
    }

    /// How long the circuit stays open before one probe goes out.
    pub fn circuit_retry_after(&self) -> Duration {
        self.circuit_retry_after
    }

    /// Whether the target gets copies only from services that select it by name (see
    /// [`TargetBuilder::routed`]).
    pub fn routed(&self) -> bool {
        self.routed
    }
}

/// Builds a [`TargetConfig`]; every setting is checked in [`TargetBuilder::build`], which reports
/// the first bad value by name.
#[derive(Debug, Clone)]
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
}

#[derive(Debug, Clone)]
enum HostSetting {
    Original,
    Target,
    Literal(String),
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

    /// Checks every setting.
    pub fn build(self) -> Result<TargetConfig, BuildError> {
        let (scheme, authority, base_path) = parse_target_url(&self.url)?;
        let sample = SampleRatio::new(self.sample)?;
        if self.workers == 0 {
            return Err(BuildError::Zero("workers"));
        }
        if self.queue == 0 {
            return Err(BuildError::Zero("queue"));
        }
        if self.timeout.is_zero() {
            return Err(BuildError::Zero("timeout"));
        }
        let host = match self.host {
            HostSetting::Original => HostMode::Original,
            HostSetting::Target => HostMode::Target,
            HostSetting::Literal(h) => match h.parse::<Authority>() {
                Ok(_) => HostMode::Literal(
                    HeaderValue::from_str(&h).map_err(|_| BuildError::InvalidHost(h.clone()))?,
                ),
                Err(_) => return Err(BuildError::InvalidHost(h)),
            },
        };
        let add_headers = self
            .add_headers
            .iter()
            .map(|(n, v)| Ok((header_name(n)?, header_value(n, v)?)))
            .collect::<Result<Vec<_>, BuildError>>()?;
        let remove_headers = self
            .remove_headers
            .iter()
            .map(|n| header_name(n))
            .collect::<Result<Vec<_>, _>>()?;
        let name = self.name.unwrap_or_else(|| self.url.clone());
        Ok(TargetConfig {
            name: name.into(),
            url: self.url.into(),
            scheme,
            authority,
            base_path: base_path.into(),
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
        })
    }
}

fn header_name(name: &str) -> Result<HeaderName, BuildError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| BuildError::InvalidHeader {
        name: name.to_owned(),
        reason: "not a valid header name",
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, BuildError> {
    HeaderValue::from_str(value).map_err(|_| BuildError::InvalidHeader {
        name: name.to_owned(),
        reason: "value has characters a header cannot carry",
    })
}

/// Splits a target URL into scheme, authority and base path (without a trailing `/`).
pub(crate) fn parse_target_url(url: &str) -> Result<(Scheme, Authority, String), BuildError> {
    let bad = |reason| BuildError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let scheme = uri
        .scheme()
        .cloned()
        .ok_or_else(|| bad("no scheme (want http:// or https://)"))?;
    if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
        return Err(bad("the scheme must be http or https"));
    }
    let authority = uri.authority().cloned().ok_or_else(|| bad("no host"))?;
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("user info is not supported"));
    }
    if uri.query().is_some() {
        return Err(bad("a target URL cannot have a query"));
    }
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok((scheme, authority, base_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_base_path_is_trimmed() {
        let t = TargetConfig::builder("http://canary:8080/base/")
            .build()
            .unwrap();
        assert_eq!(&*t.base_path, "/base");
        assert_eq!(t.authority.as_str(), "canary:8080");
        let t = TargetConfig::builder("https://canary").build().unwrap();
        assert_eq!(&*t.base_path, "");
        assert_eq!(t.scheme, Scheme::HTTPS);
    }

    #[test]
    fn bad_urls_are_named() {
        for url in [
            "canary:8080",
            "ftp://x",
            "http://",
            "not a url",
            "http://h/?q=1",
        ] {
            let err = TargetConfig::builder(url).build().unwrap_err();
            assert!(err.to_string().contains(&format!("{url:?}")), "{err}");
        }
    }

    #[test]
    fn sample_outside_unit_interval_fails() {
        for r in [-0.1, 1.5, f64::NAN] {
            let err = TargetConfig::builder("http://x")
                .sample(r)
                .build()
                .unwrap_err();
            assert!(matches!(err, BuildError::SampleOutOfRange(_)), "{err}");
        }
        assert!(TargetConfig::builder("http://x")
            .sample(0.0)
            .build()
            .is_ok());
    }

    #[test]
    fn zero_workers_queue_timeout_fail() {
        let b = || TargetConfig::builder("http://x");
        assert_eq!(
            b().workers(0).build().unwrap_err(),
            BuildError::Zero("workers")
        );
        assert_eq!(b().queue(0).build().unwrap_err(), BuildError::Zero("queue"));
        assert_eq!(
            b().timeout(Duration::ZERO).build().unwrap_err(),
            BuildError::Zero("timeout")
        );
    }

    #[test]
    fn bad_headers_and_hosts_are_named() {
        let err = TargetConfig::builder("http://x")
            .add_header("bad name", "1")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
        let err = TargetConfig::builder("http://x")
            .add_header("X-A", "a\nb")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("X-A"), "{err}");
        let err = TargetConfig::builder("http://x")
            .host_literal("a b")
            .build()
            .unwrap_err();
        assert_eq!(err, BuildError::InvalidHost("a b".into()));
    }
}

//! A shadow target's validated settings ([`TargetConfig`]); they are built and checked by
//! [`crate::TargetBuilder`].

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Method;

use crate::compare::config::Comparison;
use crate::host::HostMode;
use crate::policy::{SampleBy, SampleRatio};
use crate::url::TargetUrl;

/// Default number of copies in flight per target.
pub const DEFAULT_WORKERS: usize = 64;
/// Default number of copies waiting per target.
pub const DEFAULT_QUEUE: usize = 256;
/// Default timeout of a copy, from dispatch (queue wait plus round trip).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest request body a copy carries (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The longest duration any setting accepts (a day): a copy's timeout, the circuit's
/// `retry_after`; the proxy's config holds its own durations to the same bound. Bounding it keeps
/// every deadline computed from it (`now + timeout`) far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);
/// The most copies in flight per target.
pub const MAX_WORKERS: usize = 1_000_000;
/// The most copies waiting per target.
pub const MAX_QUEUE: usize = 1_000_000;
/// The largest `max_body_bytes` (1 GiB).
pub const MAX_MAX_BODY_BYTES: usize = 1024 * 1024 * 1024;
/// The largest `rate_limit`, in copies per second.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;
/// The largest circuit `failures` count.
pub const MAX_CIRCUIT_FAILURES: u32 = 1_000_000;

/// The first name that `names` holds twice, if any: target names are unique within a layer.
pub fn duplicate_name<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().find(|n| !seen.insert(*n))
}

/// The validated settings of one shadow target. Two configs are equal when every setting is.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetConfig {
    pub(crate) name: Arc<str>,
    pub(crate) url: Arc<str>,
    pub(crate) target_url: TargetUrl,
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
    pub(crate) compare: Option<Arc<Comparison>>,
}

impl TargetConfig {
    /// The name used in metrics and events: the configured name, or the URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The target URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The target URL, parsed.
    pub fn target_url(&self) -> &TargetUrl {
        &self.target_url
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
    /// [`crate::TargetBuilder::routed`]).
    pub fn routed(&self) -> bool {
        self.routed
    }

    /// The target's comparison, if it is on.
    pub fn compare(&self) -> Option<&Comparison> {
        self.compare.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_name_finds_the_first_repeat() {
        assert_eq!(duplicate_name(["a", "b", "a", "b"]), Some("a"));
        assert_eq!(duplicate_name(["a", "b"]), None);
    }
}

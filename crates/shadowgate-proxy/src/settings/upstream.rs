//! [`UpstreamSettings`]: one named pool of primary backends, how it balances, its timeouts, its
//! connection cap and its health checks.

use std::fmt;
use std::time::Duration;

use http::uri::PathAndQuery;

use super::{DEFAULT_UPSTREAM_CONNECT_TIMEOUT, DEFAULT_UPSTREAM_TIMEOUT};

/// The name of the upstream that [`crate::Settings::new`] and the `--upstream` flags make.
pub const DEFAULT_UPSTREAM_NAME: &str = "default";
/// How often an active health check runs.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// How long a health check may take.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// Passing checks in a row that bring an unhealthy backend back.
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 2;
/// Failing checks in a row that take a healthy backend out.
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;
/// Without an active health check, how long a backend whose connect failed stays out of the pool.
pub const DEFAULT_EJECT_FOR: Duration = Duration::from_secs(10);
/// The largest `max_connections` per backend.
pub const MAX_CONNECTIONS: usize = 1_000_000;
/// The largest backend `weight`.
pub const MAX_WEIGHT: u32 = 1000;
/// The largest health-check `healthy_threshold` and `unhealthy_threshold`.
pub const MAX_THRESHOLD: u32 = 1000;

/// A backend's URL, checked once where the settings are made (the config file's and the flags'
/// validation, or whoever builds [`crate::Settings`]), so that the upstream module takes it as
/// it is: `http://` or `https://`, a host, no user info, no query, an optional base path. The
/// rules, their wording and the base-path join are the shadow targets' ([`shadowgate::TargetUrl`]);
/// two URLs that differ only by a trailing `/` are equal, and it prints without one.
pub type BackendUrl = shadowgate::TargetUrl;

/// How an upstream picks a backend for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each backend in turn.
    #[default]
    RoundRobin,
    /// Smooth weighted round robin, as nginx does it: by weight, interleaved.
    WeightedRoundRobin,
    /// The backend with the fewest requests in flight.
    LeastConnections,
    /// Two backends at random, the one with fewer requests in flight.
    RandomTwoChoices,
    /// A hash of the client's IP address (v4 or v6): a client keeps its backend.
    IpHash,
}

impl Balance {
    /// Every algorithm, in the order the docs list them.
    pub const ALL: [Balance; 5] = [
        Balance::RoundRobin,
        Balance::WeightedRoundRobin,
        Balance::LeastConnections,
        Balance::RandomTwoChoices,
        Balance::IpHash,
    ];

    /// The config file's name for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::WeightedRoundRobin => "weighted_round_robin",
            Balance::LeastConnections => "least_connections",
            Balance::RandomTwoChoices => "random_two_choices",
            Balance::IpHash => "ip_hash",
        }
    }

    /// The algorithm of that config name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One backend of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    /// `http://` or `https://` URL, with an optional base path.
    pub url: BackendUrl,
    /// Its weight under `weighted_round_robin` (at least 1; ignored by the other algorithms).
    pub weight: u32,
}

/// An active health check: `GET path` on every backend every `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// The path (and query) asked for; a 2xx or 3xx answer passes.
    pub path: String,
    /// Time between checks of one backend.
    pub interval: Duration,
    /// A check slower than this fails.
    pub timeout: Duration,
    /// Passing checks in a row that make an unhealthy backend healthy.
    pub healthy_threshold: u32,
    /// Failing checks in a row that make a healthy backend unhealthy.
    pub unhealthy_threshold: u32,
}

impl HealthCheck {
    /// `path` as a request target: it must start with `/` and be a valid path and query. The
    /// config file's validation and the upstream both go by this.
    pub fn parse_path(path: &str) -> Option<PathAndQuery> {
        if !path.starts_with('/') {
            return None;
        }
        PathAndQuery::try_from(path).ok()
    }
}

/// One named upstream pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// Its name: the `upstream` label and what routes refer to.
    pub name: String,
    /// Its backends (at least one).
    pub backends: Vec<BackendSettings>,
    /// How a backend is picked.
    pub balance: Balance,
    /// Connecting longer than this answers 502 (and counts as a connect failure).
    pub connect_timeout: Duration,
    /// A response head slower than this answers 504.
    pub timeout: Duration,
    /// Requests in flight per backend at most; 0 is unlimited. Over it: 503.
    pub max_connections: usize,
    /// Accept any certificate from `https://` backends (for tests and self-signed setups).
    pub tls_skip_verify: bool,
    /// The active health check, if any.
    pub health_check: Option<HealthCheck>,
    /// How long a backend whose connect failed stays out of the pool when there is no active
    /// health check (with one, it is back when the check passes `healthy_threshold` times).
    pub eject_for: Duration,
}

impl UpstreamSettings {
    /// A round-robin upstream of these backends (weight 1 each) with the default timeouts, no
    /// connection cap and no health check.
    pub fn new(name: impl Into<String>, backends: Vec<BackendUrl>) -> Self {
        Self {
            name: name.into(),
            backends: backends
                .into_iter()
                .map(|url| BackendSettings { url, weight: 1 })
                .collect(),
            balance: Balance::RoundRobin,
            connect_timeout: DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
            timeout: DEFAULT_UPSTREAM_TIMEOUT,
            max_connections: 0,
            tls_skip_verify: false,
            health_check: None,
            eject_for: DEFAULT_EJECT_FOR,
        }
    }

    /// The positions of backends listed again after their first listing (a backend is listed
    /// once; `weight` sends it more): the config file's validation reports each, the upstream
    /// refuses the first.
    pub fn repeated_backends(&self) -> impl Iterator<Item = usize> + '_ {
        let mut seen = std::collections::HashSet::new();
        (self.backends.iter().enumerate())
            .filter_map(move |(i, b)| (!seen.insert(&b.url)).then_some(i))
    }
}

//! [`Settings`]: everything [`crate::App::build`] needs, already validated in type (addresses are
//! `SocketAddr`s, targets are built `TargetConfig`s), with documented defaults.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Default proxy listener: `127.0.0.1:8080`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default admin listener: `127.0.0.1:9901`.
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);
/// How long in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long queued shadow copies get to go out after the in-flight requests are done.
pub const DEFAULT_MIRROR_DRAIN: Duration = Duration::from_secs(2);
/// How long connecting to an upstream may take before the request fails with 502.
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an upstream may take to send its response head before the request fails with 504.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The proxy's settings. Build with [`Settings::new`] and change the public fields.
#[derive(Clone)]
pub struct Settings {
    /// The proxy listener (port 0 picks a free port; see [`crate::App::listen_addr`]).
    pub listen: SocketAddr,
    /// The primary upstream pool, used round robin: absolute `http://` URLs.
    pub upstreams: Vec<http::Uri>,
    /// The shadow targets.
    pub mirrors: Vec<shadowgate::TargetConfig>,
    /// The admin listener (`/healthz`, `/metrics`); `None` disables it.
    pub admin: Option<SocketAddr>,
    /// How log lines are written (used by the binary's tracing setup, not by [`crate::App`]).
    pub log_format: LogFormat,
    /// In-flight requests get this long to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
    /// Queued shadow copies get this long to go out after that.
    pub mirror_drain: Duration,
    /// Connecting to an upstream longer than this answers 502.
    pub upstream_connect_timeout: Duration,
    /// An upstream response head slower than this answers 504.
    pub upstream_timeout: Duration,
    /// An extra hook that hears every shadow copy's outcome (metrics are recorded regardless).
    pub on_outcome: Option<Arc<dyn shadowgate::OnOutcome>>,
}

impl Settings {
    /// The defaults, with this upstream pool: listen on `127.0.0.1:8080`, admin on
    /// `127.0.0.1:9901`, no mirrors, text logs, and the `DEFAULT_*` timeouts of this module.
    pub fn new(upstreams: Vec<http::Uri>) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            upstreams,
            mirrors: Vec::new(),
            admin: Some(DEFAULT_ADMIN),
            log_format: LogFormat::Text,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            mirror_drain: DEFAULT_MIRROR_DRAIN,
            upstream_connect_timeout: DEFAULT_UPSTREAM_CONNECT_TIMEOUT,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            on_outcome: None,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("upstreams", &self.upstreams)
            .field("mirrors", &self.mirrors)
            .field("admin", &self.admin)
            .field("log_format", &self.log_format)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("mirror_drain", &self.mirror_drain)
            .field("upstream_connect_timeout", &self.upstream_connect_timeout)
            .field("upstream_timeout", &self.upstream_timeout)
            .field("on_outcome", &self.on_outcome.is_some())
            .finish()
    }
}

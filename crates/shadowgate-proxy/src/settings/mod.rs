//! [`Settings`]: everything [`crate::App::build`] needs, already validated in type (addresses are
//! `SocketAddr`s, targets are built `TargetConfig`s, routes hold compiled regexes), with
//! documented defaults. The binary builds them from its flags and the config file
//! (`crate::config`); the library user and the tests build them directly.

mod limits;
mod route;
mod self_target;
mod upstream;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use limits::{
    Limits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_HEADER_BYTES,
    DEFAULT_MIRROR_MEMORY_BYTES, DEFAULT_SEND_TIMEOUT, MAX_MAX_HEADER_BYTES,
    MAX_MIRROR_MEMORY_BYTES, MIN_MAX_HEADER_BYTES, MIN_MIRROR_MEMORY_BYTES,
};
pub use route::{PathMatch, RouteAction, RouteSettings};
pub use self_target::self_target;
pub(crate) use self_target::self_target_message;
pub use upstream::{
    BackendSettings, BackendUrl, Balance, HealthCheck, UpstreamSettings, DEFAULT_EJECT_FOR,
    DEFAULT_HEALTHY_THRESHOLD, DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_TIMEOUT,
    DEFAULT_UNHEALTHY_THRESHOLD, DEFAULT_UPSTREAM_NAME, MAX_CONNECTIONS, MAX_THRESHOLD, MAX_WEIGHT,
};

/// Default proxy listener: `127.0.0.1:8080`.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default admin listener: `127.0.0.1:9901`.
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9901);
/// Default of `admin.max_runtime_targets`: how many targets the admin API may add.
pub const DEFAULT_MAX_RUNTIME_TARGETS: usize = 64;
/// The largest `admin.max_runtime_targets` (each target has its own workers and queue).
pub const MAX_MAX_RUNTIME_TARGETS: usize = 10_000;
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

impl LogFormat {
    /// The `--log-format` value: `text` or `json`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// The HTTPS listener's certificate and key, loaded and checked (`crate::tls`).
#[derive(Clone)]
pub struct TlsSettings {
    /// The PEM certificate chain file, as configured.
    pub cert: PathBuf,
    /// The PEM private key file, as configured.
    pub key: PathBuf,
    /// The server config built from them, with ALPN `h2` and `http/1.1`.
    pub server_config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The proxy's settings. Build with [`Settings::new`] and change the public fields.
#[derive(Clone)]
pub struct Settings {
    /// The proxy listener (port 0 picks a free port; see [`crate::App::listen_addr`]).
    pub listen: SocketAddr,
    /// HTTPS on the proxy listener (h2 and HTTP/1.1 by ALPN); `None` is plain HTTP/1.1 and h2c.
    pub tls: Option<TlsSettings>,
    /// The primary upstream pools. With no routes, everything goes to the only one.
    pub upstreams: Vec<UpstreamSettings>,
    /// The routes, first match wins. Empty: every request goes to the only upstream and is
    /// mirrored to every target.
    pub routes: Vec<RouteSettings>,
    /// The shadow targets. Targets built with `routed(true)` (the config file's `[mirrors.NAME]`)
    /// get copies only from the routes that name them; the others (`--mirror` flags) get copies
    /// of all proxied traffic.
    pub mirrors: Vec<shadowgate::TargetConfig>,
    /// The settings of runtime-added targets (`[mirror_defaults]`); the URL is set per target.
    pub mirror_defaults: shadowgate::TargetBuilder,
    /// The admin listener; `None` disables it.
    pub admin: Option<SocketAddr>,
    /// The admin API's users file (`user:password` lines); `None` leaves the API open.
    pub admin_auth: Option<PathBuf>,
    /// Host names (each with or without `:PORT`) the admin API answers to besides its own
    /// address and `localhost` (`admin.allowed_hosts`); any other `Host` gets 403.
    pub admin_allowed_hosts: Vec<String>,
    /// How many targets the admin API may add (`admin.max_runtime_targets`); over it, 400.
    pub max_runtime_targets: usize,
    /// Where runtime-added targets are kept across restarts; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
    /// Whether a client's `X-Mirror` and `X-Mirrored-From` reach the primary
    /// (`[mirror_defaults] trust_mirror_marks`, default `false`: they are removed). Either way a
    /// request marked `X-Mirror` is never copied again (`skipped_loop`).
    pub trust_mirror_marks: bool,
    /// A runtime-added target that is not persistent and whose circuit has been open this long is
    /// removed (from the state file too): `[mirror_defaults.circuit] remove_after`. `None` never
    /// removes one. Config and flag targets are never removed.
    pub remove_after: Option<Duration>,
    /// Limits against slow or oversized clients, and the shutdown grace period.
    pub limits: Limits,
    /// How log lines are written (used by the binary's tracing setup, not by [`crate::App`]).
    pub log_format: LogFormat,
    /// Queued shadow copies get this long to go out after the in-flight requests are done.
    pub mirror_drain: Duration,
    /// An extra hook that hears every shadow copy's outcome (metrics are recorded regardless).
    pub on_outcome: Option<Arc<dyn shadowgate::OnOutcome>>,
}

impl Settings {
    /// The defaults, with one round-robin upstream (named `default`) of these backends: listen
    /// on `127.0.0.1:8080`, admin on `127.0.0.1:9901`, no routes, no mirrors, text logs, and the
    /// `DEFAULT_*` limits and timeouts.
    pub fn new(upstreams: Vec<BackendUrl>) -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            tls: None,
            upstreams: vec![UpstreamSettings::new(DEFAULT_UPSTREAM_NAME, upstreams)],
            routes: Vec::new(),
            mirrors: Vec::new(),
            mirror_defaults: shadowgate::TargetConfig::builder(""),
            admin: Some(DEFAULT_ADMIN),
            admin_auth: None,
            admin_allowed_hosts: Vec::new(),
            max_runtime_targets: DEFAULT_MAX_RUNTIME_TARGETS,
            state_file: None,
            trust_mirror_marks: false,
            remove_after: None,
            limits: Limits::default(),
            log_format: LogFormat::Text,
            mirror_drain: DEFAULT_MIRROR_DRAIN,
            on_outcome: None,
        }
    }

    /// The proxy's own listeners: `listen` and `admin` (targets must not point at them).
    pub fn listeners(&self) -> Vec<SocketAddr> {
        std::iter::once(self.listen).chain(self.admin).collect()
    }

    /// The upstream named `name`.
    pub fn upstream(&self, name: &str) -> Option<&UpstreamSettings> {
        self.upstreams.iter().find(|u| u.name == name)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("upstreams", &self.upstreams)
            .field("routes", &self.routes)
            .field("mirrors", &self.mirrors)
            .field("mirror_defaults", &self.mirror_defaults)
            .field("admin", &self.admin)
            .field("admin_auth", &self.admin_auth)
            .field("admin_allowed_hosts", &self.admin_allowed_hosts)
            .field("max_runtime_targets", &self.max_runtime_targets)
            .field("state_file", &self.state_file)
            .field("remove_after", &self.remove_after)
            .field("limits", &self.limits)
            .field("log_format", &self.log_format)
            .field("mirror_drain", &self.mirror_drain)
            .field("on_outcome", &self.on_outcome.is_some())
            .finish()
    }
}

//! [`UpstreamError`]: why an upstream could not be built.

/// Why an upstream could not be built. Each variant names the upstream and the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The upstream lists no backend.
    #[error("upstream {upstream:?} has no backend")]
    NoBackend {
        /// The upstream's name.
        upstream: String,
    },
    /// The same backend listed twice (use `weight` to send it more).
    #[error("upstream {upstream:?}: backend {url:?} is listed twice")]
    DuplicateBackend {
        /// The upstream's name.
        upstream: String,
        /// The URL.
        url: String,
    },
    /// A health check path that is not an absolute path.
    #[error("upstream {upstream:?}: health_check.path {path:?} is not a path starting with /")]
    InvalidHealthPath {
        /// The upstream's name.
        upstream: String,
        /// The path.
        path: String,
    },
    /// The TLS client could not be set up.
    #[error("upstream {upstream:?}: cannot set up TLS: {source}")]
    Tls {
        /// The upstream's name.
        upstream: String,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
}

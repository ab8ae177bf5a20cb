//! Problems found while building a layer or a target. Shadow failures at run time are never
//! errors: they are [`crate::Outcome`]s.

/// Why a target or a layer could not be built. Each variant names the offending value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The target URL is not an absolute `http://` or `https://` URL.
    #[error("invalid target URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The sample ratio is outside `0..=1` (or not a number).
    #[error("sample ratio {0} is outside 0..=1")]
    SampleOutOfRange(f64),
    /// A setting that must be greater than zero (a count or a duration) was zero.
    #[error("{0} must be greater than zero")]
    Zero(&'static str),
    /// A header name or value that HTTP does not allow.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A literal host that is not a valid `Host` value.
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// Two targets with the same name.
    #[error("duplicate target name {0:?}")]
    DuplicateTarget(String),
    /// The layer was built outside a Tokio runtime, so its workers have nowhere to run.
    #[error("MirrorLayer must be built inside a Tokio runtime (its workers are spawned on it)")]
    NoRuntime,
    /// The TLS client configuration could not be built.
    #[error("TLS client setup failed: {0}")]
    Tls(String),
}

//! [`AppError`]: why the app could not be built, run or reloaded. Each source stays typed (the
//! binary tells a config problem from a runtime failure by the variant).

use std::io;
use std::net::SocketAddr;

use crate::admin::{AuthFileError, StateFileError};
use crate::router::UnknownUpstream;
use crate::upstream::UpstreamError;

/// Why the app could not be built, run or reloaded. Each variant names the offending address
/// or value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// No primary upstream was given.
    #[error("no upstream: at least one --upstream URL is required")]
    NoUpstream,
    /// An upstream that cannot be built (a backend URL the proxy cannot forward to, …).
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// A route that cannot be built (for example it names an upstream that does not exist).
    #[error(transparent)]
    Route(#[from] UnknownUpstream),
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({listener} listener): {source}")]
    Bind {
        /// `"proxy"` or `"admin"`.
        listener: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason (for example, address in use).
        #[source]
        source: io::Error,
    },
    /// The mirror could not be built (for example two targets with the same name).
    #[error("mirror: {0}")]
    Mirror(#[from] shadowgate::BuildError),
    /// A reload configures a target under the name of one added at run time.
    #[error("mirror target {0:?} was added at run time (admin API or state file); remove it there before configuring it")]
    RuntimeTarget(String),
    /// The admin users file is unreadable or malformed (the error names the file and line).
    #[error(transparent)]
    AuthFile(#[from] AuthFileError),
    /// The state file is unreadable or corrupt (it is left untouched).
    #[error(transparent)]
    StateFile(#[from] StateFileError),
}

impl AppError {
    /// Whether the error is in the settings or the files they name (the binary exits 64), rather
    /// than a runtime failure such as an address in use (exit 1).
    pub fn is_config_error(&self) -> bool {
        !matches!(self, AppError::Bind { .. })
    }
}

//! # shadowgate-proxy
//!
//! The `shadowgate` reverse proxy: it forwards every request to a primary upstream and returns
//! that response untouched, and tees copies of sampled requests to shadow targets through the
//! [`shadowgate::MirrorLayer`].
//!
//! [`App::build`] assembles the proxy from [`Settings`] (the binary builds those from its flags
//! with [`cli::Cli::settings`]); [`App::run`] serves until a shutdown future resolves.
//!
//! ```no_run
//! # async fn run() -> Result<(), shadowgate_proxy::AppError> {
//! use shadowgate_proxy::{App, Settings};
//!
//! let mut settings = Settings::new(vec!["http://127.0.0.1:3000".parse().expect("a URL")]);
//! settings.listen = "127.0.0.1:0".parse().expect("an address");
//! settings.admin = None;
//! let app = App::build(settings).await?;
//! println!("proxy on {}", app.listen_addr());
//! app.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

mod admin;
mod answer;
mod app;
mod body;
mod chain;
pub mod cli;
pub mod config;
mod error;
mod forward;
mod forwarded;
mod metrics;
mod path;
mod reload;
mod replay;
mod rescue;
mod router;
mod server;
mod service;
mod settings;
mod signal;
mod stack;
pub mod tls;
mod upgrade;
mod upstream;

pub use admin::{AuthFileError, StateFileError};
pub use app::App;
pub use error::AppError;
pub use reload::{ReloadReport, Reloader};
pub use router::UnknownUpstream;
pub use settings::*;
pub use signal::Signals;
pub use upstream::UpstreamError;

/// Entry points for the fuzz targets in the repository's `fuzz/` folder (docs/fuzzing.md). Not a
/// stable API: they hand on to the proxy's own parsers unchanged.
#[doc(hidden)]
pub mod fuzzing {
    /// Resolves the dot segments of `uri`'s path in place, as the proxy does before routing;
    /// `Err(())` for a path that climbs above `/` (answered 400).
    #[allow(clippy::result_unit_err)]
    pub fn normalise_uri(uri: &mut http::Uri) -> Result<(), ()> {
        crate::path::normalise_uri(uri).map_err(|_| ())
    }

    /// Prepares a request head as a listener does before the mirror and the upstream see it:
    /// the checks before routing (`Host`, the path normalised), then the forwarding headers of a
    /// client at `peer` (on TLS when `tls`), marks removed unless `trust_marks`. `Err` says why
    /// a head was refused (a 400).
    pub fn prepare(
        parts: &mut http::request::Parts,
        peer: std::net::SocketAddr,
        tls: bool,
        trust_marks: bool,
    ) -> Result<(), String> {
        crate::forwarded::check_head(parts).map_err(|why| format!("{why:?}"))?;
        let mut req = http::Request::from_parts(std::mem::replace(parts, empty_parts()), ());
        crate::forwarded::Peer::new(peer, tls).prepare(&mut req, false, trust_marks);
        *parts = req.into_parts().0;
        Ok(())
    }

    fn empty_parts() -> http::request::Parts {
        http::Request::new(()).into_parts().0
    }

    /// Parses the query of an admin `/targets` call; the error names the bad parameter.
    pub fn targets_query(query: &str) -> Result<(), String> {
        crate::admin::query::TargetsQuery::parse(Some(query)).map(|_| ())
    }
}

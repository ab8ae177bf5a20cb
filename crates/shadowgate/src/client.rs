//! The pooled HTTP(S) client of one target: its own keep-alive pool, separate from the primary's
//! and from every other target's.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use crate::copy::CopyBody;
use crate::error::BuildError;
use crate::pool::{Pool, PoolSettings};
use crate::target::TargetConfig;

pub(crate) type CopyClient = Pool<CopyBody>;

/// How long an idle pooled connection to a target is kept.
pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A rustls client configuration trusting the webpki roots.
pub(crate) fn default_tls() -> Result<ClientConfig, BuildError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client for one target, connecting within the target's timeout; at most `workers` idle
/// connections are kept.
pub(crate) fn build_client(tls: ClientConfig, target: &TargetConfig) -> CopyClient {
    Pool::new(
        &target.target_url,
        Some(&tls),
        PoolSettings {
            connect_timeout: target.timeout,
            idle_timeout: POOL_IDLE_TIMEOUT,
            max_idle: target.workers,
        },
    )
}

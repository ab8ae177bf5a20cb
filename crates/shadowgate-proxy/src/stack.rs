//! [`Stack`]: one generation of the proxy's request path, built from [`Settings`]: the
//! upstream pools, a forwarder for each, and the router over them. A config reload builds a new
//! one and swaps it in whole; requests in flight finish on the one they started with.

use std::sync::Arc;

use arc_swap::ArcSwap;
use shadowgate::MirrorLayer;

use crate::error::AppError;
use crate::forward::Forward;
use crate::metrics::ProxyMetrics;
use crate::router::Router;
use crate::settings::Settings;
use crate::upgrade::Tunnels;
use crate::upstream::Upstream;

/// What every connection shares, for one generation of the config.
#[derive(Debug)]
pub(crate) struct Stack {
    pub(crate) router: Router,
    pub(crate) upstreams: Vec<Arc<Upstream>>,
    /// `[mirror_defaults] trust_mirror_marks`: whether a client's mirror marks reach the primary.
    pub(crate) trust_mirror_marks: bool,
}

/// The current stack, replaced whole on reload.
pub(crate) type SharedStack = Arc<ArcSwap<Stack>>;

impl Stack {
    /// Builds the upstreams (starting their health checks) and the routes. Nothing is shared
    /// with an earlier stack but the mirror and the metric families.
    pub(crate) fn build(
        settings: &Settings,
        mirror: &MirrorLayer,
        metrics: &ProxyMetrics,
        tunnels: &Tunnels,
    ) -> Result<Self, AppError> {
        if settings.upstreams.iter().all(|u| u.backends.is_empty()) {
            return Err(AppError::NoUpstream);
        }
        let mut upstreams = Vec::with_capacity(settings.upstreams.len());
        let mut forwards = Vec::with_capacity(settings.upstreams.len());
        for u in &settings.upstreams {
            let upstream = Upstream::new(u, metrics, tunnels.clone())?;
            forwards.push((
                u.name.as_str(),
                Forward::new(upstream.clone()),
                upstream.needs_client_addr(),
            ));
            upstreams.push(upstream);
        }
        // Only once everything is built: a stack that fails to build starts no checks.
        for u in &upstreams {
            u.start_health_checks();
        }
        let router = Router::build(settings, mirror, metrics, |name| {
            forwards
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, f, client_addr)| (f.clone(), *client_addr))
        })?;
        Ok(Self {
            router,
            upstreams,
            trust_mirror_marks: settings.trust_mirror_marks,
        })
    }

    /// Whether every upstream has at least one healthy backend.
    pub(crate) fn is_ready(&self) -> bool {
        self.upstreams.iter().all(|u| u.is_ready())
    }
}

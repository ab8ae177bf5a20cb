//! [`Lease`]: one request in flight on one backend, held by the response body until it ends.

use std::net::IpAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;

use super::backend::Backend;
use super::{BackendPool, Upstream};
use crate::metrics::UpstreamOutcome;

/// One request in flight on one backend; dropping it (when the response body ends or is
/// dropped) frees the slot.
pub(crate) struct Lease {
    pub(super) upstream: Arc<Upstream>,
    /// Always one of the upstream's backends ([`Upstream::lease`] makes sure).
    pub(super) index: usize,
}

impl Lease {
    /// The backend it holds a slot on.
    pub(crate) fn backend(&self) -> &Backend {
        &self.upstream.backends[self.index]
    }

    /// The backend's URL.
    pub(crate) fn url(&self) -> &str {
        &self.backend().url
    }

    /// The upstream it belongs to.
    pub(crate) fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// The request-target of a request to `path_and_query` on this backend, and the backend's
    /// keep-alive pool to send it on.
    pub(crate) fn target(
        &self,
        path_and_query: Option<&PathAndQuery>,
    ) -> Result<(http::Uri, BackendPool), http::Error> {
        let backend = self.backend();
        Ok((backend.uri_for(path_and_query)?, backend.pool.clone()))
    }

    /// Counts the request's outcome for the backend.
    pub(crate) fn count(&self, outcome: UpstreamOutcome) {
        self.backend().metrics.count(outcome);
    }

    /// The request never reached the backend: it is ejected (see [`Upstream::connect_failed`]).
    pub(crate) fn connect_failed(&self) {
        self.upstream.connect_failed(self.index);
    }

    /// Another backend for a retry of this request, never this one.
    pub(crate) fn other(&self, client: Option<IpAddr>) -> Option<Lease> {
        self.upstream.lease(client, Some(self.index)).ok()
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("upstream", &self.upstream.name())
            .field("backend", &self.url())
            .finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.backend().release();
    }
}

//! [`Lease`]: one request in flight on one backend, held by the response body until it ends.

use std::net::IpAddr;
use std::sync::Arc;

use http::uri::PathAndQuery;

use super::backend::Backend;
use super::Upstream;
use crate::metrics::UpstreamOutcome;

/// One request in flight on one backend; dropping it (when the response body ends or is
/// dropped) frees the slot.
pub(crate) struct Lease {
    pub(super) upstream: Arc<Upstream>,
    pub(super) index: usize,
}

impl Lease {
    /// The backend it holds a slot on.
    pub(crate) fn backend(&self) -> Option<&Backend> {
        self.upstream.backend(self.index)
    }

    /// The backend's URL (`"-"` cannot happen: the index comes from the pool).
    pub(crate) fn url(&self) -> &str {
        self.backend().map_or("-", |b| &b.url)
    }

    /// The upstream it belongs to.
    pub(crate) fn upstream(&self) -> &Arc<Upstream> {
        &self.upstream
    }

    /// Builds the URI of a request to `path_and_query` on this backend.
    pub(crate) fn uri_for(
        &self,
        path_and_query: Option<&PathAndQuery>,
    ) -> Result<http::Uri, http::Error> {
        match self.backend() {
            Some(b) => b.uri_for(path_and_query),
            None => http::Uri::builder().build(),
        }
    }

    /// Counts the request's outcome for the backend.
    pub(crate) fn count(&self, outcome: UpstreamOutcome) {
        if let Some(b) = self.backend() {
            b.metrics.count(outcome);
        }
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
        if let Some(b) = self.backend() {
            b.release();
        }
    }
}

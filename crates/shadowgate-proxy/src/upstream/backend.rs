//! [`Backend`]: one backend of an upstream, parsed once into the scheme, authority and base path
//! that requests are rewritten to, with its in-flight count and health flag.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use http::uri::PathAndQuery;
use http::Uri;

use super::client::BackendPool;
use crate::metrics::{BackendMetrics, ProxyMetrics};
use crate::settings::BackendUrl;

/// One backend of an upstream.
#[derive(Debug)]
pub(crate) struct Backend {
    /// `SCHEME://AUTHORITY[/BASE]` (no trailing `/`), for logs and the `backend` label.
    pub(crate) url: Box<str>,
    /// Its own keep-alive connections.
    pub(crate) pool: BackendPool,
    /// Its weight under `weighted_round_robin` (at least 1).
    pub(crate) weight: u32,
    pub(crate) metrics: BackendMetrics,
    /// Requests sent to it whose response has not ended yet.
    in_flight: AtomicUsize,
    healthy: AtomicBool,
}

impl Backend {
    /// The backend at `url` (checked by [`BackendUrl`]) reached through `pool`, its metric
    /// handles resolved.
    pub(crate) fn new(
        upstream: &str,
        url: &BackendUrl,
        weight: u32,
        metrics: &ProxyMetrics,
        pool: BackendPool,
    ) -> Self {
        let label = url.to_string();
        Self {
            metrics: metrics.backend(upstream, &label),
            url: label.into(),
            pool,
            weight: weight.max(1),
            in_flight: AtomicUsize::new(0),
            healthy: AtomicBool::new(true),
        }
    }

    /// The request-target (origin form) for a request to `path_and_query`: the raw path and
    /// query unchanged, after the backend's base path (the only case that allocates).
    pub(crate) fn uri_for(
        &self,
        path_and_query: Option<&PathAndQuery>,
    ) -> Result<Uri, http::Error> {
        self.pool.uri_for(path_and_query)
    }

    /// Whether it takes requests now.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Sets the health flag; true when that changed it.
    pub(crate) fn set_healthy(&self, healthy: bool) -> bool {
        let changed = self.healthy.swap(healthy, Ordering::AcqRel) != healthy;
        if changed {
            self.metrics.set_healthy(healthy);
        }
        changed
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether it has room under `max` requests in flight (0 = unlimited).
    pub(crate) fn has_room(&self, max: usize) -> bool {
        max == 0 || self.in_flight() < max
    }

    /// Counts one more request in flight unless that would pass `max` (0 = unlimited).
    /// Pair with [`Backend::release`].
    pub(crate) fn try_acquire(&self, max: usize) -> bool {
        if max == 0 {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// A backend at `url` with its own pool (unit tests do not send on it).
    #[cfg(test)]
    pub(crate) fn for_test(url: &str, weight: u32, metrics: &ProxyMetrics) -> Self {
        let url = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
        let tls = super::client::tls_config(false).unwrap_or_else(|e| panic!("{e}"));
        let pool = super::client::pool(&url, &tls, std::time::Duration::from_secs(1));
        Backend::new("test", &url, weight, metrics, pool)
    }

    /// One request in flight fewer.
    pub(crate) fn release(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Backend {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = ProxyMetrics::register(&mut registry);
        Backend::for_test(url, 1, &metrics)
    }

    #[test]
    fn rewrite_keeps_raw_path_and_joins_base_path() {
        let pq = PathAndQuery::from_static("/a/%2F..//b?x=%20&y");
        let uri = backend("http://a:1").uri_for(Some(&pq)).unwrap();
        assert_eq!(uri.to_string(), "/a/%2F..//b?x=%20&y");
        let uri = backend("https://a:1/base/").uri_for(Some(&pq)).unwrap();
        assert_eq!(uri.to_string(), "/base/a/%2F..//b?x=%20&y");
    }

    #[test]
    fn acquire_stops_at_the_cap() {
        let b = backend("http://a:1");
        assert!(b.try_acquire(2));
        assert!(b.try_acquire(2));
        assert!(!b.try_acquire(2));
        assert!(!b.has_room(2));
        b.release();
        assert!(b.has_room(2));
        assert!(b.try_acquire(0));
        assert_eq!(b.in_flight(), 2);
    }
}

//! The primary upstream: a round-robin pool of backends, each parsed once into the scheme,
//! authority and base path that requests are rewritten to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

use crate::metrics::{BackendMetrics, ProxyMetrics, DEFAULT_UPSTREAM};

/// One backend of an upstream.
#[derive(Debug)]
pub(crate) struct Backend {
    /// `http://AUTHORITY[/BASE]` (no trailing `/`), for logs and the `backend` label.
    pub(crate) url: Box<str>,
    authority: Authority,
    /// The URL's path without a trailing `/` ("" for the root).
    base_path: Box<str>,
    pub(crate) metrics: BackendMetrics,
}

/// Why a URL cannot be a backend.
///
/// The reason reads after the quoted URL: `"ftp://x" is not an http:// URL`.
pub(crate) fn check_backend_url(uri: &Uri) -> Result<(), &'static str> {
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err("uses https, which upstreams do not support yet (use http://)")
        }
        Some(_) => return Err("is not an http:// URL"),
        None => return Err("is not an absolute http:// URL"),
    }
    let Some(authority) = uri.authority() else {
        return Err("has no host");
    };
    if authority.as_str().contains('@') {
        return Err("must not carry user info");
    }
    if authority.host().is_empty() {
        return Err("has no host");
    }
    if uri.query().is_some() {
        return Err("must not have a query");
    }
    Ok(())
}

impl Backend {
    fn new(uri: &Uri, metrics: &ProxyMetrics) -> Result<Self, &'static str> {
        check_backend_url(uri)?;
        let authority = uri.authority().cloned().ok_or("has no host")?;
        let base_path = uri.path().trim_end_matches('/');
        let url = format!("http://{authority}{base_path}");
        Ok(Self {
            metrics: metrics.backend(DEFAULT_UPSTREAM, &url),
            url: url.into(),
            authority,
            base_path: base_path.into(),
        })
    }

    /// The upstream URI for a request to `path_and_query`: the raw path and query unchanged,
    /// after the backend's base path (the only case that allocates).
    pub(crate) fn uri_for(
        &self,
        path_and_query: Option<&PathAndQuery>,
    ) -> Result<Uri, http::Error> {
        let path_and_query = match path_and_query {
            Some(pq) if self.base_path.is_empty() => pq.clone(),
            None if self.base_path.is_empty() => PathAndQuery::from_static("/"),
            pq => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{}{pq}", self.base_path))?
            }
        };
        Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

/// A round-robin pool of backends.
#[derive(Debug)]
pub(crate) struct UpstreamPool {
    backends: Box<[Arc<Backend>]>,
    next: AtomicUsize,
}

impl UpstreamPool {
    /// Parses every backend; the error names the first bad URL and why.
    pub(crate) fn new(
        uris: &[Uri],
        metrics: &ProxyMetrics,
    ) -> Result<Self, (String, &'static str)> {
        let backends = uris
            .iter()
            .map(|u| {
                Backend::new(u, metrics)
                    .map(Arc::new)
                    .map_err(|reason| (u.to_string(), reason))
            })
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Self {
            backends,
            next: AtomicUsize::new(0),
        })
    }

    /// Whether the pool can take requests (health checks arrive with issue 3's pools).
    pub(crate) fn is_ready(&self) -> bool {
        !self.backends.is_empty()
    }

    /// The next backend in turn; `None` only for an empty pool (which the app refuses to build).
    pub(crate) fn pick(&self) -> Option<&Arc<Backend>> {
        match self.backends.len() {
            0 => None,
            1 => self.backends.first(),
            n => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
                self.backends.get(i)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(urls: &[&str]) -> UpstreamPool {
        let uris: Vec<Uri> = urls.iter().map(|u| u.parse().unwrap()).collect();
        let mut registry = prometheus_client::registry::Registry::default();
        UpstreamPool::new(&uris, &ProxyMetrics::register(&mut registry)).unwrap()
    }

    #[test]
    fn round_robin_visits_every_backend_in_turn() {
        let p = pool(&["http://a:1", "http://b:2", "http://c:3"]);
        let picked: Vec<_> = (0..6).map(|_| p.pick().unwrap().url.to_string()).collect();
        assert_eq!(picked, ["http://a:1", "http://b:2", "http://c:3"].repeat(2));
    }

    #[test]
    fn rewrite_keeps_raw_path_and_joins_base_path() {
        let p = pool(&["http://a:1"]);
        let pq = PathAndQuery::from_static("/a/%2F..//b?x=%20&y");
        let uri = p.pick().unwrap().uri_for(Some(&pq)).unwrap();
        assert_eq!(uri.to_string(), "http://a:1/a/%2F..//b?x=%20&y");
        let p = pool(&["http://a:1/base/"]);
        let uri = p.pick().unwrap().uri_for(Some(&pq)).unwrap();
        assert_eq!(uri.to_string(), "http://a:1/base/a/%2F..//b?x=%20&y");
    }

    #[test]
    fn refuses_non_http_urls() {
        for (u, why) in [
            ("https://a", "https"),
            ("ftp://x", "not an http"),
            ("/path", "absolute"),
            ("http://u@a", "user info"),
            ("http://a/?q", "query"),
        ] {
            let err = check_backend_url(&u.parse().unwrap()).unwrap_err();
            assert!(err.contains(why), "{u}: {err}");
        }
    }
}

//! A route's path rewrite for the primary (`strip_prefix`, `rewrite`), and [`Rewritten`], the
//! service between the mirror and the forwarder that applies it. The mirror has captured the
//! copy's head by then, so the copy keeps the client's path.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::{PathAndQuery, Uri};
use http::Request;

use crate::settings::PathMatch;

/// What replaces the matched part of the path.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    matched: PathMatch,
    with: Box<str>,
}

impl Rewrite {
    /// The rewrite of a route, if it has one: `strip_prefix` replaces the match with nothing,
    /// `rewrite` with its text (for a regex, `$1`-style captures expand).
    pub(crate) fn new(path: &PathMatch, strip_prefix: bool, rewrite: Option<&str>) -> Option<Self> {
        let with = match (rewrite, strip_prefix) {
            (Some(with), _) => with,
            (None, true) => "",
            (None, false) => return None,
        };
        if matches!(path, PathMatch::Any) {
            return None;
        }
        Some(Self {
            matched: path.clone(),
            with: with.into(),
        })
    }

    /// The rewritten path and query (the query is kept as sent); `None` when the path does not
    /// match (the route matched it, so only a bug gets there) or cannot form a URI.
    pub(crate) fn apply(&self, pq: &PathAndQuery) -> Option<PathAndQuery> {
        let path = pq.path();
        let mut out = String::with_capacity(path.len() + self.with.len() + 8);
        let mut push = |piece: &str| {
            if piece.is_empty() {
                return;
            }
            if out.is_empty() && !piece.starts_with('/') {
                out.push('/');
            }
            out.push_str(piece);
        };
        match &self.matched {
            PathMatch::Any => return None,
            PathMatch::Exact(_) => push(&self.with),
            PathMatch::Prefix(prefix) => {
                let rest = path.get(prefix.len()..)?;
                push(&self.with);
                push(rest);
            }
            PathMatch::Regex(re) => push(&re.replace(path, &*self.with)),
        }
        if out.is_empty() {
            out.push('/');
        }
        if let Some(q) = pq.query() {
            out.push('?');
            out.push_str(q);
        }
        PathAndQuery::try_from(out).ok()
    }
}

/// Applies a route's [`Rewrite`] to the request before the inner service sees it.
#[derive(Debug, Clone)]
pub(crate) struct Rewritten<S> {
    inner: S,
    rewrite: Option<Arc<Rewrite>>,
}

impl<S> Rewritten<S> {
    pub(crate) fn new(inner: S, rewrite: Option<Rewrite>) -> Self {
        Self {
            inner,
            rewrite: rewrite.map(Arc::new),
        }
    }
}

impl<S, B> tower::Service<Request<B>> for Rewritten<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> S::Future {
        if let Some(rewrite) = &self.rewrite {
            // The forwarder takes only the path and query from here (the backend gives the
            // rest, and `Host` was taken from the request already).
            if let Some(pq) = req.uri().path_and_query().and_then(|pq| rewrite.apply(pq)) {
                *req.uri_mut() = Uri::from(pq);
            }
        }
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(path: PathMatch, strip: bool, with: Option<&str>, pq: &'static str) -> String {
        Rewrite::new(&path, strip, with)
            .expect("a rewrite")
            .apply(&PathAndQuery::from_static(pq))
            .expect("rewritten")
            .to_string()
    }

    fn prefix(p: &str) -> PathMatch {
        PathMatch::Prefix(p.to_owned())
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash_and_the_query() {
        assert_eq!(
            apply(prefix("/api/"), true, None, "/api/users?x=1"),
            "/users?x=1"
        );
        assert_eq!(apply(prefix("/api"), true, None, "/api/users"), "/users");
        assert_eq!(apply(prefix("/api"), true, None, "/api"), "/");
        assert_eq!(apply(prefix("/api/"), true, None, "/api/"), "/");
    }

    #[test]
    fn rewrite_replaces_the_prefix_exact_path_or_regex_match() {
        assert_eq!(
            apply(prefix("/api/"), false, Some("/v2/"), "/api/a/b?q"),
            "/v2/a/b?q"
        );
        assert_eq!(
            apply(
                PathMatch::Exact("/old".into()),
                false,
                Some("/new"),
                "/old?k=v"
            ),
            "/new?k=v"
        );
        let re = regex::Regex::new("^/users/([0-9]+)$").expect("regex");
        assert_eq!(
            apply(
                PathMatch::Regex(re),
                false,
                Some("/people/$1/profile"),
                "/users/42"
            ),
            "/people/42/profile"
        );
    }

    #[test]
    fn no_rewrite_without_strip_or_text() {
        assert!(Rewrite::new(&prefix("/a"), false, None).is_none());
        assert!(Rewrite::new(&PathMatch::Any, true, None).is_none());
    }
}

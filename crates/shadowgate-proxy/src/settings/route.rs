//! [`RouteSettings`]: what a route matches (host, path, methods, headers) and what it does
//! (proxy to an upstream with its mirrors, or redirect).

use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// How a route matches the request path.
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// This path exactly (the query is not part of it).
    Exact(String),
    /// Paths that start with this.
    Prefix(String),
    /// Paths this regex matches (anchor it yourself with `^` and `$`).
    Regex(regex::Regex),
}

/// What a matched route does.
#[derive(Debug, Clone)]
pub enum RouteAction {
    /// Proxy to an upstream, mirroring to the named targets.
    Proxy {
        /// The upstream's name (one of [`crate::Settings::upstreams`]).
        upstream: String,
        /// The `[mirrors.NAME]` targets this route's requests are copied to.
        mirrors: Vec<String>,
        /// Remove the matched prefix from the primary's path (the copy keeps the client's path).
        strip_prefix: bool,
        /// Replace the matched prefix (or exact path, or regex match, with `$1` captures) in the
        /// primary's path.
        rewrite: Option<String>,
    },
    /// Answer with this status and `Location`; neither proxied nor mirrored.
    Redirect {
        /// The `Location`.
        to: HeaderValue,
        /// A 3xx status.
        status: StatusCode,
    },
}

/// One route.
#[derive(Debug, Clone)]
pub struct RouteSettings {
    /// Its name, the `route` label of the request metrics.
    pub name: String,
    /// The host it matches (lower case, without port); `*.example.com` matches any subdomain.
    pub host: Option<String>,
    /// How it matches the path.
    pub path: PathMatch,
    /// The methods it matches; empty is every method.
    pub methods: Vec<Method>,
    /// Headers that must be present with these values.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What it does.
    pub action: RouteAction,
}

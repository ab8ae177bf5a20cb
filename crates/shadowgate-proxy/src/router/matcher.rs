//! [`Matcher`]: whether a route takes a request, by host, path, method and headers. Matching
//! allocates nothing.

use http::header::{HeaderName, HeaderValue, HOST};
use http::request::Parts;
use http::Method;

use crate::settings::{PathMatch, RouteSettings};

/// The request side of a route.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    host: Option<HostMatch>,
    path: PathMatch,
    methods: Box<[Method]>,
    headers: Box<[(HeaderName, HeaderValue)]>,
}

#[derive(Debug, Clone)]
enum HostMatch {
    /// This host, any case.
    Exact(Box<str>),
    /// Any host ending with this suffix (which starts with `.`), longer than it.
    Suffix(Box<str>),
}

impl Matcher {
    pub(crate) fn new(route: &RouteSettings) -> Self {
        let host = route.host.as_deref().map(|h| match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.into()),
            _ => HostMatch::Exact(h.into()),
        });
        Self {
            host,
            path: route.path.clone(),
            methods: route.methods.clone().into(),
            headers: route.headers.clone().into(),
        }
    }

    /// The path rule, for the route's rewrite.
    pub(crate) fn path(&self) -> &PathMatch {
        &self.path
    }

    pub(crate) fn matches(&self, req: &Parts) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(&req.method) {
            return false;
        }
        let path_ok = match &self.path {
            PathMatch::Any => true,
            PathMatch::Exact(p) => req.uri.path() == p,
            PathMatch::Prefix(p) => req.uri.path().starts_with(p.as_str()),
            PathMatch::Regex(re) => re.is_match(req.uri.path()),
        };
        if !path_ok {
            return false;
        }
        if let Some(want) = &self.host {
            let Some(host) = request_host(req) else {
                return false;
            };
            let ok = match want {
                HostMatch::Exact(h) => host.eq_ignore_ascii_case(h),
                HostMatch::Suffix(s) => {
                    host.len() > s.len()
                        && host
                            .get(host.len() - s.len()..)
                            .is_some_and(|end| end.eq_ignore_ascii_case(s))
                }
            };
            if !ok {
                return false;
            }
        }
        self.headers
            .iter()
            .all(|(name, value)| req.headers.get_all(name).iter().any(|v| v == value))
    }
}

/// The request's host without its port: the `Host` header, or the URI's authority (HTTP/2).
fn request_host(req: &Parts) -> Option<&str> {
    let host = match req.headers.get(HOST) {
        Some(h) => h.to_str().ok()?,
        None => req.uri.authority()?.as_str(),
    };
    Some(strip_port(host))
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RouteAction;

    fn route(f: impl FnOnce(&mut RouteSettings)) -> Matcher {
        let mut r = RouteSettings {
            name: "r".into(),
            host: None,
            path: PathMatch::Any,
            methods: Vec::new(),
            headers: Vec::new(),
            action: RouteAction::Redirect {
                to: HeaderValue::from_static("/"),
                status: http::StatusCode::FOUND,
            },
        };
        f(&mut r);
        Matcher::new(&r)
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    #[test]
    fn path_exact_prefix_and_regex() {
        let exact = route(|r| r.path = PathMatch::Exact("/a".into()));
        assert!(exact.matches(&req("GET", "/a?x", &[])));
        assert!(!exact.matches(&req("GET", "/a/", &[])));
        let prefix = route(|r| r.path = PathMatch::Prefix("/api/".into()));
        assert!(prefix.matches(&req("GET", "/api/x", &[])));
        assert!(!prefix.matches(&req("GET", "/apix", &[])));
        let re =
            route(|r| r.path = PathMatch::Regex(regex::Regex::new("^/u/[0-9]+$").expect("re")));
        assert!(re.matches(&req("GET", "/u/12", &[])));
        assert!(!re.matches(&req("GET", "/u/ab", &[])));
    }

    #[test]
    fn host_any_case_without_port_and_wildcards() {
        let exact = route(|r| r.host = Some("shop.example".into()));
        assert!(exact.matches(&req("GET", "/", &[("host", "SHOP.example:8080")])));
        assert!(exact.matches(&req("GET", "http://shop.example/", &[])));
        assert!(!exact.matches(&req("GET", "/", &[("host", "other.example")])));
        assert!(!exact.matches(&req("GET", "/", &[])));
        let wild = route(|r| r.host = Some("*.example.com".into()));
        assert!(wild.matches(&req("GET", "/", &[("host", "a.example.com")])));
        assert!(wild.matches(&req("GET", "/", &[("host", "a.b.Example.com:1")])));
        assert!(!wild.matches(&req("GET", "/", &[("host", "example.com")])));
        assert!(!wild.matches(&req("GET", "/", &[("host", "badexample.com")])));
        let v6 = route(|r| r.host = Some("::1".into()));
        assert!(v6.matches(&req("GET", "/", &[("host", "[::1]:80")])));
    }

    #[test]
    fn methods_and_headers() {
        let m = route(|r| {
            r.methods = vec![Method::POST, Method::PUT];
            r.headers = vec![(
                HeaderName::from_static("x-canary"),
                HeaderValue::from_static("yes"),
            )];
        });
        assert!(m.matches(&req(
            "POST",
            "/",
            &[("x-canary", "no"), ("x-canary", "yes")]
        )));
        assert!(!m.matches(&req("GET", "/", &[("x-canary", "yes")])));
        assert!(!m.matches(&req("PUT", "/", &[("x-canary", "YES")])));
        assert!(!m.matches(&req("PUT", "/", &[])));
    }
}

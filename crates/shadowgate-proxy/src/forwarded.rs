//! What the proxy does to every request's head before the mirror sees it, so that the primary and
//! every copy carry the same head: the headers `Connection` names removed, a client's mirror
//! marks removed (unless trusted), h2 cookie fields joined, the client's
//! address (for `client_ip` sampling), an `X-Request-Id`, `X-Forwarded-For` (appended),
//! `X-Forwarded-Proto` and `X-Forwarded-Host`. The order is docs/operations.md's ("The request
//! head").

use std::net::SocketAddr;

use bytes::BytesMut;
use http::header::{Entry, HeaderMap, HeaderName, HeaderValue, CONNECTION, COOKIE, HOST};
use http::request::Parts;
use http::{Request, Version};
use shadowgate::{
    ensure_request_id, new_request_id, remove_connection_named, take_mirror_marks, ClientAddr,
};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Why a request's `Host` is refused (400, never forwarded, never copied), if it is: several
/// `Host` headers, a `Host` that disagrees with the request's authority (h2 `:authority`, or an
/// absolute-form HTTP/1.1 target), or HTTP/1.1 without `Host` (RFC 9112 §3.2). Two header
/// lookups; no allocation.
pub(crate) fn bad_host(parts: &Parts) -> Option<&'static str> {
    let mut hosts = parts.headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => Some("400 Bad Request: several Host headers\n"),
        (Some(host), None) => match parts.uri.authority() {
            Some(a) if !a.as_str().as_bytes().eq_ignore_ascii_case(host.as_bytes()) => {
                Some("400 Bad Request: Host disagrees with the request's authority\n")
            }
            _ => None,
        },
        (None, _) if parts.version == Version::HTTP_11 => {
            Some("400 Bad Request: an HTTP/1.1 request needs a Host header\n")
        }
        (None, _) => None,
    }
}

/// Why a request head is refused before routing (a 400, never forwarded, never copied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusedHead {
    /// Its `Host` ([`bad_host`]); the text of the 400.
    Host(&'static str),
    /// Its path ([`crate::path`]).
    Path(crate::path::BadPath),
}

/// The checks every request head passes before it is routed, in order: its `Host`
/// ([`bad_host`]), then its path, whose dot segments are resolved in place so that what is
/// routed, forwarded and copied is one path (docs/operations.md, "The request head", "Paths").
pub(crate) fn check_head(parts: &mut Parts) -> Result<(), RefusedHead> {
    if let Some(reason) = bad_host(parts) {
        return Err(RefusedHead::Host(reason));
    }
    crate::path::normalise_uri(&mut parts.uri).map_err(RefusedHead::Path)
}

/// Joins several `cookie` fields (h2 splits them, RFC 9113 §8.2.3) into the one `cookie` header
/// an HTTP/1.1 upstream and target expect, separated by `"; "`. Allocates only when there are
/// several.
fn join_cookies(headers: &mut HeaderMap) {
    let Entry::Occupied(mut e) = headers.entry(COOKIE) else {
        return;
    };
    if e.iter().nth(1).is_none() {
        return;
    }
    let mut joined = BytesMut::new();
    for (i, v) in e.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(joined.freeze()) {
        e.insert(v);
    }
}

/// The headers [`Peer::prepare`] acts on, found in one walk over the head: each lookup or
/// removal costs a hash and a probe, present or not, and most heads carry none of these but
/// `Host`.
#[derive(Debug, Default)]
struct Seen {
    connection: bool,
    marks: bool,
    request_id: bool,
    host: Option<HeaderValue>,
}

impl Seen {
    fn scan(headers: &HeaderMap) -> Self {
        let mut seen = Seen::default();
        for (name, value) in headers {
            if name == CONNECTION {
                seen.connection = true;
            } else if name == HOST {
                seen.host = Some(value.clone());
            } else {
                match name.as_str() {
                    "x-mirror" | "x-mirrored-from" => seen.marks = true,
                    "x-request-id" => seen.request_id = true,
                    _ => {}
                }
            }
        }
        seen
    }
}

/// The client end of one connection, formatted once per connection rather than per request.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    addr: SocketAddr,
    ip: HeaderValue,
    /// `X-Forwarded-Proto`: `https` on a TLS connection, else `http`.
    proto: HeaderValue,
}

impl Peer {
    /// The client at `addr`, on a TLS connection when `tls` holds.
    pub(crate) fn new(addr: SocketAddr, tls: bool) -> Self {
        // An IP address is always a valid header value; fall back to "unknown" rather than panic.
        let ip = HeaderValue::from_str(&addr.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        let proto = HeaderValue::from_static(if tls { "https" } else { "http" });
        Self { addr, ip, proto }
    }

    /// Removes a client's mirror marks unless `trust_marks`, adds the forwarding headers and,
    /// when a mirror target samples by client address, the address itself (an extension costs
    /// an allocation, so only then).
    pub(crate) fn prepare<B>(&self, req: &mut Request<B>, client_addr: bool, trust_marks: bool) {
        let seen = Seen::scan(req.headers());
        // First, so that `Connection` only ever removes what the client sent, never the
        // headers added below (and hop.rs protects Host, X-Forwarded-* and X-Request-Id, so
        // what `seen` says of those stays true).
        if seen.connection {
            remove_connection_named(req.headers_mut());
        }
        if !trust_marks && seen.marks {
            // The primary must not be told by a client that a request is a copy. A marked
            // request keeps the fact as an extension, so the layer still refuses to copy it
            // (`skipped_loop`): two header lookups, an allocation only for a marked request.
            take_mirror_marks(req);
        }
        if client_addr {
            req.extensions_mut().insert(ClientAddr(self.addr));
        }
        // The upstream sees the client's Host; an HTTP/2 client sends `:authority` instead, so
        // only then is a header value built from the URI.
        let mut host = seen.host;
        if host.is_none() {
            let authority = req.uri().authority();
            host = authority.and_then(|a| HeaderValue::from_str(a.as_str()).ok());
            if let Some(a) = &host {
                req.headers_mut().insert(HOST, a.clone());
            }
        }
        if req.version() == Version::HTTP_2 {
            join_cookies(req.headers_mut());
        }
        let headers = req.headers_mut();
        // At most four headers are added below: one growth of the table, not several.
        headers.reserve(4);
        if seen.request_id {
            ensure_request_id(headers);
        } else {
            headers.insert(X_REQUEST_ID.clone(), new_request_id());
        }
        match headers.entry(&X_FORWARDED_FOR) {
            Entry::Vacant(e) => {
                e.insert(self.ip.clone());
            }
            Entry::Occupied(mut e) => {
                let mut joined = BytesMut::new();
                for v in e.iter() {
                    joined.extend_from_slice(v.as_bytes());
                    joined.extend_from_slice(b", ");
                }
                joined.extend_from_slice(self.ip.as_bytes());
                if let Ok(v) = HeaderValue::from_maybe_shared(joined.freeze()) {
                    e.insert(v);
                }
            }
        }
        headers.insert(X_FORWARDED_PROTO.clone(), self.proto.clone());
        match host {
            Some(host) => headers.insert(X_FORWARDED_HOST.clone(), host),
            None => headers.remove(&X_FORWARDED_HOST),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_to_an_existing_forwarded_for_and_sets_the_rest() {
        let peer = Peer::new("10.1.2.3:5555".parse().unwrap(), false);
        let mut req = Request::builder()
            .uri("/x")
            .header("host", "example.com")
            .header("x-forwarded-for", "1.1.1.1")
            .header("x-forwarded-for", "2.2.2.2")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap();
        peer.prepare(&mut req, true, false);
        let h = req.headers();
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.1.2.3");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "example.com");
        assert_eq!(h["x-request-id"].len(), 32);
        assert_eq!(
            req.extensions().get::<ClientAddr>().map(|c| c.0.port()),
            Some(5555)
        );
    }

    #[test]
    fn http2_authority_becomes_host() {
        let peer = Peer::new("[::1]:1".parse().unwrap(), false);
        let mut req = Request::builder()
            .uri("http://svc.local:81/x")
            .body(())
            .unwrap();
        peer.prepare(&mut req, false, false);
        assert!(req.extensions().get::<ClientAddr>().is_none());
        assert_eq!(req.headers()["host"], "svc.local:81");
        assert_eq!(req.headers()["x-forwarded-host"], "svc.local:81");
        assert_eq!(req.headers()["x-forwarded-for"], "::1");
        assert_eq!(req.headers()["x-forwarded-proto"], "http");
    }

    #[test]
    fn a_tls_connection_forwards_proto_https_over_what_the_client_claimed() {
        let peer = Peer::new("10.0.0.1:1".parse().unwrap(), true);
        let mut req = Request::builder()
            .uri("/x")
            .header("x-forwarded-proto", "http")
            .body(())
            .unwrap();
        peer.prepare(&mut req, false, false);
        assert_eq!(req.headers()["x-forwarded-proto"], "https");
        assert_eq!(req.headers().get_all("x-forwarded-proto").iter().count(), 1);
    }

    #[test]
    fn client_marks_are_removed_unless_trusted() {
        let peer = Peer::new("10.0.0.1:1".parse().unwrap(), false);
        let marked = || {
            Request::builder()
                .uri("/x")
                .header("x-mirror", "1")
                .header("x-mirrored-from", "forged.example")
                .body(())
                .unwrap()
        };
        let mut req = marked();
        peer.prepare(&mut req, false, false);
        assert!(!req.headers().contains_key("x-mirror"));
        assert!(!req.headers().contains_key("x-mirrored-from"));
        assert!(req
            .extensions()
            .get::<shadowgate::ArrivedAsCopy>()
            .is_some());
        let mut req = marked();
        peer.prepare(&mut req, false, true);
        assert_eq!(req.headers()["x-mirror"], "1");
        assert_eq!(req.headers()["x-mirrored-from"], "forged.example");
    }

    #[test]
    fn several_hosts_a_disagreeing_authority_and_no_host_on_http11_are_refused() {
        let parts = |version, uri: &str, hosts: &[&str]| {
            let mut b = Request::builder().version(version).uri(uri);
            for h in hosts {
                b = b.header("host", *h);
            }
            b.body(()).unwrap().into_parts().0
        };
        let v11 = Version::HTTP_11;
        let v2 = Version::HTTP_2;
        assert_eq!(bad_host(&parts(v11, "/", &["a"])), None);
        assert_eq!(bad_host(&parts(v11, "http://A:1/", &["a:1"])), None);
        assert_eq!(bad_host(&parts(v2, "http://a/", &[])), None);
        assert_eq!(bad_host(&parts(v2, "http://a/", &["a"])), None);
        assert_eq!(bad_host(&parts(Version::HTTP_10, "/", &[])), None);
        assert!(bad_host(&parts(v11, "/", &["a", "a"]))
            .unwrap()
            .contains("several"));
        assert!(bad_host(&parts(v2, "http://a/", &["b"]))
            .unwrap()
            .contains("disagrees"));
        assert!(bad_host(&parts(v11, "http://a/", &["b"]))
            .unwrap()
            .contains("disagrees"));
        assert!(bad_host(&parts(v11, "/", &[]))
            .unwrap()
            .contains("needs a Host"));
    }

    #[test]
    fn h2_cookie_fields_are_joined_into_one_header() {
        let peer = Peer::new("10.0.0.1:1".parse().unwrap(), false);
        let req = |version| {
            Request::builder()
                .version(version)
                .uri("http://a/x")
                .header("cookie", "a=1")
                .header("cookie", "b=2")
                .header("cookie", "c=3")
                .body(())
                .unwrap()
        };
        let mut h2 = req(Version::HTTP_2);
        peer.prepare(&mut h2, false, false);
        let cookies: Vec<_> = h2.headers().get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1; b=2; c=3"]);
        // An HTTP/1.1 client's own headers are its business (RFC 9110 forbids several).
        let mut h1 = req(Version::HTTP_11);
        peer.prepare(&mut h1, false, false);
        assert_eq!(h1.headers().get_all("cookie").iter().count(), 3);
    }
}

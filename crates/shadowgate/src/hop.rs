//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy never forwards
//! them.

use http::header::{HeaderMap, HeaderName, CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::HeaderValue;

/// The headers removed whatever `Connection` says (RFC 9110 §7.6.1, plus the `Proxy-*` pair that
/// is meant for this proxy alone).
const HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    http::header::PROXY_AUTHENTICATE,
    http::header::PROXY_AUTHORIZATION,
];

/// Removes the hop-by-hop headers, including every header named in `Connection` but the
/// [protected](is_protected) ones.
///
/// Runs on every proxied request and response, so the common case allocates nothing: the tokens
/// clients usually send (`keep-alive`, `close`, `upgrade`) are either on the fixed list or name
/// no header, and only other names are collected.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let present = fixed_present(headers);
    // `Connection` is first on the list; what it names is never on the list, so `present`
    // stays true after its removals.
    if present & 1 != 0 {
        remove_connection_named(headers);
    }
    remove_present(headers, present);
}

/// Removes the fixed hop-by-hop headers, `Connection` included, without reading `Connection`:
/// for a head whose `Connection`-named headers [`remove_connection_named`] removed already
/// (the proxy does that first thing on every request), so `Connection` is not parsed twice.
///
/// One pass over the names present, then a removal only for those on the list: most heads carry
/// none or one of the nine, and a removal costs a hash and a probe, present or not.
pub fn remove_fixed_hop_by_hop(headers: &mut HeaderMap) {
    let present = fixed_present(headers);
    remove_present(headers, present);
}

/// Which of [`HOP_BY_HOP`] the head holds, bit `i` for entry `i`: one walk over its names.
fn fixed_present(headers: &HeaderMap) -> u16 {
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    present
}

fn remove_present(headers: &mut HeaderMap, present: u16) {
    if present == 0 {
        return;
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Removes the headers a `Connection` header names, but not `Connection` itself, the fixed
/// hop-by-hop headers (an upgrade still needs its `Upgrade`), or the [protected](is_protected)
/// ones. A proxy calls it on a client's request *before* adding its own headers, so that
/// `Connection` can only ever remove what the client sent (docs/operations.md, "The request
/// head"). Allocates only for names off the fixed list.
pub fn remove_connection_named(headers: &mut HeaderMap) {
    let mut named: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(CONNECTION) {
        // What nearly every `Connection` says, decided without splitting it.
        let whole = value.as_bytes();
        if whole.eq_ignore_ascii_case(b"keep-alive") || whole.eq_ignore_ascii_case(b"close") {
            continue;
        }
        for token in value.to_str().unwrap_or("").split(',').map(str::trim) {
            let fixed = token.is_empty()
                || token.eq_ignore_ascii_case("close")
                || HOP_BY_HOP
                    .iter()
                    .any(|h| token.eq_ignore_ascii_case(h.as_str()));
            if !fixed {
                if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    if !is_protected(&name) {
                        named.push(name);
                    }
                }
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
}

/// The headers `Connection` never removes: `Host` (the primary and the copy must see the same
/// host), `X-Forwarded-*` and `X-Request-Id` (the proxy's own; a client must not be able to
/// strip them from what the upstream and the target see).
pub fn is_protected(name: &HeaderName) -> bool {
    let name = name.as_str();
    name == "host" || name == "x-request-id" || name.starts_with("x-forwarded-")
}

/// Whether the request asks for a protocol upgrade (WebSocket and friends) or is a CONNECT.
pub fn is_upgrade<B>(req: &http::Request<B>) -> bool {
    is_upgrade_parts(req.method(), req.headers())
}

pub(crate) fn is_upgrade_parts(method: &http::Method, headers: &HeaderMap) -> bool {
    method == http::Method::CONNECT
        || (headers.contains_key(UPGRADE)
            && headers
                .get_all(CONNECTION)
                .iter()
                .any(|v| has_token(v, "upgrade")))
}

fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_connection_values_remove_only_the_fixed_headers() {
        for value in ["keep-alive", "Keep-Alive", "close", "CLOSE"] {
            let mut h = HeaderMap::new();
            h.insert("connection", HeaderValue::from_static(value));
            h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            h.insert("x-kept", HeaderValue::from_static("1"));
            remove_hop_by_hop(&mut h);
            let left: Vec<_> = h.keys().map(HeaderName::as_str).collect();
            assert_eq!(left, ["x-kept"], "{value}");
        }
        // A value that is more than one of them is still read token by token.
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, X-Secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn removes_standard_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic eA=="),
            ("x-kept", "yes"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn connection_never_removes_host_forwarding_headers_or_the_request_id() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            (
                "connection",
                "keep-alive, Host, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host",
            ),
            (
                "connection",
                "X-Request-Id, X-Forwarded-Port, Upgrade, X-Secret",
            ),
            ("host", "a"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "a"),
            ("x-forwarded-port", "443"),
            ("x-request-id", "r"),
            ("upgrade", "websocket"),
            ("x-secret", "1"),
        ] {
            h.append(k, HeaderValue::from_static(v));
        }
        remove_connection_named(&mut h);
        assert!(!h.contains_key("x-secret"));
        assert_eq!(
            h.get_all(CONNECTION).iter().count(),
            2,
            "Connection itself stays"
        );
        assert!(h.contains_key(UPGRADE), "an upgrade keeps its Upgrade");
        remove_hop_by_hop(&mut h);
        let mut left: Vec<_> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            [
                "host",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-port",
                "x-forwarded-proto",
                "x-request-id"
            ]
        );
    }

    #[test]
    fn detects_upgrades() {
        let ws = http::Request::builder()
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .body(())
            .unwrap();
        assert!(is_upgrade(&ws));
        let connect = http::Request::builder()
            .method("CONNECT")
            .uri("h:443")
            .body(())
            .unwrap();
        assert!(is_upgrade(&connect));
        let plain = http::Request::builder()
            .header("upgrade", "x")
            .body(())
            .unwrap();
        assert!(!is_upgrade(&plain));
    }
}

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

/// Removes the hop-by-hop headers, including every header named in `Connection`.
///
/// Runs on every proxied request and response, so the common case allocates nothing: the tokens
/// clients usually send (`keep-alive`, `close`, `upgrade`) are either on the fixed list or name
/// no header, and only other names are collected.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(CONNECTION) {
        let mut named: Vec<HeaderName> = Vec::new();
        for value in headers.get_all(CONNECTION) {
            for token in value.to_str().unwrap_or("").split(',').map(str::trim) {
                let fixed = token.is_empty()
                    || token.eq_ignore_ascii_case("close")
                    || HOP_BY_HOP
                        .iter()
                        .any(|h| token.eq_ignore_ascii_case(h.as_str()));
                if !fixed {
                    if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                        named.push(name);
                    }
                }
            }
        }
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
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

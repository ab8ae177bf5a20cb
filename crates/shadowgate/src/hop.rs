//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy never forwards
//! them.

use http::header::{HeaderMap, HeaderName, CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::HeaderValue;

const PROXY_CONNECTION: &str = "proxy-connection";
const KEEP_ALIVE: &str = "keep-alive";

/// Removes the hop-by-hop headers, including every header named in `Connection`.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Names listed in Connection go first, while the Connection header is still there. Only a
    // request that lists extra names pays for collecting them.
    if headers.contains_key(CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    headers.remove(PROXY_CONNECTION);
    headers.remove(KEEP_ALIVE);
    headers.remove(http::header::PROXY_AUTHENTICATE);
    headers.remove(http::header::PROXY_AUTHORIZATION);
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

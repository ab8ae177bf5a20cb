//! The request-head preparation on arbitrary heads: the proxy's checks and forwarding headers,
//! then the copy the layer builds from the prepared head. Never a panic, and what
//! docs/operations.md ("The request head") promises holds for every head that is not refused:
//!
//! - the primary carries one valid `X-Request-Id`, and the copy carries the same one;
//! - the primary carries no mirror mark unless marks are trusted; the copy is marked `X-Mirror: 1`;
//! - `X-Forwarded-For` ends with the client's address, `X-Forwarded-Proto` is the connection's;
//! - `X-Forwarded-Host` is the primary's `Host`, and the copy carries the same `Host`;
//! - the copy carries no hop-by-hop header and no header the client's `Connection` named, except
//!   the protected ones;
//! - an h2 request reaches HTTP/1.1 with at most one `cookie` header.
//!
//! Input: one flags byte (bit 0: HTTP/2, bit 1: TLS, bit 2: trust marks), then lines: the
//! request target, then `name: value` header lines.

#![no_main]

use std::net::SocketAddr;

use http::header::{HeaderName, HeaderValue, CONNECTION, COOKIE, HOST};
use http::{Request, Uri, Version};
use libfuzzer_sys::fuzz_target;
use shadowgate::is_valid_request_id;

const PEER: &str = "192.0.2.7:40000";
const TARGET: &str = "http://127.0.0.1:9/base";
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
];

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (h2, tls, trust) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
    let mut lines = rest.split(|&b| b == b'\n');
    let Some(Ok(uri)) = lines.next().map(Uri::try_from) else {
        return;
    };
    let mut req = Request::new(());
    *req.uri_mut() = uri;
    *req.version_mut() = if h2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        req.headers_mut().append(name, value);
    }
    let named_by_connection: Vec<HeaderName> = req
        .headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|n| n.trim().to_owned()))
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    let client_mark = req.headers().contains_key("x-mirror");

    let (mut parts, ()) = req.into_parts();
    let peer: SocketAddr = PEER.parse().unwrap();
    if shadowgate_proxy::fuzzing::prepare(&mut parts, peer, tls, trust).is_err() {
        return;
    }
    let primary = parts.headers.clone();

    // The primary's head.
    let ids: Vec<_> = primary.get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "one request id: {ids:?}");
    let id = ids[0].clone();
    assert!(is_valid_request_id(&id), "{id:?}");
    if !trust {
        assert!(
            !primary.contains_key("x-mirror"),
            "a client's mark reached the primary"
        );
        assert!(!primary.contains_key("x-mirrored-from"));
    }
    let xff = primary.get("x-forwarded-for").expect("X-Forwarded-For");
    assert!(xff.as_bytes().ends_with(b"192.0.2.7"), "{xff:?}");
    let proto = primary.get("x-forwarded-proto").expect("X-Forwarded-Proto");
    assert_eq!(proto, if tls { "https" } else { "http" });
    assert_eq!(primary.get("x-forwarded-host"), primary.get(HOST));
    assert!(primary.get_all(HOST).iter().count() <= 1);
    if h2 {
        assert!(
            primary.get_all(COOKIE).iter().count() <= 1,
            "h2 cookies not joined"
        );
    }

    // The copy built from it (a marked request is not copied: the layer records skipped_loop).
    if client_mark && trust {
        return;
    }
    let copy = match shadowgate::fuzzing::copy_head(&mut parts, TARGET) {
        Ok(copy) => copy,
        Err(e) => panic!("a prepared head could not be copied: {e}"),
    };
    assert_eq!(
        parts.headers.get("x-request-id"),
        Some(&id),
        "the id changed"
    );
    assert_eq!(
        copy.headers.get("x-request-id"),
        Some(&id),
        "the copy's id differs"
    );
    assert_eq!(
        copy.headers.get("x-mirror").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(
        copy.headers.get(HOST),
        primary.get(HOST),
        "the copy's Host differs"
    );
    for name in HOP_BY_HOP {
        assert!(!copy.headers.contains_key(name), "the copy carries {name}");
    }
    for name in &named_by_connection {
        // The protected names stay; the copy's own marks are added after.
        if shadowgate::is_protected(name) || name == "x-mirror" || name == "x-mirrored-from" {
            continue;
        }
        assert!(
            !copy.headers.contains_key(name),
            "the copy carries {name}, which Connection named"
        );
        assert!(
            !primary.contains_key(name),
            "the primary carries {name}, which Connection named"
        );
    }
    let path = copy.uri.path();
    assert!(path.starts_with("/base"), "{path}");
});

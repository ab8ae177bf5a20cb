//! [`Recorded`]: a request as a server received it.

use std::time::Instant;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Uri, Version};

/// A request as a server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// As received, in origin form: the raw path and query, not normalized. (HTTP/2 requests and
    /// HTTP/1 absolute-form requests carry scheme and authority too; those are dropped here.
    /// Authority-form `CONNECT` targets are kept whole.)
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    /// The whole body, collected.
    pub body: Bytes,
    /// When the request head arrived.
    pub received_at: Instant,
}

impl Recorded {
    pub(crate) fn from_parts(parts: Parts, body: Bytes, received_at: Instant) -> Self {
        Self {
            method: parts.method,
            uri: origin_form(parts.uri),
            version: parts.version,
            headers: parts.headers,
            body,
            received_at,
        }
    }
}

fn origin_form(uri: Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if uri.scheme().is_some() || uri.authority().is_some() => {
            Uri::from(path.clone())
        }
        _ => uri,
    }
}

//! The shadow copy: what the request path captures once ([`CopyHead`], the body chunks), and the
//! request a worker builds from it for one target ("The copy" in docs/contract.md).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, HOST};
use http::request::Parts;
use http::uri::PathAndQuery;
use http::{Method, Request};
use http_body::{Body, Frame, SizeHint};

use crate::budget::Reservation;
use crate::hop::remove_hop_by_hop;
use crate::host::HostMode;
use crate::mark::{X_MIRROR, X_MIRRORED_FROM};
use crate::target::TargetConfig;

/// The request head as the client sent it, shared by every target's copy.
#[derive(Debug)]
pub(crate) struct CopyHead {
    method: Method,
    path_and_query: PathAndQuery,
    headers: http::HeaderMap,
    original_host: Option<HeaderValue>,
    pub(crate) request_id: HeaderValue,
    /// What the head holds, charged to the layer's memory budget until the last copy lets go.
    held: Option<Reservation>,
}

/// Charged per header field of a captured head besides its name and value: an upper estimate of
/// a field's slot and index in a `HeaderMap`.
pub(crate) const FIELD_OVERHEAD: usize = 128;

impl CopyHead {
    /// Captures the head. `parts.headers` already carries `request_id`.
    pub(crate) fn capture(parts: &Parts, request_id: HeaderValue) -> Self {
        let original_host = parts.headers.get(HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        Self {
            method: parts.method.clone(),
            path_and_query: parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
            headers: parts.headers.clone(),
            original_host,
            request_id,
            held: None,
        }
    }

    /// What capturing the head of `parts` costs: the head itself, its path and query, and each
    /// header field's name, value and [`FIELD_OVERHEAD`].
    pub(crate) fn cost(parts: &Parts) -> usize {
        let fields: usize = (parts.headers.iter())
            .map(|(name, value)| name.as_str().len() + value.len() + FIELD_OVERHEAD)
            .sum();
        let path = parts.uri.path_and_query().map_or(0, |p| p.as_str().len());
        std::mem::size_of::<CopyHead>() + path + fields
    }

    /// The method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The path and query as the client sent them.
    pub(crate) fn path_and_query(&self) -> &PathAndQuery {
        &self.path_and_query
    }

    /// The headers as the client sent them.
    pub(crate) fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The head, holding `held` for as long as it lives.
    pub(crate) fn held(mut self, held: Reservation) -> Self {
        self.held = Some(held);
        self
    }
}

/// The whole request body, as the chunks the tee kept.
#[derive(Debug, Clone)]
pub(crate) struct CopyChunks {
    pub(crate) chunks: Arc<[Bytes]>,
    pub(crate) len: usize,
    /// What the chunks hold, charged to the layer's memory budget until the last queued job and
    /// copy body let go of them.
    pub(crate) held: Option<Arc<Reservation>>,
}

/// Builds the copy of `head` for `target` (done on a worker, never on the request path).
pub(crate) fn build_request(
    target: &TargetConfig,
    head: &CopyHead,
    body: Option<&CopyChunks>,
) -> Result<Request<CopyBody>, http::Error> {
    let uri = target.target_url.origin_form(Some(&head.path_and_query))?;

    let mut headers = head.headers.clone();
    remove_hop_by_hop(&mut headers);
    for name in &target.remove_headers {
        headers.remove(name);
    }
    for (name, value) in &target.add_headers {
        headers.insert(name.clone(), value.clone());
    }
    // The marks last: no target setting can send an unmarked copy, which a target that reaches
    // back to this proxy would copy again (docs/contract.md, "The copy").
    headers.insert(X_MIRROR.clone(), HeaderValue::from_static("1"));
    match &head.original_host {
        Some(host) => headers.insert(X_MIRRORED_FROM.clone(), host.clone()),
        None => headers.remove(&X_MIRRORED_FROM),
    };
    let host = match &target.host {
        HostMode::Original => head.original_host.clone(),
        HostMode::Target => HeaderValue::from_str(target.target_url.authority().as_str()).ok(),
        HostMode::Literal(v) => Some(v.clone()),
    };
    match host {
        Some(h) => headers.insert(HOST, h),
        None => headers.remove(HOST),
    };
    let body = match body {
        Some(b) if target.body => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(b.len));
            CopyBody::chunks(b.chunks.clone(), b.held.clone())
        }
        _ => {
            headers.remove(CONTENT_LENGTH);
            CopyBody::empty()
        }
    };

    let mut req = Request::new(body);
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

/// A copy's body: the chunks the tee kept, shared, replayed in order.
#[derive(Debug)]
pub struct CopyBody {
    chunks: Arc<[Bytes]>,
    next: usize,
    remaining: u64,
    /// Keeps the chunks' bytes charged while the copy is on the wire.
    _held: Option<Arc<Reservation>>,
}

impl CopyBody {
    fn empty() -> Self {
        Self::chunks(Arc::new([]), None)
    }

    fn chunks(chunks: Arc<[Bytes]>, held: Option<Arc<Reservation>>) -> Self {
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Self {
            chunks,
            next: 0,
            remaining,
            _held: held,
        }
    }
}

impl Body for CopyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(chunk) = self.chunks.get(self.next).cloned() else {
            return Poll::Ready(None);
        };
        self.next += 1;
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn head(uri: &str, headers: &[(&str, &str)]) -> CopyHead {
        let mut b = Request::builder().method("POST").uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let parts = b.body(()).unwrap().into_parts().0;
        CopyHead::capture(&parts, HeaderValue::from_static("rid"))
    }

    #[tokio::test]
    async fn joins_base_path_and_keeps_raw_path_and_query() {
        let t = TargetConfig::builder("http://canary:9/base/")
            .build()
            .unwrap();
        let h = head("/a/%2F..//b?x=1&y=%20", &[("host", "shop.example")]);
        let req = build_request(&t, &h, None).unwrap();
        // Origin form: the pool connects to the target, the request line names only the path.
        assert_eq!(req.uri(), "/base/a/%2F..//b?x=1&y=%20");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers()["host"], "shop.example");
        assert_eq!(req.headers()["x-mirror"], "1");
        assert_eq!(req.headers()["x-mirrored-from"], "shop.example");
    }

    #[tokio::test]
    async fn host_modes_and_header_mutations() {
        let h = head(
            "/",
            &[
                ("host", "shop.example"),
                ("x-drop", "1"),
                ("x-replace", "old"),
            ],
        );
        let t = TargetConfig::builder("http://canary:9")
            .host_target()
            .remove_header("x-drop")
            .remove_header("x-mirror")
            .add_header("x-mirrored-from", "forged")
            .add_header("x-replace", "new")
            .build()
            .unwrap();
        let req = build_request(&t, &h, None).unwrap();
        assert_eq!(req.headers()["host"], "canary:9");
        assert!(!req.headers().contains_key("x-drop"));
        // The marks are set last: a target's settings cannot remove or forge them.
        assert_eq!(req.headers()["x-mirror"], "1");
        assert_eq!(req.headers()["x-mirrored-from"], "shop.example");
        assert_eq!(req.headers()["x-replace"], "new");
        let t = TargetConfig::builder("http://canary:9")
            .host_literal("lit:1")
            .build()
            .unwrap();
        assert_eq!(
            build_request(&t, &h, None).unwrap().headers()["host"],
            "lit:1"
        );
    }

    #[tokio::test]
    async fn body_is_replayed_or_left_out() {
        let h = head(
            "/",
            &[("content-length", "5"), ("transfer-encoding", "chunked")],
        );
        let body = CopyChunks {
            chunks: vec![Bytes::from_static(b"he"), Bytes::from_static(b"llo")].into(),
            len: 5,
            held: None,
        };
        let t = TargetConfig::builder("http://c").build().unwrap();
        let req = build_request(&t, &h, Some(&body)).unwrap();
        assert_eq!(req.headers()["content-length"], "5");
        assert!(!req.headers().contains_key("transfer-encoding"));
        assert_eq!(req.into_body().collect().await.unwrap().to_bytes(), "hello");
        let t = TargetConfig::builder("http://c")
            .body(false)
            .build()
            .unwrap();
        let req = build_request(&t, &h, Some(&body)).unwrap();
        assert!(!req.headers().contains_key("content-length"));
        assert!(req.body().is_end_stream());
    }
}

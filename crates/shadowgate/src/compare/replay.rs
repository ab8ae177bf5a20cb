//! `control = "primary"`: the compared request sent to the primary's upstream again, as a live
//! A/A test with no extra deployment (docs/verdicts.md, "Controls"). The layer does not know
//! where the primary is, so the server gives it a [`PrimaryReplay`]; the replay is sent by the
//! compared target's worker, beside the shadow's copy, under the copy's timeout.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Request};
use http_body_util::Empty;

use crate::copy::CopyHead;
use crate::hop::remove_hop_by_hop;
use crate::mark::X_MIRROR;

/// An error of a replay.
pub type ReplayError = Box<dyn std::error::Error + Send + Sync>;
/// The body of a replay's response.
pub type ReplayBody = http_body_util::combinators::UnsyncBoxBody<Bytes, ReplayError>;
/// A replay's response, to come.
pub type ReplayFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<ReplayBody>, ReplayError>> + Send>>;

/// Sends a request to the primary's upstream again, past the mirror (so it is never copied),
/// as the server would route it.
pub trait PrimaryReplay: Send + Sync + 'static {
    /// Sends `req`: a GET or HEAD with the client's path, query and headers (hop-by-hop ones
    /// removed) and `X-Mirror: 1`.
    fn replay(&self, req: Request<Empty<Bytes>>) -> ReplayFuture;
}

impl<F> PrimaryReplay for F
where
    F: Fn(Request<Empty<Bytes>>) -> ReplayFuture + Send + Sync + 'static,
{
    fn replay(&self, req: Request<Empty<Bytes>>) -> ReplayFuture {
        self(req)
    }
}

/// The replay of `head`: `None` for a method other than GET and HEAD.
pub(crate) fn request(head: &CopyHead) -> Option<Request<Empty<Bytes>>> {
    if !matches!(*head.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let mut req = Request::new(Empty::new());
    *req.method_mut() = head.method().clone();
    *req.uri_mut() = http::Uri::from(head.path_and_query().clone());
    let mut headers = head.headers().clone();
    remove_hop_by_hop(&mut headers);
    headers.insert(X_MIRROR.clone(), HeaderValue::from_static("1"));
    *req.headers_mut() = headers;
    Some(req)
}

//! [`ProxyBody`]: the response body the proxy sends: the upstream's body, streamed frame by frame,
//! or a short body of its own (errors, admin answers). An upstream body holds its backend's
//! in-flight [`Lease`] until it ends or is dropped, and its connection, which goes back to the
//! backend's pool when the body has ended (and is closed when it is dropped unfinished).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use shadowgate::DurationHistogram;

use shadowgate::pool::Conn;

use crate::upstream::{Lease, UpstreamBody};

/// A response body: the upstream's, streamed, or the proxy's own bytes.
#[derive(Debug)]
pub(crate) struct ProxyBody {
    kind: Kind,
    /// Observes the request duration when the body is done (or dropped unfinished).
    timer: Option<Timer>,
}

#[derive(Debug)]
enum Kind {
    /// The backend's request stays in flight until the body ends (the lease is then dropped).
    Upstream(Incoming, Held),
    Full(Option<Bytes>),
}

impl ProxyBody {
    /// The upstream's body, passed through frame by frame (never buffered); `lease` counts the
    /// request in flight on its backend until the body ends or is dropped, and `conn` goes back
    /// to its pool once the body has ended.
    pub(crate) fn upstream(body: Incoming, lease: Lease, conn: Conn<UpstreamBody>) -> Self {
        let mut held = Held {
            lease: Some(lease),
            conn: Some(conn),
        };
        // No body at all (a 204, a HEAD, `Content-Length: 0`): hyper may never poll it.
        if body.is_end_stream() {
            held.end(true);
        }
        Self {
            kind: Kind::Upstream(body, held),
            timer: None,
        }
    }

    /// A body of these bytes.
    pub(crate) fn full(bytes: Bytes) -> Self {
        let data = (!bytes.is_empty()).then_some(bytes);
        Self {
            kind: Kind::Full(data),
            timer: None,
        }
    }

    /// Records the time since `start` in `histogram` once the body is finished or dropped.
    pub(crate) fn time(&mut self, start: Instant, histogram: DurationHistogram) {
        self.timer = Some(Timer { start, histogram });
    }
}

impl From<Bytes> for ProxyBody {
    fn from(bytes: Bytes) -> Self {
        Self::full(bytes)
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Upstream(body, held) => {
                let frame = Pin::new(&mut *body).poll_frame(cx);
                match &frame {
                    Poll::Ready(None) => held.end(true),
                    Poll::Ready(Some(Err(_))) => held.end(false),
                    // hyper stops polling once `is_end_stream` says the last frame went.
                    Poll::Ready(Some(Ok(_))) if body.is_end_stream() => held.end(true),
                    _ => {}
                }
                frame
            }
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Upstream(body, _) => body.is_end_stream(),
            Kind::Full(data) => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Upstream(body, _) => body.size_hint(),
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

/// What an upstream body holds until it ends.
#[derive(Debug)]
struct Held {
    lease: Option<Lease>,
    conn: Option<Conn<UpstreamBody>>,
}

impl Held {
    /// The body is over: the slot is freed, and the connection goes back to its pool when the
    /// body was read to the end (`complete`), else it is closed.
    fn end(&mut self, complete: bool) {
        if let (true, Some(conn)) = (complete, self.conn.take()) {
            conn.release();
        }
        self.conn = None;
        self.lease = None;
    }
}

#[derive(Debug)]
struct Timer {
    start: Instant,
    histogram: DurationHistogram,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed());
    }
}

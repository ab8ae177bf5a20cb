//! [`ProxyBody`]: the response body the proxy sends: the upstream's body, streamed frame by frame,
//! or a short body of its own (errors, admin answers). An upstream body holds its backend's
//! in-flight [`Lease`] until it ends or is dropped.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use shadowgate::DurationHistogram;

use crate::upstream::Lease;

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
    Upstream(Incoming, Option<Lease>),
    Full(Option<Bytes>),
}

impl ProxyBody {
    /// The upstream's body, passed through frame by frame (never buffered); `lease` counts the
    /// request in flight on its backend until the body ends or is dropped.
    pub(crate) fn upstream(body: Incoming, lease: Lease) -> Self {
        Self {
            kind: Kind::Upstream(body, Some(lease)),
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
            Kind::Upstream(body, lease) => {
                let frame = Pin::new(body).poll_frame(cx);
                if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
                    lease.take();
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

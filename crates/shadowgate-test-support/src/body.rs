//! [`ResponseBody`]: a whole body sent with a length, or chunks sent one frame at a time.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

#[derive(Debug)]
pub(crate) struct ResponseBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Known length, so hyper sends `content-length`.
    Full(Option<Bytes>),
    /// Unknown length, so hyper sends `transfer-encoding: chunked` on HTTP/1.1.
    Chunks {
        rest: VecDeque<Bytes>,
        /// Whether we already yielded to the runtime before the next chunk.
        yielded: bool,
    },
}

impl ResponseBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        let bytes = (!bytes.is_empty()).then_some(bytes);
        Self {
            kind: Kind::Full(bytes),
        }
    }

    pub(crate) fn chunks(chunks: Vec<Bytes>) -> Self {
        Self {
            kind: Kind::Chunks {
                rest: chunks.into(),
                // The first chunk goes out at once; later ones after a yield.
                yielded: true,
            },
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Chunks { rest, yielded } => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                if !*yielded {
                    // Pending makes hyper flush what it has, so each chunk is written on its own.
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                *yielded = false;
                Poll::Ready(rest.pop_front().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Chunks { rest, .. } => rest.is_empty(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Chunks { .. } => SizeHint::default(),
        }
    }
}

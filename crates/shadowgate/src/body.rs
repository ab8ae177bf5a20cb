//! The primary's request body, teed: every chunk goes to the primary as it arrives, and the same
//! `Bytes` (shared, not copied) are kept for the copies until the body ends or outgrows every
//! sampled target's `max_body_bytes`.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::tee::Tee;

pin_project! {
    /// The request body the wrapped service sees: the client's body, unchanged. When the request
    /// was sampled for copies that need its body, it also keeps the chunks for them.
    #[derive(Debug)]
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        tee: Option<Box<Tee>>,
    }
}

impl<B> TeeBody<B> {
    /// `tee` is `None` for a request no target needs the body of: every not-sampled request.
    pub(crate) fn new(inner: B, tee: Option<Box<Tee>>) -> Self {
        Self { inner, tee }
    }

    /// The client's body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(tee) = this.tee {
            match &frame {
                Some(Ok(f)) => {
                    if let Some(data) = f.data_ref() {
                        if !tee.push(data) {
                            // Too large for every pending target: free the chunks now.
                            *this.tee = None;
                        }
                    }
                }
                // An error: dropping the tee counts the copies as incomplete.
                Some(Err(_)) => *this.tee = None,
                None => {}
            }
            // The last frame: some servers stop polling at `is_end_stream` and never see `None`.
            if frame.is_none() || this.inner.is_end_stream() {
                if let Some(mut tee) = this.tee.take() {
                    tee.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

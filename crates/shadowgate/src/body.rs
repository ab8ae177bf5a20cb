//! The primary's request body, teed: every chunk goes to the primary as it arrives, and the same
//! `Bytes` (shared, not copied) are kept for the copies until the body ends or outgrows every
//! sampled target's `max_body_bytes`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::copy::{CopyChunks, CopyHead};
use crate::dispatch::Target;
use crate::outcome::Outcome;

pin_project! {
    /// The request body the wrapped service sees: the client's body, unchanged. When the request
    /// was sampled for copies that need its body, it also keeps the chunks for them.
    #[derive(Debug)]
    pub struct MirrorBody<B> {
        #[pin]
        inner: B,
        tee: Option<Box<Tee>>,
    }
}

impl<B> MirrorBody<B> {
    /// A body that is not teed: what every not-sampled request gets.
    pub fn passthrough(inner: B) -> Self {
        Self { inner, tee: None }
    }

    pub(crate) fn teed(inner: B, tee: Option<Box<Tee>>) -> Self {
        Self { inner, tee }
    }

    /// The client's body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Body for MirrorBody<B>
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

/// The copies waiting for the end of the body, and the chunks so far.
#[derive(Debug)]
pub(crate) struct Tee {
    head: Arc<CopyHead>,
    pending: Vec<Arc<Target>>,
    chunks: Vec<Bytes>,
    len: usize,
}

impl Tee {
    pub(crate) fn new(head: Arc<CopyHead>, pending: Vec<Arc<Target>>) -> Self {
        Self {
            head,
            pending,
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Keeps a chunk; false when no pending target can take a body this large any more.
    fn push(&mut self, data: &Bytes) -> bool {
        self.len += data.len();
        let len = self.len;
        let head = &self.head;
        self.pending.retain(|t| {
            let fits = len <= t.config.max_body_bytes;
            if !fits {
                t.observer
                    .record(Outcome::DroppedBodyTooLarge, Some(&head.request_id));
            }
            fits
        });
        if self.pending.is_empty() {
            return false;
        }
        if !data.is_empty() {
            self.chunks.push(data.clone());
        }
        true
    }

    /// The body is whole: dispatch every pending copy.
    fn finish(&mut self) {
        let body = CopyChunks {
            chunks: std::mem::take(&mut self.chunks).into(),
            len: self.len,
        };
        for target in std::mem::take(&mut self.pending) {
            target.dispatch(&self.head, Some(body.clone()));
        }
    }
}

impl Drop for Tee {
    /// Copies still pending here never got their whole body.
    fn drop(&mut self) {
        for target in &self.pending {
            target
                .observer
                .record(Outcome::DroppedBodyIncomplete, Some(&self.head.request_id));
        }
    }
}

//! Capturing the answers a comparison needs. The primary's body is teed on its way to the client
//! by [`CaptureBody`]: each frame is passed on as it comes, and a compared request also keeps a
//! reference to its data (`Bytes` are shared, never copied, and nothing is awaited). The shadow's
//! and the control's are read by the worker that sent the copy ([`Keeper`]). What is kept is
//! charged to the layer's memory budget; past a comparison's `max_body_bytes`, or the budget,
//! the side reports why and lets go.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::pairing::{Answer, Slot};
use super::result::CompareResult;
use crate::budget::{Budget, Reservation};
use crate::copy::FIELD_OVERHEAD;

/// Charged per kept chunk besides its bytes: its `Bytes` in the list.
const CHUNK_OVERHEAD: usize = std::mem::size_of::<Bytes>();

/// Keeps one response for the slots that wait for it.
#[derive(Debug)]
pub(crate) struct Keeper {
    slots: Vec<Slot>,
    cap: usize,
    started: Instant,
    status: StatusCode,
    headers: HeaderMap,
    chunks: Vec<Bytes>,
    len: usize,
    held: Option<Reservation>,
}

impl Keeper {
    /// A keeper for `slots`, timing from `started`. `None` (the slots failed) when the budget
    /// has no room even for the keeper itself.
    pub(crate) fn new(budget: &Arc<Budget>, slots: Vec<Slot>, started: Instant) -> Option<Self> {
        let cap = slots.iter().map(Slot::cap).max().unwrap_or(0);
        let Some(held) = Reservation::new(budget, std::mem::size_of::<Keeper>()) else {
            fail(slots, CompareResult::SkippedMemoryBudget);
            return None;
        };
        Some(Self {
            slots,
            cap,
            started,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            chunks: Vec::new(),
            len: 0,
            held: Some(held),
        })
    }

    /// Keeps the response head; false (the slots failed) when the budget cannot take it.
    pub(crate) fn head(&mut self, status: StatusCode, headers: &HeaderMap) -> bool {
        let cost: usize = (headers.iter())
            .map(|(n, v)| n.as_str().len() + v.len() + FIELD_OVERHEAD)
            .sum();
        if !self.charge(cost) {
            return self.fail(CompareResult::SkippedMemoryBudget);
        }
        self.status = status;
        self.headers = headers.clone();
        true
    }

    /// Keeps a data chunk (shared); false (the slots failed) when the body is over every
    /// slot's cap or the budget cannot take it.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        if data.is_empty() {
            return true;
        }
        self.len += data.len();
        if self.len > self.cap {
            return self.fail(CompareResult::SkippedBodyTooLarge);
        }
        if !self.charge(data.len() + CHUNK_OVERHEAD) {
            return self.fail(CompareResult::SkippedMemoryBudget);
        }
        self.chunks.push(data.clone());
        true
    }

    /// The response is whole: every slot gets it (or, over its own cap, that it was too large).
    pub(crate) fn finish(mut self) {
        let answer = Arc::new(Answer {
            status: self.status,
            headers: std::mem::take(&mut self.headers),
            body: std::mem::take(&mut self.chunks),
            len: self.len,
            elapsed: self.started.elapsed(),
            _held: self.held.take(),
        });
        for slot in std::mem::take(&mut self.slots) {
            slot.report(&answer);
        }
    }

    fn charge(&mut self, bytes: usize) -> bool {
        self.held.as_mut().is_some_and(|h| h.grow(bytes))
    }

    fn fail(&mut self, result: CompareResult) -> bool {
        fail(std::mem::take(&mut self.slots), result);
        self.chunks = Vec::new();
        self.held = None;
        false
    }
}

fn fail(slots: Vec<Slot>, result: CompareResult) {
    for slot in slots {
        slot.fail(result);
    }
}

pin_project! {
    /// The primary's response body, passed through frame by frame. For a compared request it
    /// also keeps the body's data for the comparison (shared `Bytes`, up to the comparison's
    /// cap); for every other request it is the body and one empty pointer.
    #[derive(Debug)]
    pub struct CaptureBody<B> {
        #[pin]
        inner: B,
        keeper: Option<Box<Keeper>>,
    }
}

impl<B> CaptureBody<B> {
    /// `inner`, passed through with nothing kept.
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            keeper: None,
        }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, to change.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: Body<Data = Bytes>> CaptureBody<B> {
    /// `inner`, kept for the comparison by `keeper` (which has the head already). A body that
    /// is already over is reported at once: a server may never poll it.
    pub(crate) fn keeping(inner: B, keeper: Option<Box<Keeper>>) -> Self {
        let keeper = match keeper {
            Some(k) if inner.is_end_stream() => {
                k.finish();
                None
            }
            k => k,
        };
        Self { inner, keeper }
    }
}

impl<B: Body<Data = Bytes>> Body for CaptureBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(keeper) = this.keeper {
            let kept = match &frame {
                Some(Ok(frame)) => frame.data_ref().map_or(true, |d| keeper.push(d)),
                // An error: dropping the keeper reports the primary as incomplete.
                Some(Err(_)) => false,
                None => true,
            };
            if !kept {
                *this.keeper = None;
            } else if frame.is_none() || this.inner.is_end_stream() {
                // A server stops polling once the body says it has ended.
                if let Some(keeper) = this.keeper.take() {
                    keeper.finish();
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

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

/// Frame by frame, as linkerd's replay-body tests drive theirs: the test feeds the client's body
/// one frame at a time and polls the teed body by hand.
#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use async_channel::Receiver;
    use http::HeaderValue;
    use http_body_util::Full;
    use prometheus_client::metrics::gauge::Gauge;
    use tokio::sync::mpsc;

    use super::*;
    use crate::budget::{Budget, Reservation};
    use crate::copy::CopyHead;
    use crate::handle::test_handle::{detached, outcomes, Events};
    use crate::outcome::Outcome;
    use crate::target::TargetConfig;
    use crate::tee::{BUFFER, SHARE_FROM};
    use crate::worker::Job;

    #[derive(Debug, PartialEq)]
    struct Broken;

    /// The client's body, fed by the test.
    struct Fed(mpsc::UnboundedReceiver<Result<Frame<Bytes>, Broken>>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = Broken;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Broken>>> {
            self.0.poll_recv(cx)
        }
    }

    type Feed = mpsc::UnboundedSender<Result<Frame<Bytes>, Broken>>;

    struct Target {
        queue: Receiver<Job>,
        events: Events,
    }

    /// `inner` teed for one target per cap in `caps` (its `max_body_bytes`).
    fn teed<B>(inner: B, caps: &[usize]) -> (Pin<Box<TeeBody<B>>>, Vec<Target>) {
        let (body, targets, _) = teed_within(inner, caps, usize::MAX);
        (body, targets)
    }

    /// [`teed`] under a memory budget of `limit` bytes.
    fn teed_within<B>(
        inner: B,
        caps: &[usize],
        limit: usize,
    ) -> (Pin<Box<TeeBody<B>>>, Vec<Target>, Arc<Budget>) {
        let budget = Budget::new(limit, Gauge::default());
        let (parts, ()) = http::Request::post("/upload")
            .body(())
            .unwrap()
            .into_parts();
        let head = Arc::new(CopyHead::capture(&parts, HeaderValue::from_static("id")));
        let mut handles = Vec::new();
        let mut targets = Vec::new();
        for (i, cap) in caps.iter().enumerate() {
            let config = TargetConfig::builder("http://shadow.test")
                .name(format!("t{i}"))
                .max_body_bytes(*cap)
                .build()
                .unwrap();
            let (handle, queue, events) = detached(config);
            handles.push(crate::tee::Pending::new(handle));
            targets.push(Target { queue, events });
        }
        let held = Reservation::new(&budget, 0).unwrap();
        let tee = Box::new(Tee::new(head, handles, held));
        (Box::pin(TeeBody::new(inner, Some(tee))), targets, budget)
    }

    fn fed(caps: &[usize]) -> (Feed, Pin<Box<TeeBody<Fed>>>, Vec<Target>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (body, targets) = teed(Fed(rx), caps);
        (tx, body, targets)
    }

    struct Noop;

    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    /// One poll, as the primary's server makes it.
    fn poll<B: Body<Data = Bytes>>(
        body: &mut Pin<Box<TeeBody<B>>>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let waker = Waker::from(Arc::new(Noop));
        body.as_mut().poll_frame(&mut Context::from_waker(&waker))
    }

    /// Feeds `data` and polls once: the primary must get that very frame in that poll.
    fn feed_and_poll(tx: &Feed, body: &mut Pin<Box<TeeBody<Fed>>>, data: &Bytes) {
        tx.send(Ok(Frame::data(data.clone()))).unwrap();
        let Poll::Ready(Some(Ok(frame))) = poll(body) else {
            panic!("the frame was held back from the primary");
        };
        let got = frame.into_data().unwrap();
        assert_eq!(
            got.as_ptr(),
            data.as_ptr(),
            "the primary gets the client's Bytes"
        );
        assert_eq!(got.len(), data.len());
    }

    fn chunk(len: usize) -> Bytes {
        Bytes::from(vec![b'x'; len])
    }

    #[test]
    fn the_primary_gets_each_frame_in_the_poll_that_produced_it() {
        let (tx, mut body, targets) = fed(&[1024]);
        for len in [1, 7, 3] {
            assert!(poll(&mut body).is_pending(), "nothing fed yet");
            feed_and_poll(&tx, &mut body, &chunk(len));
        }
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        let job = targets[0].queue.try_recv().unwrap();
        assert_eq!(job.body.unwrap().len, 11);
        assert_eq!(outcomes(&targets[0].events), [Outcome::Dispatched]);
    }

    #[test]
    fn the_copy_holds_the_very_bytes_the_primary_got_when_they_are_large() {
        let (tx, mut body, targets) = fed(&[1 << 20]);
        let sent = [chunk(SHARE_FROM), chunk(SHARE_FROM + 1)];
        for data in &sent {
            feed_and_poll(&tx, &mut body, data);
        }
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        let copy = targets[0].queue.try_recv().unwrap().body.unwrap();
        assert_eq!(copy.chunks.len(), 2);
        for (kept, sent) in copy.chunks.iter().zip(&sent) {
            assert_eq!(kept.as_ptr(), sent.as_ptr(), "shared, not copied");
            assert_eq!(kept.len(), sent.len());
        }
    }

    #[test]
    fn over_the_cap_mid_stream_drops_the_copy_once_and_frees_its_chunks() {
        let (tx, mut body, targets) = fed(&[2 * SHARE_FROM]);
        let first = chunk(SHARE_FROM + 1);
        feed_and_poll(&tx, &mut body, &first);
        assert!(!first.is_unique(), "kept for the copy");
        assert!(outcomes(&targets[0].events).is_empty());
        feed_and_poll(&tx, &mut body, &chunk(SHARE_FROM));
        assert_eq!(outcomes(&targets[0].events), [Outcome::DroppedBodyTooLarge]);
        assert!(first.is_unique(), "the kept chunks are freed at once");
        assert!(body.tee.is_none());
        // The primary carries on to the end; the copy is not counted again.
        feed_and_poll(&tx, &mut body, &chunk(6));
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        drop(body);
        assert_eq!(outcomes(&targets[0].events), [Outcome::DroppedBodyTooLarge]);
        assert!(targets[0].queue.try_recv().is_err(), "nothing dispatched");
    }

    #[test]
    fn a_target_over_its_cap_is_dropped_alone() {
        let (tx, mut body, targets) = fed(&[10, 100]);
        feed_and_poll(&tx, &mut body, &chunk(6));
        feed_and_poll(&tx, &mut body, &chunk(6));
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        assert_eq!(outcomes(&targets[0].events), [Outcome::DroppedBodyTooLarge]);
        assert_eq!(outcomes(&targets[1].events), [Outcome::Dispatched]);
        assert_eq!(targets[1].queue.try_recv().unwrap().body.unwrap().len, 12);
    }

    #[test]
    fn an_error_mid_stream_drops_the_copy_as_incomplete() {
        let (tx, mut body, targets) = fed(&[1024]);
        feed_and_poll(&tx, &mut body, &chunk(4));
        tx.send(Err(Broken)).unwrap();
        assert!(
            matches!(poll(&mut body), Poll::Ready(Some(Err(Broken)))),
            "the primary gets the error"
        );
        assert_eq!(
            outcomes(&targets[0].events),
            [Outcome::DroppedBodyIncomplete],
            "counted when the error passes"
        );
        drop(body);
        assert_eq!(
            outcomes(&targets[0].events),
            [Outcome::DroppedBodyIncomplete]
        );
        assert!(targets[0].queue.try_recv().is_err());
    }

    #[test]
    fn a_body_ending_by_is_end_stream_alone_is_still_copied() {
        // `Full` says `is_end_stream` after its one frame; a server may never poll for `None`.
        let (mut body, targets) = teed(Full::new(Bytes::from_static(b"whole")), &[1024]);
        assert!(matches!(poll(&mut body), Poll::Ready(Some(Ok(_)))));
        assert!(body.is_end_stream());
        assert_eq!(outcomes(&targets[0].events), [Outcome::Dispatched]);
        assert_eq!(targets[0].queue.try_recv().unwrap().body.unwrap().len, 5);
        drop(body);
        assert_eq!(outcomes(&targets[0].events), [Outcome::Dispatched]);
    }

    #[test]
    fn a_body_dropped_before_its_end_drops_the_copy_as_incomplete() {
        let (tx, mut body, targets) = fed(&[1024]);
        feed_and_poll(&tx, &mut body, &chunk(4));
        assert!(outcomes(&targets[0].events).is_empty());
        drop(body);
        assert_eq!(
            outcomes(&targets[0].events),
            [Outcome::DroppedBodyIncomplete]
        );
        assert!(targets[0].queue.try_recv().is_err());
    }

    #[test]
    fn over_the_budget_the_copy_is_dropped_and_the_primary_gets_every_frame() {
        let (tx, rx) = mpsc::unbounded_channel();
        let (mut body, targets, budget) = teed_within(Fed(rx), &[1 << 20], BUFFER + 1024);
        let mut sent = 0;
        for _ in 0..2 * BUFFER {
            feed_and_poll(&tx, &mut body, &chunk(1));
            sent += 1;
        }
        assert_eq!(sent, 2 * BUFFER);
        assert_eq!(outcomes(&targets[0].events), [Outcome::DroppedMemoryBudget]);
        assert!(body.tee.is_none(), "the kept chunks are freed at once");
        assert_eq!(budget.held(), 0);
        drop(tx);
        assert!(matches!(poll(&mut body), Poll::Ready(None)));
        drop(body);
        assert_eq!(outcomes(&targets[0].events), [Outcome::DroppedMemoryBudget]);
        assert!(targets[0].queue.try_recv().is_err());
    }
}

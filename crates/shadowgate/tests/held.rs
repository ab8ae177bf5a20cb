//! What copies hold, measured in the process's live heap rather than by the budget's own
//! counter: uploads sent a byte at a time to a black-holed target stay within the memory budget
//! (docs/operations.md, "Memory held by copies"). A global allocator adds up the bytes
//! allocated and not yet freed; this file holds one test, so nothing else runs beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use common::heap::{Live, LIVE};
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use shadowgate::{MirrorLayer, Outcome, TargetConfig, TeeBody};
use shadowgate_test_support::BlackHole;
use tower::{service_fn, Layer, ServiceExt};

#[global_allocator]
static GLOBAL: Live = Live;

/// A body of `left` bytes, each its own one-byte chunk in its own allocation (as a client's
/// one-byte HTTP chunks arrive).
struct OneByteAtATime {
    left: usize,
}

impl Body for OneByteAtATime {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(b"x")))))
    }
}

/// The primary: reads the body frame by frame, keeping none of it.
async fn drain(
    req: Request<TeeBody<OneByteAtATime>>,
) -> Result<Response<http_body_util::Empty<Bytes>>, Infallible> {
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        drop(frame);
    }
    Ok(Response::new(http_body_util::Empty::new()))
}

#[tokio::test(flavor = "current_thread")]
async fn uploads_sent_a_byte_at_a_time_hold_no_more_than_the_budget() {
    const BUDGET: usize = 4 * 1024 * 1024;
    const UPLOADS: usize = 16;
    const SIZE: usize = 256 * 1024;
    let hole = BlackHole::start().await.unwrap();
    let layer = MirrorLayer::builder()
        .memory_budget(BUDGET)
        .target(
            TargetConfig::builder(hole.url())
                .name("hole")
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let service = layer.layer(service_fn(drain));
    let upload = |size| {
        Request::post("/upload")
            .header("host", "shop.example")
            .body(OneByteAtATime { left: size })
            .unwrap()
    };
    // Warm-up: the target's workers, its connection pool and the runtime's buffers.
    service.clone().oneshot(upload(16)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..UPLOADS {
        service.clone().oneshot(upload(SIZE)).await.unwrap();
    }
    // The copies are now queued, or written into the black hole and waiting for an answer
    // that never comes: everything they hold is held.
    let grown = LIVE.load(Ordering::Relaxed) - before;

    let stats = layer
        .stats()
        .into_iter()
        .find(|t| t.name == "hole")
        .unwrap();
    let kept = stats.get(Outcome::Dispatched) - 1;
    let dropped = stats.get(Outcome::DroppedMemoryBudget);
    assert_eq!(kept + dropped, UPLOADS as u64, "{stats:?}");
    assert!(
        dropped > 0,
        "16 bodies of 256 KiB do not fit in 4 MiB: {stats:?}"
    );
    // The measurement sees what is held: each kept copy's body at least.
    assert!(
        grown >= (kept as usize * SIZE) as isize,
        "{grown} bytes grown for {kept} copies of {SIZE}"
    );
    // And what is held stays within the budget, plus room for the black hole's connections and
    // the runtime. Checked to fail when the budget under-counts: with every chunk kept as it
    // came and charged by its payload only, 15 copies grew the heap by 224 MB.
    assert!(
        grown <= (BUDGET + 1024 * 1024) as isize,
        "{grown} bytes held by {kept} copies, over the {BUDGET}-byte budget"
    );
    layer.shutdown(Duration::from_millis(50)).await;
}

//! The not-sampled path allocates nothing: a request that no target samples costs the layer
//! one atomic load and the sampling loop. A request copied to a target without comparison
//! allocates no more than it did before comparison existed. Measured with a counting global
//! allocator that counts only on the test's own thread.
#![allow(unsafe_code)] // a GlobalAlloc impl is unsafe by definition; it only forwards to System.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use shadowgate::{MirrorLayer, TargetConfig, TeeBody};
use tower::{Layer, Service};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    ALLOCS.with(|a| a.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.with(Cell::get)
}

type Req = Request<TeeBody<Empty<Bytes>>>;

fn ready_primary(
    _: Req,
) -> std::future::Ready<Result<Response<http_body_util::Empty<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(http_body_util::Empty::new())))
}

#[test]
fn not_sampled_requests_allocate_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let layer = MirrorLayer::builder()
        .target(
            TargetConfig::builder("http://127.0.0.1:1")
                .name("never")
                .sample(0.0)
                .build()
                .unwrap(),
        )
        .target(
            TargetConfig::builder("http://127.0.0.1:1")
                .name("posts-only")
                .methods([http::Method::POST])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let mut svc = layer.layer(tower::service_fn(ready_primary));
    let mut cx = Context::from_waker(Waker::noop());
    let mut one = |svc: &mut shadowgate::Mirror<_>| {
        let req = Request::get("/path?q=1")
            .header("x-a", "b")
            .body(Empty::new())
            .unwrap();
        allocations_during(|| {
            assert!(svc.poll_ready(&mut cx).is_ready());
            let fut = pin!(svc.call(req));
            assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))));
        })
    };
    // The first call may warm thread-locals (arc-swap's debt list, the RNG).
    one(&mut svc);
    for _ in 0..100 {
        assert_eq!(one(&mut svc), 0, "a not-sampled request allocated");
    }
    // Hop-by-hop removal, which the proxy runs on every request and response: the usual
    // `Connection: keep-alive` costs nothing; a header named in `Connection` is still removed.
    let mut headers = http::HeaderMap::new();
    let fill = |h: &mut http::HeaderMap, connection: &'static str| {
        h.insert("connection", http::HeaderValue::from_static(connection));
        h.insert("keep-alive", http::HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", http::HeaderValue::from_static("1"));
    };
    fill(&mut headers, "keep-alive");
    assert_eq!(
        allocations_during(|| shadowgate::remove_hop_by_hop(&mut headers)),
        0
    );
    assert_eq!(headers.len(), 1, "{headers:?}");
    fill(&mut headers, "keep-alive, X-Secret");
    shadowgate::remove_hop_by_hop(&mut headers);
    assert!(headers.is_empty(), "{headers:?}");

    // The counter works: a sampled request does allocate (the copy's head).
    layer
        .add_target(
            TargetConfig::builder("http://127.0.0.1:1")
                .name("always")
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(one(&mut svc) > 0, "the counting allocator counted nothing");
}

/// Allocations on the request path of a bodiless GET copied to one target that does not compare,
/// measured before comparison existed (the parent of the commit that wired comparison into the
/// layer, with this test's code): 9 (672 bytes), the first request 11. Since then, 9 still (768
/// bytes: the list of sampled targets is one allocation as before, of 4 entries that now carry
/// their comparison slots, 32 bytes each instead of 8; it is freed before `call` returns).
const SAMPLED_BEFORE_COMPARISON: usize = 9;

#[test]
fn sampled_but_not_compared_requests_allocate_as_before_comparison() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let layer = |compare: Option<shadowgate::CompareConfig>| {
        let target = TargetConfig::builder("http://127.0.0.1:1").name("always");
        let target = match compare {
            Some(c) => target.compare(c),
            None => target,
        };
        MirrorLayer::builder()
            .target(target.build().unwrap())
            .build()
            .unwrap()
    };
    let mut cx = Context::from_waker(Waker::noop());
    // The runtime is never run, so each copy waits in the target's queue (256 by default): 30
    // requests are each dispatched, none dropped.
    let mut requests = |layer: &MirrorLayer| -> Vec<usize> {
        let mut svc = layer.layer(tower::service_fn(ready_primary));
        (0..30)
            .map(|_| {
                let req = Request::get("/path?q=1")
                    .header("x-a", "b")
                    .body(Empty::new())
                    .unwrap();
                allocations_during(|| {
                    assert!(svc.poll_ready(&mut cx).is_ready());
                    let fut = pin!(svc.call(req));
                    assert!(matches!(fut.poll(&mut cx), Poll::Ready(Ok(_))));
                })
            })
            .collect()
    };
    let plain = layer(None);
    let counts = requests(&plain);
    let dispatched = plain.stats()[0].get(shadowgate::Outcome::Dispatched);
    assert_eq!(dispatched, 30, "every request was copied: {counts:?}");
    // The first request may warm thread-locals and the target's first use.
    for n in &counts[1..] {
        assert!(
            *n <= SAMPLED_BEFORE_COMPARISON,
            "a sampled request to a target without comparison allocated {n} times, more than \
             the {SAMPLED_BEFORE_COMPARISON} before comparison existed: {counts:?}"
        );
    }
    // The counter tells comparing apart: the same request compared keeps the primary's answer
    // and pairs it (the pairing, the slots, the keeper, the answer).
    let compared = requests(&layer(Some(shadowgate::CompareConfig::new())));
    assert!(
        compared[1..].iter().all(|n| *n > SAMPLED_BEFORE_COMPARISON),
        "compared {compared:?}, not compared {counts:?}"
    );
    eprintln!("allocations per request: not compared {counts:?}, compared {compared:?}");
}

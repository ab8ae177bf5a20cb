//! The request-path cost of the layer (what the primary pays), per scenario:
//! - `passthrough`: the primary service alone, no layer (the baseline);
//! - `not_sampled`: a layer whose targets sample nothing (allocates nothing; see tests/alloc.rs);
//! - `sampled_small`: a bodiless GET copied to a fast loopback sink;
//! - `sampled_64k`: a POST with a 64 KiB body in 16 chunks, teed and copied;
//! - `queue_full`: every copy is refused at admission (a black-hole target with a queue of 1).
//!
//! Run: `cargo bench -p shadowgate --bench hot_path`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadowgate::{MirrorLayer, TargetConfig};
use tower::{Layer, Service, ServiceExt};

/// A body of `n` chunks of the same shared bytes.
struct Chunks {
    chunk: Bytes,
    left: usize,
}

impl Body for Chunks {
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
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.left * self.chunk.len()) as u64)
    }
}

/// The primary: reads the body to its end (as a proxy would stream it) and answers.
async fn primary<B: Body<Data = Bytes>>(
    req: Request<B>,
) -> Result<Response<http_body_util::Empty<Bytes>>, Infallible> {
    let mut body = std::pin::pin!(req.into_body());
    while let Some(frame) = body.frame().await {
        drop(frame);
    }
    Ok(Response::new(http_body_util::Empty::new()))
}

fn get() -> Request<Chunks> {
    let body = Chunks {
        chunk: Bytes::new(),
        left: 0,
    };
    Request::get("/api/items?id=7")
        .header("host", "shop.example")
        .header("user-agent", "bench")
        .body(body)
        .unwrap()
}

fn post_64k(chunk: &Bytes) -> Request<Chunks> {
    let body = Chunks {
        chunk: chunk.clone(),
        left: 16,
    };
    Request::post("/api/upload")
        .header("host", "shop.example")
        .header("content-length", "65536")
        .body(body)
        .unwrap()
}

/// A loopback sink that answers every request 200 with no body and keeps nothing.
async fn fast_sink() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc =
                hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(Response::new(http_body_util::Empty::<Bytes>::new()))
                });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

fn layer_for(target: TargetConfig) -> MirrorLayer {
    MirrorLayer::builder().target(target).build().unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let chunk = Bytes::from(vec![b'x'; 4096]);
    let (never, sink, full) = rt.block_on(async {
        let sink_url = fast_sink().await;
        let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hole_url = format!("http://{}", hole.local_addr().unwrap());
        // The hole accepts (the kernel backlog) and never answers: the one worker stays busy.
        std::mem::forget(hole);
        (
            layer_for(
                TargetConfig::builder(&sink_url)
                    .sample(0.0)
                    .build()
                    .unwrap(),
            ),
            layer_for(
                TargetConfig::builder(&sink_url)
                    .queue(4096)
                    .build()
                    .unwrap(),
            ),
            layer_for(
                TargetConfig::builder(&hole_url)
                    .workers(1)
                    .queue(1)
                    .timeout(std::time::Duration::from_secs(3600))
                    .build()
                    .unwrap(),
            ),
        )
    });

    let mut g = c.benchmark_group("request_path");
    g.bench_function("passthrough", |b| {
        b.to_async(&rt)
            .iter(|| tower::service_fn(primary::<Chunks>).oneshot(get()))
    });
    g.bench_function("not_sampled", |b| {
        b.to_async(&rt)
            .iter(|| never.layer(tower::service_fn(primary)).oneshot(get()))
    });
    g.bench_function("sampled_small", |b| {
        b.to_async(&rt)
            .iter(|| sink.layer(tower::service_fn(primary)).oneshot(get()))
    });
    g.bench_function("sampled_64k", |b| {
        b.to_async(&rt).iter(|| {
            sink.layer(tower::service_fn(primary))
                .oneshot(post_64k(&chunk))
        })
    });
    g.bench_function("queue_full", |b| {
        b.to_async(&rt).iter(|| {
            let mut svc = full.layer(tower::service_fn(primary));
            async move { svc.ready().await.unwrap().call(get()).await }
        })
    });
    g.finish();
    for layer in [&sink, &full] {
        for s in layer.stats() {
            eprintln!(
                "{}: dispatched {} completed {} dropped {}",
                s.name,
                s.get(shadowgate::Outcome::Dispatched),
                s.get(shadowgate::Outcome::Completed),
                s.dropped()
            );
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

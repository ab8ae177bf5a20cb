//! The request-path cost of the layer (what the primary pays), per scenario:
//! - `passthrough`: the primary service alone, no layer (the baseline);
//! - `not_sampled`: a layer whose targets sample nothing (allocates nothing; see tests/alloc.rs);
//! - `sampled_small`: a bodiless GET copied to a fast loopback sink;
//! - `sampled_64k`: a POST with a 64 KiB body in 16 chunks, teed and copied;
//! - `queue_full`: every copy is refused at admission (a black-hole target with a queue of 1);
//!
//! In the cases above, most copies find the target's queue full (the sink cannot answer as
//! fast as the path makes copies) and are dropped at admission: the counts are printed at the
//! end. Two groups measure only copies that are admitted, in chunks of 1,000 requests, waiting
//! (untimed) between chunks until every copy is answered and every pair compared, so that none
//! is dropped. Each has two cases, `sampled_json` and `compared_json`: a GET whose primary
//! answers a 330-byte JSON body, read to its end by the caller, copied to a loopback sink that
//! answers the same JSON, by a target without comparison and by one with `CompareConfig::new()`.
//! For the compared one the primary's answer is kept as its body is read (`CaptureBody`) and
//! paired with the shadow's; the comparison itself runs on the comparator thread, off the path
//! (past the default 10,000 comparisons a second a pair is `skipped_budget` there instead: the
//! results are printed).
//! - `path_only`: the request path alone. The layer's workers run on a runtime that is not
//!   driven while a chunk is timed (the calls are polled by hand and are ready at once), so the
//!   copies are queued and sent, and the pairs compared, only between chunks.
//! - `admitted`: as the other cases, on the 2-thread runtime: while a chunk is timed the
//!   workers send its copies and the comparator compares its pairs, on the same 2 cores.
//!
//! Run: `cargo bench -p shadowgate --bench hot_path`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails by panicking

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use shadowgate::{CompareConfig, MirrorLayer, TargetConfig};
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

/// The JSON both the primary and the sink answer in `sampled_json` and `compared_json`.
const JSON: &str = r#"{"id":7,"sku":"SKU-000007","name":"Product number 7 of the catalogue","price":19.99,"currency":"EUR","tags":["colour-0","sale","new"],"stock":{"warehouse":"ams-1","count":17},"updated_at":"2024-05-01T12:07:00Z","links":{"self":"/api/items/7","reviews":"/api/items/7/reviews"}}"#;

/// The primary of `sampled_json`/`compared_json`: reads the body and answers [`JSON`].
async fn json_primary<B: Body<Data = Bytes>>(
    req: Request<B>,
) -> Result<Response<http_body_util::Full<Bytes>>, Infallible> {
    let mut body = std::pin::pin!(req.into_body());
    while let Some(frame) = body.frame().await {
        drop(frame);
    }
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from_static(
        JSON.as_bytes(),
    )));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Reads a response's body to its end, keeping none of it (as a server writing it out would).
async fn read_to_end<B: Body>(resp: Response<B>) {
    let mut body = std::pin::pin!(resp.into_body());
    while let Some(frame) = body.frame().await {
        drop(frame);
    }
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

/// A loopback sink that answers every request 200 with no body (or, `json`, with [`JSON`]) and
/// keeps nothing.
async fn sink_answering(json: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let svc =
                hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let mut resp = Response::new(http_body_util::Full::new(match json {
                        true => Bytes::from_static(JSON.as_bytes()),
                        false => Bytes::new(),
                    }));
                    if json {
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                    }
                    Ok::<_, Infallible>(resp)
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

/// A waker for calls polled by hand that are ready at once.
struct Noop;

impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

/// Requests in a chunk of the `admitted` and `path_only` groups: fewer than the target's queue of 4,096.
const CHUNK: u64 = 1_000;

/// The time `iters` GETs through `layer` take on the request path, the primary's JSON body read
/// to its end; in chunks of [`CHUNK`], waiting (untimed) after each until every copy so far has
/// been answered and, when the target compares, every pair has a result.
async fn admitted(layer: &MirrorLayer, iters: u64) -> std::time::Duration {
    let mut timed = std::time::Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let started = std::time::Instant::now();
        for _ in 0..n {
            let resp = layer
                .layer(tower::service_fn(json_primary))
                .oneshot(get())
                .await
                .unwrap();
            read_to_end(resp).await;
        }
        timed += started.elapsed();
        left -= n;
        drained(layer).await;
    }
    timed
}

/// Waits until every copy `layer`'s target admitted is over, and every pair compared.
async fn drained(layer: &MirrorLayer) {
    use shadowgate::Outcome;
    let over = [Outcome::Completed, Outcome::Failed, Outcome::TimedOut];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let stats = &layer.stats()[0];
        let admitted = stats.get(Outcome::Dispatched);
        let done: u64 = over.iter().map(|o| stats.get(*o)).sum();
        let compared =
            (layer.compare_reports().first()).map_or(admitted, |r| r.results.values().sum::<u64>());
        if done == admitted && compared == admitted {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "copies not over: {stats:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
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
    let (never, sink, full, plain_json, compared_json, json_url) = rt.block_on(async {
        let sink_url = sink_answering(false).await;
        let json_url = sink_answering(true).await;
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
            layer_for(
                TargetConfig::builder(&json_url)
                    .name("json")
                    .queue(4096)
                    .build()
                    .unwrap(),
            ),
            layer_for(
                TargetConfig::builder(&json_url)
                    .name("compared")
                    .queue(4096)
                    .compare(CompareConfig::new())
                    .build()
                    .unwrap(),
            ),
            json_url,
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

    // `path_only`: its layers' workers on a runtime of their own, driven only between chunks.
    let idle = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (idle_json, idle_compared) = idle.block_on(async {
        let target = |name: &str| TargetConfig::builder(&json_url).name(name).queue(4096);
        (
            layer_for(target("json-idle").build().unwrap()),
            layer_for(
                target("compared-idle")
                    .compare(CompareConfig::new())
                    .build()
                    .unwrap(),
            ),
        )
    });
    let mut g = c.benchmark_group("path_only");
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(1));
    g.sample_size(20);
    for (name, layer) in [
        ("sampled_json", &idle_json),
        ("compared_json", &idle_compared),
    ] {
        g.bench_function(name, |b| {
            let mut svc = layer.layer(tower::service_fn(json_primary));
            let waker = Waker::from(std::sync::Arc::new(Noop));
            let mut cx = Context::from_waker(&waker);
            b.iter_custom(|iters| {
                let mut timed = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let entered = idle.enter();
                    let started = std::time::Instant::now();
                    for _ in 0..n {
                        assert!(svc.poll_ready(&mut cx).is_ready());
                        let call = std::pin::pin!(svc.call(get()));
                        let Poll::Ready(Ok(resp)) = call.poll(&mut cx) else {
                            panic!("the primary answers at once");
                        };
                        let mut body = std::pin::pin!(resp.into_body());
                        while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
                            drop(frame);
                        }
                    }
                    timed += started.elapsed();
                    drop(entered);
                    idle.block_on(drained(layer));
                    left -= n;
                }
                timed
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("admitted");
    g.warm_up_time(std::time::Duration::from_millis(500));
    g.measurement_time(std::time::Duration::from_secs(1));
    g.sample_size(20);
    for (name, layer) in [
        ("sampled_json", &plain_json),
        ("compared_json", &compared_json),
    ] {
        g.bench_function(name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| async move { admitted(layer, iters).await })
        });
    }
    g.finish();
    for layer in [&idle_compared, &compared_json] {
        for report in layer.compare_reports() {
            eprintln!("{}: compare results {:?}", report.target, report.results);
        }
    }
    for layer in [
        &sink,
        &full,
        &idle_json,
        &idle_compared,
        &plain_json,
        &compared_json,
    ] {
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

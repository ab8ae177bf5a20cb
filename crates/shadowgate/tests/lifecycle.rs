//! Copies outlive their clients, incomplete bodies and upgrades are accounted for, targets come
//! and go at run time, and shutdown drains what it can and counts the rest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::Request;
use shadowgate::{MirrorLayer, Outcome, TargetConfig};
use shadowgate_test_support::{raw_exchange, BlackHole, RecordingServer, Responder};

#[tokio::test]
async fn client_disconnect_does_not_cancel_a_dispatched_copy() {
    let sink = RecordingServer::start_with(Responder::new().delay(Duration::from_millis(300)))
        .await
        .unwrap();
    let layer = mirror(TargetConfig::builder(sink.url()).name("sink"));
    let addr = serve(layer.clone()).await;
    // Send a whole request with a body, then hang up without waiting for an answer.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut conn,
        b"POST /bye HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await
    .unwrap();
    // Wait until the copy is admitted, then disconnect while it is in flight.
    wait_stats(&layer, "sink", |s| s.get(Outcome::Dispatched) == 1).await;
    drop(conn);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "abc");
    let s = wait_stats(&layer, "sink", |s| s.get(Outcome::Completed) == 1).await;
    assert_eq!(s.get(Outcome::Completed), 1);
}

#[tokio::test]
async fn a_body_that_never_completes_counts_as_incomplete() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(TargetConfig::builder(sink.url()).name("sink"));
    let addr = serve(layer.clone()).await;
    // Promise 100 bytes, send 5, hang up.
    let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nhello";
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut conn, raw)
        .await
        .unwrap();
    // The bytes are in the server's socket before the hang-up, so it reads the head and the five
    // bytes, then the end of the stream.
    drop(conn);
    let s = wait_stats(&layer, "sink", |s| {
        s.get(Outcome::DroppedBodyIncomplete) == 1
    })
    .await;
    assert_eq!(s.get(Outcome::DroppedBodyIncomplete), 1);
    assert_eq!(s.get(Outcome::Dispatched), 0);
    assert_eq!(sink.count(), 0);
}

#[tokio::test]
async fn upgrades_are_passed_to_the_primary_and_never_mirrored() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(TargetConfig::builder(sink.url()).name("sink"));
    let req = Request::get("/ws")
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    assert_eq!(call(&layer, req).await.status(), 200);
    let s = stats(&layer, "sink");
    assert_eq!(s.get(Outcome::SkippedUpgrade), 1);
    assert_eq!(s.get(Outcome::Dispatched), 0);
}

#[tokio::test]
async fn targets_can_be_added_and_removed_at_run_time() {
    let a = RecordingServer::start().await.unwrap();
    let b = RecordingServer::start().await.unwrap();
    let layer = mirror(TargetConfig::builder(a.url()).name("a"));
    call(&layer, get("/1")).await;
    layer
        .add_target(TargetConfig::builder(b.url()).name("b").build().unwrap())
        .unwrap();
    let dup = layer.add_target(TargetConfig::builder(b.url()).name("b").build().unwrap());
    assert!(dup.is_err());
    call(&layer, get("/2")).await;
    assert_eq!(settled(&layer, "a").await.get(Outcome::Completed), 2);
    assert!(layer.remove_target("a"));
    assert!(!layer.remove_target("a"));
    call(&layer, get("/3")).await;
    // Only `b` is left to admit `/3`, and it admitted exactly its two copies.
    let names: Vec<String> = layer.stats().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["b"]);
    let s = settled(&layer, "b").await;
    assert_eq!(
        (s.get(Outcome::Dispatched), s.get(Outcome::Completed)),
        (2, 2)
    );
    let got_b = b.requests();
    let paths = |r: Vec<shadowgate_test_support::Recorded>| {
        let mut p: Vec<_> = r.into_iter().map(|r| r.uri.to_string()).collect();
        p.sort();
        p
    };
    assert_eq!(paths(a.requests()), ["/1", "/2"]);
    assert_eq!(paths(got_b), ["/2", "/3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_adds_of_one_name_leave_exactly_one_target() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = MirrorLayer::builder().build().unwrap();
    let barrier = std::sync::Barrier::new(8);
    let wins = std::thread::scope(|scope| {
        let adds: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    layer.add_target(
                        TargetConfig::builder(sink.url())
                            .name("same")
                            .build()
                            .unwrap(),
                    )
                })
            })
            .collect();
        adds.into_iter()
            .map(|a| a.join().unwrap())
            .filter(Result::is_ok)
            .count()
    });
    assert_eq!(wins, 1);
    assert_eq!(layer.stats().len(), 1);
    // A losing add that still sent copies would double every one: after five calls whose
    // copies the one target counted as finished, the sink has exactly those five.
    for i in 0..5 {
        call(&layer, get(&format!("/once/{i}"))).await;
    }
    assert_eq!(settled(&layer, "same").await.get(Outcome::Completed), 5);
    assert_eq!(sink.count(), 5, "a losing add still sends copies");
}

#[tokio::test]
async fn shutdown_drains_the_queue_within_grace() {
    let sink = RecordingServer::start_with(Responder::new().delay(Duration::from_millis(50)))
        .await
        .unwrap();
    let layer = mirror(TargetConfig::builder(sink.url()).name("sink").workers(1));
    for i in 0..5 {
        call(&layer, get(&format!("/{i}"))).await;
    }
    let report = within(WAIT, layer.shutdown(Duration::from_secs(5))).await;
    assert!(report.drained);
    assert_eq!(stats(&layer, "sink").get(Outcome::Completed), 5);
    assert_eq!(sink.count(), 5);
    // After shutdown, copies are refused and counted.
    call(&layer, get("/late")).await;
    assert_eq!(stats(&layer, "sink").get(Outcome::DroppedShutdown), 1);
}

#[tokio::test]
async fn shutdown_counts_what_it_could_not_send() {
    let hole = BlackHole::start().await.unwrap();
    let layer = mirror(
        TargetConfig::builder(hole.url())
            .name("hole")
            .workers(2)
            .queue(10)
            .timeout(Duration::from_secs(60)),
    );
    for i in 0..8 {
        call(&layer, get(&format!("/{i}"))).await;
    }
    let report = within(WAIT, layer.shutdown(Duration::from_millis(200))).await;
    assert!(!report.drained);
    let s = stats(&layer, "hole");
    assert_eq!(s.get(Outcome::Dispatched), 8);
    assert_eq!(s.get(Outcome::DroppedShutdown), 8, "{s:?}");
    assert_eq!(terminal(&s), 8);
}

#[tokio::test]
async fn building_outside_a_runtime_is_an_error() {
    let err = std::thread::spawn(|| {
        MirrorLayer::builder()
            .target(TargetConfig::builder("http://127.0.0.1:1").build().unwrap())
            .build()
            .unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(err, shadowgate::BuildError::NoRuntime);
    let _ = raw_exchange;
}

/// The bytes every copy of the layer holds now (`shadowgate_mirror_memory_bytes`).
fn memory(metrics: &shadowgate::MirrorMetrics) -> i64 {
    let held = metrics
        .series()
        .into_iter()
        .find(|s| s.name == "mirror_memory_bytes")
        .expect("the memory gauge is a series");
    match held.value {
        shadowgate::SeriesValue::Gauge(v) => v,
        other => panic!("not a gauge: {other:?}"),
    }
}

fn post(body: Bytes) -> Request<http_body_util::Full<Bytes>> {
    Request::post("/upload")
        .header("host", "shop.example")
        .body(http_body_util::Full::new(body))
        .unwrap()
}

#[tokio::test]
async fn a_sent_copy_gives_its_bytes_back_to_the_budget() {
    let sink = RecordingServer::start().await.unwrap();
    let metrics = shadowgate::MirrorMetrics::default();
    let layer = MirrorLayer::builder()
        .metrics(metrics.clone())
        .target(
            TargetConfig::builder(sink.url())
                .name("sink")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for _ in 0..5 {
        call(&layer, post(Bytes::from(vec![b'x'; 10_000]))).await;
    }
    wait_stats(&layer, "sink", |s| s.get(Outcome::Completed) == 5).await;
    shadowgate_test_support::eventually("every copy gave its bytes back", || memory(&metrics) == 0)
        .await;
}

#[tokio::test]
async fn over_the_memory_budget_copies_are_dropped_and_shutdown_gives_every_byte_back() {
    const BUDGET: usize = 64 * 1024;
    let hole = BlackHole::start().await.unwrap();
    let metrics = shadowgate::MirrorMetrics::default();
    let layer = MirrorLayer::builder()
        .metrics(metrics.clone())
        .memory_budget(BUDGET)
        .target(
            TargetConfig::builder(hole.url())
                .name("hole")
                .workers(2)
                .queue(100)
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // Each copy holds 10,000 body bytes, a slot list (256 bytes), its tee and its head (about
    // 700 bytes with their overhead): five fit in 64 KiB, not six.
    for _ in 0..20 {
        let resp = call(&layer, post(Bytes::from(vec![b'x'; 10_000]))).await;
        assert_eq!(resp.status(), 200, "the primary is untouched");
    }
    let s = stats(&layer, "hole");
    assert_eq!(s.get(Outcome::Dispatched), 5, "{s:?}");
    assert_eq!(s.get(Outcome::DroppedMemoryBudget), 15, "{s:?}");
    assert!(memory(&metrics) > 50_000);
    let report = within(WAIT, layer.shutdown(Duration::from_millis(100))).await;
    assert!(!report.drained);
    let s = stats(&layer, "hole");
    assert_eq!(s.get(Outcome::DroppedShutdown), 5, "{s:?}");
    assert_eq!(terminal(&s), 20);
    assert_eq!(memory(&metrics), 0, "shutdown gave every byte back");
}

/// A copy on the wire still counts its head: the request built from it holds its own headers
/// until the exchange ends (here, a black hole that never answers).
#[tokio::test]
async fn a_copy_on_the_wire_still_counts_its_head() {
    let hole = BlackHole::start().await.unwrap();
    let metrics = shadowgate::MirrorMetrics::default();
    let layer = MirrorLayer::builder()
        .metrics(metrics.clone())
        .target(
            TargetConfig::builder(hole.url())
                .name("hole")
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let req = Request::get("/")
        .header("host", "shop.example")
        .header("x-big", "b".repeat(30_000))
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    call(&layer, req).await;
    shadowgate_test_support::eventually("the copy to reach the black hole", || {
        shadowgate_test_support::exactly(hole.connections(), 1)
    })
    .await;
    assert!(
        memory(&metrics) > 30_000,
        "{} bytes counted",
        memory(&metrics)
    );
    within(WAIT, layer.shutdown(Duration::from_millis(50))).await;
    assert_eq!(memory(&metrics), 0, "shutdown gave every byte back");
}

//! The copy a target receives is the client's request ("The copy" in docs/contract.md), and the
//! primary is untouched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use http::Request;
use http_body_util::{BodyExt, Full, StreamBody};
use shadowgate::{MirrorLayer, Outcome, OutcomeEvent, TargetConfig};
use shadowgate_test_support::{raw_exchange, RecordingServer};

fn target(url: &str, name: &str) -> shadowgate::TargetBuilder {
    TargetConfig::builder(url).name(name)
}

#[tokio::test]
async fn copy_has_method_raw_path_query_headers_and_body() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(target(&sink.url(), "sink"));
    let addr = serve(layer.clone()).await;

    let raw = b"PUT /a/%2F..//b?x=%20&y&x=2 HTTP/1.1\r\n\
        Host: shop.example\r\n\
        X-Custom: one\r\n\
        X-Custom: two\r\n\
        Connection: close, X-Conn-Named\r\n\
        X-Conn-Named: secret\r\n\
        Keep-Alive: timeout=5\r\n\
        Content-Length: 11\r\n\r\nhello world";
    let answer = raw_exchange(addr, raw, WAIT).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("primary:11"), "{answer}");

    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.method, "PUT");
    assert_eq!(copy.uri, "/a/%2F..//b?x=%20&y&x=2");
    assert_eq!(copy.body, "hello world");
    assert_eq!(copy.headers["host"], "shop.example");
    let custom: Vec<_> = copy.headers.get_all("x-custom").iter().collect();
    assert_eq!(custom, ["one", "two"]);
    assert_eq!(copy.headers["x-mirror"], "1");
    assert_eq!(copy.headers["x-mirrored-from"], "shop.example");
    assert_eq!(copy.headers["content-length"], "11");
    for hop in [
        "connection",
        "x-conn-named",
        "keep-alive",
        "transfer-encoding",
    ] {
        assert!(!copy.headers.contains_key(hop), "{hop} reached the copy");
    }
    // The primary and the copy carry the same, generated, request id.
    let id = copy.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(answer.contains(&format!("x-request-id: {id}")), "{answer}");
    let s = wait_stats(&layer, "sink", |s| s.get(Outcome::Completed) == 1).await;
    assert_eq!(s.get(Outcome::Dispatched), 1);
    assert_eq!(s.get(Outcome::Completed), 1);
}

#[tokio::test]
async fn chunked_request_body_reaches_primary_and_copy_whole() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(target(&sink.url(), "sink"));
    let addr = serve(layer.clone()).await;
    let raw = b"POST /orders HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
        5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
    let answer = raw_exchange(addr, raw, WAIT).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).ends_with("primary:11"));
    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.body, "hello world");
    assert_eq!(copy.headers["content-length"], "11");
    assert!(!copy.headers.contains_key("transfer-encoding"));
}

#[tokio::test]
async fn a_client_request_id_is_kept_for_primary_and_copy() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(target(&sink.url(), "sink"));
    let mut req = get("/x");
    req.headers_mut()
        .insert("x-request-id", "client-id-7".parse().unwrap());
    let resp = call(&layer, req).await;
    assert_eq!(resp.headers()["x-request-id"], "client-id-7");
    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.headers["x-request-id"], "client-id-7");
}

#[tokio::test]
async fn every_target_gets_exactly_one_copy() {
    let sinks = [
        RecordingServer::start().await.unwrap(),
        RecordingServer::start().await.unwrap(),
        RecordingServer::start().await.unwrap(),
    ];
    let mut b = MirrorLayer::builder();
    for (i, s) in sinks.iter().enumerate() {
        b = b.target(target(&s.url(), &format!("t{i}")).build().unwrap());
    }
    let layer = b.build().unwrap();
    for i in 0..20 {
        call(&layer, get(&format!("/n/{i}"))).await;
    }
    for (i, s) in sinks.iter().enumerate() {
        let got = s.wait_for(20, WAIT).await;
        // Every copy the target admitted has finished: a duplicate would have been admitted
        // (and counted) or sent by the same job before it finished.
        let st = settled(&layer, &format!("t{i}")).await;
        assert_eq!(st.get(Outcome::Dispatched), 20, "target {i}");
        assert_eq!(s.count(), 20, "target {i}");
        let mut paths: Vec<_> = got.iter().map(|r| r.uri.to_string()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), 20, "target {i} got a duplicate");
        assert_eq!(st.get(Outcome::Completed), 20);
    }
}

#[tokio::test]
async fn base_path_host_mode_and_header_mutations_apply_to_the_copy_only() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(
        target(&format!("{}/shadow/", sink.url()), "sink")
            .host_target()
            .remove_header("authorization")
            .add_header("x-env", "canary"),
    );
    let mut req = get("/api/x?q=1");
    req.headers_mut()
        .insert("authorization", "Bearer t".parse().unwrap());
    call(&layer, req).await;
    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.uri, "/shadow/api/x?q=1");
    assert_eq!(copy.headers["host"], sink.addr().to_string());
    assert_eq!(copy.headers["x-mirrored-from"], "shop.example");
    assert_eq!(copy.headers["x-env"], "canary");
    assert!(!copy.headers.contains_key("authorization"));
}

#[tokio::test]
async fn body_over_the_cap_drops_the_copy_not_the_primary() {
    let sink = RecordingServer::start().await.unwrap();
    let small = RecordingServer::start().await.unwrap();
    let layer = MirrorLayer::builder()
        .target(
            target(&sink.url(), "big")
                .max_body_bytes(1 << 20)
                .build()
                .unwrap(),
        )
        .target(
            target(&small.url(), "small")
                .max_body_bytes(1000)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // 100 chunks of 1 KiB, streamed without a Content-Length.
    let chunks: Vec<Result<_, std::io::Error>> = (0..100u8)
        .map(|i| Ok(http_body::Frame::data(Bytes::from(vec![i; 1024]))))
        .collect();
    let body = StreamBody::new(futures_stream(chunks));
    let req = Request::post("/upload").body(body).unwrap();
    let resp = call(&layer, req).await;
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "primary:102400"
    );

    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.body.len(), 102_400);
    assert!(copy
        .body
        .chunks(1024)
        .enumerate()
        .all(|(i, c)| c.iter().all(|b| *b == i as u8)));
    let s = stats(&layer, "small");
    assert_eq!(s.get(Outcome::DroppedBodyTooLarge), 1);
    assert_eq!(s.get(Outcome::Dispatched), 0);
    assert_eq!(small.count(), 0);
}

#[tokio::test]
async fn announced_length_over_the_cap_is_dropped_before_reading() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(target(&sink.url(), "sink").max_body_bytes(10));
    let req = Request::post("/")
        .body(Full::new(Bytes::from_static(b"eleven byte")))
        .unwrap();
    let resp = call(&layer, req).await;
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "primary:11"
    );
    assert_eq!(stats(&layer, "sink").get(Outcome::DroppedBodyTooLarge), 1);
}

#[tokio::test]
async fn body_off_sends_a_bodiless_copy_at_once() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(target(&sink.url(), "sink").body(false));
    let req = Request::post("/")
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let resp = call(&layer, req).await;
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "primary:5"
    );
    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.method, "POST");
    assert!(copy.body.is_empty());
    assert!(!copy.headers.contains_key("content-length"));
    wait_stats(&layer, "sink", |s| s.get(Outcome::Completed) == 1).await;
}

#[tokio::test]
async fn the_hook_hears_every_event_with_the_request_id() {
    let sink = RecordingServer::start_with(shadowgate_test_support::Responder::new().status(503))
        .await
        .unwrap();
    type Seen = Vec<(Outcome, Option<u16>, String)>;
    let events: Arc<Mutex<Seen>> = Arc::default();
    let seen = events.clone();
    let layer = MirrorLayer::builder()
        .target(target(&sink.url(), "sink").build().unwrap())
        .on_outcome(move |e: &OutcomeEvent<'_>| {
            let id = e
                .request_id
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            seen.lock()
                .unwrap()
                .push((e.outcome, e.status.map(|s| s.as_u16()), id));
            assert_eq!(e.target, "sink");
        })
        .build()
        .unwrap();
    let mut req = get("/");
    req.headers_mut()
        .insert("x-request-id", "rid-1".parse().unwrap());
    call(&layer, req).await;
    wait_stats(&layer, "sink", |s| s.get(Outcome::Completed) == 1).await;
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            (Outcome::Dispatched, None, "rid-1".to_owned()),
            // A 5xx is an answer, not a failure.
            (Outcome::Completed, Some(503), "rid-1".to_owned()),
        ]
    );
}

/// A stream of ready items (no extra crate for one test).
fn futures_stream<T: Unpin>(items: Vec<T>) -> impl futures_core::Stream<Item = T> {
    struct Iter<T>(std::vec::IntoIter<T>);
    impl<T: Unpin> futures_core::Stream for Iter<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(items.into_iter())
}

//! Shadow copies through the app.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{eventually, exactly, http1, send, settings, start, target, PROMPT};
use http::Request;
use http_body_util::Full;
use shadowgate::Outcome;
use shadowgate_test_support::{BlackHole, RecordingServer, Responder};

#[tokio::test]
async fn mirror_copy_arrives_with_marks_and_the_same_head_as_the_primary() {
    let upstream = RecordingServer::start_with(Responder::new().body("primary"))
        .await
        .unwrap();
    let sink = RecordingServer::start_with(Responder::new().status(500).body("shadow"))
        .await
        .unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;

    let req = Request::post(app.url("/orders?id=7"))
        .header("host", "shop.example")
        .header("x-user", "u1")
        .body(Full::new(Bytes::from_static(b"{\"qty\":2}")))
        .unwrap();
    let answer = send(&http1(), req).await;
    assert_eq!(answer.status, 200, "the client gets the primary's answer");
    assert_eq!(answer.body, "primary");

    let primary = upstream.wait_for(1, PROMPT).await;
    let copies = sink.wait_for(1, PROMPT).await;
    assert_eq!(copies.len(), 1, "the copy did not arrive");
    let (p, c) = (&primary[0], &copies[0]);
    assert_eq!(c.headers["x-mirror"], "1");
    assert_eq!(c.headers["x-mirrored-from"], "shop.example");
    assert_eq!(c.method, p.method);
    assert_eq!(c.uri, "/orders?id=7");
    assert_eq!(c.body, p.body);
    assert_eq!(c.body, "{\"qty\":2}");
    for name in [
        "x-request-id",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-user",
        "host",
    ] {
        assert_eq!(c.headers.get(name), p.headers.get(name), "{name} differs");
    }
    assert!(
        !p.headers.contains_key("x-mirror"),
        "the primary got the mirror mark"
    );
    assert_eq!(app.wait_outcome(Outcome::Completed, 1).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn black_hole_mirror_does_not_hold_up_the_primary() {
    let upstream = RecordingServer::start().await.unwrap();
    let hole = BlackHole::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(
        shadowgate::TargetConfig::builder(hole.url())
            .workers(1)
            .queue(1)
            .build()
            .unwrap(),
    );
    s.mirror_drain = std::time::Duration::from_millis(100);
    let app = start(s).await;

    let client = http1();
    let started = std::time::Instant::now();
    assert_eq!(send(&client, common::get(&app.url("/"))).await.status, 200);
    // The one worker takes the first copy into the hole...
    eventually("the worker to hold the first copy in the hole", || {
        exactly(hole.connections(), 1)
    })
    .await;
    for _ in 1..20 {
        assert_eq!(send(&client, common::get(&app.url("/"))).await.status, 200);
    }
    // Twenty round trips on loopback; one 5 s shadow timeout would blow this.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // ...so exactly one more fits the queue and the other 18 are dropped, not waited for.
    let stats = app.mirror.stats();
    assert_eq!(app.outcome(Outcome::Dispatched), 2, "{stats:?}");
    assert_eq!(app.outcome(Outcome::DroppedQueueFull), 18, "{stats:?}");
    app.stop().await;
}

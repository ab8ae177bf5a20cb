//! Graceful stop: the listener closes, in-flight requests finish, `run` returns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{eventually, eventually_async, exactly, fetch, settings, start, target, PROMPT};
use shadowgate::Outcome;
use shadowgate_test_support::{BlackHole, RecordingServer, Responder};
use tokio::net::TcpStream;

#[tokio::test]
async fn in_flight_request_completes_after_the_signal_while_new_connections_are_refused() {
    let upstream = RecordingServer::start_with(
        Responder::new()
            .delay(Duration::from_secs(2))
            .body("late but whole"),
    )
    .await
    .unwrap();
    let mut app = start(settings(&[upstream.url()])).await;
    let addr = app.addr;

    let url = app.url("/slow");
    let in_flight = tokio::spawn(async move { fetch(&url).await });
    upstream.wait_for(1, PROMPT).await;
    app.signal_stop();

    eventually_async("the listener to refuse new connections", || async move {
        TcpStream::connect(addr).await.err()
    })
    .await;
    assert!(
        !in_flight.is_finished(),
        "the slow request should still be in flight"
    );

    let answer = tokio::time::timeout(PROMPT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "late but whole");
    app.join().await.unwrap();
}

#[tokio::test]
async fn run_returns_after_the_shutdown_timeout_even_if_a_request_hangs() {
    let hole = BlackHole::start().await.unwrap();
    let mut s = settings(&[hole.url()]);
    s.limits.shutdown_timeout = Duration::from_millis(200);
    let mut app = start(s).await;

    let url = app.url("/forever");
    let hanging = tokio::spawn(async move {
        let client = common::http1();
        client.request(common::get(&url)).await
    });
    eventually("the request to reach the black hole", || {
        exactly(hole.connections(), 1)
    })
    .await;
    app.signal_stop();

    app.join().await.unwrap();
    let cut = tokio::time::timeout(PROMPT, hanging)
        .await
        .unwrap()
        .unwrap();
    assert!(cut.is_err(), "the hanging request was cut off");
}

#[tokio::test]
async fn queued_copies_are_drained_then_counted_dropped_shutdown() {
    let upstream = RecordingServer::start().await.unwrap();
    let hole = BlackHole::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&hole.url()));
    s.mirror_drain = Duration::from_millis(100);
    let mut app = start(s).await;

    assert_eq!(fetch(&app.url("/")).await.status, 200);
    assert_eq!(app.wait_outcome(Outcome::Dispatched, 1).await, 1);
    app.signal_stop();
    app.join().await.unwrap();

    assert_eq!(
        app.outcome(Outcome::DroppedShutdown),
        1,
        "{:?}",
        app.mirror.stats()
    );
}

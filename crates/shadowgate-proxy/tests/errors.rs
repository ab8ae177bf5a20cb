//! Upstream failures become short text/plain answers: 502 unreachable or reset, 504 too slow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{fetch, settings, start};
use shadowgate_test_support::{refused_url, RecordingServer, ResettingServer, Responder};

#[tokio::test]
async fn unreachable_upstream_answers_502_with_a_text_body() {
    let app = start(settings(&[refused_url()])).await;

    let answer = fetch(&app.url("/")).await;

    assert_eq!(answer.status, 502);
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(answer.text().contains("unreachable"), "{}", answer.text());
    app.stop().await;
}

#[tokio::test]
async fn resetting_upstream_answers_502() {
    let upstream = ResettingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/")).await;

    assert_eq!(answer.status, 502);
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    app.stop().await;
}

#[tokio::test]
async fn upstream_slower_than_the_timeout_answers_504() {
    let upstream = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(5)))
        .await
        .unwrap();
    let mut s = settings(&[upstream.url()]);
    s.upstreams[0].timeout = Duration::from_millis(300);
    let app = start(s).await;

    let started = Instant::now();
    let answer = fetch(&app.url("/slow")).await;

    assert_eq!(answer.status, 504);
    assert!(
        answer.text().contains("did not answer in time"),
        "{}",
        answer.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn failed_upstream_requests_are_counted_by_outcome() {
    let app = start(settings(&[refused_url()])).await;
    assert_eq!(fetch(&app.url("/")).await.status, 502);

    let metrics = fetch(&app.admin_url("/metrics")).await.text();

    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("shadowgate_upstream_requests_total{")
                && l.contains("outcome=\"connect_error\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    assert!(
        metrics.contains("shadowgate_requests_total{route=\"default\",status_class=\"5xx\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

/// A client whose chunked body is malformed (a bad chunk size) gets a 400: its error is not the
/// upstream's, so it is not counted as an upstream failure (it used to be a 502 counted as
/// `outcome="error"` and logged as "upstream request failed").
#[tokio::test]
async fn a_malformed_client_body_is_a_400_not_an_upstream_failure() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let raw = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                5\r\nhello\r\nzz\r\nmore\r\n";
    let answer = shadowgate_test_support::raw_exchange(app.addr, raw, common::PROMPT).await;
    let answer = String::from_utf8_lossy(&answer.unwrap()).into_owned();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("request body is malformed"), "{answer}");

    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    let failures: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("shadowgate_upstream_requests_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        metrics.contains("shadowgate_requests_total{route=\"default\",status_class=\"4xx\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

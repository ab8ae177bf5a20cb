//! The admin listener: health, metrics, and nothing else; the proxy listener never answers admin
//! paths itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fetch, settings, start, target, PROMPT};
use shadowgate::Outcome;
use shadowgate_test_support::{RecordingServer, Responder};

#[tokio::test]
async fn healthz_answers_ok() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.admin_url("/healthz")).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "ok");
    assert_eq!(fetch(&app.admin_url("/nope")).await.status, 404);
    assert_eq!(upstream.count(), 0, "admin requests reached the upstream");
    app.stop().await;
}

#[tokio::test]
async fn metrics_show_proxy_and_mirror_counters_after_a_mirrored_request() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;

    assert_eq!(fetch(&app.url("/mirrored")).await.status, 200);
    assert_eq!(app.wait_outcome(Outcome::Completed, 1).await, 1);

    let answer = fetch(&app.admin_url("/metrics")).await;
    assert_eq!(answer.status, 200);
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .contains("openmetrics-text"));
    let text = answer.text();
    let mirror_line = format!(
        "shadowgate_mirror_requests_total{{target=\"{}\",outcome=\"completed\"}} 1",
        sink.url()
    );
    assert!(
        text.contains(&mirror_line),
        "no {mirror_line:?} in:\n{text}"
    );
    assert!(
        text.contains("shadowgate_requests_total{route=\"default\",status_class=\"2xx\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("shadowgate_request_duration_seconds_count{route=\"default\"} 1"),
        "{text}"
    );
    let backend_line = format!(
        "shadowgate_upstream_requests_total{{upstream=\"default\",backend=\"{}\",outcome=\"ok\"}} 1",
        upstream.url()
    );
    assert!(
        text.contains(&backend_line),
        "no {backend_line:?} in:\n{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_path_on_the_proxy_listener_is_proxied() {
    let upstream = RecordingServer::start_with(Responder::new().body("upstream metrics"))
        .await
        .unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let answer = fetch(&app.url("/metrics")).await;

    assert_eq!(answer.body, "upstream metrics");
    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].uri, "/metrics");
    app.stop().await;
}

#[tokio::test]
async fn admin_off_binds_no_admin_listener() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin = None;
    let app = start(s).await;

    assert_eq!(app.admin, None);
    assert_eq!(fetch(&app.url("/")).await.status, 200);
    app.stop().await;
}

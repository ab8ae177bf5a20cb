//! Backend health and failover: active checks take a failing backend out and bring it back,
//! a refused backend is ejected after one failure and returns after `eject_for`, a pool with no
//! healthy backend answers 503, and an idempotent bodiless request that could not connect is
//! retried once on another backend (a POST never is).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{eventually_async, fetch, get, http1, send, settings, start, Running};
use http::{Method, Request};
use http_body_util::Full;
use shadowgate_proxy::HealthCheck;
use shadowgate_test_support::{refused_url, RecordingServer, Responder};

fn check(interval_ms: u64) -> HealthCheck {
    HealthCheck {
        path: "/health".to_owned(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_secs(1),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    }
}

/// The `shadowgate_backend_healthy` line of `backend`, as its value.
async fn healthy_gauge(app: &Running, backend: &str) -> Option<String> {
    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    let prefix =
        format!("shadowgate_backend_healthy{{upstream=\"default\",backend=\"{backend}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

/// Polls the gauge until it reads `want`, bounded.
async fn wait_gauge(app: &Running, backend: &str, want: &str) {
    let what = format!("the health gauge of {backend} to read {want}");
    eventually_async(&what, || async {
        let seen = healthy_gauge(app, backend).await;
        if seen.as_deref() == Some(want) {
            Ok(())
        } else {
            Err(seen)
        }
    })
    .await;
}

/// Requests a backend got, not counting health checks.
fn proxied(server: &RecordingServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.uri.path() != "/health")
        .count()
}

async fn post(app: &Running, client: &common::HttpClient) -> common::Answer {
    let request = Request::builder()
        .method(Method::POST)
        .uri(app.url("/write"))
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    send(client, request).await
}

#[tokio::test]
async fn a_backend_failing_its_health_check_is_skipped_until_it_passes_again() {
    let status = Arc::new(AtomicU16::new(200));
    let answer = status.clone();
    let flaky = RecordingServer::start_with(Responder::new().with_fn(move |r| {
        (r.uri.path() == "/health").then(|| (answer.load(Ordering::SeqCst), Bytes::new()))
    }))
    .await
    .unwrap();
    let steady = RecordingServer::start().await.unwrap();
    let mut s = settings(&[flaky.url(), steady.url()]);
    s.upstreams[0].health_check = Some(check(30));
    let app = start(s).await;
    wait_gauge(&app, &flaky.url(), "1").await;
    assert_eq!(
        healthy_gauge(&app, &steady.url()).await.as_deref(),
        Some("1")
    );

    status.store(500, Ordering::SeqCst);
    wait_gauge(&app, &flaky.url(), "0").await;
    let before = proxied(&flaky);
    let client = http1();
    for _ in 0..20 {
        assert_eq!(send(&client, get(&app.url("/x"))).await.status, 200);
    }
    assert_eq!(
        proxied(&flaky),
        before,
        "the unhealthy backend got requests"
    );

    status.store(204, Ordering::SeqCst);
    wait_gauge(&app, &flaky.url(), "1").await;
    for _ in 0..20 {
        assert_eq!(send(&client, get(&app.url("/x"))).await.status, 200);
    }
    // Round robin over two healthy backends again: every other request.
    assert_eq!(
        proxied(&flaky),
        before + 10,
        "the recovered backend did not get its turns"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_stopped_backend_fails_its_health_check_and_requests_get_503() {
    let doomed = RecordingServer::start().await.unwrap();
    let url = doomed.url();
    let mut s = settings(std::slice::from_ref(&url));
    s.upstreams[0].health_check = Some(check(30));
    let app = start(s).await;
    assert_eq!(fetch(&app.url("/")).await.status, 200);

    assert_eq!(fetch(&app.admin_url("/readyz")).await.status, 200);

    drop(doomed);
    wait_gauge(&app, &url, "0").await;

    let answer = fetch(&app.url("/")).await;
    assert_eq!(answer.status, 503);
    assert!(
        answer.text().contains("no healthy backend"),
        "{}",
        answer.text()
    );
    // The upstream has no healthy backend left, so the proxy is not ready.
    assert_eq!(fetch(&app.admin_url("/readyz")).await.status, 503);
    app.stop().await;
}

/// Serves `200 back` on `listener` until the task is aborted.
async fn serve_back(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                    Bytes::from_static(b"back"),
                )))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::test]
async fn a_backend_that_starts_listening_again_comes_back_through_the_health_check() {
    // Bound but not listening (refused) until `listen` below, on the same port.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", socket.local_addr().unwrap());
    let good = RecordingServer::start().await.unwrap();
    let mut s = settings(&[url.clone(), good.url()]);
    s.upstreams[0].health_check = Some(check(30));
    let app = start(s).await;
    wait_gauge(&app, &url, "0").await;
    let client = http1();
    for _ in 0..10 {
        assert_eq!(send(&client, get(&app.url("/x"))).await.text(), "ok");
    }

    let server = tokio::spawn(serve_back(socket.listen(64).unwrap()));
    wait_gauge(&app, &url, "1").await;

    let mut back = 0;
    for _ in 0..10 {
        let answer = send(&client, get(&app.url("/x"))).await;
        assert_eq!(answer.status, 200);
        back += usize::from(answer.text() == "back");
    }
    // Round robin over two healthy backends: every other request.
    assert_eq!(back, 5, "{back} of 10 reached the returned backend");
    server.abort();
    app.stop().await;
}

#[tokio::test]
async fn a_refused_backend_is_ejected_after_one_failure_and_returns_after_eject_for() {
    let refused = refused_url();
    let good = RecordingServer::start().await.unwrap();
    let mut s = settings(&[refused.clone(), good.url()]);
    s.upstreams[0].eject_for = Duration::from_secs(1);
    let app = start(s).await;
    let client = http1();

    // POSTs are never retried, so the refused backend's turn shows as a 502.
    let mut failures = 0;
    for _ in 0..2 {
        if post(&app, &client).await.status == 502 {
            failures += 1;
        }
    }
    assert_eq!(failures, 1, "round robin reached the refused backend once");
    assert_eq!(healthy_gauge(&app, &refused).await.as_deref(), Some("0"));
    // Still well within eject_for: every request goes to the good backend.
    for _ in 0..6 {
        assert_eq!(post(&app, &client).await.status, 200);
    }

    wait_gauge(&app, &refused, "1").await;
    // Back in the rotation: of the next two, exactly one gets its turn (and fails again).
    let mut failed_again = 0;
    for _ in 0..2 {
        failed_again += usize::from(post(&app, &client).await.status == 502);
    }
    assert_eq!(
        failed_again, 1,
        "the refused backend came back into the rotation"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_only_backend_of_a_pool_is_never_ejected_passively() {
    let refused = refused_url();
    let app = start(settings(std::slice::from_ref(&refused))).await;

    for _ in 0..3 {
        let answer = fetch(&app.url("/")).await;
        assert_eq!(answer.status, 502, "{}", answer.text());
    }
    assert_eq!(healthy_gauge(&app, &refused).await.as_deref(), Some("1"));
    assert_eq!(connect_errors(&app, &refused).await, 3);
    app.stop().await;
}

#[tokio::test]
async fn every_backend_down_answers_503_no_healthy_backend() {
    let (a, b) = (refused_url(), refused_url());
    let app = start(settings(&[a.clone(), b.clone()])).await;

    // The first GET tries one, is retried on the other; both are now out.
    assert_eq!(fetch(&app.url("/")).await.status, 502);
    let answer = fetch(&app.url("/")).await;

    assert_eq!(answer.status, 503);
    assert!(
        answer.text().contains("no healthy backend"),
        "{}",
        answer.text()
    );
    assert!(answer.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(healthy_gauge(&app, &a).await.as_deref(), Some("0"));
    assert_eq!(healthy_gauge(&app, &b).await.as_deref(), Some("0"));
    app.stop().await;
}

/// `connect_error` outcomes counted for `backend`.
async fn connect_errors(app: &Running, backend: &str) -> u64 {
    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    let prefix = format!(
        "shadowgate_upstream_requests_total{{upstream=\"default\",backend=\"{backend}\",outcome=\"connect_error\"}} "
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

#[tokio::test]
async fn a_get_that_cannot_connect_is_retried_once_on_another_backend() {
    let refused = refused_url();
    let good = RecordingServer::start().await.unwrap();
    let mut s = settings(&[refused.clone(), good.url()]);
    // Back at once, so the refused backend keeps getting its turn and retries keep happening.
    s.upstreams[0].eject_for = Duration::from_millis(1);
    let app = start(s).await;
    let client = http1();

    for i in 0..30 {
        let answer = send(&client, get(&app.url(&format!("/r{i}")))).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        // The refused backend was ejected by this GET's first try; wait for its return.
        wait_gauge(&app, &refused, "1").await;
    }

    assert_eq!(
        good.count(),
        30,
        "each GET reached the good backend exactly once"
    );
    assert!(
        connect_errors(&app, &refused).await >= 2,
        "the refused backend was tried (and the GETs retried) more than once"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_that_cannot_connect_is_not_retried() {
    let refused = refused_url();
    let good = RecordingServer::start().await.unwrap();
    let mut s = settings(&[refused.clone(), good.url()]);
    s.upstreams[0].eject_for = Duration::from_millis(1);
    let app = start(s).await;
    let client = http1();

    let mut bad = 0;
    for _ in 0..20 {
        let answer = post(&app, &client).await;
        match answer.status.as_u16() {
            200 => {}
            502 => {
                bad += 1;
                assert!(answer.text().contains("unreachable"), "{}", answer.text());
            }
            other => panic!("unexpected {other}: {}", answer.text()),
        }
        wait_gauge(&app, &refused, "1").await;
    }

    // Both backends are in the rotation for every POST: round robin gives each half.
    assert_eq!(bad, 10, "{bad} of 20 POSTs reached the refused backend");
    assert_eq!(good.count(), 20 - bad, "a failed POST was sent again");
    app.stop().await;
}

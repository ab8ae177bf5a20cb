//! Reloading a running app: the new config takes new requests, requests in flight finish on the
//! old one, unchanged mirror targets and runtime targets carry on, and a config that cannot be
//! built is refused with the old one still serving.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::*;
use http::StatusCode;
use shadowgate::{Outcome, TargetConfig};
use shadowgate_proxy::{PathMatch, RouteAction, RouteSettings, Settings};
use shadowgate_test_support::{RecordingServer, Responder};

async fn named(body: &'static str) -> RecordingServer {
    RecordingServer::start_with(Responder::new().body(body))
        .await
        .unwrap()
}

fn with_mirror(upstream: &RecordingServer, mirror: &RecordingServer) -> Settings {
    let mut s = settings(&[upstream.url()]);
    s.mirrors = vec![TargetConfig::builder(mirror.url())
        .name("canary")
        .routed(true)
        .build()
        .unwrap()];
    s
}

#[tokio::test]
async fn a_reload_moves_new_requests_while_one_in_flight_finishes_on_the_old_config() {
    let slow_old = RecordingServer::start_with(
        Responder::new()
            .body("old")
            .delay(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    let new = named("new").await;
    let canary = named("canary").await;
    let app = start(with_mirror(&slow_old, &canary)).await;

    let in_flight = tokio::spawn(fetch_owned(app.url("/slow")));
    slow_old.wait_for(1, PROMPT).await;
    let report = app.reloader.reload(&with_mirror(&new, &canary)).unwrap();
    assert!(report.added.is_empty() && report.replaced.is_empty() && report.removed.is_empty());
    assert!(report.need_restart.is_empty(), "{report:?}");

    assert_eq!(fetch(&app.url("/after")).await.text(), "new");
    let old_answer = tokio::time::timeout(PROMPT, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old_answer.status, StatusCode::OK);
    assert_eq!(old_answer.text(), "old");
    assert_eq!(slow_old.count(), 1);
    // The unchanged target was left alone and got both copies.
    canary.wait_for(2, PROMPT).await;
    app.stop().await;
}

async fn fetch_owned(url: String) -> Answer {
    fetch(&url).await
}

#[tokio::test]
async fn mirror_targets_are_added_replaced_and_removed_but_runtime_targets_survive() {
    let up = named("up").await;
    let a = named("a").await;
    let b = named("b").await;
    let runtime = named("runtime").await;
    let mut s = settings(&[up.url()]);
    let cfg = |name: &str, url: String, sample: f64| {
        TargetConfig::builder(url)
            .name(name)
            .sample(sample)
            .routed(true)
            .build()
            .unwrap()
    };
    s.mirrors = vec![cfg("a", a.url(), 1.0), cfg("gone", a.url(), 1.0)];
    let app = start(s.clone()).await;
    app.mirror.add_target(target(&runtime.url())).unwrap();

    s.mirrors = vec![cfg("a", a.url(), 0.0), cfg("b", b.url(), 1.0)];
    let report = app.reloader.reload(&s).unwrap();
    assert_eq!(report.added, ["b"]);
    assert_eq!(report.replaced, ["a"]);
    assert_eq!(report.removed, ["gone"]);
    let mut names: Vec<_> = app.mirror.stats().into_iter().map(|t| t.name).collect();
    names.sort();
    assert_eq!(names, vec!["a".to_owned(), "b".to_owned(), runtime.url()]);

    fetch(&app.url("/x")).await;
    // The answer is in, so what each target admitted is final.
    assert_eq!(app.settled("b").await.get(Outcome::Completed), 1);
    assert_eq!(app.settled(&runtime.url()).await.get(Outcome::Completed), 1);
    assert_eq!(
        app.target_stats("a").get(Outcome::Dispatched),
        0,
        "a is sampled at 0 after the reload"
    );
    assert_eq!(a.count(), 0);
    assert_eq!((b.count(), runtime.count()), (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn a_config_that_cannot_be_built_is_refused_and_the_old_one_keeps_serving() {
    let up = named("up").await;
    let canary = named("canary").await;
    let app = start(with_mirror(&up, &canary)).await;
    let mut bad = with_mirror(&up, &canary);
    bad.routes = vec![RouteSettings {
        name: "r".into(),
        host: None,
        path: PathMatch::Any,
        methods: Vec::new(),
        headers: Vec::new(),
        action: RouteAction::Proxy {
            upstream: "missing".into(),
            mirrors: Vec::new(),
            strip_prefix: false,
            rewrite: None,
        },
    }];
    bad.mirrors.push(target("http://127.0.0.1:1"));
    let err = app.reloader.reload(&bad).unwrap_err().to_string();
    assert!(err.contains("\"missing\""), "{err}");
    // Nothing changed: the extra target was not added, requests still go to `up`.
    assert_eq!(app.mirror.stats().len(), 1);
    assert_eq!(fetch(&app.url("/still")).await.text(), "up");
    assert_eq!(app.wait_outcome(Outcome::Completed, 1).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn settings_that_need_a_restart_are_reported() {
    let up = named("up").await;
    let app = start(settings(&[up.url()])).await;
    let mut s = settings(&[up.url()]);
    s.listen = "127.0.0.1:1".parse().unwrap();
    s.limits.max_header_bytes *= 2;
    s.mirror_defaults = s.mirror_defaults.clone().workers(3);
    let report = app.reloader.reload(&s).unwrap();
    assert_eq!(report.need_restart, ["listen", "limits", "mirror_defaults"]);
    assert_eq!(fetch(&app.url("/")).await.text(), "up");
    app.stop().await;
}

#[tokio::test]
async fn the_mirror_memory_budget_needs_a_restart() {
    let up = named("up").await;
    let app = start(settings(&[up.url()])).await;
    let mut s = settings(&[up.url()]);
    s.limits.mirror_memory_bytes *= 2;
    let report = app.reloader.reload(&s).unwrap();
    assert_eq!(report.need_restart, ["limits"]);
    app.stop().await;
}

#[tokio::test]
async fn a_config_target_with_a_runtime_targets_name_is_refused() {
    let up = named("up").await;
    let runtime = named("runtime").await;
    let app = start(settings(&[up.url()])).await;
    let put = http::Request::builder()
        .method(http::Method::PUT)
        .uri(app.admin_url(&format!("/targets?url={}", runtime.url())))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    assert_eq!(send(&http1(), put).await.status, StatusCode::OK);

    // A config target named like the runtime one (a --mirror flag target is named by its URL).
    let mut s = settings(&[up.url()]);
    s.mirrors = vec![TargetConfig::builder(runtime.url())
        .sample(0.0)
        .build()
        .unwrap()];
    let err = app.reloader.reload(&s).unwrap_err().to_string();
    assert!(err.contains("added at run time"), "{err}");
    // The runtime target is as it was: sampled at 1, it still gets a copy.
    fetch(&app.url("/x")).await;
    runtime.wait_for(1, PROMPT).await;
    app.stop().await;
}

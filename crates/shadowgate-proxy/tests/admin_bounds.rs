//! Runtime targets are bounded: at most `admin.max_runtime_targets`, all or nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use admin_common::{call, listed_urls, put_ok};
use common::{settings, start};
use http::Method;
use shadowgate_test_support::RecordingServer;

#[tokio::test]
async fn adding_over_max_runtime_targets_is_refused_naming_the_limit_and_adds_nothing() {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.max_runtime_targets = 2;
    let app = start(s).await;

    put_ok(&app, "url=http://127.0.0.1:1").await;
    // One slot is left: two new URLs in one call take none of it.
    let over = call(
        &app,
        Method::PUT,
        "/targets?url=http://127.0.0.1:2&url=http://127.0.0.1:3",
        &[],
    )
    .await;
    assert_eq!(over.status, 400, "{}", over.text());
    assert!(
        over.text()
            .contains("admin.max_runtime_targets is 2: 1 runtime targets and 2 new"),
        "{}",
        over.text()
    );
    assert!(over.text().contains("nothing was added"), "{}", over.text());
    assert_eq!(listed_urls(&app).await, ["http://127.0.0.1:1"]);

    put_ok(&app, "url=http://127.0.0.1:2").await;
    // At the limit, re-adding a target is still the no-op it always is.
    put_ok(&app, "url=http://127.0.0.1:2").await;
    let over = call(&app, Method::PUT, "/targets?url=http://127.0.0.1:3", &[]).await;
    assert_eq!(over.status, 400, "{}", over.text());
    assert_eq!(listed_urls(&app).await.len(), 2);

    // Removing one makes room again.
    let removed = call(&app, Method::DELETE, "/targets?url=http://127.0.0.1:1", &[]).await;
    assert_eq!(removed.status, 200);
    put_ok(&app, "url=http://127.0.0.1:3").await;
    assert_eq!(
        listed_urls(&app).await,
        ["http://127.0.0.1:2", "http://127.0.0.1:3"]
    );
    app.stop().await;
}

#[tokio::test]
async fn one_endpoint_is_one_runtime_target_whatever_its_spelling() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;
    let port = sink.addr().port();

    let first = put_ok(&app, &format!("url=HTTP://127.0.0.1:{port}/")).await;
    assert_eq!(first.text(), format!("added http://127.0.0.1:{port}\n"));
    for spelling in [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}//"),
        format!("Http://127.0.0.1:{port}/"),
    ] {
        let again = put_ok(&app, &format!("url={spelling}")).await;
        assert_eq!(
            again.text(),
            format!("unchanged http://127.0.0.1:{port} (already a target)\n"),
            "{spelling}"
        );
    }
    let default_port = put_ok(&app, "url=http://LOCALHOST:80/&url=http://localhost").await;
    assert_eq!(default_port.text(), "added http://localhost\n");
    assert_eq!(
        listed_urls(&app).await,
        [
            format!("http://127.0.0.1:{port}"),
            "http://localhost".to_owned()
        ]
    );

    // One request, one copy to the endpoint.
    assert_eq!(common::fetch(&app.url("/once")).await.status, 200);
    let settled = app.settled(&format!("http://127.0.0.1:{port}")).await;
    assert_eq!(
        settled.get(shadowgate::Outcome::Dispatched),
        1,
        "{settled:?}"
    );
    common::eventually("the sink gets one copy", || sink.count() == 1).await;
    assert_eq!(sink.count(), 1, "one copy, not more");

    // Any spelling removes it.
    let removed = call(
        &app,
        Method::DELETE,
        &format!("/targets?url=HTTP://127.0.0.1:{port}/"),
        &[],
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert_eq!(removed.text(), format!("removed http://127.0.0.1:{port}\n"));
    assert_eq!(listed_urls(&app).await, ["http://localhost"]);
    app.stop().await;
}

#[tokio::test]
async fn urls_that_would_break_a_metric_label_are_refused_naming_the_character() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    for (query, c) in [
        ("url=http://127.0.0.1:9/%22x", "'\"'"),
        ("url=http://127.0.0.1:9/x%5C", "'\\\\'"),
        ("url=http://127.0.0.1:9/%7Bx%7D", "'{'"),
        ("url=http://127.0.0.1:9/a+b", "' '"),
        ("url=http://127.0.0.1:9/a%0Ab", "'\\n'"),
    ] {
        let refused = call(&app, Method::PUT, &format!("/targets?{query}"), &[]).await;
        assert_eq!(refused.status, 400, "{query}: {}", refused.text());
        let text = refused.text();
        assert!(
            text.contains(&format!("must not contain {c}")) && text.contains("nothing was added"),
            "{query}: {text}"
        );
    }
    assert!(listed_urls(&app).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_removed_targets_series_leave_metrics() {
    let upstream = RecordingServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;
    let url = sink.url();
    let label = format!("target=\"{url}\"");

    put_ok(&app, &format!("url={url}")).await;
    assert_eq!(common::fetch(&app.url("/x")).await.status, 200);
    let settled = app.settled(&url).await;
    assert_eq!(
        settled.get(shadowgate::Outcome::Dispatched),
        1,
        "{settled:?}"
    );
    common::eventually("the sink gets one copy", || sink.count() == 1).await;
    assert_eq!(sink.count(), 1, "one copy, not more");
    let before = common::fetch(&app.admin_url("/metrics")).await.text();
    assert!(before.contains(&label), "{before}");
    let stats = common::fetch(&app.admin_url("/stats")).await.text();
    assert!(stats.contains(&url), "{stats}");

    let removed = call(&app, Method::DELETE, &format!("/targets?url={url}"), &[]).await;
    assert_eq!(removed.status, 200);
    let after = common::fetch(&app.admin_url("/metrics")).await.text();
    assert!(!after.contains(&label), "series of {url} left:\n{after}");
    let stats = common::fetch(&app.admin_url("/stats")).await.text();
    assert!(!stats.contains(&url), "{stats}");
    app.stop().await;
}

#[tokio::test]
async fn a_target_at_the_proxys_own_listeners_is_refused_naming_it() {
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;
    let proxy = app.addr.port();
    let admin = app.admin.unwrap().port();

    for url in [
        format!("http://{}", app.addr),
        format!("http://localhost:{proxy}"),
        format!("http://127.0.0.2:{proxy}/x"),
        format!("http://0.0.0.0:{proxy}"),
        format!("http://[::1]:{proxy}"),
        format!("http://[::]:{proxy}"),
        format!("http://localhost:{admin}"),
    ] {
        let refused = call(
            &app,
            Method::PUT,
            &format!("/targets?url=http://127.0.0.1:9&url={url}"),
            &[],
        )
        .await;
        assert_eq!(refused.status, 400, "{url}: {}", refused.text());
        let text = refused.text();
        assert!(
            text.contains("points at the proxy's own listener")
                && text.contains("nothing was added"),
            "{url}: {text}"
        );
    }
    assert!(listed_urls(&app).await.is_empty());

    // One proxied request still reaches the upstream once.
    assert_eq!(common::fetch(&app.url("/once")).await.status, 200);
    assert_eq!(upstream.count(), 1);
    app.stop().await;
}

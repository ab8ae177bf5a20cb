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

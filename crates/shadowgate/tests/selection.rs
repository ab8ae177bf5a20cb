//! Routed targets get copies only from services that select them; unrouted targets get every
//! copy; a target replaced in place keeps receiving without a gap, and an equal config is
//! recognised as unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use common::*;
use shadowgate::{MirrorLayer, Outcome, TargetConfig};
use shadowgate_test_support::RecordingServer;
use tower::{Layer, ServiceExt};

fn paths(server: &RecordingServer) -> Vec<String> {
    let mut p: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| r.uri.to_string())
        .collect();
    p.sort();
    p
}

#[tokio::test]
async fn routed_targets_get_copies_only_from_services_that_select_them() {
    let api = RecordingServer::start().await.unwrap();
    let web = RecordingServer::start().await.unwrap();
    let all = RecordingServer::start().await.unwrap();
    let routed = |url: String, name: &str| {
        TargetConfig::builder(url)
            .name(name)
            .routed(true)
            .build()
            .unwrap()
    };
    let layer = MirrorLayer::builder()
        .target(routed(api.url(), "api"))
        .target(routed(web.url(), "web"))
        .target(TargetConfig::builder(all.url()).build().unwrap())
        .build()
        .unwrap();
    let primary = || tower::service_fn(primary::<http_body_util::Empty<bytes::Bytes>>);
    layer
        .layer_selecting(primary(), &["api"])
        .oneshot(get("/api"))
        .await
        .unwrap();
    layer
        .layer_selecting(primary(), &["web", "not-yet-defined"])
        .oneshot(get("/web"))
        .await
        .unwrap();
    layer
        .layer_selecting(primary(), &[] as &[&str])
        .oneshot(get("/none"))
        .await
        .unwrap();
    layer.layer(primary()).oneshot(get("/every")).await.unwrap();

    // The calls are done, so what each target admitted is final; once those copies finished,
    // the sinks hold every copy there will ever be.
    assert_eq!(settled(&layer, "api").await.get(Outcome::Completed), 2);
    assert_eq!(settled(&layer, "web").await.get(Outcome::Completed), 2);
    assert_eq!(settled(&layer, &all.url()).await.get(Outcome::Completed), 4);
    assert_eq!(paths(&api), ["/api", "/every"]);
    assert_eq!(paths(&web), ["/every", "/web"]);
    assert_eq!(paths(&all), ["/api", "/every", "/none", "/web"]);
}

#[tokio::test]
async fn replace_target_swaps_settings_in_place() {
    let old = RecordingServer::start().await.unwrap();
    let new = RecordingServer::start().await.unwrap();
    let config = |url: String| TargetConfig::builder(url).name("canary").build().unwrap();
    let layer = MirrorLayer::builder()
        .target(config(old.url()))
        .build()
        .unwrap();
    assert_eq!(layer.target_config("canary"), Some(config(old.url())));
    assert_ne!(layer.target_config("canary"), Some(config(new.url())));
    call(&layer, get("/before")).await;
    assert_eq!(settled(&layer, "canary").await.get(Outcome::Completed), 1);
    assert!(layer.replace_target(config(new.url())));
    call(&layer, get("/after")).await;
    assert!(!layer.replace_target(
        TargetConfig::builder(new.url())
            .name("second")
            .build()
            .unwrap()
    ));
    assert_eq!(layer.stats().len(), 2);
    // The name keeps its counters: `/before` and `/after` are its only copies, both finished.
    let replaced = settled(&layer, "canary").await;
    assert_eq!(replaced.get(Outcome::Dispatched), 2, "{replaced:?}");
    assert_eq!(replaced.get(Outcome::Completed), 2, "{replaced:?}");
    assert_eq!(paths(&old), ["/before"]);
    assert_eq!(paths(&new), ["/after"]);
    assert_eq!(stats(&layer, "canary").url, new.url());
}

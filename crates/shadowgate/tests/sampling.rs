//! Which requests are copied: ratios, consistent keys and methods.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use common::*;
use shadowgate::{Outcome, SampleBy, TargetConfig};
use shadowgate_test_support::RecordingServer;

fn mirror_sink(b: shadowgate::TargetBuilder) -> shadowgate::MirrorLayer {
    mirror(b.name("sink"))
}

#[tokio::test]
async fn sample_zero_copies_nothing_and_one_copies_everything() {
    let never_sink = RecordingServer::start().await.unwrap();
    let always_sink = RecordingServer::start().await.unwrap();
    let never = mirror_sink(TargetConfig::builder(never_sink.url()).sample(0.0));
    let always = mirror_sink(TargetConfig::builder(always_sink.url()).sample(1.0));
    for i in 0..100 {
        call(&never, get(&format!("/{i}"))).await;
        call(&always, get(&format!("/{i}"))).await;
    }
    always_sink.wait_for(100, WAIT).await;
    wait_stats(&always, "sink", |s| s.get(Outcome::Completed) == 100).await;
    assert_eq!(always_sink.count(), 100);
    assert_eq!(never_sink.count(), 0);
    assert_eq!(terminal(&stats(&never, "sink")), 0);
}

#[tokio::test]
async fn half_copies_about_half() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror_sink(TargetConfig::builder(sink.url()).sample(0.5));
    for i in 0..1000 {
        call(&layer, get(&format!("/{i}"))).await;
    }
    let s = wait_stats(&layer, "sink", |s| open(s) == 0).await;
    // Sampled = every copy with an outcome (the back-to-back burst may fill the queue).
    let sampled = terminal(&s);
    assert!((400..=600).contains(&sampled), "{sampled} of 1000");
    assert_eq!(sink.count() as u64, s.get(Outcome::Completed));
}

#[tokio::test]
async fn consistent_sampling_by_header_keeps_each_user_in_or_out() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror_sink(
        TargetConfig::builder(sink.url())
            .sample(0.5)
            .sample_by(SampleBy::parse("header:x-user-id").unwrap()),
    );
    for round in 0..3 {
        for user in 0..100 {
            let mut req = get(&format!("/u/{user}/r/{round}"));
            req.headers_mut().insert("x-user-id", user.into());
            call(&layer, req).await;
        }
    }
    wait_stats(&layer, "sink", |s| {
        open(s) == 0 && s.get(Outcome::Dispatched) > 0
    })
    .await;
    let mut per_user = std::collections::HashMap::<String, usize>::new();
    for r in sink.requests() {
        *per_user
            .entry(r.headers["x-user-id"].to_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Every sampled user is sampled on every round; about half the users are.
    assert!(per_user.values().all(|n| *n == 3), "{per_user:?}");
    assert!(
        (25..=75).contains(&per_user.len()),
        "{} users of 100",
        per_user.len()
    );
}

#[tokio::test]
async fn methods_filter_copies_only_listed_methods() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror_sink(TargetConfig::builder(sink.url()).methods([http::Method::DELETE]));
    call(&layer, get("/get")).await;
    let del = http::Request::delete("/del")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    call(&layer, del).await;
    let got = sink.wait_for(1, WAIT).await;
    wait_stats(&layer, "sink", |s| open(s) == 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, "DELETE");
    assert_eq!(stats(&layer, "sink").get(Outcome::Dispatched), 1);
}

//! Targets that are slow, silent, refusing or resetting cost the primary nothing: every copy
//! they cannot take is dropped or fails, and is counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::time::Duration;

use common::*;
use shadowgate::{MirrorLayer, Outcome, TargetConfig};
use shadowgate_test_support::{eventually, exactly};
use shadowgate_test_support::{
    refused_url, BlackHole, RecordingServer, ResettingServer, Responder,
};

/// Sends `n` requests one after another through the layer; each must be answered well within
/// `bound` (far below the target's timeout, so a primary that waited would fail).
async fn primary_unaffected(layer: &MirrorLayer, n: usize, bound: Duration) {
    for i in 0..n {
        let resp = within(bound, call(layer, get(&format!("/r/{i}")))).await;
        assert_eq!(resp.status(), 200);
    }
}

#[tokio::test]
async fn primary_latency_unaffected_by_black_hole_target_and_queue_full_is_counted() {
    let hole = BlackHole::start().await.unwrap();
    let layer = mirror(
        TargetConfig::builder(hole.url())
            .name("hole")
            .workers(2)
            .queue(3)
            .timeout(Duration::from_secs(60)),
    );
    // Two copies, each taken by a worker into the hole (one connection each)...
    primary_unaffected(&layer, 2, Duration::from_secs(2)).await;
    eventually("each worker to hold a copy in the hole", || {
        exactly(hole.connections(), 2)
    })
    .await;
    // ...then, with both workers held, three more fit the queue and the rest are dropped.
    primary_unaffected(&layer, 48, Duration::from_secs(2)).await;
    let s = stats(&layer, "hole");
    assert_eq!(s.get(Outcome::Dispatched), 5, "{s:?}");
    assert_eq!(s.get(Outcome::DroppedQueueFull), 45, "{s:?}");
    assert_eq!(hole.connections(), 2, "more connections than workers");
}

#[tokio::test]
async fn primary_unaffected_by_slow_target_and_timeouts_are_counted() {
    let slow = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(30)))
        .await
        .unwrap();
    let layer = mirror(
        TargetConfig::builder(slow.url())
            .name("slow")
            .workers(4)
            .queue(4)
            .timeout(Duration::from_millis(300)),
    );
    within(Duration::from_secs(2), call(&layer, get("/first"))).await;
    let s = wait_stats(&layer, "slow", |s| s.get(Outcome::TimedOut) == 1).await;
    assert_eq!(s.get(Outcome::TimedOut), 1);
    assert_eq!(s.get(Outcome::Completed), 0);
    primary_unaffected(&layer, 20, Duration::from_secs(2)).await;
}

#[tokio::test]
async fn refused_target_copies_fail_and_are_counted() {
    let layer = mirror(
        TargetConfig::builder(refused_url())
            .name("dead")
            .circuit(0, Duration::ZERO), // no breaker: every copy tries
    );
    primary_unaffected(&layer, 20, Duration::from_secs(2)).await;
    let s = wait_stats(&layer, "dead", |s| s.get(Outcome::Failed) == 20).await;
    assert_eq!(s.get(Outcome::Failed), 20);
    assert_eq!(s.get(Outcome::Dispatched), 20);
}

#[tokio::test]
async fn resetting_target_copies_fail_and_are_counted() {
    let reset = ResettingServer::start().await.unwrap();
    let layer = mirror(
        TargetConfig::builder(reset.url())
            .name("reset")
            .circuit(0, Duration::ZERO), // no breaker: every copy tries
    );
    primary_unaffected(&layer, 10, Duration::from_secs(2)).await;
    let s = wait_stats(&layer, "reset", |s| terminal(s) == 10).await;
    assert_eq!(s.get(Outcome::Failed), 10, "{s:?}");
    assert!(reset.connections() >= 1);
}

/// Timeout counts from dispatch: a copy that waits in the queue spends its budget there.
/// One worker, a target that answers in 1 s, timeout 2.5 s, six copies at once:
/// copies 1 and 2 complete (at 1 s and 2 s), copy 3 starts at 2 s and times out at 2.5 s,
/// copies 4-6 leave the queue after their deadline and time out without any I/O.
#[tokio::test]
async fn timeout_counts_from_dispatch_including_queue_wait() {
    let sink = RecordingServer::start_with(Responder::new().delay(Duration::from_secs(1)))
        .await
        .unwrap();
    let layer = mirror(
        TargetConfig::builder(sink.url())
            .name("sink")
            .workers(1)
            .queue(10)
            .timeout(Duration::from_millis(2500)),
    );
    for i in 0..6 {
        call(&layer, get(&format!("/{i}"))).await;
    }
    let s = wait_stats(&layer, "sink", |s| terminal(s) == 6).await;
    assert_eq!(s.get(Outcome::Completed), 2, "{s:?}");
    assert_eq!(s.get(Outcome::TimedOut), 4, "{s:?}");
    assert_eq!(sink.count(), 3, "expired copies must not be sent");
}

#[tokio::test]
async fn rate_limit_drops_copies_over_the_rate() {
    let sink = RecordingServer::start().await.unwrap();
    let layer = mirror(TargetConfig::builder(sink.url()).name("sink").rate_limit(5));
    for i in 0..40 {
        call(&layer, get(&format!("/{i}"))).await;
    }
    let s = stats(&layer, "sink");
    let admitted = s.get(Outcome::Dispatched);
    // A burst of five, plus whatever refilled while the 40 calls ran (well under a second).
    assert!((5..=9).contains(&admitted), "{admitted}");
    assert_eq!(s.get(Outcome::DroppedRateLimited), 40 - admitted);
}

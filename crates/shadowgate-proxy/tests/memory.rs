//! The memory budget through real sockets: many concurrent uploads ending in 1-byte chunks, copied
//! to a black hole, each get one outcome: kept within `limits.mirror_memory_bytes`, or dropped
//! over it (`dropped_memory_budget`), the client's request untouched either way.
//!
//! Each upload is one 60 KiB chunk and then 1,024 chunks of one byte: the smallest budget is
//! 1 MiB, and a million 1-byte chunks take minutes through a debug build, so the large chunk
//! fills the budget and the tiny ones ride on it (how tiny chunks are charged is tested in the
//! library's tee.rs).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{fetch, settings, start, PROMPT};
use shadowgate::Outcome;
use shadowgate_test_support::{raw_exchange, BlackHole, RecordingServer};

const BUDGET: usize = 1024 * 1024;
const UPLOADS: usize = 24;
const LARGE: usize = 60 * 1024;
const TINY: usize = 1024;
const BODY: usize = LARGE + TINY;

/// `shadowgate_mirror_memory_bytes` from the admin `/metrics`.
async fn held(metrics_url: &str) -> i64 {
    let text = fetch(metrics_url).await.text();
    let line = text
        .lines()
        .find(|l| l.starts_with("shadowgate_mirror_memory_bytes "))
        .unwrap_or_else(|| panic!("no memory gauge in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A POST of `BODY` bytes of `byte`: one chunk of `LARGE` bytes, then `TINY` chunks of one.
fn one_byte_chunks(i: usize, byte: u8) -> Vec<u8> {
    let mut raw = format!(
        "POST /upload/{i} HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(format!("{LARGE:x}\r\n").as_bytes());
    raw.resize(raw.len() + LARGE, byte);
    raw.extend_from_slice(b"\r\n");
    for _ in 0..TINY {
        raw.extend_from_slice(b"1\r\n");
        raw.push(byte);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[tokio::test]
async fn one_byte_chunk_uploads_to_a_black_hole_stay_under_the_memory_budget() {
    let upstream = RecordingServer::start().await.unwrap();
    let hole = BlackHole::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.limits.mirror_memory_bytes = BUDGET;
    s.mirrors.push(
        shadowgate::TargetConfig::builder(hole.url())
            .workers(1)
            .queue(1000)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    let app = start(s).await;
    let metrics_url = app.admin_url("/metrics");

    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let raw = one_byte_chunks(i, b'a' + i as u8);
            let addr = app.addr;
            tokio::spawn(async move {
                raw_exchange(addr, &raw, Duration::from_secs(60))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for upload in uploads {
        let answer = upload.await.unwrap();
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    }

    // The primary got every body whole.
    let primary = upstream.wait_for(UPLOADS, PROMPT).await;
    assert_eq!(primary.len(), UPLOADS);
    for r in &primary {
        let i: usize = r.uri.path().rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(r.body.len(), BODY, "upload {i}");
        assert!(r.body.iter().all(|b| *b == b'a' + i as u8), "upload {i}");
    }

    // Every copy has its one outcome: queued for the black hole, or dropped over the budget.
    let stats = app.mirror.stats()[0].clone();
    let dispatched = stats.get(Outcome::Dispatched);
    let over = stats.get(Outcome::DroppedMemoryBudget);
    assert_eq!(dispatched + over, UPLOADS as u64, "{stats:?}");
    assert!(over > 0, "the budget dropped some copies: {stats:?}");
    assert!(
        dispatched > 0,
        "the budget let some copies through: {stats:?}"
    );
    // A copy holds at least its 61 KiB of body: at most 16 fit in 1 MiB.
    assert!(dispatched <= 16, "{stats:?}");

    // The gauge counts what the kept copies hold. (It cannot pass the budget by construction;
    // that the budget bounds the real heap is measured in the library's tests/held.rs.)
    let now = held(&metrics_url).await;
    assert!(now > 0, "held now: {now}");
    app.stop().await;
}

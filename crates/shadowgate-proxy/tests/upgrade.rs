//! Upgrade (WebSocket-style) pass-through: the 101 comes back, the two connections are bridged,
//! and the mirror skips the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{settings, start, target, PROMPT};
use shadowgate::Outcome;
use shadowgate_test_support::{RecordingServer, UpgradeEchoServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until `buf` holds `needle`, bounded by [`PROMPT`].
async fn read_until(stream: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let found = tokio::time::timeout(PROMPT, async {
        let mut chunk = [0u8; 4096];
        while !buf.windows(needle.len()).any(|w| w == needle) {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "closed early; got {:?}",
                String::from_utf8_lossy(buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no {:?} within the bound; got {:?}",
        String::from_utf8_lossy(needle),
        String::from_utf8_lossy(buf)
    );
}

#[tokio::test]
async fn upgrade_is_bridged_end_to_end_and_skipped_by_the_mirror() {
    let upstream = UpgradeEchoServer::start().await.unwrap();
    let sink = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.mirrors.push(target(&sink.url()));
    let app = start(s).await;

    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    read_until(&mut stream, &mut head, b"\r\n\r\n").await;
    let head_text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head_text.starts_with("http/1.1 101"), "{head_text}");
    assert!(head_text.contains("upgrade: echo-proto"), "{head_text}");
    assert!(head_text.contains("connection: upgrade"), "{head_text}");

    let mut echoed = Vec::new();
    for msg in [&b"first frame \x00\x01\x02"[..], b"second frame"] {
        stream.write_all(msg).await.unwrap();
        read_until(&mut stream, &mut echoed, msg).await;
    }

    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].headers["upgrade"], "echo-proto");
    assert_eq!(app.wait_outcome(Outcome::SkippedUpgrade, 1).await, 1);
    assert_eq!(app.outcome(Outcome::Dispatched), 0);
    // Nothing was dispatched, so nothing can reach the sink later.
    assert_eq!(sink.count(), 0, "an upgrade request was mirrored");
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn upgrade_refused_by_the_upstream_is_a_plain_response() {
    // An upgrade request to a server that does not upgrade gets its ordinary answer.
    let upstream = RecordingServer::start().await.unwrap();
    let app = start(settings(&[upstream.url()])).await;

    let raw =
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: echo-proto\r\n\r\n";
    let reply = shadowgate_test_support::raw_exchange(app.addr, raw, PROMPT)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
    app.stop().await;
}

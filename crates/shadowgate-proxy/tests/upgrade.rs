//! Upgrade (WebSocket-style) pass-through: the 101 comes back, the two connections are bridged,
//! and the mirror skips the request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{fetch, settings, start, target, PROMPT};
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

/// Opens a tunnel through the proxy at `addr` and checks it echoes.
async fn tunnel(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    read_until(&mut stream, &mut head, b"\r\n\r\n").await;
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    stream.write_all(b"ping").await.unwrap();
    let mut echoed = Vec::new();
    read_until(&mut stream, &mut echoed, b"ping").await;
    stream
}

/// Whether the proxy closed `stream` within [`PROMPT`] (end of stream or a reset).
async fn closed_by_the_proxy(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(PROMPT, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// A tunnel holds its backend's `max_connections` slot until it closes: another request is 503
/// meanwhile, and served once the tunnel is gone (it used to be released at the 101).
#[tokio::test]
async fn a_tunnel_counts_against_max_connections_until_it_closes() {
    let upstream = UpgradeEchoServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.upstreams[0].max_connections = 1;
    let app = start(s).await;

    let stream = tunnel(app.addr).await;
    assert_eq!(fetch(&app.url("/other")).await.status, 503);
    drop(stream);
    common::eventually_async("the slot freed when the tunnel closed", || async {
        fetch(&app.url("/other")).await.status != 503
    })
    .await;
    app.stop().await;
}

/// A tunnel with no traffic either way for `idle_timeout` is closed; traffic keeps it open.
#[tokio::test]
async fn an_idle_tunnel_is_closed_at_the_idle_timeout() {
    let upstream = UpgradeEchoServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.limits.idle_timeout = Duration::from_millis(400);
    let app = start(s).await;

    let mut stream = tunnel(app.addr).await;
    let started = tokio::time::Instant::now();
    assert!(
        closed_by_the_proxy(&mut stream).await,
        "an idle tunnel stayed open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed before the idle timeout"
    );
    app.stop().await;
}

/// Traffic keeps a tunnel open past the idle timeout: the timeout counts from the last byte,
/// not from the upgrade.
#[tokio::test]
async fn a_tunnel_with_traffic_outlives_the_idle_timeout() {
    let upstream = UpgradeEchoServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.limits.idle_timeout = Duration::from_secs(1);
    let app = start(s).await;

    let mut stream = tunnel(app.addr).await;
    let mut echoed = Vec::new();
    // 2.5 s of traffic, a byte every 200 ms: well past the 1 s timeout, never 1 s quiet.
    for i in 0..12u8 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let byte = [b'a' + i];
        stream.write_all(&byte).await.unwrap();
        read_until(&mut stream, &mut echoed, &byte).await;
    }
    assert_eq!(echoed.len(), 12, "{echoed:?}");
    // Then quiet: closed.
    assert!(
        closed_by_the_proxy(&mut stream).await,
        "an idle tunnel stayed open"
    );
    app.stop().await;
}

/// At shutdown a tunnel gets `shutdown_timeout` to finish, then is closed (it used to outlive
/// the proxy's shutdown).
#[tokio::test]
async fn a_tunnel_is_closed_at_the_end_of_the_shutdown_grace_period() {
    let upstream = UpgradeEchoServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.limits.shutdown_timeout = Duration::from_millis(300);
    let app = start(s).await;

    let mut stream = tunnel(app.addr).await;
    let stopped = tokio::spawn(app.stop());
    // Within the grace period it still works.
    stream.write_all(b"still").await.unwrap();
    let mut echoed = Vec::new();
    read_until(&mut stream, &mut echoed, b"still").await;
    assert!(
        closed_by_the_proxy(&mut stream).await,
        "the tunnel outlived the shutdown"
    );
    tokio::time::timeout(PROMPT, stopped)
        .await
        .unwrap()
        .unwrap();
}

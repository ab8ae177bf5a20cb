// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;

use std::time::Duration;

use client::{body, get, http1, send, PROMPT};
use http::Version;
use shadowgate_test_support::{raw_exchange, UpgradeEchoServer};

#[tokio::test]
async fn upgrade_gets_101_then_raw_bytes_echo() {
    let server = UpgradeEchoServer::start().await.unwrap();
    let request = b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo-proto\r\n\
                    Connection: keep-alive, Upgrade\r\n\r\nraw bytes after the head";
    // The echo never closes on its own, so the exchange ends at the (bounded) timeout.
    let raw = raw_exchange(server.addr(), request, Duration::from_secs(2))
        .await
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.starts_with("http/1.1 101 switching protocols\r\n"),
        "{text}"
    );
    assert!(lower.contains("\r\nupgrade: echo-proto\r\n"), "{text}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nraw bytes after the head"), "{text}");

    let seen = server.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/chat");
    assert_eq!(seen[0].version, Version::HTTP_11);
    assert_eq!(seen[0].headers["upgrade"], "echo-proto");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn request_without_upgrade_is_answered_plainly() {
    let server = UpgradeEchoServer::start().await.unwrap();
    let response = send(&http1(), get(&format!("{}/plain", server.url())))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(body(response).await, "not upgraded");
    assert_eq!(server.requests()[0].uri, "/plain");
}

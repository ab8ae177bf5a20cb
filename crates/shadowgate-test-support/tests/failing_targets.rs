// Tests: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;

use std::io::ErrorKind;
use std::time::Duration;

use client::{get, http1, PROMPT};
use shadowgate_test_support::{
    at_least, eventually, exactly, raw_exchange, refused_addr, refused_url, BlackHole,
    ResettingServer,
};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

#[tokio::test]
async fn black_hole_accepts_but_never_answers() {
    let hole = BlackHole::start().await.unwrap();
    let client = http1();
    let attempt =
        tokio::time::timeout(Duration::from_millis(300), client.request(get(&hole.url()))).await;
    assert!(attempt.is_err(), "the black hole answered: {attempt:?}");
    eventually("the black hole's first connection", || {
        exactly(hole.connections(), 1)
    })
    .await;

    // Not even a close: the raw read runs into the timeout with nothing.
    let raw = raw_exchange(
        hole.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_millis(300),
    )
    .await
    .unwrap();
    assert!(raw.is_empty());
    eventually("the black hole's second connection", || {
        exactly(hole.connections(), 2)
    })
    .await;
}

#[tokio::test]
async fn dropping_the_black_hole_ends_its_connections() {
    let hole = BlackHole::start().await.unwrap();
    let mut stream = TcpStream::connect(hole.addr()).await.unwrap();
    eventually("the black hole's connection", || {
        exactly(hole.connections(), 1)
    })
    .await;
    drop(hole);
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(PROMPT, stream.read(&mut buf))
        .await
        .expect("connection still held after drop");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn resetting_server_resets_mid_exchange() {
    let server = ResettingServer::start().await.unwrap();
    let err = raw_exchange(server.addr(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", PROMPT)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");

    let outcome = tokio::time::timeout(PROMPT, http1().request(get(&server.url())))
        .await
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn resetting_on_accept_fails_the_request() {
    let server = ResettingServer::start_on_accept().await.unwrap();
    let outcome = tokio::time::timeout(PROMPT, http1().request(get(&server.url())))
        .await
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
    eventually("a connection to the resetting server", || {
        at_least(server.connections(), 1)
    })
    .await;
}

#[tokio::test]
async fn refused_addr_refuses_connections() {
    let addr = refused_addr();
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0);
    let err = tokio::time::timeout(PROMPT, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    let outcome = tokio::time::timeout(PROMPT, http1().request(get(&refused_url())))
        .await
        .unwrap();
    let err = outcome.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

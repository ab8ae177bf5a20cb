//! The admin API and browsers: a page of another site can neither call it (cross-site `Origin`,
//! `Sec-Fetch-Site`) nor read it through DNS rebinding (a foreign `Host`), while curl-like
//! clients and the names of `admin.allowed_hosts` still work. Requests are written by hand on a
//! raw socket, headers exactly as a browser would send them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_common;
mod common;

use std::net::SocketAddr;

use admin_common::listed_urls;
use common::{settings, start, Running};
use shadowgate_test_support::RecordingServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (request line and headers, without the final blank line) and `body` on a fresh
/// connection that closes after the answer; returns the status and the body.
async fn raw(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await
    .expect("the admin listener answers within 10 s")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn app(allowed_hosts: &[&str]) -> (Running, RecordingServer, SocketAddr) {
    let upstream = RecordingServer::start().await.unwrap();
    let mut s = settings(&[upstream.url()]);
    s.admin_allowed_hosts = allowed_hosts.iter().map(|h| (*h).to_owned()).collect();
    let app = start(s).await;
    let admin = app.admin.unwrap();
    (app, upstream, admin)
}

#[tokio::test]
async fn cross_site_post_of_a_target_is_forbidden_and_adds_nothing() {
    let (app, _upstream, admin) = app(&[]).await;
    let target = "http%3A%2F%2F127.0.0.1%3A9";

    // What a page on http://evil.example sends for a form or a `fetch` with no preflight.
    let (status, body) = raw(
        admin,
        &format!(
            "POST /targets?url={target} HTTP/1.1\r\nhost: {admin}\r\norigin: http://evil.example\r\ncontent-type: text/plain"
        ),
        "x",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Origin \"http://evil.example\""), "{body}");
    assert!(listed_urls(&app).await.is_empty(), "a target was added");

    // The same call with browser fetch metadata only.
    let (status, body) = raw(
        admin,
        &format!(
            "POST /targets?url={target} HTTP/1.1\r\nhost: {admin}\r\nsec-fetch-site: cross-site"
        ),
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Sec-Fetch-Site \"cross-site\""), "{body}");
    assert!(listed_urls(&app).await.is_empty(), "a target was added");

    // A page served by the admin listener itself may call it.
    let (status, body) = raw(
        admin,
        &format!("POST /targets?url={target} HTTP/1.1\r\nhost: {admin}\r\norigin: http://{admin}\r\nsec-fetch-site: same-origin"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_urls(&app).await, ["http://127.0.0.1:9"]);
    app.stop().await;
}

#[tokio::test]
async fn dns_rebinding_read_of_metrics_is_forbidden_but_healthz_is_not() {
    let (app, _upstream, admin) = app(&[]).await;

    let (status, body) = raw(admin, "GET /metrics HTTP/1.1\r\nhost: evil.example", "").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Host \"evil.example\""), "{body}");
    assert!(!body.contains("shadowgate_"), "metrics leaked: {body}");
    let port = admin.port();
    let (status, _) = raw(
        admin,
        &format!("GET /stats HTTP/1.1\r\nhost: evil.example:{port}"),
        "",
    )
    .await;
    assert_eq!(status, 403);

    // `/healthz` is for load balancers, whatever host they use.
    let (status, body) = raw(admin, "GET /healthz HTTP/1.1\r\nhost: evil.example", "").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    app.stop().await;
}

#[tokio::test]
async fn curl_like_clients_and_allowed_hosts_still_work() {
    let (app, _upstream, admin) = app(&["admin.example", "ops.example:8443"]).await;
    let port = admin.port();

    for host in [
        admin.to_string(),
        format!("localhost:{port}"),
        "admin.example".to_owned(),
        format!("admin.example:{port}"),
        "ops.example:8443".to_owned(),
    ] {
        let (status, body) =
            raw(admin, &format!("GET /metrics HTTP/1.1\r\nhost: {host}"), "").await;
        assert_eq!(status, 200, "Host {host}: {body}");
        assert!(body.contains("shadowgate_"), "Host {host}: {body}");
    }
    let (status, body) = raw(
        admin,
        &format!("PUT /targets?url=http://127.0.0.1:9 HTTP/1.1\r\nhost: {admin}\r\nuser-agent: curl/8.5.0\r\naccept: */*"),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(listed_urls(&app).await, ["http://127.0.0.1:9"]);

    // A name that is not listed, or a listed name on another port, is still refused.
    for host in ["other.example", "ops.example:9"] {
        let (status, _) = raw(admin, &format!("GET /metrics HTTP/1.1\r\nhost: {host}"), "").await;
        assert_eq!(status, 403, "Host {host}");
    }
    app.stop().await;
}

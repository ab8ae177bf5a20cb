//! The upstream's client: `https://` backends (verified, or not with `tls_skip_verify`), the
//! connect timeout, and the health gauge in `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{fetch, settings, start};
use shadowgate_test_support::{RecordingServer, Responder};
use tokio::net::{TcpSocket, TcpStream};

#[tokio::test]
async fn https_backend_with_tls_skip_verify_is_proxied() {
    let backend = RecordingServer::start_tls(Responder::new().body("over tls"))
        .await
        .unwrap();
    assert!(backend.url().starts_with("https://"));
    let mut s = settings(&[backend.url()]);
    s.upstreams[0].tls_skip_verify = true;
    let app = start(s).await;

    let answer = fetch(&app.url("/secure?q=1")).await;

    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.text(), "over tls");
    let recorded = backend.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].uri.path_and_query().unwrap(), "/secure?q=1");
    app.stop().await;
}

#[tokio::test]
async fn https_backend_with_an_untrusted_certificate_answers_502() {
    let backend = RecordingServer::start_tls(Responder::new()).await.unwrap();
    let app = start(settings(&[backend.url()])).await;

    let answer = fetch(&app.url("/")).await;

    assert_eq!(answer.status, 502, "{}", answer.text());
    assert_eq!(
        backend.count(),
        0,
        "no request crossed an unverified connection"
    );
    app.stop().await;
}

/// A listener whose accept queue is full (it never accepts): the kernel drops further SYNs, so
/// connecting hangs, honestly, on loopback. Keep the returned values alive.
async fn hanging_listener() -> (tokio::net::TcpListener, Vec<TcpStream>, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            // Refused or hanging: the queue is full.
            _ => break,
        }
    }
    (listener, fillers, addr)
}

#[tokio::test]
async fn connect_timeout_answers_502_when_connecting_hangs() {
    let (_listener, _fillers, addr) = hanging_listener().await;
    // The queue really is full: one more connect does not complete.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr))
            .await
            .is_err(),
        "connecting to a full accept queue did not hang"
    );
    let mut s = settings(&[format!("http://{addr}")]);
    s.upstreams[0].connect_timeout = Duration::from_millis(200);
    s.upstreams[0].timeout = Duration::from_secs(8);
    let app = start(s).await;

    let answer = fetch(&app.url("/")).await;

    // 502 unreachable, not the 504 the 8 s response timeout would give.
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert!(answer.text().contains("unreachable"), "{}", answer.text());
    let metrics = fetch(&app.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains(&format!(
            "shadowgate_upstream_requests_total{{upstream=\"default\",backend=\"http://{addr}\",outcome=\"connect_error\"}} 1"
        )),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_show_each_backend_health_by_upstream_name() {
    let backend = RecordingServer::start().await.unwrap();
    let mut s = settings(&[backend.url()]);
    s.upstreams[0].name = "prod".to_owned();
    let app = start(s).await;
    assert_eq!(fetch(&app.url("/")).await.status, 200);

    let metrics = fetch(&app.admin_url("/metrics")).await.text();

    assert!(
        metrics.contains(&format!(
            "shadowgate_backend_healthy{{upstream=\"prod\",backend=\"{}\"}} 1",
            backend.url()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "shadowgate_upstream_requests_total{{upstream=\"prod\",backend=\"{}\",outcome=\"ok\"}} 1",
            backend.url()
        )),
        "{metrics}"
    );
    app.stop().await;
}

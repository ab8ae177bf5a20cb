//! The HTTPS listener: h2 and HTTP/1.1 chosen by ALPN, `X-Forwarded-Proto: https`, the
//! handshake bounded by the header read timeout, and the certificate replaced at run time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use shadowgate_proxy::tls::load_server_config;
use shadowgate_proxy::{App, TlsSettings};
use shadowgate_test_support::RecordingServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files to a fresh
/// directory under the temp dir (removed when dropped).
struct Identity {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

impl Identity {
    fn new() -> Self {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "shadowgate-tls-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            der: certified.cert.der().to_vec(),
        }
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert: self.cert.clone(),
            key: self.key.clone(),
            server_config: load_server_config(&self.cert, &self.key).unwrap(),
        }
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS connection to `addr` trusting only `der`, offering `alpn`.
async fn connect(
    addr: SocketAddr,
    der: &[u8],
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(der.to_vec())).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(
        PROMPT,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("handshake within the bound")
    .expect("handshake succeeds")
}

/// GET `path` over `tls` with the protocol ALPN chose; returns the version and the body.
async fn get_over(
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    path: &str,
) -> (Version, http::StatusCode, Bytes) {
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let io = TokioIo::new(tls);
    let request = |version| {
        Request::builder()
            .uri(format!("https://localhost{path}"))
            .version(version)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .unwrap();
        tokio::spawn(conn);
        tokio::time::timeout(PROMPT, sender.send_request(request(Version::HTTP_2))).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut req = request(Version::HTTP_11);
        *req.uri_mut() = path.parse().unwrap();
        tokio::time::timeout(PROMPT, sender.send_request(req)).await
    };
    let response = response.expect("an answer within the bound").unwrap();
    let version = response.version();
    let status = response.status();
    let body = tokio::time::timeout(PROMPT, response.into_body().collect())
        .await
        .expect("the body within the bound")
        .unwrap()
        .to_bytes();
    (version, status, body)
}

async fn tls_proxy(identity: &Identity, upstream: &RecordingServer) -> Running {
    let mut s = settings(&[upstream.url()]);
    s.tls = Some(identity.settings());
    start(s).await
}

#[tokio::test]
async fn https_over_http1_chosen_by_alpn_reaches_the_upstream_with_forwarded_proto_https() {
    let upstream = RecordingServer::start().await.unwrap();
    let identity = Identity::new();
    let proxy = tls_proxy(&identity, &upstream).await;

    let tls = connect(proxy.addr, &identity.der, b"http/1.1").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (version, status, body) = get_over(tls, "/one").await;
    assert_eq!(version, Version::HTTP_11);
    assert_eq!(status, 200);
    assert_eq!(body, "ok");

    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/one");
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    proxy.stop().await;
}

#[tokio::test]
async fn https_over_h2_chosen_by_alpn_reaches_the_upstream_with_forwarded_proto_https() {
    let upstream = RecordingServer::start().await.unwrap();
    let identity = Identity::new();
    let proxy = tls_proxy(&identity, &upstream).await;

    let tls = connect(proxy.addr, &identity.der, b"h2").await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (version, status, body) = get_over(tls, "/two").await;
    assert_eq!(version, Version::HTTP_2);
    assert_eq!(status, 200);
    assert_eq!(body, "ok");

    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri.path(), "/two");
    assert_eq!(seen[0].headers["x-forwarded-proto"], "https");
    assert_eq!(seen[0].headers["host"], "localhost");
    proxy.stop().await;
}

#[tokio::test]
async fn plain_http_on_a_plain_listener_forwards_proto_http() {
    let upstream = RecordingServer::start().await.unwrap();
    let proxy = start(settings(&[upstream.url()])).await;
    assert_eq!(fetch(&proxy.url("/p")).await.status, 200);
    let seen = upstream.wait_for(1, PROMPT).await;
    assert_eq!(seen[0].headers["x-forwarded-proto"], "http");
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_never_starts_the_handshake_is_cut_at_the_header_read_timeout() {
    let upstream = RecordingServer::start().await.unwrap();
    let identity = Identity::new();
    let mut s = settings(&[upstream.url()]);
    s.tls = Some(identity.settings());
    s.limits.header_read_timeout = Duration::from_millis(300);
    let proxy = start(s).await;

    let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(PROMPT, tcp.read(&mut buf))
        .await
        .expect("the proxy closes the connection within the bound");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // The listener still serves others.
    let tls = connect(proxy.addr, &identity.der, b"http/1.1").await;
    assert_eq!(get_over(tls, "/after").await.1, 200);
    proxy.stop().await;
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_connections_without_closing_the_listener() {
    let upstream = RecordingServer::start().await.unwrap();
    let first = Identity::new();
    let second = Identity::new();
    let mut s = settings(&[upstream.url()]);
    s.tls = Some(first.settings());
    let app = App::build(s.clone()).await.unwrap();
    let addr = app.listen_addr();
    let reloader = app.reloader();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));

    let old = connect(addr, &first.der, b"http/1.1").await;
    assert_eq!(
        old.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &first.der[..]
    );
    s.tls = Some(second.settings());
    let report = reloader.reload(&s).unwrap();
    assert!(report.need_restart.is_empty(), "{report:?}");

    let new = connect(addr, &second.der, b"h2").await;
    assert_eq!(
        new.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &second.der[..]
    );
    assert_eq!(get_over(new, "/new").await.1, 200);
    // The connection made before the swap keeps working.
    assert_eq!(get_over(old, "/old").await.1, 200);

    // Turning TLS off needs a restart: the listener stays HTTPS with the second certificate.
    s.tls = None;
    assert_eq!(reloader.reload(&s).unwrap().need_restart, ["tls"]);
    let still = connect(addr, &second.der, b"http/1.1").await;
    assert_eq!(get_over(still, "/still").await.1, 200);

    tx.send(()).unwrap();
    tokio::time::timeout(PROMPT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

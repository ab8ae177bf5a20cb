//! Copies to an `https://` target go over rustls; an untrusted certificate is a failed copy, not
//! a problem for the primary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::Arc;

use common::*;
use shadowgate::{MirrorLayer, Outcome, TargetConfig};
use shadowgate_test_support::{RecordingServer, Responder};

fn trusting(cert_der: &[u8]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert_der.to_vec()))
        .unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn copies_reach_an_https_target_over_tls() {
    let sink = RecordingServer::start_tls(Responder::new()).await.unwrap();
    assert!(sink.url().starts_with("https://127.0.0.1:"));
    let layer = MirrorLayer::builder()
        .target(
            TargetConfig::builder(sink.url())
                .name("tls")
                .build()
                .unwrap(),
        )
        .tls_client_config(trusting(sink.certificate_der().unwrap()))
        .build()
        .unwrap();
    let req = http::Request::post("/secure?x=1")
        .header("host", "shop.example")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"payload",
        )))
        .unwrap();
    call(&layer, req).await;
    let copy = sink.wait_for(1, WAIT).await.remove(0);
    assert_eq!(copy.uri, "/secure?x=1");
    assert_eq!(copy.body, "payload");
    assert_eq!(copy.headers["host"], "shop.example");
    let s = wait_stats(&layer, "tls", |s| s.get(Outcome::Completed) == 1).await;
    assert_eq!(s.get(Outcome::Completed), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_copy_only() {
    let sink = RecordingServer::start_tls(Responder::new()).await.unwrap();
    // Default trust (webpki roots) does not know this self-signed certificate.
    let layer = MirrorLayer::builder()
        .target(
            TargetConfig::builder(sink.url())
                .name("tls")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let resp = call(&layer, get("/")).await;
    assert_eq!(resp.status(), 200);
    let s = wait_stats(&layer, "tls", |s| s.get(Outcome::Failed) == 1).await;
    assert_eq!(s.get(Outcome::Failed), 1);
    assert_eq!(sink.count(), 0);
}

//! The circuit breaker: consecutive failures open it, open means no I/O at all, one probe after
//! `retry_after`, and the probe's fate closes or reopens it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use shadowgate::{CircuitState, MirrorLayer, Outcome, TargetConfig};

/// A target that, while `broken`, accepts and drops every connection (a transport failure), and
/// otherwise answers `200` over HTTP/1.1.
async fn switchable() -> (String, Arc<AtomicBool>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let broken = Arc::new(AtomicBool::new(true));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (b, a) = (broken.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            if b.load(Ordering::SeqCst) {
                drop(stream);
                continue;
            }
            let svc = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    (url, broken, accepted)
}

/// Sends one request and waits until the target has one more terminal outcome.
async fn one(layer: &MirrorLayer) -> shadowgate::TargetStats {
    let before = terminal(&stats(layer, "t"));
    call(layer, get("/")).await;
    let after = wait_stats(layer, "t", |s| terminal(s) > before).await;
    assert_eq!(terminal(&after), before + 1, "{after:?}");
    after
}

#[tokio::test]
async fn failures_open_the_circuit_and_a_probe_closes_it() {
    let (url, broken, accepted) = switchable().await;
    let retry_after = Duration::from_millis(100);
    let layer = mirror(
        TargetConfig::builder(url)
            .name("t")
            .workers(1)
            .circuit(3, retry_after),
    );

    for _ in 0..3 {
        one(&layer).await;
    }
    let s = stats(&layer, "t");
    assert_eq!(s.get(Outcome::Failed), 3);
    assert_eq!(s.circuit, CircuitState::Open);

    // Open: dropped with no I/O at all.
    let seen = accepted.load(Ordering::SeqCst);
    for _ in 0..5 {
        call(&layer, get("/")).await;
    }
    let s = stats(&layer, "t");
    assert_eq!(s.get(Outcome::DroppedCircuitOpen), 5);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        seen,
        "an open circuit made a connection"
    );

    // The probe fails: open again.
    // The failure that (re)opened it is counted, so the probe is due after `retry_after`.
    tokio::time::sleep(retry_after + Duration::from_millis(5)).await;
    let s = one(&layer).await;
    assert_eq!(s.get(Outcome::Failed), 4);
    assert_eq!(s.circuit, CircuitState::Open);

    // The target recovers; the next probe closes the circuit and copies flow again.
    broken.store(false, Ordering::SeqCst);
    // The failure that (re)opened it is counted, so the probe is due after `retry_after`.
    tokio::time::sleep(retry_after + Duration::from_millis(5)).await;
    let s = one(&layer).await;
    assert_eq!(s.get(Outcome::Completed), 1);
    assert_eq!(s.circuit, CircuitState::Closed);
    for _ in 0..3 {
        one(&layer).await;
    }
    let s = stats(&layer, "t");
    assert_eq!(s.get(Outcome::Completed), 4);
    assert_eq!(s.get(Outcome::DroppedCircuitOpen), 5);
}

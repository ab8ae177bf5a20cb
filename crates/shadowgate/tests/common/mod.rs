//! Shared pieces of the library's integration tests: a primary served through the layer on a
//! real socket, direct calls through the layer, and bounded waits on the outcome counters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)] // tests fail by panicking

pub mod heap;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use shadowgate::{MirrorLayer, Outcome, TargetStats, TeeBody};
use shadowgate_test_support::eventually;
use tower::{Layer, ServiceExt};

/// Bound on every wait in these tests.
pub const WAIT: Duration = shadowgate_test_support::client::PROMPT;

/// The primary: reads the whole body and answers `200` with `primary:<body length>`, plus the
/// request id it saw.
pub async fn primary<B>(req: Request<TeeBody<B>>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let id = req.headers().get("x-request-id").cloned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::from_static(b"body error"),
    };
    let mut resp = Response::new(Full::new(Bytes::from(format!("primary:{}", body.len()))));
    if let Some(id) = id {
        resp.headers_mut().insert("x-request-id", id);
    }
    Ok(resp)
}

/// A layer with this one target.
pub fn mirror(target: shadowgate::TargetBuilder) -> MirrorLayer {
    MirrorLayer::builder()
        .target(target.build().unwrap())
        .build()
        .unwrap()
}

/// Calls the layer directly with one request, as a server would.
pub async fn call<B>(
    layer: &MirrorLayer,
    req: Request<B>,
) -> Response<shadowgate::CaptureBody<Full<Bytes>>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Debug,
{
    let svc = layer.layer(tower::service_fn(primary::<B>));
    svc.oneshot(req).await.unwrap()
}

/// A bodiless GET.
pub fn get(uri: &str) -> Request<http_body_util::Empty<Bytes>> {
    Request::builder()
        .uri(uri)
        .header("host", "shop.example")
        .body(http_body_util::Empty::new())
        .unwrap()
}

/// Serves the primary through the layer on 127.0.0.1:0 (HTTP/1.1 and h2c).
pub async fn serve(layer: MirrorLayer) -> SocketAddr {
    serve_with(layer, primary::<hyper::body::Incoming>).await
}

/// Serves `primary` through the layer on 127.0.0.1:0 (HTTP/1.1 and h2c).
pub async fn serve_with<F, Fut>(layer: MirrorLayer, primary: F) -> SocketAddr
where
    F: Fn(Request<TeeBody<hyper::body::Incoming>>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(layer.layer(tower::service_fn(primary.clone())));
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// The stats of the one target named `name`.
pub fn stats(layer: &MirrorLayer, name: &str) -> TargetStats {
    layer
        .stats()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no target {name}"))
}

/// Waits (bounded) until `done` holds for the target's stats; returns the last stats.
pub async fn wait_stats(
    layer: &MirrorLayer,
    name: &str,
    done: impl Fn(&TargetStats) -> bool,
) -> TargetStats {
    eventually(&format!("the stats of {name} to settle"), || {
        let now = stats(layer, name);
        if done(&now) {
            Ok(now)
        } else {
            Err(now)
        }
    })
    .await
}

/// Waits (bounded) until every copy the target admitted has finished; returns its stats. Copies
/// are admitted or dropped while the layer's `call` runs, so once the calls have returned the
/// admitted count is final: a copy it does not count can never arrive later.
pub async fn settled(layer: &MirrorLayer, name: &str) -> TargetStats {
    wait_stats(layer, name, |s| open(s) == 0).await
}

/// Sum of the terminal outcomes.
pub fn terminal(s: &TargetStats) -> u64 {
    s.outcomes
        .iter()
        .filter(|(o, _)| o.is_terminal())
        .map(|(_, n)| n)
        .sum()
}

/// Copies admitted but not yet finished.
pub fn open(s: &TargetStats) -> u64 {
    let finished: u64 = [
        Outcome::Completed,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::DroppedShutdown,
    ]
    .iter()
    .map(|o| s.get(*o))
    .sum();
    s.get(Outcome::Dispatched).saturating_sub(finished)
}

/// Runs `f` and fails the test if it takes longer than `bound`.
pub async fn within<T>(bound: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(bound, f).await.expect("took too long")
}

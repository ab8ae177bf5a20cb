//! An axum app whose traffic is mirrored to a canary.
//!
//! Self-contained and bounded: it starts a canary on loopback, serves the app (wrapped in a
//! `MirrorLayer`) on loopback, sends it a few requests, prints what the canary received and the
//! copy outcomes, and exits.
//!
//! ```text
//! cargo run -p shadowgate --example axum_mirror
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example: fail loudly

use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use shadowgate::{MirrorLayer, Outcome, OutcomeEvent, TargetConfig};
use tokio::net::TcpListener;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The canary: a second build of the app that answers differently.
    let canary = Router::new()
        .route("/hello", get(|| async { "hello from v2" }))
        .route(
            "/echo",
            post(|body: String| async move { format!("v2 got {} bytes", body.len()) }),
        );
    let canary_listener = TcpListener::bind("127.0.0.1:0").await?;
    let canary_url = format!("http://{}", canary_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(canary_listener, canary).await });

    // The app users talk to, wrapped in the mirror.
    let app = Router::new()
        .route("/hello", get(|| async { "hello from v1" }))
        .route("/echo", post(|body: String| async move { body }));
    let mirror = MirrorLayer::builder()
        .target(
            TargetConfig::builder(&canary_url)
                .name("canary")
                .sample(1.0)
                .timeout(Duration::from_secs(2))
                .build()?,
        )
        .on_outcome(|e: &OutcomeEvent<'_>| {
            if e.outcome.is_terminal() {
                println!("  copy to {}: {} {:?}", e.target, e.outcome, e.status);
            }
        })
        .build()?;
    // axum serves `Response<axum::body::Body>`: the mirror's response body (the primary's,
    // passed through a `CaptureBody`) is boxed back into one.
    let service = ServiceBuilder::new()
        .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
        .layer(mirror.clone())
        .service(app);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, tower::make::Shared::new(service)).await });

    // A few requests; the client always gets v1's answer.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<String>();
    for (method, path, body) in [("GET", "/hello", ""), ("POST", "/echo", "some payload")] {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(body.to_owned())?;
        let resp = client.request(req).await?;
        let status = resp.status();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await?
            .to_bytes();
        println!(
            "{method} {path} -> {status} {:?}",
            String::from_utf8_lossy(&bytes)
        );
    }

    // Let the copies finish (bounded), then report.
    mirror.shutdown(Duration::from_secs(2)).await;
    for s in mirror.stats() {
        println!(
            "{}: dispatched {}, completed {}, failed {}, dropped {}",
            s.name,
            s.get(Outcome::Dispatched),
            s.get(Outcome::Completed),
            s.get(Outcome::Failed),
            s.dropped()
        );
    }
    Ok(())
}

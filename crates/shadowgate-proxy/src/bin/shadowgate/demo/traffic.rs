//! The bounded traffic generator: a few keep-alive clients, each paced to a fixed rate, sending a
//! mix of the demo's endpoints through the proxy for a fixed time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use super::latency::{Latencies, StatusMix};
use super::services::{LAST_USER, SERVED_BY};

/// Concurrent clients; each has at most one request in flight.
pub(crate) const CLIENTS: u32 = 4;
/// Requests a second per client, so at most `CLIENTS * PER_CLIENT_RATE` in all.
pub(crate) const PER_CLIENT_RATE: u32 = 25;
/// A request that takes longer counts as an error (the proxy's own timeouts are shorter).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const SEARCH_TERMS: [&str; 4] = ["shoes", "lamp", "coffee", "tent"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What the clients saw, as they saw it.
#[derive(Debug, Default)]
pub(crate) struct TrafficStats {
    pub(crate) sent: AtomicU64,
    pub(crate) status: StatusMix,
    /// No response: connection error or [`REQUEST_TIMEOUT`].
    pub(crate) errors: AtomicU64,
    /// Responses stamped by v1.
    pub(crate) from_v1: AtomicU64,
    /// Responses not stamped by v1 (the canary, or an error the proxy wrote itself).
    pub(crate) not_from_v1: AtomicU64,
    /// From sending the request to the end of the response body.
    pub(crate) latency: Latencies,
}

/// The running clients.
#[derive(Debug)]
pub(crate) struct Traffic {
    stats: Arc<TrafficStats>,
    clients: JoinSet<()>,
}

impl Traffic {
    /// Starts [`CLIENTS`] clients sending to `proxy` until `duration` has passed.
    pub(crate) fn start(proxy: SocketAddr, duration: Duration) -> Self {
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let stats = Arc::new(TrafficStats::default());
        let deadline = Instant::now() + duration;
        let period = Duration::from_secs(1) / PER_CLIENT_RATE;
        let mut clients = JoinSet::new();
        for _ in 0..CLIENTS {
            let run = client_loop(client.clone(), proxy, deadline, period, Arc::clone(&stats));
            clients.spawn(run);
        }
        Self { stats, clients }
    }

    pub(crate) fn stats(&self) -> Arc<TrafficStats> {
        Arc::clone(&self.stats)
    }

    /// Waits for every client to pass its deadline (each request is itself bounded).
    pub(crate) async fn finish(mut self) -> anyhow::Result<()> {
        while let Some(joined) = self.clients.join_next().await {
            joined.context("a traffic client task failed")?;
        }
        Ok(())
    }
}

async fn client_loop(
    client: HttpClient,
    proxy: SocketAddr,
    deadline: Instant,
    period: Duration,
    stats: Arc<TrafficStats>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if Instant::now() >= deadline {
            return;
        }
        stats.sent.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange(&client, proxy)).await;
        match answer {
            Ok(Ok((status, by_v1))) => {
                stats.latency.record(started.elapsed());
                stats.status.record(status);
                let who = if by_v1 {
                    &stats.from_v1
                } else {
                    &stats.not_from_v1
                };
                who.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(_)) | Err(_) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Sends one request and reads the whole answer: its status and whether v1 wrote it.
async fn exchange(client: &HttpClient, proxy: SocketAddr) -> Result<(StatusCode, bool), BoxError> {
    let resp = client.request(next_request(proxy)?).await?;
    let status = resp.status();
    let by_v1 = resp.headers().get(SERVED_BY).is_some_and(|v| v == "v1");
    resp.into_body().collect().await?;
    Ok((status, by_v1))
}

/// One request of the mix: 45% user lookups (a few for users that do not exist), 15% searches,
/// 25% orders, 15% the legacy report.
fn next_request(proxy: SocketAddr) -> http::Result<Request<Full<Bytes>>> {
    let (method, path, body) = match fastrand::u32(0..100) {
        0..=44 => {
            let id = fastrand::u32(1..=LAST_USER + LAST_USER / 10);
            (Method::GET, format!("/api/users/{id}"), Bytes::new())
        }
        45..=59 => {
            let q = SEARCH_TERMS[fastrand::usize(0..SEARCH_TERMS.len())];
            (Method::GET, format!("/api/search?q={q}"), Bytes::new())
        }
        60..=84 => {
            let qty = fastrand::u32(1..=5);
            let body = format!(
                r#"{{"sku":"sku-{}","qty":{qty}}}"#,
                fastrand::u32(100..1000)
            );
            (Method::POST, String::from("/api/orders"), Bytes::from(body))
        }
        _ => (
            Method::GET,
            String::from("/api/legacy/report"),
            Bytes::new(),
        ),
    };
    Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
}

//! The demo's two backends on loopback: "v1", the primary, and "v2", the canary, which answers
//! some endpoints differently and one slowly. Both count what they receive.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The header each backend stamps on its answers, so the client can tell who answered.
pub(crate) const SERVED_BY: &str = "x-served-by";
/// Users `1..=LAST_USER` exist on both versions; higher ids are 404 on both.
pub(crate) const LAST_USER: u32 = 100;
/// How long v2 takes on `/api/search`, and on the share of searches that hit its slow tail.
pub(crate) const V2_SEARCH_DELAY: Duration = Duration::from_millis(300);
pub(crate) const V2_SEARCH_TAIL: Duration = Duration::from_millis(1500);
pub(crate) const V2_SEARCH_TAIL_SHARE: f64 = 0.03;
/// Share of `POST /api/orders` that v2 fails with a 500.
pub(crate) const V2_ORDER_FAILURE_SHARE: f64 = 0.30;
/// Largest order body a backend reads.
const MAX_ORDER_BYTES: usize = 64 * 1024;

/// Which build a backend plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

impl Version {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

/// What a backend received.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Requests to `/api/...`.
    pub(crate) api: AtomicU64,
    /// Of those, requests carrying `X-Mirror` (copies sent by shadowgate).
    pub(crate) mirrored: AtomicU64,
    /// Anything else (for example the proxy's health checks on `/healthz`).
    pub(crate) other: AtomicU64,
}

/// A running backend; it stops (listener and connections) when dropped.
#[derive(Debug)]
pub(crate) struct Backend {
    addr: SocketAddr,
    received: Arc<Received>,
    accept: JoinHandle<()>,
}

impl Backend {
    /// Binds `127.0.0.1:0` and serves HTTP/1.1 as `version`.
    pub(crate) async fn start(version: Version) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Received::default());
        let accept = tokio::spawn(accept_loop(listener, version, Arc::clone(&received)));
        Ok(Self {
            addr,
            received,
            accept,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn received(&self) -> &Received {
        &self.received
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // The connections live in the accept task's JoinSet, so they are aborted with it.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, version: Version, received: Arc<Received>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors or similar: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let received = Arc::clone(&received);
        connections.spawn(async move {
            let svc = service_fn(move |req| handle(version, Arc::clone(&received), req));
            // A client that goes away mid-exchange is not the backend's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(
    version: Version,
    received: Arc<Received>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // Owned, so the order arm can take the body.
    let path = req.uri().path().to_owned();
    if path.starts_with("/api/") {
        received.api.fetch_add(1, Ordering::Relaxed);
        if req.headers().contains_key("x-mirror") {
            received.mirrored.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        received.other.fetch_add(1, Ordering::Relaxed);
    }
    let v2 = version == Version::V2;
    let (status, body) = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/healthz") => (StatusCode::OK, String::from(r#"{"ok":true}"#)),
        (Method::GET, "/api/search") => {
            if v2 {
                let tail = fastrand::f64() < V2_SEARCH_TAIL_SHARE;
                tokio::time::sleep(if tail {
                    V2_SEARCH_TAIL
                } else {
                    V2_SEARCH_DELAY
                })
                .await;
            }
            let q = req.uri().query().unwrap_or("");
            (StatusCode::OK, format!(r#"{{"query":"{q}","hits":3}}"#))
        }
        (Method::POST, "/api/orders") => order(v2, req.into_body()).await,
        (Method::GET, "/api/legacy/report") if v2 => not_found("removed in v2"),
        (Method::GET, "/api/legacy/report") => (StatusCode::OK, String::from(r#"{"rows":12}"#)),
        (Method::GET, p) => match p.strip_prefix("/api/users/").map(str::parse::<u32>) {
            Some(Ok(id)) if (1..=LAST_USER).contains(&id) => (StatusCode::OK, user(v2, id)),
            Some(_) => not_found("no such user"),
            None => not_found("no such path"),
        },
        _ => not_found("no such path"),
    };
    let body = served_at(body);
    let resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(SERVED_BY, version.as_str())
        .body(Full::new(Bytes::from(body)));
    // Every part above is a valid constant; should the builder still refuse, answer a bare 500.
    Ok(resp.unwrap_or_else(|_| {
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    }))
}

/// The JSON object `body` with two values real services differ in from one answer to the
/// next: the time it was served (ms since the epoch) and whether a cache answered (half the
/// time, at random).
fn served_at(mut body: String) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let cache = if fastrand::bool() { "hit" } else { "miss" };
    if body.ends_with('}') {
        body.pop();
        let sep = if body.ends_with('{') { "" } else { "," };
        body.push_str(&format!(r#"{sep}"served_at":{ms},"cache":"{cache}"}}"#));
    }
    body
}

/// v2 renamed the `plan` field to `tier`.
fn user(v2: bool, id: u32) -> String {
    let field = if v2 { "tier" } else { "plan" };
    format!(r#"{{"id":{id},"name":"user-{id}","{field}":"free"}}"#)
}

/// Reads the order body; v2 fails a share of orders with a 500.
async fn order(v2: bool, body: Incoming) -> (StatusCode, String) {
    let bytes = match Limited::new(body, MAX_ORDER_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let msg = String::from(r#"{"error":"unreadable body"}"#);
            return (StatusCode::BAD_REQUEST, msg);
        }
    };
    if v2 && fastrand::f64() < V2_ORDER_FAILURE_SHARE {
        let msg = String::from(r#"{"error":"inventory lookup failed"}"#);
        return (StatusCode::INTERNAL_SERVER_ERROR, msg);
    }
    let n = bytes.len();
    (
        StatusCode::CREATED,
        format!(r#"{{"order":"accepted","bytes":{n}}}"#),
    )
}

fn not_found(why: &str) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, format!(r#"{{"error":"{why}"}}"#))
}

//! [`UpgradeEchoServer`]: answers HTTP/1.1 upgrades with `101` and echoes the raw bytes that
//! follow.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::accept::Listening;
use crate::request_log::RequestLog;
use crate::task::TaskSet;
use crate::Recorded;

/// A WebSocket-like upgrade backend. A request carrying `Upgrade: <proto>` and
/// `Connection: upgrade` gets `101 Switching Protocols` (echoing the `Upgrade` header), then
/// every byte sent on the upgraded connection comes back. Other requests get `200`
/// `"not upgraded"`. Records requests like [`RecordingServer`](crate::RecordingServer).
#[derive(Debug)]
pub struct UpgradeEchoServer {
    listening: Listening,
    log: Arc<RequestLog>,
}

impl UpgradeEchoServer {
    pub async fn start() -> io::Result<UpgradeEchoServer> {
        let log = Arc::new(RequestLog::new());
        let conn_log = Arc::clone(&log);
        let listening =
            Listening::start(move |stream, tasks| serve(stream, tasks, Arc::clone(&conn_log)))
                .await?;
        Ok(Self { listening, log })
    }

    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        self.listening.url()
    }

    /// The requests recorded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log.snapshot()
    }

    pub fn count(&self) -> usize {
        self.log.count()
    }

    /// Waits until at least `n` requests were recorded, or `timeout` passes; returns the
    /// snapshot either way.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        self.log.wait_for(n, timeout).await
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.listening.connections()
    }
}

async fn serve(stream: TcpStream, tasks: TaskSet, log: Arc<RequestLog>) {
    let _ = stream.set_nodelay(true);
    let echo_tasks = tasks.clone();
    let service = service_fn(move |request| answer(request, Arc::clone(&log), echo_tasks.clone()));
    let _ = auto::Builder::new(tasks)
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

async fn answer(
    mut request: Request<Incoming>,
    log: Arc<RequestLog>,
    tasks: TaskSet,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let received_at = Instant::now();
    let protocol = requested_upgrade(request.version(), request.headers());
    let on_upgrade = protocol.is_some().then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    log.push(Recorded::from_parts(parts, body, received_at));

    let (Some(protocol), Some(on_upgrade)) = (protocol, on_upgrade) else {
        return Ok(Response::new(Full::new(Bytes::from_static(
            b"not upgraded",
        ))));
    };
    tasks.spawn(echo(on_upgrade));
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert(UPGRADE, protocol);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("upgrade"));
    Ok(response)
}

/// The `Upgrade` value of an HTTP/1.1 request that also says `Connection: upgrade`.
fn requested_upgrade(version: Version, headers: &HeaderMap) -> Option<HeaderValue> {
    if version != Version::HTTP_11 {
        return None;
    }
    let says_upgrade = headers.get_all(CONNECTION).iter().any(|value| {
        value.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    says_upgrade
        .then(|| headers.get(UPGRADE).cloned())
        .flatten()
}

async fn echo(on_upgrade: OnUpgrade) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    let (mut read, mut write) = tokio::io::split(TokioIo::new(upgraded));
    let _ = tokio::io::copy(&mut read, &mut write).await;
    let _ = write.shutdown().await;
}

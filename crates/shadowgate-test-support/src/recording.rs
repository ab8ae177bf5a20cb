//! [`RecordingServer`]: an HTTP/1.1 and h2c server that records every request and answers as
//! its [`Responder`] says.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

use crate::accept::Listening;
use crate::body::ResponseBody;
use crate::request_log::RequestLog;
use crate::task::TaskSet;
use crate::{Recorded, Responder};

/// HTTP server (HTTP/1.1 and h2c) that records every request and answers with a configurable
/// response. Stops, connections included, when dropped.
#[derive(Debug)]
pub struct RecordingServer {
    listening: Listening,
    log: Arc<RequestLog>,
}

impl RecordingServer {
    /// Answers `200`, body `"ok"`.
    pub async fn start() -> io::Result<RecordingServer> {
        Self::start_with(Responder::new()).await
    }

    pub async fn start_with(responder: Responder) -> io::Result<RecordingServer> {
        let log = Arc::new(RequestLog::new());
        let conn_log = Arc::clone(&log);
        let listening = Listening::start(move |stream, tasks| {
            serve(stream, tasks, responder.clone(), Arc::clone(&conn_log))
        })
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

async fn serve(stream: TcpStream, tasks: TaskSet, responder: Responder, log: Arc<RequestLog>) {
    // Best effort: only affects latency.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| answer(request, responder.clone(), Arc::clone(&log)));
    // A connection error is the client's doing (or the test's); nothing to report here.
    let _ = auto::Builder::new(tasks)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn answer(
    request: Request<Incoming>,
    responder: Responder,
    log: Arc<RequestLog>,
) -> Result<Response<ResponseBody>, hyper::Error> {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let recorded = Recorded::from_parts(parts, body, received_at);
    log.push(recorded.clone());
    Ok(responder.respond(&recorded).await)
}

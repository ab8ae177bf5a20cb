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
    /// The self-signed certificate (DER) when the server speaks TLS.
    certificate: Option<Vec<u8>>,
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
            // Best effort: only affects latency.
            let _ = stream.set_nodelay(true);
            serve(stream, tasks, responder.clone(), Arc::clone(&conn_log))
        })
        .await?;
        Ok(Self {
            listening,
            log,
            certificate: None,
        })
    }

    /// The same server over TLS (HTTP/1.1), with a self-signed certificate for `127.0.0.1` and
    /// `localhost` made on the spot; trust [`RecordingServer::certificate_der`] to reach it.
    pub async fn start_tls(responder: Responder) -> io::Result<RecordingServer> {
        let (acceptor, certificate) = crate::tls::self_signed_acceptor()?;
        let log = Arc::new(RequestLog::new());
        let conn_log = Arc::clone(&log);
        let listening = Listening::start(move |stream, tasks| {
            let acceptor = acceptor.clone();
            let responder = responder.clone();
            let log = Arc::clone(&conn_log);
            async move {
                let _ = stream.set_nodelay(true);
                // A failed handshake is the client's doing; nothing to serve.
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve(tls, tasks, responder, log).await;
                }
            }
        })
        .await?;
        Ok(Self {
            listening,
            log,
            certificate: Some(certificate),
        })
    }

    /// The certificate (DER) of a server started with [`RecordingServer::start_tls`].
    pub fn certificate_der(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    pub fn addr(&self) -> SocketAddr {
        self.listening.addr()
    }

    /// `"http://127.0.0.1:PORT"`, or `"https://…"` for a TLS server.
    pub fn url(&self) -> String {
        match self.certificate {
            Some(_) => format!("https://{}", self.addr()),
            None => self.listening.url(),
        }
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

    /// TCP connections open now (accepted, and not yet closed by either side).
    pub fn open_connections(&self) -> usize {
        self.listening.open_connections()
    }
}

async fn serve<I>(stream: I, tasks: TaskSet, responder: Responder, log: Arc<RequestLog>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
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

//! The accept loop shared by the proxy and admin listeners: HTTP/1.1 (with upgrades) and h2c on
//! each connection, `TCP_NODELAY`, keep-alive, and graceful shutdown.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::{self, HttpServerConnExec};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Pause after an accept error (for example out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The connection builder: HTTP/1.1 with keep-alive and h2c, with timers for their timeouts.
pub(crate) fn http_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Signals that stop a listener: `stop` ends accepting, `abort` ends connections still open
/// when the grace period is over.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
}

/// Accepts connections until `stop`, serving each with the service `make_service` builds for
/// its peer. Returns the handle that drains the connections still open (the listener is closed
/// by then, so new connections are refused).
pub(crate) async fn serve<M, S, B>(
    listener: TcpListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    make_service: M,
    stop: Stop,
) -> GracefulShutdown
where
    M: Fn(SocketAddr) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    TokioExecutor: HttpServerConnExec<S::Future, B>,
{
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::select! {
                    _ = stop.stop.cancelled() => break,
                    _ = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        // Best effort: only latency depends on it.
        let _ = stream.set_nodelay(true);
        let service = make_service(peer);
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let abort = stop.abort.clone();
        tokio::spawn(async move {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                result = watcher.watch(conn) => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                _ = abort.cancelled() => {
                    tracing::debug!(%peer, "connection closed at the end of the shutdown grace period");
                }
            }
        });
    }
    drop(listener);
    graceful
}

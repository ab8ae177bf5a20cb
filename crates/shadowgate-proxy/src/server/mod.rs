//! The accept loop shared by the proxy and admin listeners: HTTP/1.1 (with upgrades) and h2c, or
//! HTTPS with h2 and HTTP/1.1 by ALPN, on each connection; `TCP_NODELAY`, keep-alive, the
//! connection limits ([`Limits`]) and graceful shutdown.

mod activity;
mod conn;
mod track;

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::{self, HttpServerConnExec};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::settings::{Limits, MIN_MAX_HEADER_BYTES};
use conn::{Accepted, TrackedFutureOf};
use track::TrackedBody;

/// Pause after an accept error (for example out of file descriptors) before trying again.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The connection builder: HTTP/1.1 with keep-alive and h2, with heads bounded by
/// `max_header_bytes` (HTTP/1.1: a larger head is answered 431 by hyper; h2: the header list
/// size, also answered 431). The header read and idle timeouts are the connection task's.
pub(crate) fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    // hyper panics below its minimum read buffer; `Settings` validation refuses smaller values.
    let max_head = limits.max_header_bytes.max(MIN_MAX_HEADER_BYTES);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        // hyper's clock would also run on idle keep-alive connections (see `activity`).
        .header_read_timeout(None)
        .max_buf_size(max_head);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(max_head).unwrap_or(u32::MAX));
    builder
}

/// The listener's TLS acceptor, replaceable at run time; `None` serves plain HTTP.
pub(crate) type TlsSlot = Arc<ArcSwapOption<TlsAcceptor>>;

/// Signals that stop a listener: `stop` ends accepting and starts a graceful close of every
/// connection, `abort` ends connections still open when the grace period is over.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
}

/// The connections of a stopped listener, still finishing their requests.
#[derive(Debug)]
pub(crate) struct Drain(TaskTracker);

impl Drain {
    /// Waits until every connection has closed.
    pub(crate) async fn shutdown(self) {
        self.0.close();
        self.0.wait().await;
    }
}

/// Accepts connections until `stop.stop`, serving each on its own task with the service
/// `make_service` builds for its peer (the flag says whether the connection is TLS). Each new
/// connection uses the acceptor in `tls` at the time it is accepted; the handshake runs on the
/// connection's task. Returns the handle that waits for the connections still open (the
/// listener is closed by then, so new connections are refused).
pub(crate) async fn serve<M, S, B>(
    listener: TcpListener,
    builder: Arc<auto::Builder<TokioExecutor>>,
    tls: TlsSlot,
    limits: Limits,
    make_service: M,
    stop: Stop,
) -> Drain
where
    M: Fn(SocketAddr, bool) -> S,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    TokioExecutor: HttpServerConnExec<TrackedFutureOf<S>, TrackedBody<B>>,
{
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::select! {
                    () = stop.stop.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let at = tokio::time::Instant::now();
        // Best effort: only latency depends on it.
        let _ = stream.set_nodelay(true);
        let tls = tls.load_full();
        let service = make_service(peer, tls.is_some());
        let accepted = Accepted {
            stream,
            peer,
            at,
            tls,
        };
        tracker.spawn(conn::serve_connection(
            accepted,
            builder.clone(),
            service,
            limits,
            stop.clone(),
        ));
    }
    drop(listener);
    Drain(tracker)
}

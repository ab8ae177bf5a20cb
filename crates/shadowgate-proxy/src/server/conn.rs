//! One client connection on its own task: the TLS handshake (bounded by `header_read_timeout`),
//! then hyper's HTTP/1.1-or-h2 connection raced against the connection's limits and the
//! listener's stop signals.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::{self, HttpServerConnExec};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

use super::activity::{Activity, Expiry};
use super::track::{Tracked, TrackedBody, TrackedIo};
use super::Stop;
use crate::settings::Limits;

/// How long an idle connection closed gracefully (h2: GOAWAY) may take to finish closing when
/// nothing is in flight (a client that never answers the GOAWAY's PING is dropped then).
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The client's stream: plain TCP (left) or TLS over it (right, boxed: a TLS session is large).
type ClientStream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// What one connection needs from its listener.
pub(crate) struct Accepted {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) at: Instant,
    pub(crate) tls: Option<Arc<TlsAcceptor>>,
}

/// Serves one connection to its end: the handshake, then requests until the client closes, a
/// limit is passed, or the listener stops (gracefully on `stop.stop`, at once on `stop.abort`).
pub(crate) async fn serve_connection<S, B>(
    accepted: Accepted,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: S,
    limits: Limits,
    stop: Stop,
) where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
    TokioExecutor: HttpServerConnExec<TrackedFutureOf<S>, TrackedBody<B>>,
{
    let Accepted {
        stream,
        peer,
        at,
        tls,
    } = accepted;
    let stream: ClientStream = match tls {
        None => Either::Left(stream),
        Some(acceptor) => {
            let deadline = at + limits.header_read_timeout;
            let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
            let done = tokio::select! {
                done = handshake => done,
                () = stop.stop.cancelled() => return,
            };
            match done {
                Ok(Ok(tls)) => Either::Right(Box::new(tls)),
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake cut at the header read timeout");
                    return;
                }
            }
        }
    };

    let activity = Arc::new(Activity::new(at));
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let conn = builder.serve_connection_with_upgrades(io, Tracked::new(service, activity.clone()));
    tokio::pin!(conn);
    let watchdog = activity.expired(limits);
    tokio::pin!(watchdog);
    let close_by = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(close_by);
    let mut closing = false;
    let mut idle_closing = false;
    loop {
        tokio::select! {
            biased;
            () = stop.abort.cancelled() => {
                tracing::debug!(%peer, "connection closed at the end of the shutdown grace period");
                return;
            }
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            () = stop.stop.cancelled(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            expiry = watchdog.as_mut(), if !closing => match expiry {
                Expiry::SendTimeout => {
                    tracing::debug!(%peer, "connection cut: the client read nothing within the send timeout");
                    return;
                }
                Expiry::HeadTimeout => {
                    tracing::debug!(%peer, "connection cut: no whole request head within the header read timeout");
                    return;
                }
                Expiry::Idle => {
                    tracing::debug!(%peer, "idle connection closed");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    idle_closing = true;
                    close_by.as_mut().reset(Instant::now() + IDLE_CLOSE_GRACE);
                }
            },
            // A request that raced the close (h2 accepts streams until its final GOAWAY) may
            // finish; only a connection with nothing in flight is dropped.
            () = close_by.as_mut(), if idle_closing => {
                if activity.in_flight() == 0 {
                    return;
                }
                close_by.as_mut().reset(Instant::now() + IDLE_CLOSE_GRACE);
            }
        }
    }
}

/// The future of `S` wrapped by [`Tracked`].
pub(crate) type TrackedFutureOf<S> =
    super::track::TrackedFuture<<S as hyper::service::Service<Request<Incoming>>>::Future>;

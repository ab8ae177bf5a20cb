//! Upgrade pass-through (WebSocket and friends): the request keeps its `Connection: upgrade` and
//! `Upgrade` headers, and when the upstream answers `101` the client's and the upstream's
//! upgraded connections are bridged byte for byte.
//!
//! A bridge is a tunnel, tracked by [`Tunnels`] (docs/operations.md, "Upgrades"): it holds its
//! backend's `max_connections` lease until it closes, is closed after `limits.idle_timeout`
//! with no byte either way, and at shutdown gets `limits.shutdown_timeout` to finish like a
//! request, then is closed.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use http::{Request, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::upstream::Lease;

/// The proxy's open tunnels: one set for the process (shared by every config generation).
#[derive(Debug, Clone)]
pub(crate) struct Tunnels {
    tracker: TaskTracker,
    close: CancellationToken,
    idle_timeout: Duration,
}

impl Tunnels {
    /// Tunnels closed after `idle_timeout` without traffic.
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Self {
            tracker: TaskTracker::new(),
            close: CancellationToken::new(),
            idle_timeout,
        }
    }

    /// Waits until every tunnel has closed (new ones may still open meanwhile).
    pub(crate) async fn wait(&self) {
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Closes every tunnel still open, and any opened later.
    pub(crate) fn close(&self) {
        self.close.cancel();
    }
}

/// The client side of an upgrade, taken from the request before it is forwarded.
#[derive(Debug)]
pub(crate) struct PendingUpgrade {
    client: OnUpgrade,
    protocol: HeaderValue,
}

/// Takes the client's pending upgrade when the request asks for one (`Connection: upgrade` with
/// an `Upgrade` header).
pub(crate) fn take<B>(req: &mut Request<B>) -> Option<PendingUpgrade> {
    if !shadowgate::is_upgrade(req) {
        return None;
    }
    let protocol = req.headers().get(UPGRADE)?.clone();
    let client = hyper::upgrade::on(req);
    Some(PendingUpgrade { client, protocol })
}

impl PendingUpgrade {
    /// Puts back the upgrade headers that hop-by-hop removal took from the forwarded request.
    pub(crate) fn restore_headers(&self, headers: &mut HeaderMap) {
        set_upgrade_headers(headers, self.protocol.clone());
    }

    /// When the upstream switched protocols, keeps the `101`'s upgrade headers and bridges the two
    /// connections on a task of `tunnels`, which keeps `lease` until the tunnel closes (`None`
    /// is returned); otherwise the client's upgrade is simply dropped and the lease handed back.
    /// `headers` have had their hop-by-hop headers removed already.
    pub(crate) fn finish<B>(
        self,
        response: &mut Response<B>,
        upstream_protocol: Option<HeaderValue>,
        lease: Lease,
        tunnels: &Tunnels,
    ) -> Option<Lease> {
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Some(lease);
        }
        let protocol = upstream_protocol.unwrap_or(self.protocol);
        set_upgrade_headers(response.headers_mut(), protocol);
        let upstream = hyper::upgrade::on(response);
        let bridge = bridge(
            self.client,
            upstream,
            lease,
            tunnels.idle_timeout,
            tunnels.close.clone(),
        );
        tunnels.tracker.spawn(bridge);
        None
    }
}

fn set_upgrade_headers(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// Copies bytes both ways until either side closes, `idle` passes with no byte either way, or
/// `close` is cancelled; `lease` (the backend's in-flight slot) is held until then.
async fn bridge(
    client: OnUpgrade,
    upstream: OnUpgrade,
    lease: Lease,
    idle: Duration,
    close: CancellationToken,
) {
    let (client, upstream) = tokio::select! {
        both = async { tokio::try_join!(client, upstream) } => match both {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        },
        () = close.cancelled() => return,
    };
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut client = Active {
        inner: TokioIo::new(client),
        start,
        last: last.clone(),
    };
    let mut upstream = TokioIo::new(upstream);
    let idle_for = async {
        loop {
            let deadline = start + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    tokio::select! {
        copied = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
            if let Err(error) = copied {
                tracing::debug!(%error, "upgraded connection ended with an error");
            }
        }
        () = idle_for => tracing::debug!("upgraded connection closed after the idle timeout"),
        () = close.cancelled() => {
            tracing::debug!("upgraded connection closed at the end of the shutdown grace period");
        }
    }
    drop(lease);
}

/// The client side of a tunnel, noting when bytes last went either way (milliseconds since
/// `start`), for the idle timeout.
struct Active<T> {
    inner: T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Active<T> {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX / 2);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Active<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Active<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

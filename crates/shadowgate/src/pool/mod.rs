//! [`Pool`]: the keep-alive HTTP/1.1 client of one origin (a backend, a shadow target), driven
//! directly over hyper's `client::conn::http1` (docs/architecture.md, "Upstream connections").
//!
//! A pool is per origin, so a checkout is a pop from a short list: no key, no hashing, no task
//! hand-off per request. A connection goes back to the list when its response has been read to
//! the end ([`Conn::release`]); one whose response was not read to the end is closed. Idle
//! connections are closed after the idle timeout by a sweeper task that ticks a few times per
//! timeout, so the request path never reads the clock for them.

mod connect;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use rustls::ClientConfig;

use crate::url::TargetUrl;
use connect::Connector;

/// The sweeper ticks this many times per idle timeout; an idle connection is closed after at
/// least `TICKS - 1` and at most `TICKS` ticks, so never later than the idle timeout.
const TICKS: u64 = 4;

/// Why a request could not be sent or answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The TCP connection (and TLS handshake) did not complete within the connect timeout.
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The TCP connection failed (refused, unreachable, a name that does not resolve).
    #[error("connecting failed")]
    Connect(#[source] io::Error),
    /// The TLS handshake failed (a certificate not trusted, a protocol error).
    #[error("the TLS handshake failed")]
    Tls(#[source] io::Error),
    /// An `https://` origin without a TLS configuration, or whose host is not a server name.
    #[error("https:// needs a TLS configuration and a host that is a valid server name")]
    NoTls,
    /// hyper's HTTP/1.1 handshake on a new connection failed.
    #[error("the HTTP/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
    /// The exchange failed after the request was handed to a connection.
    #[error("the request failed")]
    Request(#[source] hyper::Error),
}

impl PoolError {
    /// Whether the request never reached the origin: no connection could be opened.
    pub fn is_connect(&self) -> bool {
        !matches!(self, PoolError::Request(_))
    }
}

/// How a pool opens and keeps connections.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// How long TCP connect and TLS handshake may take.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Idle connections kept at most.
    pub max_idle: usize,
}

/// The keep-alive HTTP/1.1 client of one origin. Cheap to clone (clones share connections).
pub struct Pool<B> {
    inner: Arc<Inner<B>>,
}

impl<B> Clone for Pool<B> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B> std::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.inner.connector)
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner<B> {
    url: TargetUrl,
    connector: Connector,
    /// The `Host` a request without one is sent with: the origin's authority.
    host: Option<HeaderValue>,
    settings: PoolSettings,
    idle: Mutex<Vec<Idle<B>>>,
    /// Sweeper ticks so far.
    epoch: AtomicU64,
    sweeping: AtomicBool,
}

struct Idle<B> {
    sender: SendRequest<B>,
    /// The sweeper's tick when it was put back.
    epoch: u64,
}

/// A connection whose response is being read. [`Conn::release`] when the response body has
/// ended puts it back into its pool; dropping it closes it.
pub struct Conn<B> {
    sender: SendRequest<B>,
    pool: Arc<Inner<B>>,
}

impl<B> std::fmt::Debug for Conn<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("origin", &self.pool.connector)
            .finish_non_exhaustive()
    }
}

impl<B: Send + 'static> Conn<B> {
    /// Puts the connection back for another request. Call it only once the response body has
    /// ended (or there was none): hyper then has the connection ready for the next request.
    pub fn release(self) {
        self.pool.put(self.sender);
    }
}

impl<B> Pool<B>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A pool for `url`'s origin; `tls` is used for `https://` only (without it every request
    /// to an `https://` origin fails with [`PoolError::NoTls`]).
    pub fn new(url: &TargetUrl, tls: Option<&ClientConfig>, settings: PoolSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                connector: Connector::new(url, tls, settings.connect_timeout),
                host: HeaderValue::from_str(url.authority().as_str()).ok(),
                url: url.clone(),
                settings,
                idle: Mutex::new(Vec::new()),
                epoch: AtomicU64::new(0),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// The request-target for `path_and_query` on this origin, in origin form (`/base/path?q`),
    /// as an HTTP/1.1 request to an origin server carries it.
    pub fn uri_for(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        self.inner.url.origin_form(path_and_query)
    }

    /// Sends `req` (its URI in origin form, see [`Pool::uri_for`]; without a `Host`, the origin's
    /// authority is sent) on an idle connection or a new one. A request that an idle connection
    /// could not take (closed meanwhile, before a byte was written) goes on the next one.
    pub async fn send(
        &self,
        mut req: Request<B>,
    ) -> Result<(Response<Incoming>, Conn<B>), PoolError> {
        if let (false, Some(host)) = (req.headers().contains_key(HOST), &self.inner.host) {
            req.headers_mut().insert(HOST, host.clone());
        }
        while let Some(mut sender) = self.inner.checkout() {
            match sender.try_send_request(req).await {
                Ok(response) => return Ok((response, self.conn(sender))),
                Err(mut error) => match error.take_message() {
                    Some(again) => req = again,
                    None => return Err(PoolError::Request(error.into_error())),
                },
            }
        }
        let mut sender = self.inner.connector.connect().await?;
        let response = sender.send_request(req).await.map_err(PoolError::Request)?;
        Ok((response, self.conn(sender)))
    }

    fn conn(&self, sender: SendRequest<B>) -> Conn<B> {
        Conn {
            sender,
            pool: Arc::clone(&self.inner),
        }
    }
}

impl<B> Pool<B> {
    /// Idle connections now (for tests and the admin API).
    pub fn idle(&self) -> usize {
        self.inner.lock().len()
    }
}

impl<B> Inner<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle<B>>> {
        // A panic while holding the lock cannot leave the list inconsistent: take it anyway.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The most recently used idle connection that can take a request now. Closed ones are
    /// dropped on the way; one that is not ready yet (hyper is still writing the previous
    /// request's body, which an early answer can leave unfinished) stays for later, oldest
    /// first, so a stuck one ages out under the idle timeout.
    fn checkout(&self) -> Option<SendRequest<B>> {
        let mut idle = self.lock();
        let mut waiting = 0;
        while idle.len() > waiting {
            let Some(conn) = idle.pop() else { break };
            if conn.sender.is_closed() {
                continue;
            }
            if conn.sender.is_ready() {
                return Some(conn.sender);
            }
            idle.insert(0, conn);
            waiting += 1;
        }
        None
    }

    fn put(self: &Arc<Self>, sender: SendRequest<B>)
    where
        B: Send + 'static,
    {
        if sender.is_closed() {
            return;
        }
        let epoch = self.epoch.load(Ordering::Relaxed);
        {
            let mut idle = self.lock();
            if idle.len() >= self.settings.max_idle {
                return;
            }
            idle.push(Idle { sender, epoch });
        }
        if !self.sweeping.load(Ordering::Relaxed) && !self.sweeping.swap(true, Ordering::AcqRel) {
            self.start_sweeper();
        }
    }

    fn start_sweeper(self: &Arc<Self>)
    where
        B: Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime (cannot happen: connections run on one): closed at the next checkout.
            return;
        };
        let period = (self.settings.idle_timeout / TICKS as u32).max(Duration::from_millis(1));
        runtime.spawn(sweep(Arc::downgrade(self), period));
    }
}

/// Closes the pool's connections idle for a full timeout, and those the origin closed, until
/// the pool is gone.
async fn sweep<B: Send + 'static>(pool: Weak<Inner<B>>, period: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let now = pool.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        pool.lock()
            .retain(|c| now - c.epoch < TICKS && !c.sender.is_closed());
    }
}

#[cfg(test)]
mod tests;

//! Opening one connection of a [`super::Pool`]: TCP (no Nagle) within the connect timeout, TLS
//! for `https://` (ALPN `http/1.1`, SNI from the URL's host), then hyper's HTTP/1.1 handshake;
//! the connection's own task is spawned on the current runtime.

use std::sync::Arc;
use std::time::Duration;

use http_body::Body;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use super::PoolError;
use crate::url::TargetUrl;

/// A connection's byte stream: plain TCP, or TLS over it (boxed: a TLS session is large).
type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// How a connection's bytes travel.
#[derive(Clone)]
enum Security {
    Plain,
    /// `https://`: the TLS client and the name the certificate must hold.
    Tls(TlsConnector, ServerName<'static>),
    /// `https://` without a TLS configuration, or with a host that is no server name: every
    /// connect fails rather than speak plain HTTP.
    Unusable,
}

/// Opens connections to one `SCHEME://HOST:PORT`.
#[derive(Clone)]
pub(super) struct Connector {
    /// `HOST:PORT`, what `TcpStream::connect` resolves (an IP literal without a lookup).
    address: Arc<str>,
    security: Security,
    timeout: Duration,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let security = match self.security {
            Security::Plain => "plain",
            Security::Tls(..) => "tls",
            Security::Unusable => "tls unusable",
        };
        f.debug_struct("Connector")
            .field("address", &self.address)
            .field("security", &security)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Connector {
    /// A connector to `url`'s origin; `tls` is used for `https://` URLs only (with ALPN set to
    /// `http/1.1` here).
    pub(super) fn new(url: &TargetUrl, tls: Option<&ClientConfig>, timeout: Duration) -> Self {
        let authority = url.authority();
        let https = url.scheme() == &http::uri::Scheme::HTTPS;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority.host();
        let security = match (https, tls) {
            (false, _) => Security::Plain,
            (true, None) => Security::Unusable,
            (true, Some(config)) => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                match ServerName::try_from(bare.to_owned()) {
                    Ok(name) => {
                        let mut config = config.clone();
                        config.alpn_protocols = vec![b"http/1.1".to_vec()];
                        Security::Tls(TlsConnector::from(Arc::new(config)), name)
                    }
                    Err(_) => Security::Unusable,
                }
            }
        };
        Self {
            address: format!("{host}:{port}").into(),
            security,
            timeout,
        }
    }

    /// Opens a connection and completes the HTTP/1.1 handshake; its task runs on the current
    /// runtime until the connection closes (upgrades allowed: a `101` hands the stream on).
    pub(super) async fn connect<B>(&self) -> Result<SendRequest<B>, PoolError>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::time::timeout(self.timeout, self.open())
            .await
            .map_err(|_| PoolError::ConnectTimeout(self.timeout))??;
        let (sender, connection) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(PoolError::Handshake)?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "pooled connection ended with an error");
            }
        });
        Ok(sender)
    }

    async fn open(&self) -> Result<Stream, PoolError> {
        if matches!(self.security, Security::Unusable) {
            return Err(PoolError::NoTls);
        }
        let tcp = TcpStream::connect(&*self.address)
            .await
            .map_err(PoolError::Connect)?;
        // Best effort: only latency depends on it.
        let _ = tcp.set_nodelay(true);
        match &self.security {
            Security::Plain => Ok(Either::Left(tcp)),
            Security::Tls(connector, name) => connector
                .connect(name.clone(), tcp)
                .await
                .map(|tls| Either::Right(Box::new(tls)))
                .map_err(PoolError::Tls),
            Security::Unusable => Err(PoolError::NoTls),
        }
    }
}

//! What an upstream's backends are reached with: the TLS client configuration of its
//! `https://` backends (each backend has its own keep-alive [`shadowgate::pool::Pool`], separate
//! from every other backend's and every shadow target's), and the request body it sends.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use shadowgate::pool::{Pool, PoolSettings};
use shadowgate::TeeBody;

use crate::settings::BackendUrl;

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per backend: enough for every connection a benchmark opens.
const POOL_MAX_IDLE_PER_HOST: usize = 1024;

/// The keep-alive client of one backend.
pub(crate) type BackendPool = Pool<UpstreamBody>;

pin_project! {
    /// What is sent to a backend: the client's (possibly teed) body, or nothing (a retry of a
    /// bodiless request, a health check).
    #[project = UpstreamBodyProj]
    #[derive(Debug)]
    pub(crate) enum UpstreamBody {
        /// The client's body, streamed.
        Client { #[pin] body: TeeBody<Incoming> },
        /// No body.
        Empty,
    }
}

/// Reading the client's request body failed (a malformed chunk, a client that went away): the
/// client's error, not the upstream's. It sits in the cause chain of the upstream client's error,
/// where [`crate::rescue`] finds it and answers 400 without counting a backend failure.
#[derive(Debug, thiserror::Error)]
#[error("reading the client's request body failed")]
pub(crate) struct ClientBodyError(#[source] pub(crate) hyper::Error);

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = ClientBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        match self.project() {
            UpstreamBodyProj::Client { body } => body
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(ClientBodyError))),
            UpstreamBodyProj::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            UpstreamBody::Client { body } => body.is_end_stream(),
            UpstreamBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            UpstreamBody::Client { body } => body.size_hint(),
            UpstreamBody::Empty => SizeHint::with_exact(0),
        }
    }
}

/// The TLS client configuration of an upstream's `https://` backends: verified against the
/// webpki roots unless `skip_verify`.
pub(crate) fn tls_config(skip_verify: bool) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    Ok(if skip_verify {
        tls.dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        tls.with_root_certificates(roots).with_no_client_auth()
    })
}

/// The keep-alive pool of the backend at `url`, connecting within `connect_timeout`.
pub(crate) fn pool(url: &BackendUrl, tls: &ClientConfig, connect_timeout: Duration) -> BackendPool {
    Pool::new(
        url,
        Some(tls),
        PoolSettings {
            connect_timeout,
            idle_timeout: POOL_IDLE_TIMEOUT,
            max_idle: POOL_MAX_IDLE_PER_HOST,
        },
    )
}

/// `tls_skip_verify`: any certificate for any name is accepted (the handshake signatures are
/// still checked, so the peer holds the key of the certificate it showed).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

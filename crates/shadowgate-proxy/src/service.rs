//! [`ProxyService`]: the per-connection service hyper calls. It prepares the request (client
//! address, request id, forwarding headers), hands it to the `MirrorLayer` that wraps
//! [`Forward`], and counts the response for the route.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use shadowgate::Mirror;
use tower::Service;

use crate::body::ProxyBody;
use crate::forward::{Forward, ForwardFuture};
use crate::forwarded::Peer;
use crate::metrics::RouteMetrics;

/// What every connection shares: the service stack and the route's metric handles.
#[derive(Debug)]
pub(crate) struct Stack {
    pub(crate) mirror: Mirror<Forward>,
    pub(crate) route: RouteMetrics,
}

/// The service of one client connection.
#[derive(Debug, Clone)]
pub(crate) struct ProxyService {
    stack: Arc<Stack>,
    peer: Peer,
}

impl ProxyService {
    /// The service of a connection from `addr`, over TLS when `tls` holds.
    pub(crate) fn new(stack: Arc<Stack>, addr: SocketAddr, tls: bool) -> Self {
        Self {
            stack,
            peer: Peer::new(addr, tls),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, mut req: Request<Incoming>) -> ResponseFuture {
        let start = Instant::now();
        self.peer
            .prepare(&mut req, self.stack.mirror.needs_client_addr());
        // `Forward` is always ready and `Mirror` is ready when its inner service is, so a clone
        // (two reference counts) can be called without `poll_ready`.
        let inner = self.stack.mirror.clone().call(req);
        ResponseFuture {
            inner,
            start,
            stack: self.stack.clone(),
        }
    }
}

pin_project! {
    /// The mirror's response future, counted for the route when the head arrives; the duration
    /// is observed when the body is done.
    pub(crate) struct ResponseFuture {
        #[pin]
        inner: shadowgate::ResponseFuture<ForwardFuture>,
        start: Instant,
        stack: Arc<Stack>,
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match ready!(this.inner.poll(cx)) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let route = &this.stack.route;
        route.response(response.status());
        response
            .body_mut()
            .time(*this.start, route.duration.clone());
        Poll::Ready(Ok(response))
    }
}

//! [`ProxyService`]: the per-connection service hyper calls. It loads the current [`Stack`]
//! (swapped whole by a config reload; a request in flight keeps the one it started with),
//! resolves the path's dot segments ([`crate::path`]), routes the request, prepares it (client address, request id, forwarding headers), hands it
//! to the route's `MirrorLayer` service, and counts the response for the route.

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
use shadowgate::CaptureBody;
use tower::Service;

use crate::answer::Answer;
use crate::body::ProxyBody;
use crate::forward::ForwardFuture;
use crate::forwarded::{check_head, Peer};
use crate::router::Action;
use crate::stack::SharedStack;
use crate::stack::Stack;

/// The service of one client connection.
#[derive(Debug, Clone)]
pub(crate) struct ProxyService {
    stack: SharedStack,
    peer: Peer,
}

impl ProxyService {
    /// The service of a connection from `addr`, over TLS when `tls` holds.
    pub(crate) fn new(stack: SharedStack, addr: SocketAddr, tls: bool) -> Self {
        Self {
            stack,
            peer: Peer::new(addr, tls),
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ProxyService {
    type Response = Response<CaptureBody<ProxyBody>>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, req: Request<Incoming>) -> ResponseFuture {
        let start = Instant::now();
        let stack = self.stack.load_full();
        let (mut parts, body) = req.into_parts();
        // Before routing: a route may match on the host and the path, and the primary and the
        // copy must see one host and one path.
        if let Err(refused) = check_head(&mut parts) {
            return ResponseFuture::ready(Answer::refused_head(refused), start, stack, None);
        }
        let Some((index, route)) = stack.router.route(&parts) else {
            return ResponseFuture::ready(Answer::no_route(), start, stack, None);
        };
        match &route.action {
            Action::Redirect { status, location } => {
                let response = Answer::redirect(*status, location);
                ResponseFuture::ready(response, start, stack, Some(index))
            }
            Action::Proxy {
                service,
                client_addr,
            } => {
                let mut req = Request::from_parts(parts, body);
                let client_addr = *client_addr || service.needs_client_addr();
                self.peer
                    .prepare(&mut req, client_addr, stack.trust_mirror_marks);
                // `Forward` is always ready and so are `Rewritten` and `Mirror` around it, so a
                // clone (a few reference counts) can be called without `poll_ready`.
                let inner = service.clone().call(req);
                ResponseFuture {
                    state: State::Proxy { inner },
                    start,
                    route: Some(index),
                    // The route borrowed from it is done with: the future takes the stack.
                    stack,
                }
            }
        }
    }
}

pin_project! {
    /// The route's response future, counted for the route when the head arrives; the duration
    /// is observed when the body is done.
    pub(crate) struct ResponseFuture {
        #[pin]
        state: State,
        start: Instant,
        // The stack this request started on, kept until its head is out (a reload meanwhile
        // does not touch it), and its route's index in it.
        stack: Arc<Stack>,
        route: Option<usize>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Proxy {
            #[pin]
            inner: shadowgate::ResponseFuture<ForwardFuture>,
        },
        // `std::future::Ready` panics if polled after it completed, as a finished future may.
        Ready {
            response: std::future::Ready<Response<ProxyBody>>,
        },
    }
}

impl ResponseFuture {
    fn ready(answer: Answer, start: Instant, stack: Arc<Stack>, route: Option<usize>) -> Self {
        Self {
            state: State::Ready {
                response: std::future::ready(answer.into_response()),
            },
            start,
            stack,
            route,
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<CaptureBody<ProxyBody>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = match this.state.project() {
            StateProj::Proxy { inner } => match ready!(inner.poll(cx)) {
                Ok(response) => response,
                Err(never) => match never {},
            },
            StateProj::Ready { response } => {
                ready!(Pin::new(response).poll(cx)).map(CaptureBody::new)
            }
        };
        let metrics = this.stack.router.metrics(*this.route);
        metrics.response(response.status());
        response
            .body_mut()
            .get_mut()
            .time(*this.start, metrics.duration.clone());
        Poll::Ready(Ok(response))
    }
}

//! [`Forward`]: the service at the bottom of the stack. It picks a backend of its [`Upstream`]
//! per request, sends the request over the backend's keep-alive pool and streams the
//! answer back; failures become short `text/plain` responses (see [`crate::rescue`]), never
//! errors. An idempotent bodiless request whose connect failed is retried once on another
//! backend.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::UPGRADE;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use shadowgate::pool::{Conn, PoolError};
use shadowgate::{remove_fixed_hop_by_hop, remove_hop_by_hop, ClientAddr, TeeBody};
use tokio::time::Timeout;

use crate::answer::Answer;
use crate::body::ProxyBody;
use crate::chain::ErrorChain;
use crate::metrics::UpstreamOutcome;
use crate::rescue::{rescue, unavailable};
use crate::upgrade::{self, PendingUpgrade};
use crate::upstream::{Lease, Upstream, UpstreamBody};

/// Forwards requests to one upstream. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Forward {
    upstream: Arc<Upstream>,
}

impl Forward {
    /// A forwarder to `upstream` (which has its own connection pool).
    pub(crate) fn new(upstream: Arc<Upstream>) -> Self {
        Self { upstream }
    }
}

/// A request body the forwarder can send: the client's (teed), or none (a `control =
/// "primary"` replay, docs/verdicts.md).
pub(crate) trait ForwardBody: Body {
    fn upstream(self) -> UpstreamBody;
}

impl ForwardBody for TeeBody<Incoming> {
    fn upstream(self) -> UpstreamBody {
        UpstreamBody::Client { body: self }
    }
}

impl ForwardBody for http_body_util::Empty<bytes::Bytes> {
    fn upstream(self) -> UpstreamBody {
        UpstreamBody::Empty
    }
}

impl<B: ForwardBody> tower::Service<Request<B>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ForwardFuture;

    /// Always ready: the client queues on its own pool.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> ForwardFuture {
        if req.method() == Method::CONNECT {
            return ForwardFuture::ready(connect_not_allowed());
        }
        let client = match self.upstream.needs_client_addr() {
            true => req.extensions().get::<ClientAddr>().map(|a| a.0.ip()),
            false => None,
        };
        let lease = match self.upstream.lease(client, None) {
            Ok(lease) => lease,
            Err(why) => {
                tracing::debug!(
                    upstream = self.upstream.name(),
                    ?why,
                    "no backend for a request"
                );
                return ForwardFuture::ready(unavailable(why).response());
            }
        };
        let upgrade = upgrade::take(&mut req);
        let (mut parts, body) = req.into_parts();
        // The headers `Connection` names went before the proxy added its own
        // (`forwarded::Peer::prepare`); only the fixed ones are left to remove.
        remove_fixed_hop_by_hop(&mut parts.headers);
        if let Some(upgrade) = &upgrade {
            upgrade.restore_headers(&mut parts.headers);
        }
        // The client's own version says nothing about the upstream hop, which is HTTP/1.1.
        parts.version = Version::HTTP_11;
        // A route's rewrite was applied before this service (`router::Rewritten`): the path
        // here is the primary's own, and the copies kept the client's.

        // Only a request that can be sent again unchanged is kept for a retry, and only when
        // there is another backend (a single-backend pool copies nothing).
        let retry = (self.upstream.backend_count() > 1
            && is_idempotent(&parts.method)
            && body.is_end_stream())
        .then(|| {
            Box::new(Retry {
                parts: parts.clone(),
                client,
            })
        });
        let response = match send(&lease, parts, body.upstream()) {
            Ok(response) => response,
            Err(e) => return ForwardFuture::ready(rescue_response(&e, &lease)),
        };
        ForwardFuture {
            state: State::Waiting {
                response,
                lease: Some(lease),
                upgrade,
                retry,
            },
        }
    }
}

/// What a retry needs: the request head as it was before the first backend's URI was set.
#[derive(Debug)]
struct Retry {
    parts: Parts,
    client: Option<IpAddr>,
}

/// RFC 9110 §9.2.2 idempotent methods (CONNECT never gets here).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// What a backend's pool answers: the response head and the connection it came on.
type Sent = Result<(Response<Incoming>, Conn<UpstreamBody>), PoolError>;
/// The exchange, boxed once: the pool's future is large, and is not moved after this.
type Pending = Timeout<Pin<Box<dyn Future<Output = Sent> + Send>>>;

/// Sends the request to the lease's backend, its path joined to the backend's base path.
fn send(lease: &Lease, mut parts: Parts, body: UpstreamBody) -> Result<Pending, http::Error> {
    let (uri, pool) = lease.target(parts.uri.path_and_query())?;
    parts.uri = uri;
    let request = Request::from_parts(parts, body);
    let exchange: Pin<Box<dyn Future<Output = Sent> + Send>> =
        Box::pin(async move { pool.send(request).await });
    Ok(tokio::time::timeout(lease.upstream().timeout(), exchange))
}

/// Answers an upstream failure and counts it for the backend; a failure that was the client's
/// (its body could not be read) is answered without counting or warning about the backend.
fn rescue_response(
    error: &(dyn std::error::Error + 'static),
    lease: &Lease,
) -> Response<ProxyBody> {
    let rescued = rescue(error);
    let Some(outcome) = rescued.outcome else {
        tracing::debug!(
            upstream = lease.upstream().name(),
            status = rescued.status.as_u16(),
            error = %ErrorChain(error),
            "client request body failed"
        );
        return rescued.response();
    };
    tracing::warn!(
        upstream = lease.upstream().name(),
        backend = lease.url(),
        status = rescued.status.as_u16(),
        error = %ErrorChain(error),
        "upstream request failed"
    );
    lease.count(outcome);
    if outcome == UpstreamOutcome::ConnectError {
        lease.connect_failed();
    }
    rescued.response()
}

fn connect_not_allowed() -> Response<ProxyBody> {
    Answer::not_allowed(
        "405 Method Not Allowed: CONNECT is not proxied\n",
        "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    )
    .into_response()
}

pin_project! {
    /// The upstream's response head, or the proxy's own answer.
    pub(crate) struct ForwardFuture {
        #[pin]
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
        Waiting {
            #[pin]
            response: Pending,
            lease: Option<Lease>,
            upgrade: Option<PendingUpgrade>,
            retry: Option<Box<Retry>>,
        },
        // `std::future::Ready` panics if polled after it completed, as a finished future may.
        Ready {
            response: std::future::Ready<Response<ProxyBody>>,
        },
    }
}

impl ForwardFuture {
    fn ready(response: Response<ProxyBody>) -> Self {
        Self {
            state: State::Ready {
                response: std::future::ready(response),
            },
        }
    }
}

impl Future for ForwardFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Ready { response } => return Pin::new(response).poll(cx).map(Ok),
                StateProj::Waiting {
                    response,
                    lease,
                    upgrade,
                    retry,
                } => {
                    let result = ready!(response.poll(cx));
                    #[allow(
                        clippy::expect_used,
                        reason = "an invariant of this state machine, not a runtime failure"
                    )]
                    let lease = lease
                        .take()
                        .expect("a waiting ForwardFuture holds its lease until it completes");
                    let error = match result {
                        Ok(Ok((response, conn))) => {
                            lease.count(UpstreamOutcome::Ok);
                            return Poll::Ready(Ok(pass_back(
                                response,
                                conn,
                                upgrade.take(),
                                lease,
                            )));
                        }
                        Ok(Err(e)) => e,
                        Err(elapsed) => return Poll::Ready(Ok(rescue_response(&elapsed, &lease))),
                    };
                    let answer = rescue_response(&error, &lease);
                    let connect_failed =
                        rescue(&error).outcome == Some(UpstreamOutcome::ConnectError);
                    // Retry once, on another backend, what never reached this one.
                    let again = retry
                        .take()
                        .filter(|_| connect_failed)
                        .and_then(|retry| lease.other(retry.client).map(|next| (retry, next)));
                    let Some((retry, next)) = again else {
                        return Poll::Ready(Ok(answer));
                    };
                    drop(lease);
                    match send(&next, retry.parts, UpstreamBody::Empty) {
                        Ok(response) => State::Waiting {
                            response,
                            lease: Some(next),
                            upgrade: upgrade.take(),
                            retry: None,
                        },
                        Err(e) => return Poll::Ready(Ok(rescue_response(&e, &next))),
                    }
                }
            };
            this.state.set(next);
        }
    }
}

/// The upstream's response for the client: hop-by-hop headers removed (a `101` keeps its upgrade
/// headers and is bridged), the body streamed, holding the backend's in-flight slot and the
/// connection (back to the pool when the body has ended).
fn pass_back(
    mut response: Response<Incoming>,
    conn: Conn<UpstreamBody>,
    upgrade: Option<PendingUpgrade>,
    lease: Lease,
) -> Response<ProxyBody> {
    let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let protocol = switched
        .then(|| response.headers().get(UPGRADE).cloned())
        .flatten();
    remove_hop_by_hop(response.headers_mut());
    let lease = match upgrade {
        Some(upgrade) => {
            let tunnels = lease.upstream().tunnels().clone();
            upgrade.finish(&mut response, protocol, lease, &tunnels)
        }
        None => Some(lease),
    };
    response.map(|body| match lease {
        Some(lease) => ProxyBody::upstream(body, lease, conn),
        // The tunnel holds the lease and the connection's stream; a 101 has no body.
        None => ProxyBody::full(bytes::Bytes::new()),
    })
}

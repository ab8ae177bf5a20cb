//! [`Forward`]: the service at the bottom of the stack. It sends each request to the next backend
//! of the upstream pool over a pooled keep-alive client and streams the answer back; failures
//! become short `text/plain` responses (see [`crate::rescue`]), never errors.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_TYPE, UPGRADE};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pin_project_lite::pin_project;
use shadowgate::{remove_hop_by_hop, MirrorBody};
use tokio::time::Timeout;

use crate::body::ProxyBody;
use crate::metrics::UpstreamOutcome;
use crate::rescue::{rescue, ErrorChain};
use crate::upgrade::{self, PendingUpgrade};
use crate::upstream::{Backend, UpstreamPool};

/// How long an idle pooled upstream connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per backend: enough for every connection a benchmark opens.
const POOL_MAX_IDLE_PER_HOST: usize = 1024;

type UpstreamClient = Client<HttpConnector, MirrorBody<Incoming>>;

/// Forwards requests to the upstream pool. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Forward {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    client: UpstreamClient,
    pool: Arc<UpstreamPool>,
    timeout: Duration,
}

impl Forward {
    /// A forwarder with its own connection pool (separate from every shadow target's).
    pub(crate) fn new(
        pool: Arc<UpstreamPool>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            .build(http);
        Self {
            shared: Arc::new(Shared {
                client,
                pool,
                timeout,
            }),
        }
    }
}

impl tower::Service<Request<MirrorBody<Incoming>>> for Forward {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = ForwardFuture;

    /// Always ready: the client queues on its own pool.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<MirrorBody<Incoming>>) -> ForwardFuture {
        if req.method() == Method::CONNECT {
            return ForwardFuture::ready(connect_not_allowed());
        }
        let Some(backend) = self.shared.pool.pick() else {
            // `App::build` refuses an empty pool; answer anyway rather than panic.
            return ForwardFuture::ready(rescue_response(&NoBackend, None));
        };
        let upgrade = upgrade::take(&mut req);
        let (mut parts, body) = req.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        if let Some(upgrade) = &upgrade {
            upgrade.restore_headers(&mut parts.headers);
        }
        parts.uri = match backend.uri_for(parts.uri.path_and_query()) {
            Ok(uri) => uri,
            Err(e) => return ForwardFuture::ready(rescue_response(&e, Some(backend))),
        };
        // The client's own version says nothing about the upstream hop, which is HTTP/1.1.
        parts.version = Version::HTTP_11;
        let response = tokio::time::timeout(
            self.shared.timeout,
            self.shared.client.request(Request::from_parts(parts, body)),
        );
        ForwardFuture {
            state: State::Waiting {
                response,
                backend: backend.clone(),
                upgrade,
            },
        }
    }
}

/// Answers an upstream failure and counts it for the backend.
fn rescue_response(
    error: &(dyn std::error::Error + 'static),
    backend: Option<&Arc<Backend>>,
) -> Response<ProxyBody> {
    let rescued = rescue(error);
    let url = backend.map_or("-", |b| &b.url);
    tracing::warn!(
        backend = url,
        status = rescued.status.as_u16(),
        error = %ErrorChain(error),
        "upstream request failed"
    );
    if let Some(b) = backend {
        b.metrics.count(rescued.outcome);
    }
    rescued.response()
}

fn connect_not_allowed() -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(Bytes::from_static(
        b"405 Method Not Allowed: CONNECT is not proxied\n",
    )));
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        ALLOW,
        HeaderValue::from_static("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    response
}

#[derive(Debug)]
struct NoBackend;

impl std::fmt::Display for NoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream pool has no backend")
    }
}

impl std::error::Error for NoBackend {}

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
            response: Timeout<hyper_util::client::legacy::ResponseFuture>,
            backend: Arc<Backend>,
            upgrade: Option<PendingUpgrade>,
        },
        Ready {
            response: Option<Response<ProxyBody>>,
        },
    }
}

impl ForwardFuture {
    fn ready(response: Response<ProxyBody>) -> Self {
        Self {
            state: State::Ready {
                response: Some(response),
            },
        }
    }
}

impl Future for ForwardFuture {
    type Output = Result<Response<ProxyBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Ready { response } => Poll::Ready(Ok(response
                .take()
                .unwrap_or_else(|| rescue_response(&NoBackend, None)))),
            StateProj::Waiting {
                response,
                backend,
                upgrade,
            } => {
                let response = match ready!(response.poll(cx)) {
                    Ok(Ok(response)) => response,
                    Ok(Err(e)) => return Poll::Ready(Ok(rescue_response(&e, Some(backend)))),
                    Err(e) => return Poll::Ready(Ok(rescue_response(&e, Some(backend)))),
                };
                backend.metrics.count(UpstreamOutcome::Ok);
                Poll::Ready(Ok(pass_back(response, upgrade.take())))
            }
        }
    }
}

/// The upstream's response for the client: hop-by-hop headers removed (a `101` keeps its upgrade
/// headers and is bridged), the body streamed.
fn pass_back(
    mut response: Response<Incoming>,
    upgrade: Option<PendingUpgrade>,
) -> Response<ProxyBody> {
    let switched = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let protocol = switched
        .then(|| response.headers().get(UPGRADE).cloned())
        .flatten();
    remove_hop_by_hop(response.headers_mut());
    if let Some(upgrade) = upgrade {
        upgrade.finish(&mut response, protocol);
    }
    response.map(ProxyBody::upstream)
}

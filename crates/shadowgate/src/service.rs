//! [`Mirror`]: the service that samples each request, tees it, and calls the primary.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::TeeBody;
use crate::compare::capture::CaptureBody;
use crate::future::ResponseFuture;
use crate::registry::Registry;
use crate::tee;

/// Wraps a service: every request goes to it unchanged (its body as a [`TeeBody`]), and
/// sampled requests are also copied to the shadow targets. Its response is the service's, its
/// body passed through a [`CaptureBody`] that keeps it for a comparison when one is on.
#[derive(Clone, Debug)]
pub struct Mirror<S> {
    inner: S,
    registry: Arc<Registry>,
    /// The routed targets this service copies to; `None` is every target.
    select: Option<Arc<[Box<str>]>>,
}

impl<S> Mirror<S> {
    pub(crate) fn new(inner: S, registry: Arc<Registry>, select: Option<Arc<[Box<str>]>>) -> Self {
        Self {
            inner,
            registry,
            select,
        }
    }

    /// See [`crate::MirrorLayer::needs_client_addr`].
    pub fn needs_client_addr(&self) -> bool {
        self.registry.needs_client_addr()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B, RB> Service<Request<B>> for Mirror<S>
where
    S: Service<Request<TeeBody<B>>, Response = Response<RB>>,
    B: Body<Data = Bytes>,
    RB: Body<Data = Bytes>,
{
    type Response = Response<CaptureBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    /// Readiness is the primary's alone: copies are admitted without waiting, or dropped.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let targets = self.registry.targets.load();
        let started = tee::start(
            self.registry.budget(),
            &targets,
            &mut parts,
            &body,
            self.select.as_deref(),
        );
        drop(targets);
        let req = Request::from_parts(parts, TeeBody::new(body, started.tee));
        ResponseFuture::new(self.inner.call(req), started.keeper)
    }
}

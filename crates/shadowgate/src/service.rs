//! [`Mirror`]: the service that samples each request, tees it, and calls the primary.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::request::Parts;
use http::Request;
use http_body::Body;
use tower_service::Service;

use crate::body::{MirrorBody, Tee};
use crate::copy::CopyHead;
use crate::dispatch::Target;
use crate::future::ResponseFuture;
use crate::hop::is_upgrade_parts;
use crate::layer::Shared;
use crate::outcome::Outcome;
use crate::request_id::ensure_request_id;

/// Wraps a service: every request goes to it unchanged (its body as a [`MirrorBody`]), and
/// sampled requests are also copied to the shadow targets.
#[derive(Clone, Debug)]
pub struct Mirror<S> {
    inner: S,
    shared: Arc<Shared>,
    /// The routed targets this service copies to; `None` is every target.
    select: Option<Arc<[Box<str>]>>,
}

impl<S> Mirror<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, select: Option<Arc<[Box<str>]>>) -> Self {
        Self {
            inner,
            shared,
            select,
        }
    }

    /// See [`crate::MirrorLayer::needs_client_addr`].
    pub fn needs_client_addr(&self) -> bool {
        self.shared.needs_client_addr()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<Request<B>> for Mirror<S>
where
    S: Service<Request<MirrorBody<B>>>,
    B: Body<Data = Bytes>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    /// Readiness is the primary's alone: copies are admitted without waiting, or dropped.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let tee = self.shared.tee(&mut parts, &body, self.select.as_deref());
        let req = Request::from_parts(parts, MirrorBody::teed(body, tee));
        ResponseFuture::new(self.inner.call(req))
    }
}

impl Shared {
    /// Samples the request for every target this service copies to; dispatches bodiless copies at once and returns the
    /// tee for copies that wait for the body. Allocates nothing when no target samples it.
    fn tee<B: Body>(
        &self,
        parts: &mut Parts,
        body: &B,
        select: Option<&[Box<str>]>,
    ) -> Option<Box<Tee>> {
        let targets = self.targets.load();
        let mut sampled: Vec<Arc<Target>> = Vec::new();
        for t in targets.iter() {
            if t.selected_by(select) && t.policy.admits(parts) {
                sampled.push(t.clone());
            }
        }
        if sampled.is_empty() {
            return None;
        }
        let request_id = ensure_request_id(&mut parts.headers);
        if is_upgrade_parts(&parts.method, &parts.headers) {
            for t in &sampled {
                t.observer
                    .record(Outcome::SkippedUpgrade, Some(&request_id));
            }
            return None;
        }
        let bodiless = body.is_end_stream();
        let announced = body.size_hint().lower();
        // Drops that need no copy go first, so that an overloaded target costs no head capture.
        sampled.retain(|t| {
            let drop = if t.circuit.is_blocking() {
                Outcome::DroppedCircuitOpen
            } else if (bodiless || !t.config.body) && t.is_full() {
                Outcome::DroppedQueueFull
            } else if !bodiless && t.config.body && announced > t.config.max_body_bytes as u64 {
                // Content-Length already says it will not fit: no need to keep a single chunk.
                Outcome::DroppedBodyTooLarge
            } else {
                return true;
            };
            t.observer.record(drop, Some(&request_id));
            false
        });
        if sampled.is_empty() {
            return None;
        }
        let head = Arc::new(CopyHead::capture(parts, request_id));
        sampled.retain(|t| {
            let now = bodiless || !t.config.body;
            if now {
                t.dispatch(&head, None);
            }
            !now
        });
        (!sampled.is_empty()).then(|| Box::new(Tee::new(head, sampled)))
    }
}

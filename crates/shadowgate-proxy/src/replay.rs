//! The proxy's [`PrimaryReplay`] for `control = "primary"` (docs/verdicts.md, "Controls"): a
//! compared GET or HEAD sent again to the primary's upstream, routed as the original was by the
//! current stack, and sent by the route's forwarder (after its rewrite) without the mirror, so
//! the replay is never copied. It is counted in the upstream's metrics, not the route's.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use shadowgate::compare::{ReplayError, ReplayFuture};
use shadowgate::PrimaryReplay;
use tower::Service;

use crate::router::Action;
use crate::stack::SharedStack;

/// Sends replays through the stack it is given once the stack is built (the layer is built
/// first: the stack's routes wrap it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Replay {
    stack: Arc<OnceLock<SharedStack>>,
}

impl Replay {
    /// From now on, replays go through `stack` (whichever generation is current).
    pub(crate) fn serve(&self, stack: SharedStack) {
        let _ = self.stack.set(stack);
    }
}

fn refused(why: &'static str) -> ReplayFuture {
    Box::pin(async move { Err(ReplayError::from(why)) })
}

impl PrimaryReplay for Replay {
    fn replay(&self, req: Request<Empty<Bytes>>) -> ReplayFuture {
        let Some(stack) = self.stack.get().map(|s| s.load_full()) else {
            return refused("the proxy is not serving yet");
        };
        let (parts, body) = req.into_parts();
        let Some((_, route)) = stack.router.route(&parts) else {
            return refused("no route takes the request any more");
        };
        let Action::Proxy { service, .. } = &route.action else {
            return refused("the request's route does not proxy any more");
        };
        // Always ready (see `ProxyService::call`): called without `poll_ready`.
        let pending = service
            .get_ref()
            .clone()
            .call(Request::from_parts(parts, body));
        Box::pin(async move {
            let response = match pending.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|b| b.map_err(ReplayError::from).boxed_unsync()))
        })
    }
}

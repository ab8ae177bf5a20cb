//! The router: the routes in order, first match wins (`[[routes]]` in docs/configuration.md). A
//! route either proxies (through the mirror, with its own mirror list, to its upstream, with its
//! path rewrite) or redirects; a request no route takes is answered 404. With no routes configured
//! there is one route that takes everything to the only upstream and mirrors to every target.

mod matcher;
mod rewrite;

use http::header::HeaderValue;
use http::request::Parts;
use http::StatusCode;
use shadowgate::{Mirror, MirrorLayer};
use tower::Layer;

use crate::forward::Forward;
use crate::metrics::{ProxyMetrics, RouteMetrics};
use crate::settings::{RouteAction, Settings};

use matcher::Matcher;
pub(crate) use rewrite::{Rewrite, Rewritten};

/// The `route` label when no routes are configured.
pub(crate) const DEFAULT_ROUTE: &str = "default";
/// The `route` label of requests no route takes (answered 404).
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

/// The service a proxying route calls.
pub(crate) type RouteService = Mirror<Rewritten<Forward>>;

/// One route, ready to serve.
#[derive(Debug)]
pub(crate) struct Route {
    matcher: Option<Matcher>,
    pub(crate) action: Action,
    pub(crate) metrics: RouteMetrics,
}

/// What a matched route does.
#[derive(Debug)]
pub(crate) enum Action {
    /// Proxy through this service; `client_addr` says whether its upstream balances by client
    /// address (so the server must pass it).
    Proxy {
        service: RouteService,
        client_addr: bool,
    },
    /// Answer with this status and `Location`.
    Redirect {
        status: StatusCode,
        location: HeaderValue,
    },
}

/// Why the routes could not be built (validation normally catches it first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {route:?}: upstream {upstream:?} is not defined")]
pub struct UnknownUpstream {
    /// The route's name.
    pub route: String,
    /// The upstream it names.
    pub upstream: String,
}

/// The routes in order, and the answer for a request none takes.
#[derive(Debug)]
pub(crate) struct Router {
    routes: Box<[Route]>,
    unmatched: RouteMetrics,
}

impl Router {
    /// Builds the routes of `settings`; `forward` gives the forwarder of a named upstream.
    pub(crate) fn build(
        settings: &Settings,
        mirror: &MirrorLayer,
        metrics: &ProxyMetrics,
        forward: impl Fn(&str) -> Option<(Forward, bool)>,
    ) -> Result<Self, UnknownUpstream> {
        let unmatched = metrics.route(UNMATCHED_ROUTE);
        if settings.routes.is_empty() {
            let name = settings.upstreams.first().map_or("", |u| u.name.as_str());
            let (fwd, client_addr) = forward(name).ok_or_else(|| UnknownUpstream {
                route: DEFAULT_ROUTE.to_owned(),
                upstream: name.to_owned(),
            })?;
            let route = Route {
                matcher: None,
                action: Action::Proxy {
                    service: mirror.layer(Rewritten::new(fwd, None)),
                    client_addr,
                },
                metrics: metrics.route(DEFAULT_ROUTE),
            };
            return Ok(Self {
                routes: Box::new([route]),
                unmatched,
            });
        }
        let routes = settings
            .routes
            .iter()
            .map(|r| {
                let matcher = Matcher::new(r);
                let action = match &r.action {
                    RouteAction::Redirect { to, status } => Action::Redirect {
                        status: *status,
                        location: to.clone(),
                    },
                    RouteAction::Proxy {
                        upstream,
                        mirrors,
                        strip_prefix,
                        rewrite,
                    } => {
                        let (fwd, client_addr) =
                            forward(upstream).ok_or_else(|| UnknownUpstream {
                                route: r.name.clone(),
                                upstream: upstream.clone(),
                            })?;
                        let rewrite =
                            Rewrite::new(matcher.path(), *strip_prefix, rewrite.as_deref());
                        Action::Proxy {
                            service: mirror.layer_selecting(Rewritten::new(fwd, rewrite), mirrors),
                            client_addr,
                        }
                    }
                };
                Ok(Route {
                    matcher: Some(matcher),
                    action,
                    metrics: metrics.route(&r.name),
                })
            })
            .collect::<Result<Box<[_]>, _>>()?;
        Ok(Self { routes, unmatched })
    }

    /// The first route that takes the request, with its index.
    pub(crate) fn route(&self, req: &Parts) -> Option<(usize, &Route)> {
        self.routes
            .iter()
            .enumerate()
            .find(|(_, r)| match &r.matcher {
                Some(m) => m.matches(req),
                None => true,
            })
    }

    /// The metrics of the route at `index`, or of requests no route takes.
    pub(crate) fn metrics(&self, index: Option<usize>) -> &RouteMetrics {
        index
            .and_then(|i| self.routes.get(i))
            .map_or(&self.unmatched, |r| &r.metrics)
    }
}

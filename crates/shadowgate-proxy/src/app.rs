//! [`App`]: the proxy assembled from [`Settings`]: listeners bound, the mirror started, the
//! service stack built. Shared by the binary, the demo and the tests.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::registry::Registry;
use shadowgate::{MirrorLayer, MirrorMetrics};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::admin::{
    Admin, AdminService, AuthFileError, AuthMetrics, RuntimeTargets, StateFile, StateFileError,
    Users,
};
use crate::forward::Forward;
use crate::metrics::{ProxyMetrics, DEFAULT_ROUTE};
use crate::server::{self, Stop};
use crate::service::{ProxyService, Stack};
use crate::settings::Settings;
use crate::upstream::UpstreamPool;

/// Why the app could not be built or run. Each variant names the offending address or value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// No primary upstream was given.
    #[error("no upstream: at least one --upstream URL is required")]
    NoUpstream,
    /// An upstream URL the proxy cannot forward to.
    #[error("upstream {url:?} {reason}")]
    InvalidUpstream {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({listener} listener): {source}")]
    Bind {
        /// `"proxy"` or `"admin"`.
        listener: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason (for example, address in use).
        #[source]
        source: io::Error,
    },
    /// The mirror could not be built (for example two targets with the same name).
    #[error("mirror: {0}")]
    Mirror(#[from] shadowgate::BuildError),
    /// The admin users file is unreadable or malformed (the error names the file and line).
    #[error(transparent)]
    AuthFile(#[from] AuthFileError),
    /// The state file is unreadable or corrupt (it is left untouched).
    #[error(transparent)]
    StateFile(#[from] StateFileError),
}

impl AppError {
    /// Whether the error is in the settings or the files they name (the binary exits 64), rather
    /// than a runtime failure such as an address in use (exit 1).
    pub fn is_config_error(&self) -> bool {
        !matches!(self, AppError::Bind { .. })
    }
}

/// The proxy, bound and ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    listen_addr: SocketAddr,
    admin: Option<(TcpListener, SocketAddr)>,
    mirror: MirrorLayer,
    stack: Arc<Stack>,
    runtime_targets: Arc<RuntimeTargets>,
    admin_api: Arc<Admin>,
    settings: Settings,
}

impl App {
    /// Checks the upstreams, builds the mirror and the service stack (metrics registered in one
    /// registry with the `shadowgate` prefix), and binds the listeners. Port 0 picks a free port.
    /// Must run inside a Tokio runtime (the mirror's workers start on it).
    pub async fn build(settings: Settings) -> Result<App, AppError> {
        if settings.upstreams.iter().all(|u| u.backends.is_empty()) {
            return Err(AppError::NoUpstream);
        }
        let users = settings
            .admin_auth
            .as_deref()
            .map(Users::load)
            .transpose()?;
        let mut registry = Registry::with_prefix("shadowgate");
        let auth_metrics = AuthMetrics::register(&mut registry);
        let proxy_metrics = ProxyMetrics::register(&mut registry);
        // Routes and named pools are wired in issue 3's router; until then the first upstream
        // takes every request.
        let upstream = &settings.upstreams[0];
        let backends: Vec<http::Uri> = upstream.backends.iter().map(|b| b.url.clone()).collect();
        let pool = UpstreamPool::new(&backends, &proxy_metrics)
            .map_err(|(url, reason)| AppError::InvalidUpstream { url, reason })?;

        let mut mirror = MirrorLayer::builder().metrics(MirrorMetrics::register(&mut registry));
        for target in &settings.mirrors {
            mirror = mirror.target(target.clone());
        }
        if let Some(hook) = &settings.on_outcome {
            mirror = mirror.on_outcome(hook.clone());
        }
        let mirror = mirror.build()?;
        let runtime_targets = Arc::new(RuntimeTargets::new(
            mirror.clone(),
            settings.mirror_defaults.clone(),
            settings.state_file.clone().map(StateFile::new),
            settings.remove_after,
        ));
        let loaded = runtime_targets.load()?;
        if loaded > 0 {
            tracing::info!(loaded, "runtime targets loaded from the state file");
        }

        let (listener, listen_addr) = bind("proxy", settings.listen).await?;
        let admin = match settings.admin {
            Some(addr) => Some(bind("admin", addr).await?),
            None => None,
        };

        let forward = Forward::new(pool, upstream.connect_timeout, upstream.timeout);
        let stack = Arc::new(Stack {
            mirror: mirror.layer(forward),
            route: proxy_metrics.route(DEFAULT_ROUTE),
        });
        let registry = Arc::new(registry);
        let admin_api = Arc::new(Admin {
            registry: registry.clone(),
            targets: runtime_targets.clone(),
            users,
            auth_metrics,
            // Health checking lands with the upstream pools; until then ready once listening.
            ready: Arc::new(|| true),
        });
        Ok(App {
            listener,
            listen_addr,
            admin,
            mirror,
            stack,
            runtime_targets,
            admin_api,
            settings,
        })
    }

    /// The proxy listener's address (with the real port when 0 was asked for).
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// The admin listener's address, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(|(_, addr)| *addr)
    }

    /// The mirror, for [`MirrorLayer::stats`] and run-time targets.
    pub fn mirror(&self) -> &MirrorLayer {
        &self.mirror
    }

    /// The runtime-added targets (which of the mirror's targets came from the admin API).
    #[allow(dead_code)] // for the config reload, which keeps runtime targets
    pub(crate) fn runtime_targets(&self) -> &Arc<RuntimeTargets> {
        &self.runtime_targets
    }

    /// Serves until `shutdown` resolves, then stops gracefully: the listeners close (new
    /// connections are refused), in-flight requests get `shutdown_timeout` to finish, then queued
    /// shadow copies get `mirror_drain` to go out (the rest are counted `dropped_shutdown`).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let App {
            listener,
            listen_addr,
            admin,
            mirror,
            stack,
            runtime_targets,
            admin_api,
            settings,
        } = self;
        let stop = Stop {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let builder = Arc::new(server::http_builder());

        tracing::info!(
            upstreams = settings.upstreams.len(),
            mirrors = settings.mirrors.len(),
            "listening on {listen_addr}"
        );
        let proxy = tokio::spawn(server::serve(
            listener,
            builder.clone(),
            move |peer| ProxyService::new(stack.clone(), peer),
            stop.clone(),
        ));
        let admin = admin.map(|(listener, addr)| {
            tracing::info!("admin listening on {addr}");
            tokio::spawn(server::serve(
                listener,
                builder.clone(),
                move |peer| AdminService::new(admin_api.clone(), peer),
                stop.clone(),
            ))
        });

        let remover = tokio::spawn(runtime_targets.remove_failing());

        shutdown.await;
        remover.abort();
        stop.stop.cancel();
        let proxy = listener_done(proxy.await);
        let admin = match admin {
            Some(task) => listener_done(task.await),
            None => None,
        };
        let drain = async move {
            let proxy = async move {
                if let Some(g) = proxy {
                    g.shutdown().await;
                }
            };
            let admin = async move {
                if let Some(g) = admin {
                    g.shutdown().await;
                }
            };
            tokio::join!(proxy, admin);
        };
        if tokio::time::timeout(settings.limits.shutdown_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                timeout = ?settings.limits.shutdown_timeout,
                "requests still in flight when the shutdown timeout passed were cut off"
            );
        }
        stop.abort.cancel();
        let report = mirror.shutdown(settings.mirror_drain).await;
        if report.drained {
            tracing::info!("stopped");
        } else {
            tracing::warn!(
                drain = ?settings.mirror_drain,
                "stopped; shadow copies still queued after the drain period were dropped"
            );
        }
        Ok(())
    }
}

/// The drain handle of a stopped listener (a listener task never panics; log it if one did).
fn listener_done(
    joined: Result<GracefulShutdown, tokio::task::JoinError>,
) -> Option<GracefulShutdown> {
    joined
        .map_err(|error| tracing::error!(%error, "listener task failed"))
        .ok()
}

async fn bind(
    listener: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), AppError> {
    let bound = TcpListener::bind(addr)
        .await
        .and_then(|l| l.local_addr().map(|a| (l, a)));
    bound.map_err(|source| AppError::Bind {
        listener,
        addr,
        source,
    })
}

//! [`App`]: the proxy assembled from [`Settings`]: listeners bound, the mirror started, the
//! request path ([`Stack`]) built. Shared by the binary, the demo and the tests. [`Reloader`]
//! applies a new config to a running app.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use prometheus_client::registry::Registry;
use shadowgate::{MirrorLayer, MirrorMetrics};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{Admin, AdminService, AuthMetrics, Browsers, RuntimeTargets, StateFile, Users};
use crate::error::AppError;
use crate::metrics::ProxyMetrics;
use crate::reload::Reloader;
use crate::replay::Replay;
use crate::server::{self, Drain, Stop};
use crate::service::ProxyService;
use crate::settings::Settings;
use crate::stack::{SharedStack, Stack};
use crate::tls::TlsHandle;
use crate::upgrade::Tunnels;

/// The proxy, bound and ready to serve.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    listen_addr: SocketAddr,
    admin: Option<(TcpListener, SocketAddr)>,
    mirror: MirrorLayer,
    stack: SharedStack,
    runtime_targets: Arc<RuntimeTargets>,
    admin_api: Arc<Admin>,
    reloader: Reloader,
    tls: TlsHandle,
    settings: Settings,
    tunnels: Tunnels,
}

impl App {
    /// Builds the mirror and the request path (metrics registered in one registry with the
    /// `shadowgate` prefix), and binds the listeners. Port 0 picks a free port. Must run inside
    /// a Tokio runtime (the mirror's workers and the health checks start on it).
    pub async fn build(settings: Settings) -> Result<App, AppError> {
        let users = settings
            .admin_auth
            .as_deref()
            .map(Users::load)
            .transpose()?;
        let mut registry = Registry::with_prefix(crate::metrics::PREFIX);
        let auth_metrics = AuthMetrics::register(&mut registry);
        let proxy_metrics = ProxyMetrics::register(&mut registry);

        let mirror_metrics = MirrorMetrics::register(&mut registry);
        let replay = Replay::default();
        let mut mirror = MirrorLayer::builder()
            .primary_replay(replay.clone())
            .metrics(mirror_metrics.clone())
            .memory_budget(settings.limits.mirror_memory_bytes);
        for target in &settings.mirrors {
            mirror = mirror.target(target.clone());
        }
        if let Some(hook) = &settings.on_outcome {
            mirror = mirror.on_outcome(hook.clone());
        }
        let mirror = mirror.build()?;
        let tunnels = Tunnels::new(settings.limits.idle_timeout);
        let stack = match Stack::build(&settings, &mirror, &proxy_metrics, &tunnels) {
            Ok(stack) => {
                let stack: SharedStack = Arc::new(ArcSwap::from_pointee(stack));
                replay.serve(stack.clone());
                stack
            }
            Err(e) => {
                mirror.shutdown(std::time::Duration::ZERO).await;
                return Err(e);
            }
        };

        let runtime_targets = Arc::new(RuntimeTargets::new(
            mirror.clone(),
            settings.mirror_defaults.clone(),
            settings.state_file.clone().map(StateFile::new),
            settings.remove_after,
            settings.max_runtime_targets,
            settings.listeners(),
        ));
        let loaded = match runtime_targets.load() {
            Ok(loaded) => loaded,
            Err(e) => {
                mirror.shutdown(std::time::Duration::ZERO).await;
                return Err(e.into());
            }
        };
        if loaded > 0 {
            tracing::info!(loaded, "runtime targets loaded from the state file");
        }

        let (listener, listen_addr) = bind("proxy", settings.listen).await?;
        let admin = match settings.admin {
            Some(addr) => Some(bind("admin", addr).await?),
            None => None,
        };
        runtime_targets.set_listeners(
            std::iter::once(listen_addr)
                .chain(admin.as_ref().map(|(_, addr)| *addr))
                .collect(),
        );
        let tls = TlsHandle::new(settings.tls.as_ref().map(|t| t.server_config.clone()));
        let reloader = Reloader::new(
            &settings,
            mirror.clone(),
            stack.clone(),
            proxy_metrics.clone(),
            tls.clone(),
            runtime_targets.clone(),
            tunnels.clone(),
        );
        let registry = Arc::new(registry);
        let ready_stack = stack.clone();
        let admin_api = Arc::new(Admin {
            registry,
            proxy_metrics,
            mirror_metrics,
            targets: runtime_targets.clone(),
            users,
            auth_metrics,
            // The listeners are bound by now; the rest is the upstreams' health.
            ready: Arc::new(move || ready_stack.load().is_ready()),
            browsers: Browsers::new(
                admin.as_ref().map_or(settings.listen, |(_, addr)| *addr),
                &settings.admin_allowed_hosts,
            ),
            throttle: Default::default(),
        });
        Ok(App {
            listener,
            listen_addr,
            admin,
            mirror,
            stack,
            runtime_targets,
            admin_api,
            reloader,
            tls,
            settings,
            tunnels,
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

    /// A handle that applies a new config to this app while it runs (SIGHUP in the binary).
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until `shutdown` resolves, then stops gracefully: the listeners close (new
    /// connections are refused), in-flight requests get `limits.shutdown_timeout` to finish,
    /// then queued shadow copies get `mirror_drain` to go out (the rest are counted
    /// `dropped_shutdown`).
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
            reloader: _,
            tls,
            settings,
            tunnels,
        } = self;
        let stop = Stop {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
        };
        let builder = Arc::new(server::http_builder(&settings.limits));
        let limits = settings.limits;

        tracing::info!(
            upstreams = settings.upstreams.len(),
            routes = settings.routes.len(),
            mirrors = settings.mirrors.len(),
            tls = tls.is_tls(),
            "listening on {listen_addr}"
        );
        let proxy = tokio::spawn(server::serve(
            listener,
            builder.clone(),
            tls.slot(),
            limits,
            move |peer, tls| ProxyService::new(stack.clone(), peer, tls),
            stop.clone(),
        ));
        let admin = admin.map(|(listener, addr)| {
            tracing::info!("admin listening on {addr}");
            tokio::spawn(server::serve(
                listener,
                builder.clone(),
                TlsHandle::new(None).slot(),
                limits,
                move |peer, _| AdminService::new(admin_api.clone(), peer),
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
        let waiting = tunnels.clone();
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
            // Open tunnels (upgraded connections) get the same grace period as requests.
            tokio::join!(proxy, admin, waiting.wait());
        };
        let grace = settings.limits.shutdown_timeout;
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(
                timeout = ?grace,
                "requests still in flight when the shutdown timeout passed were cut off"
            );
        }
        stop.abort.cancel();
        tunnels.close();
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
fn listener_done(joined: Result<Drain, tokio::task::JoinError>) -> Option<Drain> {
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

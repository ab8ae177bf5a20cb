//! [`Reloader`]: applies a new config to a running app (SIGHUP in the binary). The new
//! settings were validated by the caller; the new request path is built first, and only when
//! that succeeds are the mirror's config targets brought in line (each change one atomic swap
//! of the target set) and then the path swapped in with one atomic store. Requests in flight
//! finish on the old path. Targets whose settings did not change keep their queue and workers;
//! runtime targets (added through the admin API) are never touched, and a config target that
//! would take a runtime target's name is refused.

use crate::upgrade::Tunnels;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use shadowgate::MirrorLayer;

use crate::admin::RuntimeTargets;
use crate::error::AppError;
use crate::metrics::ProxyMetrics;
use crate::settings::{Limits, Settings};
use crate::stack::{SharedStack, Stack};
use crate::tls::TlsHandle;

/// Applies new settings to the running app. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reloader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    mirror: MirrorLayer,
    stack: SharedStack,
    metrics: ProxyMetrics,
    tls: TlsHandle,
    runtime: Arc<RuntimeTargets>,
    /// The process's tunnels, shared by every generation's upstreams.
    tunnels: Tunnels,
    /// One reload at a time, and what the last one left.
    current: Mutex<Current>,
}

/// What the running app was built or last reloaded with, of what a reload compares.
#[derive(Debug)]
struct Current {
    /// Names of the targets that came from the settings (not added at run time).
    targets: HashSet<String>,
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    limits: Limits,
    /// The users file, the state file, and the settings runtime targets are built with (read
    /// once, at start-up, by the admin API).
    admin_files: (Option<PathBuf>, Option<PathBuf>),
    /// `admin.allowed_hosts` and `admin.max_runtime_targets` (read once, at start-up).
    admin_limits: (Vec<String>, usize),
    /// `[mirror_defaults]` and `remove_after`.
    runtime_defaults: (shadowgate::TargetBuilder, Option<std::time::Duration>),
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Targets that are new.
    pub added: Vec<String>,
    /// Targets whose settings changed (a fresh queue and workers; the old ones drain).
    pub replaced: Vec<String>,
    /// Targets no longer in the settings.
    pub removed: Vec<String>,
    /// Settings that changed but only take effect after a restart.
    pub need_restart: Vec<&'static str>,
}

impl Reloader {
    pub(crate) fn new(
        settings: &Settings,
        mirror: MirrorLayer,
        stack: SharedStack,
        metrics: ProxyMetrics,
        tls: TlsHandle,
        runtime: Arc<RuntimeTargets>,
        tunnels: Tunnels,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                mirror,
                stack,
                metrics,
                tls,
                runtime,
                tunnels,
                current: Mutex::new(Current::of(settings)),
            }),
        }
    }

    /// Applies `settings`: on an error nothing has changed and the old config keeps serving.
    pub fn reload(&self, settings: &Settings) -> Result<ReloadReport, AppError> {
        let inner = &*self.inner;
        let mut current = inner
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = Current::of(settings);
        for t in &settings.mirrors {
            if inner.runtime.is_runtime(t.name()) {
                return Err(AppError::RuntimeTarget(t.name().to_owned()));
            }
        }
        if let Some(name) = shadowgate::duplicate_name(settings.mirrors.iter().map(|t| t.name())) {
            return Err(shadowgate::BuildError::DuplicateTarget(name.to_owned()).into());
        }
        let stack = Stack::build(settings, &inner.mirror, &inner.metrics, &inner.tunnels)?;

        let mut report = ReloadReport::default();
        for t in &settings.mirrors {
            match inner.mirror.target_config(t.name()) {
                Some(old) if old == *t => {}
                old => {
                    inner.mirror.replace_target(t.clone());
                    let list = if old.is_some() {
                        &mut report.replaced
                    } else {
                        &mut report.added
                    };
                    list.push(t.name().to_owned());
                }
            }
        }
        for gone in current.targets.difference(&next.targets) {
            if inner.mirror.remove_target(gone) {
                report.removed.push(gone.clone());
            }
        }
        inner.stack.store(Arc::new(stack));
        // A new certificate serves new connections; turning TLS on or off needs a restart
        // (clients would not expect the scheme of a port to change under them).
        match &settings.tls {
            Some(tls) if inner.tls.is_tls() => inner.tls.set_tls(Some(tls.server_config.clone())),
            Some(_) => report.need_restart.push("tls"),
            None if inner.tls.is_tls() => report.need_restart.push("tls"),
            None => {}
        }

        if next.listen != current.listen {
            report.need_restart.push("listen");
        }
        if next.admin != current.admin {
            report.need_restart.push("admin.listen");
        }
        if next.limits != current.limits {
            report.need_restart.push("limits");
        }
        if next.admin_files != current.admin_files {
            report.need_restart.push("admin files");
        }
        if next.admin_limits != current.admin_limits {
            report
                .need_restart
                .push("admin.allowed_hosts or admin.max_runtime_targets");
        }
        if next.runtime_defaults != current.runtime_defaults {
            report.need_restart.push("mirror_defaults");
        }
        // What needs a restart keeps its running value, so the next reload still reports it.
        current.targets = next.targets;
        report.added.sort();
        report.replaced.sort();
        report.removed.sort();
        Ok(report)
    }
}

impl Current {
    fn of(settings: &Settings) -> Self {
        Self {
            targets: settings
                .mirrors
                .iter()
                .map(|t| t.name().to_owned())
                .collect(),
            listen: settings.listen,
            admin: settings.admin,
            limits: settings.limits,
            admin_files: (settings.admin_auth.clone(), settings.state_file.clone()),
            admin_limits: (
                settings.admin_allowed_hosts.clone(),
                settings.max_runtime_targets,
            ),
            runtime_defaults: (settings.mirror_defaults.clone(), settings.remove_after),
        }
    }
}

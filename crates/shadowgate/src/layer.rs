//! [`MirrorLayer`], its builder, and the target set it shares with every [`Mirror`] it made.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_layer::Layer;

use crate::client::default_tls;
use crate::dispatch::{Spawner, Target};
use crate::error::BuildError;
use crate::metrics::MirrorMetrics;
use crate::outcome::{OnOutcome, Outcome};
use crate::policy::SampleBy;
use crate::service::Mirror;
use crate::target::TargetConfig;

/// A [`tower_layer::Layer`] that tees requests to shadow targets. Cloning it is cheap; every
/// clone and every service it makes share the same targets, queues and workers.
#[derive(Clone, Debug)]
pub struct MirrorLayer {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) targets: ArcSwap<Vec<Arc<Target>>>,
    /// Whether any target samples by client address (so servers know to pass it).
    needs_client_addr: AtomicBool,
    metrics: MirrorMetrics,
    hook: Arc<dyn OnOutcome>,
    tls: rustls::ClientConfig,
    tracker: TaskTracker,
    cancel: CancellationToken,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("targets", &self.targets.load().len())
            .finish_non_exhaustive()
    }
}

/// Builds a [`MirrorLayer`].
pub struct MirrorLayerBuilder {
    targets: Vec<TargetConfig>,
    metrics: Option<MirrorMetrics>,
    hook: Arc<dyn OnOutcome>,
    tls: Option<rustls::ClientConfig>,
}

impl std::fmt::Debug for MirrorLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorLayerBuilder")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl MirrorLayerBuilder {
    /// Adds a target.
    pub fn target(mut self, target: TargetConfig) -> Self {
        self.targets.push(target);
        self
    }

    /// Records metrics in these families (see [`MirrorMetrics::register`]). Without this the
    /// layer keeps a private, unregistered set.
    pub fn metrics(mut self, metrics: MirrorMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Calls `hook` for every outcome event, besides recording metrics.
    pub fn on_outcome(mut self, hook: impl OnOutcome) -> Self {
        self.hook = Arc::new(hook);
        self
    }

    /// The TLS client configuration for `https://` targets (default: webpki roots).
    pub fn tls_client_config(mut self, tls: rustls::ClientConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Checks the targets and starts their workers on the current Tokio runtime.
    pub fn build(self) -> Result<MirrorLayer, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let tls = match self.tls {
            Some(tls) => tls,
            None => default_tls()?,
        };
        let shared = Arc::new(Shared {
            targets: ArcSwap::from_pointee(Vec::new()),
            needs_client_addr: AtomicBool::new(false),
            metrics: self.metrics.unwrap_or_default(),
            hook: self.hook,
            tls,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            runtime,
        });
        let layer = MirrorLayer { shared };
        if let Some(name) = crate::target::duplicate_name(self.targets.iter().map(|t| t.name())) {
            return Err(BuildError::DuplicateTarget(name.to_owned()));
        }
        let started = self
            .targets
            .into_iter()
            .map(|config| layer.shared.start(config))
            .collect();
        layer.shared.targets.store(Arc::new(started));
        layer.shared.targets_changed();
        Ok(layer)
    }
}

impl Shared {
    pub(crate) fn needs_client_addr(&self) -> bool {
        self.needs_client_addr.load(Ordering::Relaxed)
    }

    fn targets_changed(&self) {
        let needs = self
            .targets
            .load()
            .iter()
            .any(|t| matches!(t.policy.sample_by, Some(SampleBy::ClientIp)));
        self.needs_client_addr.store(needs, Ordering::Relaxed);
    }

    fn start(&self, config: TargetConfig) -> Arc<Target> {
        Target::start(
            config,
            Spawner {
                metrics: &self.metrics,
                hook: &self.hook,
                tls: &self.tls,
                tracker: &self.tracker,
                cancel: &self.cancel,
                runtime: &self.runtime,
            },
        )
    }
}

/// A snapshot of one target: its settings and counters.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TargetStats {
    /// The name in metrics.
    pub name: String,
    /// The URL.
    pub url: String,
    /// The sample ratio.
    pub sample: f64,
    /// `(outcome, count)` for every outcome, in [`Outcome::ALL`] order.
    pub outcomes: Vec<(Outcome, u64)>,
    /// The circuit breaker's state.
    pub circuit: crate::CircuitState,
    /// How long the circuit has been open or half-open since it was last closed: how long the
    /// target has been failing (`None` while closed). The proxy removes runtime targets failing
    /// longer than its `remove_after`.
    pub failing_for: Option<Duration>,
}

impl TargetStats {
    /// The count of one outcome.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.outcomes
            .iter()
            .find(|(o, _)| *o == outcome)
            .map_or(0, |(_, n)| *n)
    }

    /// Copies dropped or skipped before any I/O, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| o.is_drop())
            .map(|(_, n)| n)
            .sum()
    }
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every queued copy was sent within the grace period.
    pub drained: bool,
}

impl MirrorLayer {
    /// Starts a builder.
    pub fn builder() -> MirrorLayerBuilder {
        MirrorLayerBuilder {
            targets: Vec::new(),
            metrics: None,
            hook: Arc::new(()),
            tls: None,
        }
    }

    /// Every target's settings and counters.
    pub fn stats(&self) -> Vec<TargetStats> {
        self.shared
            .targets
            .load()
            .iter()
            .map(|t| TargetStats {
                name: t.config.name().to_owned(),
                url: t.config.url().to_owned(),
                sample: t.config.sample(),
                outcomes: Outcome::ALL
                    .iter()
                    .map(|o| (*o, t.observer.metrics.get(*o)))
                    .collect(),
                circuit: t.circuit.state(),
                failing_for: t.circuit.failing_for(),
            })
            .collect()
    }

    /// Whether any target samples by client address: a server only needs to insert the
    /// [`crate::ClientAddr`] extension (an allocation per request) when this is true.
    pub fn needs_client_addr(&self) -> bool {
        self.shared.needs_client_addr()
    }

    /// Adds a target at run time; a target with the same name is an error. Safe to call
    /// concurrently: of several adds of one name, exactly one succeeds.
    pub fn add_target(&self, config: TargetConfig) -> Result<(), BuildError> {
        let name: Arc<str> = config.name.clone();
        let taken = |targets: &[Arc<Target>]| targets.iter().any(|t| t.config.name == name);
        // Cheap refusal first, so an obvious duplicate starts no workers.
        if taken(&self.shared.targets.load()) {
            return Err(BuildError::DuplicateTarget(name.to_string()));
        }
        let started = self.shared.start(config);
        let mut added = false;
        self.shared.targets.rcu(|targets| {
            added = !taken(targets);
            let mut next = Vec::clone(targets);
            if added {
                next.push(started.clone());
            }
            next
        });
        if !added {
            // Another add of the same name won the race; this one's workers stop at once.
            started.close();
            return Err(BuildError::DuplicateTarget(name.to_string()));
        }
        self.shared.targets_changed();
        Ok(())
    }

    /// Removes a target by name; its queued copies are still sent. False when there is none.
    pub fn remove_target(&self, name: &str) -> bool {
        let mut removed = None;
        self.shared.targets.rcu(|targets| {
            let mut next = Vec::clone(targets);
            removed = next
                .iter()
                .position(|t| t.config.name() == name)
                .map(|i| next.remove(i));
            next
        });
        self.shared.targets_changed();
        match removed {
            Some(t) => {
                t.close();
                true
            }
            None => false,
        }
    }

    /// Stops taking copies (later ones count as `dropped_shutdown`), gives the queued ones `grace`
    /// to go out, then counts whatever is left as `dropped_shutdown`. Returns once every worker
    /// has stopped.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        for t in self.shared.targets.load().iter() {
            t.close();
        }
        self.shared.tracker.close();
        let drained = tokio::time::timeout(grace, self.shared.tracker.wait())
            .await
            .is_ok();
        if !drained {
            self.shared.cancel.cancel();
            self.shared.tracker.wait().await;
        }
        ShutdownReport { drained }
    }
}

impl<S> Layer<S> for MirrorLayer {
    type Service = Mirror<S>;

    /// Wraps `inner`, copying to every target, routed or not.
    fn layer(&self, inner: S) -> Mirror<S> {
        Mirror::new(inner, self.shared.clone(), None)
    }
}

impl MirrorLayer {
    /// Wraps `inner`, copying to the unrouted targets and to the routed targets (see
    /// [`crate::TargetBuilder::routed`]) named in `routed`: a proxy route's mirror list. Names
    /// that match no target (yet) are kept, so a target added later with that name is selected.
    pub fn layer_selecting<S>(&self, inner: S, routed: &[impl AsRef<str>]) -> Mirror<S> {
        let names = routed.iter().map(|n| n.as_ref().into()).collect();
        Mirror::new(inner, self.shared.clone(), Some(names))
    }

    /// Adds the target, or replaces the one of the same name in one step (no request sees
    /// neither). A replaced target's queued copies are still sent. Returns whether one was
    /// replaced. Used by config reloads: an unchanged target should be left alone (compare
    /// with [`MirrorLayer::target_config`]) so that its queue and workers carry on.
    pub fn replace_target(&self, config: TargetConfig) -> bool {
        let name: Arc<str> = config.name.clone();
        let started = self.shared.start(config);
        let mut replaced = None;
        self.shared.targets.rcu(|targets| {
            let mut next = Vec::clone(targets);
            replaced = match next.iter().position(|t| t.config.name == name) {
                Some(i) => Some(std::mem::replace(&mut next[i], started.clone())),
                None => {
                    next.push(started.clone());
                    None
                }
            };
            next
        });
        self.shared.targets_changed();
        match replaced {
            Some(old) => {
                old.close();
                true
            }
            None => false,
        }
    }

    /// The settings of the target of this name.
    pub fn target_config(&self, name: &str) -> Option<TargetConfig> {
        self.shared
            .targets
            .load()
            .iter()
            .find(|t| t.config.name() == name)
            .map(|t| t.config.clone())
    }
}

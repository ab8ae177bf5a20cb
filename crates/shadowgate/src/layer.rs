//! [`MirrorLayer`] and its builder: the public face of the mirror. It builds [`Mirror`]
//! services and manages the target set they share (`registry.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_layer::Layer;

use crate::budget::{Budget, DEFAULT_MEMORY_BUDGET};
use crate::client::default_tls;
use crate::compare::book::CompareEnv;
use crate::compare::comparator::{self, COMPARE_QUEUE};
use crate::compare::replay::PrimaryReplay;
use crate::compare::report::{CompareReport, FieldReport, OnCompare, Sample};
use crate::compare::rules::IgnoreRule;
use crate::error::BuildError;
use crate::error::InvalidValue;
use crate::metrics::MirrorMetrics;
use crate::outcome::OnOutcome;
use crate::registry::{Registry, ShutdownReport};
use crate::service::Mirror;
use crate::stats::TargetStats;
use crate::target::TargetConfig;
use crate::worker::WorkerEnv;

/// A [`tower_layer::Layer`] that tees requests to shadow targets. Cloning it is cheap; every
/// clone and every service it makes share the same targets, queues and workers.
#[derive(Clone, Debug)]
pub struct MirrorLayer {
    registry: Arc<Registry>,
}

/// Builds a [`MirrorLayer`].
pub struct MirrorLayerBuilder {
    targets: Vec<TargetConfig>,
    metrics: Option<MirrorMetrics>,
    hook: Arc<dyn OnOutcome>,
    compare_hook: Arc<dyn OnCompare>,
    replay: Option<Arc<dyn PrimaryReplay>>,
    tls: Option<rustls::ClientConfig>,
    memory_budget: usize,
}

impl std::fmt::Debug for MirrorLayerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorLayerBuilder")
            .field("targets", &self.targets)
            .field("memory_budget", &self.memory_budget)
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

    /// Calls `hook` for every compared copy's result and differences (see [`OnCompare`]).
    pub fn on_compare(mut self, hook: impl OnCompare) -> Self {
        self.compare_hook = Arc::new(hook);
        self
    }

    /// Sends the replays of targets whose comparison has `control = "primary"` (see
    /// [`PrimaryReplay`]). Without one, such a target cannot be added.
    pub fn primary_replay(mut self, replay: impl PrimaryReplay) -> Self {
        self.replay = Some(Arc::new(replay));
        self
    }

    /// The TLS client configuration for `https://` targets (default: webpki roots).
    pub fn tls_client_config(mut self, tls: rustls::ClientConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The most bytes all copies of the layer may hold together (default
    /// [`DEFAULT_MEMORY_BUDGET`], 256 MiB): captured heads, kept bodies and their overhead, from
    /// sampling until the last copy is sent or dropped. A copy that would take the total past it
    /// is dropped (`dropped_memory_budget`). The bytes held are the `mirror_memory_bytes` gauge;
    /// layers built with one [`MirrorMetrics`] share that count.
    pub fn memory_budget(mut self, bytes: usize) -> Self {
        self.memory_budget = bytes;
        self
    }

    /// Checks the targets and starts their workers on the current Tokio runtime.
    pub fn build(self) -> Result<MirrorLayer, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        let tls = match self.tls {
            Some(tls) => tls,
            None => default_tls()?,
        };
        let metrics = self.metrics.unwrap_or_default();
        let (queue, jobs) = async_channel::bounded(COMPARE_QUEUE);
        comparator::start(jobs).map_err(|e| BuildError::Thread(e.to_string()))?;
        let env = WorkerEnv {
            compare: CompareEnv {
                queue,
                replay: self.replay,
                hook: self.compare_hook,
                rules: Arc::default(),
            },
            budget: Budget::new(self.memory_budget, metrics.memory.clone()),
            metrics,
            hook: self.hook,
            tls,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            runtime,
        };
        let registry = Registry::start(env, self.targets)?;
        Ok(MirrorLayer {
            registry: Arc::new(registry),
        })
    }
}

impl MirrorLayer {
    /// Starts a builder.
    pub fn builder() -> MirrorLayerBuilder {
        MirrorLayerBuilder {
            targets: Vec::new(),
            metrics: None,
            hook: Arc::new(()),
            compare_hook: Arc::new(()),
            replay: None,
            tls: None,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }

    /// Wraps `inner`, copying to the unrouted targets and to the routed targets (see
    /// [`crate::TargetBuilder::routed`]) named in `routed`: a proxy route's mirror list. Names
    /// that match no target (yet) are kept, so a target added later with that name is selected.
    pub fn layer_selecting<S>(&self, inner: S, routed: &[impl AsRef<str>]) -> Mirror<S> {
        let names = routed.iter().map(|n| n.as_ref().into()).collect();
        Mirror::new(inner, self.registry.clone(), Some(names))
    }

    /// Every target's settings and counters.
    pub fn stats(&self) -> Vec<TargetStats> {
        self.registry.stats()
    }

    /// Whether any target samples by client address: a server only needs to insert the
    /// [`crate::ClientAddr`] extension (an allocation per request) when this is true.
    pub fn needs_client_addr(&self) -> bool {
        self.registry.needs_client_addr()
    }

    /// Adds a target at run time; a target with the same name is an error. Safe to call
    /// concurrently: of several adds of one name, exactly one succeeds.
    pub fn add_target(&self, config: TargetConfig) -> Result<(), BuildError> {
        self.registry.add(config)
    }

    /// Removes a target by name; its queued copies are still sent. False when there is none.
    pub fn remove_target(&self, name: &str) -> bool {
        self.registry.remove(name)
    }

    /// Adds the target, or replaces the one of the same name in one step (no request sees
    /// neither). A replaced target's queued copies are still sent. Returns whether one was
    /// replaced. Used by config reloads: an unchanged target should be left alone (compare
    /// with [`MirrorLayer::target_config`]) so that its queue and workers carry on.
    pub fn replace_target(&self, config: TargetConfig) -> bool {
        self.registry.replace(config)
    }

    /// The settings of the target of this name.
    pub fn target_config(&self, name: &str) -> Option<TargetConfig> {
        self.registry.config(name)
    }

    /// Every comparing target's report (`GET /compare`), by target name.
    pub fn compare_reports(&self) -> Vec<CompareReport> {
        (self.registry.targets.load().iter())
            .filter_map(|t| t.compare.as_ref().map(|b| b.report()))
            .collect()
    }

    /// The fields of `endpoint` of `target` with at least one difference
    /// (`GET /compare/fields`); `None` when the target does not compare or the endpoint has no
    /// pairs.
    pub fn compare_fields(&self, target: &str, endpoint: &str) -> Option<Vec<FieldReport>> {
        self.registry.book(target)?.fields(endpoint)
    }

    /// A kept sample pair, from whichever target kept it.
    pub fn compare_sample(&self, id: u64) -> Option<std::sync::Arc<Sample>> {
        (self.registry.targets.load().iter())
            .find_map(|t| t.compare.as_ref().and_then(|b| b.sample(id)))
    }

    /// Every kept sample pair of `target`, oldest first; `None` when it does not compare.
    pub fn compare_samples(&self, target: &str) -> Option<Vec<std::sync::Arc<Sample>>> {
        Some(self.registry.book(target)?.samples())
    }

    /// Clears `target`'s comparison counts and samples; false when it does not compare.
    pub fn compare_reset(&self, target: &str) -> bool {
        self.registry.book(target).map(|b| b.reset()).is_some()
    }

    /// Adds a run-time ignore rule to `target` (which need not exist yet); `Ok(false)` when it
    /// was there already. A bad glob or endpoint, or a full list, is an error naming it.
    pub fn compare_ignore(&self, target: &str, rule: IgnoreRule) -> Result<bool, InvalidValue> {
        self.registry.compare_rules().add(target, rule)
    }

    /// Removes a run-time ignore rule; false when it was not there.
    pub fn compare_unignore(&self, target: &str, rule: &IgnoreRule) -> bool {
        self.registry.compare_rules().remove(target, rule)
    }

    /// Every target's run-time ignore rules.
    pub fn compare_rules(&self) -> std::collections::BTreeMap<String, Vec<IgnoreRule>> {
        self.registry.compare_rules().all()
    }

    /// Stops taking copies (later ones count as `dropped_shutdown`), gives the queued ones `grace`
    /// to go out, then counts whatever is left as `dropped_shutdown`. Returns once every worker
    /// has stopped.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.registry.shutdown(grace).await
    }
}

impl<S> Layer<S> for MirrorLayer {
    type Service = Mirror<S>;

    /// Wraps `inner`, copying to every target, routed or not.
    fn layer(&self, inner: S) -> Mirror<S> {
        Mirror::new(inner, self.registry.clone(), None)
    }
}

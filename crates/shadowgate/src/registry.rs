//! [`Registry`]: the target set a [`crate::MirrorLayer`] shares with every
//! [`crate::Mirror`] it made. Adding, replacing and removing a target is one atomic swap of the
//! set; shutdown closes every queue and waits for the workers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::error::BuildError;
use crate::handle::TargetHandle;
use crate::policy::SampleBy;
use crate::stats::TargetStats;
use crate::target::TargetConfig;
use crate::worker::WorkerEnv;

/// The running targets and what their workers are started with.
pub(crate) struct Registry {
    /// Loaded once per request by the request path; swapped whole by every change.
    pub(crate) targets: ArcSwap<Vec<Arc<TargetHandle>>>,
    /// Whether any target samples by client address (so servers know to pass it).
    needs_client_addr: AtomicBool,
    env: WorkerEnv,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("targets", &self.targets.load().len())
            .finish_non_exhaustive()
    }
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Whether every queued copy was sent within the grace period.
    pub drained: bool,
}

impl Registry {
    /// Starts every target in `configs`; a name given twice is an error and starts nothing.
    pub(crate) fn start(env: WorkerEnv, configs: Vec<TargetConfig>) -> Result<Self, BuildError> {
        if let Some(name) = crate::target::duplicate_name(configs.iter().map(|t| t.name())) {
            return Err(BuildError::DuplicateTarget(name.to_owned()));
        }
        for config in &configs {
            check_replay(&env, config)?;
        }
        let registry = Registry {
            targets: ArcSwap::from_pointee(Vec::new()),
            needs_client_addr: AtomicBool::new(false),
            env,
        };
        let started = configs
            .into_iter()
            .map(|config| TargetHandle::start(config, &registry.env))
            .collect();
        registry.targets.store(Arc::new(started));
        registry.targets_changed();
        Ok(registry)
    }

    /// The comparison of the target of this name, if it compares.
    pub(crate) fn book(&self, name: &str) -> Option<Arc<crate::compare::book::Book>> {
        (self.targets.load().iter())
            .find(|t| *t.config.name == *name)
            .and_then(|t| t.compare.clone())
    }

    /// The layer's run-time ignore rules.
    pub(crate) fn compare_rules(&self) -> &crate::compare::rules::RuntimeRules {
        &self.env.compare.rules
    }

    /// The layer's memory budget.
    pub(crate) fn budget(&self) -> &Arc<crate::budget::Budget> {
        &self.env.budget
    }

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

    /// Every target's settings and counters.
    pub(crate) fn stats(&self) -> Vec<TargetStats> {
        self.targets
            .load()
            .iter()
            .map(|t| TargetStats::of(t))
            .collect()
    }

    /// The settings of the target of this name.
    pub(crate) fn config(&self, name: &str) -> Option<TargetConfig> {
        self.targets
            .load()
            .iter()
            .find(|t| t.config.name() == name)
            .map(|t| t.config.clone())
    }

    /// See [`crate::MirrorLayer::add_target`].
    pub(crate) fn add(&self, config: TargetConfig) -> Result<(), BuildError> {
        let name: Arc<str> = config.name.clone();
        let taken = |targets: &[Arc<TargetHandle>]| targets.iter().any(|t| t.config.name == name);
        // Cheap refusal first, so an obvious duplicate starts no workers.
        if taken(&self.targets.load()) {
            return Err(BuildError::DuplicateTarget(name.to_string()));
        }
        check_replay(&self.env, &config)?;
        let started = TargetHandle::start(config, &self.env);
        let mut added = false;
        self.targets.rcu(|targets| {
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
        self.targets_changed();
        Ok(())
    }

    /// See [`crate::MirrorLayer::remove_target`].
    pub(crate) fn remove(&self, name: &str) -> bool {
        let mut removed = None;
        self.targets.rcu(|targets| {
            let mut next = Vec::clone(targets);
            removed = next
                .iter()
                .position(|t| t.config.name() == name)
                .map(|i| next.remove(i));
            next
        });
        self.targets_changed();
        match removed {
            Some(t) => {
                t.close();
                self.env.metrics.remove_target(name);
                true
            }
            None => false,
        }
    }

    /// See [`crate::MirrorLayer::replace_target`].
    pub(crate) fn replace(&self, config: TargetConfig) -> bool {
        let name: Arc<str> = config.name.clone();
        let started = TargetHandle::start(config, &self.env);
        let mut replaced = None;
        self.targets.rcu(|targets| {
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
        self.targets_changed();
        match replaced {
            Some(old) => {
                old.close();
                true
            }
            None => false,
        }
    }

    /// See [`crate::MirrorLayer::shutdown`].
    pub(crate) async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        for t in self.targets.load().iter() {
            t.close();
        }
        self.env.tracker.close();
        let drained = tokio::time::timeout(grace, self.env.tracker.wait())
            .await
            .is_ok();
        if !drained {
            self.env.cancel.cancel();
            self.env.tracker.wait().await;
        }
        ShutdownReport { drained }
    }
}

/// A target that compares with `control = "primary"` needs the layer's replay.
fn check_replay(env: &WorkerEnv, config: &TargetConfig) -> Result<(), BuildError> {
    let primary = (config.compare())
        .is_some_and(|c| c.control() == Some(&crate::compare::config::Control::Primary));
    if primary && env.compare.replay.is_none() {
        return Err(BuildError::NoPrimaryReplay(config.name().to_owned()));
    }
    Ok(())
}

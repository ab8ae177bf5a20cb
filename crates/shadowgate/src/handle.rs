//! [`TargetHandle`]: what the request path holds of one target (its settings, sampling policy,
//! circuit, rate limit, outcome sink and the sending end of its queue). Admission itself is in
//! `admit.rs`; the receiving end of the queue belongs to the target's workers (`worker.rs`).

use std::sync::Arc;

use async_channel::Sender;

use crate::circuit::Circuit;
use crate::client::build_client;
use crate::compare::book::Book;
use crate::observer::Observer;
use crate::policy::Policy;
use crate::rate::RateLimit;
use crate::target::TargetConfig;
use crate::worker::{Job, Worker, WorkerEnv};

/// One running target, as the request path sees it.
pub(crate) struct TargetHandle {
    pub(crate) config: TargetConfig,
    pub(crate) policy: Policy,
    pub(crate) tx: Sender<Job>,
    pub(crate) rate: Option<RateLimit>,
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) observer: Observer,
    /// The target's comparison, when it is on.
    pub(crate) compare: Option<Arc<Book>>,
}

impl std::fmt::Debug for TargetHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetHandle")
            .field("name", &self.config.name)
            .finish_non_exhaustive()
    }
}

impl TargetHandle {
    /// Builds the target and spawns its workers.
    pub(crate) fn start(config: TargetConfig, env: &WorkerEnv) -> Arc<TargetHandle> {
        let (tx, rx) = async_channel::bounded(config.queue);
        let observer = Observer::new(
            config.name.clone(),
            env.metrics.for_target(&config.name),
            env.hook.clone(),
        );
        let mut handle = TargetHandle::new(config, tx, observer);
        handle.compare = (handle.config.compare.clone()).map(|comparison| {
            Arc::new(Book::new(
                handle.config.name.clone(),
                comparison,
                env.compare.clone(),
                env.metrics.for_compare(&handle.config.name),
            ))
        });
        let client = build_client(env.tls.clone(), &handle.config);
        Worker::new(
            handle.config.clone(),
            rx,
            client,
            handle.circuit.clone(),
            handle.observer.clone(),
            env.budget.clone(),
            env.compare.replay.clone(),
        )
        .spawn(env);
        Arc::new(handle)
    }

    /// The handle alone, with no workers behind its queue.
    fn new(config: TargetConfig, tx: Sender<Job>, observer: Observer) -> Self {
        let circuit = Arc::new(Circuit::new(
            config.circuit_failures,
            config.circuit_retry_after,
            config.timeout,
            observer.metrics.circuit_state.clone(),
            config.name.clone(),
        ));
        TargetHandle {
            policy: Policy {
                sample: config.sample,
                sample_by: config.sample_by.clone(),
                methods: config.methods.clone(),
            },
            rate: RateLimit::new(config.rate_limit),
            circuit,
            config,
            tx,
            observer,
            compare: None,
        }
    }

    /// Whether a service with this selection copies to the target: an unrouted target is always
    /// selected, a routed one only by name (and by a service that selects everything).
    pub(crate) fn selected_by(&self, select: Option<&[Box<str>]>) -> bool {
        match select {
            Some(names) if self.config.routed => names.iter().any(|n| **n == *self.config.name),
            _ => true,
        }
    }

    /// Stops admitting: later copies count as `dropped_shutdown`; the workers drain the queue.
    pub(crate) fn close(&self) {
        self.tx.close();
    }
}

/// Handles whose queues tests read directly, with no workers and no network.
#[cfg(test)]
pub(crate) mod test_handle {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_channel::Receiver;

    use super::TargetHandle;
    use crate::metrics::MirrorMetrics;
    use crate::observer::Observer;
    use crate::outcome::{Outcome, OutcomeEvent};
    use crate::target::TargetConfig;
    use crate::worker::Job;

    /// Every event a handle recorded: (outcome, status, elapsed).
    pub(crate) type Events = Arc<Mutex<Vec<(Outcome, Option<http::StatusCode>, Option<Duration>)>>>;

    /// An observer for `config` whose hook appends to the returned list.
    pub(crate) fn recording(config: &TargetConfig) -> (Observer, Events) {
        let events = Events::default();
        let sink = events.clone();
        let hook =
            move |e: &OutcomeEvent<'_>| sink.lock().unwrap().push((e.outcome, e.status, e.elapsed));
        let metrics = MirrorMetrics::default().for_target(&config.name);
        (
            Observer::new(config.name.clone(), metrics, Arc::new(hook)),
            events,
        )
    }

    /// A handle for `config` and the receiving end of its queue.
    pub(crate) fn detached(config: TargetConfig) -> (Arc<TargetHandle>, Receiver<Job>, Events) {
        let (tx, rx) = async_channel::bounded(config.queue);
        let (observer, events) = recording(&config);
        (
            Arc::new(TargetHandle::new(config, tx, observer)),
            rx,
            events,
        )
    }

    /// The outcomes recorded so far.
    pub(crate) fn outcomes(events: &Events) -> Vec<Outcome> {
        events.lock().unwrap().iter().map(|e| e.0).collect()
    }
}

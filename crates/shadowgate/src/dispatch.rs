//! One target's dispatcher: admission on the request path (never an await), a bounded queue, and a
//! fixed set of workers that send copies, read and discard the answers, and count each outcome.

use std::sync::Arc;
use std::time::Instant;

use async_channel::{Receiver, Sender, TrySendError};
use http::HeaderValue;
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::circuit::Circuit;
use crate::client::{build_client, CopyClient};
use crate::copy::{build_request, CopyChunks, CopyHead};
use crate::metrics::{MirrorMetrics, TargetMetrics};
use crate::outcome::{OnOutcome, Outcome, OutcomeEvent};
use crate::policy::Policy;
use crate::rate::RateLimit;
use crate::target::TargetConfig;

/// A copy waiting for a worker.
#[derive(Debug)]
pub(crate) struct Job {
    head: Arc<CopyHead>,
    body: Option<CopyChunks>,
    dispatched_at: Instant,
}

/// What the request path holds of a target: its policy and the sending end of its queue.
pub(crate) struct Target {
    pub(crate) config: TargetConfig,
    pub(crate) policy: Policy,
    tx: Sender<Job>,
    rate: Option<RateLimit>,
    pub(crate) circuit: Arc<Circuit>,
    pub(crate) observer: Observer,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.config.name)
            .finish()
    }
}

/// Where a target's outcomes go: its metric handles and the layer's hook.
#[derive(Clone)]
pub(crate) struct Observer {
    name: Arc<str>,
    pub(crate) metrics: TargetMetrics,
    hook: Arc<dyn OnOutcome>,
}

impl Observer {
    /// An outcome with no response: a drop, or a copy that ended before any answer.
    pub(crate) fn record(&self, outcome: Outcome, request_id: Option<&HeaderValue>) {
        self.record_event(OutcomeEvent {
            target: &self.name,
            outcome,
            request_id,
            status: None,
            elapsed: None,
        });
    }

    fn record_event(&self, event: OutcomeEvent<'_>) {
        self.metrics.count(event.outcome);
        if let (Some(status), Some(elapsed)) = (event.status, event.elapsed) {
            self.metrics.response(status, elapsed);
        }
        self.hook.on_outcome(&event);
    }
}

/// What the layer needs to start a target's workers.
pub(crate) struct Spawner<'a> {
    pub(crate) metrics: &'a MirrorMetrics,
    pub(crate) hook: &'a Arc<dyn OnOutcome>,
    pub(crate) tls: &'a rustls::ClientConfig,
    pub(crate) tracker: &'a TaskTracker,
    pub(crate) cancel: &'a CancellationToken,
    pub(crate) runtime: &'a tokio::runtime::Handle,
}

impl Target {
    /// Builds the target and spawns its workers.
    pub(crate) fn start(config: TargetConfig, s: Spawner<'_>) -> Arc<Target> {
        let (tx, rx) = async_channel::bounded(config.queue);
        let observer = Observer {
            name: config.name.clone(),
            metrics: s.metrics.for_target(&config.name),
            hook: s.hook.clone(),
        };
        let circuit = Arc::new(Circuit::new(
            config.circuit_failures,
            config.circuit_retry_after,
            config.timeout,
            observer.metrics.circuit_state.clone(),
            config.name.clone(),
        ));
        let worker = Arc::new(Worker {
            circuit: circuit.clone(),
            rx,
            client: build_client(s.tls.clone(), &config),
            config: config.clone(),
            observer: observer.clone(),
        });
        for _ in 0..config.workers {
            let cancel = s.cancel.clone();
            s.tracker.spawn_on(worker.clone().run(cancel), s.runtime);
        }
        Arc::new(Target {
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
        })
    }

    /// Whether a service with this selection copies to the target: an unrouted target is always
    /// selected, a routed one only by name (and by a service that selects everything).
    pub(crate) fn selected_by(&self, select: Option<&[Box<str>]>) -> bool {
        match select {
            Some(names) if self.config.routed => names.iter().any(|n| **n == *self.config.name),
            _ => true,
        }
    }

    /// Admits a copy or drops it, counting either way. Never waits.
    pub(crate) fn dispatch(&self, head: &Arc<CopyHead>, body: Option<CopyChunks>) {
        let count = |o| self.observer.record(o, Some(&head.request_id));
        if !self.circuit.admit() {
            return count(Outcome::DroppedCircuitOpen);
        }
        if self.rate.as_ref().is_some_and(|r| !r.try_take()) {
            return count(Outcome::DroppedRateLimited);
        }
        let job = Job {
            head: head.clone(),
            body,
            dispatched_at: Instant::now(),
        };
        match self.tx.try_send(job) {
            Ok(()) => {
                count(Outcome::Dispatched);
                self.observer.metrics.queue_depth.set(self.tx.len() as i64);
            }
            Err(TrySendError::Full(_)) => count(Outcome::DroppedQueueFull),
            Err(TrySendError::Closed(_)) => count(Outcome::DroppedShutdown),
        }
    }

    /// Whether the queue has no room (a hint: a worker may take a copy a moment later).
    pub(crate) fn is_full(&self) -> bool {
        self.tx.is_full()
    }

    /// Stops admitting: later copies count as `dropped_shutdown`; the workers drain the queue.
    pub(crate) fn close(&self) {
        self.tx.close();
    }
}

/// What every worker of a target shares.
struct Worker {
    circuit: Arc<Circuit>,
    rx: Receiver<Job>,
    client: CopyClient,
    config: TargetConfig,
    observer: Observer,
}

impl Worker {
    async fn run(self: Arc<Self>, cancel: CancellationToken) {
        loop {
            let job = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                job = self.rx.recv() => match job {
                    Ok(job) => job,
                    // Closed and drained: the target was removed or the layer shut down.
                    Err(_) => return,
                },
            };
            self.observer.metrics.queue_depth.set(self.rx.len() as i64);
            let request_id = job.head.request_id.clone();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.observer.record(Outcome::DroppedShutdown, Some(&request_id));
                    break;
                }
                _ = self.send(job) => {}
            }
        }
        // Cancelled: what is still queued will never be sent.
        while let Ok(job) = self.rx.try_recv() {
            self.observer
                .record(Outcome::DroppedShutdown, Some(&job.head.request_id));
        }
        self.observer.metrics.queue_depth.set(0);
    }

    async fn send(&self, job: Job) {
        let deadline = job.dispatched_at + self.config.timeout;
        let request_id = job.head.request_id.clone();
        let request_id = &request_id;
        let event = |outcome, status, elapsed| OutcomeEvent {
            target: &self.config.name,
            outcome,
            request_id: Some(request_id),
            status,
            elapsed,
        };
        if Instant::now() >= deadline {
            // It waited in the queue past its timeout: no I/O at all.
            return self
                .observer
                .record_event(event(Outcome::TimedOut, None, None));
        }
        let req = match build_request(&self.config, &job.head, job.body.as_ref()) {
            Ok(req) => req,
            Err(e) => {
                tracing::debug!(target: "shadowgate::mirror", mirror = %self.config.name, error = %e, "copy could not be built");
                return self
                    .observer
                    .record_event(event(Outcome::Failed, None, None));
            }
        };
        drop(job);
        let in_flight = InFlight::enter(&self.observer.metrics.in_flight);
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline.into(), self.round_trip(req)).await;
        let elapsed = started.elapsed();
        drop(in_flight);
        match result {
            Ok(Ok(status)) => {
                self.circuit.on_success();
                self.observer
                    .record_event(event(Outcome::Completed, Some(status), Some(elapsed)));
            }
            Ok(Err(e)) => {
                self.circuit.on_failure();
                tracing::debug!(target: "shadowgate::mirror", mirror = %self.config.name, error = %e, "copy failed");
                self.observer
                    .record_event(event(Outcome::Failed, None, Some(elapsed)));
            }
            Err(_) => {
                self.circuit.on_failure();
                self.observer
                    .record_event(event(Outcome::TimedOut, None, Some(elapsed)));
            }
        }
    }

    /// Sends the copy and reads its response to the end, discarding it.
    async fn round_trip(
        &self,
        req: http::Request<crate::copy::CopyBody>,
    ) -> Result<http::StatusCode, Box<dyn std::error::Error + Send + Sync>> {
        let resp = self.client.request(req).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            frame?;
        }
        Ok(status)
    }
}

/// Counts a copy in flight for as long as it lives, including when a shutdown drops the send.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

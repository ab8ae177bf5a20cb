//! A target's workers: a fixed set of tasks that take copies from the target's queue, send them
//! on the target's own client, read and discard the answers, and record each copy's terminal
//! outcome (`completed`, `failed`, `timed_out`, or `dropped_shutdown` when the layer's cancel
//! token fires).

use std::sync::Arc;

use async_channel::Receiver;
use http_body_util::BodyExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::budget::Budget;
use crate::circuit::Circuit;
use crate::client::CopyClient;
use crate::compare::book::CompareEnv;
use crate::compare::capture::Keeper;
use crate::compare::pairing::Slot;
use crate::compare::replay::PrimaryReplay;
use crate::copy::{build_request, CopyBody, CopyChunks, CopyHead};
use crate::metrics::MirrorMetrics;
use crate::observer::Observer;
use crate::outcome::{OnOutcome, Outcome, OutcomeEvent};
use crate::target::TargetConfig;

/// A copy waiting in a target's queue for a worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) head: Arc<CopyHead>,
    pub(crate) body: Option<CopyChunks>,
    /// When it was admitted: its timeout counts from here, queue wait included.
    pub(crate) dispatched_at: Instant,
    /// The comparison slots its answer goes to (none: the answer is read and thrown away).
    pub(crate) slots: Vec<Slot>,
}

/// The layer-wide things a target's workers are started with. The registry owns one; a target
/// borrows it when it is built.
pub(crate) struct WorkerEnv {
    pub(crate) metrics: MirrorMetrics,
    pub(crate) hook: Arc<dyn OnOutcome>,
    pub(crate) tls: rustls::ClientConfig,
    /// Every worker of every target, so that shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Fired when shutdown's grace period is over.
    pub(crate) cancel: CancellationToken,
    pub(crate) runtime: tokio::runtime::Handle,
    /// What every copy of the layer holds, together.
    pub(crate) budget: Arc<Budget>,
    /// What the targets' comparisons share.
    pub(crate) compare: CompareEnv,
}

/// What every worker of one target shares.
pub(crate) struct Worker {
    circuit: Arc<Circuit>,
    rx: Receiver<Job>,
    client: CopyClient,
    config: TargetConfig,
    observer: Observer,
    /// The layer's memory budget, charged for the answers kept for comparison.
    budget: Arc<Budget>,
    /// Sends `control = "primary"` replays.
    replay: Option<Arc<dyn PrimaryReplay>>,
}

impl Worker {
    pub(crate) fn new(
        config: TargetConfig,
        rx: Receiver<Job>,
        client: CopyClient,
        circuit: Arc<Circuit>,
        observer: Observer,
        budget: Arc<Budget>,
        replay: Option<Arc<dyn PrimaryReplay>>,
    ) -> Self {
        Self {
            circuit,
            rx,
            client,
            config,
            observer,
            budget,
            replay,
        }
    }

    /// Starts the target's `workers` tasks on the layer's runtime and tracker.
    pub(crate) fn spawn(self, env: &WorkerEnv) {
        let worker = Arc::new(self);
        for _ in 0..worker.config.workers {
            let cancel = env.cancel.clone();
            env.tracker
                .spawn_on(worker.clone().run(cancel), &env.runtime);
        }
    }

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

    /// Sends one copy and records its terminal outcome.
    async fn send(&self, mut job: Job) {
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
        // `job` lives until the copy's exchange ends: its head's reservation in the memory
        // budget then covers the built request's own headers for as long as they are held.
        let in_flight = InFlight::enter(&self.observer.metrics.in_flight);
        let started = Instant::now();
        let (replay, slots): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut job.slots)
            .into_iter()
            .partition(Slot::is_replay);
        let keeper = match slots.is_empty() {
            true => None,
            false => Keeper::new(&self.budget, slots, started),
        };
        let shadow = async {
            let result = tokio::time::timeout_at(deadline, self.round_trip(req, keeper)).await;
            (result, started.elapsed())
        };
        // A `control = "primary"` replay goes beside the copy, under the same deadline.
        let ((result, elapsed), ()) =
            tokio::join!(shadow, self.replay(&job.head, replay, deadline));
        drop(in_flight);
        // Given back before the outcome is counted, so whoever sees the outcome sees it freed.
        drop(job);
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

    /// Sends the replay to the primary for `slots` (none: nothing to do) and keeps its answer;
    /// a replay that fails or passes `deadline` fails the slots.
    async fn replay(&self, head: &CopyHead, slots: Vec<Slot>, deadline: Instant) {
        if slots.is_empty() {
            return;
        }
        let (Some(replay), Some(req)) = (&self.replay, crate::compare::replay::request(head))
        else {
            return; // Dropped, the slots report the control as failed.
        };
        let started = Instant::now();
        let Some(mut keeper) = Keeper::new(&self.budget, slots, started) else {
            return;
        };
        let exchange = async {
            let resp = replay.replay(req).await.ok()?;
            if !keeper.head(resp.status(), resp.headers()) {
                return None;
            }
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame.ok()?.data_ref() {
                    if !keeper.push(data) {
                        return None;
                    }
                }
            }
            Some(())
        };
        if let Ok(Some(())) = tokio::time::timeout_at(deadline, exchange).await {
            keeper.finish();
        }
    }

    /// Sends the copy and reads its response to the end: kept by `keeper` for comparison,
    /// else discarded. A keeper dropped before the end fails its slots.
    async fn round_trip(
        &self,
        req: http::Request<CopyBody>,
        mut keeper: Option<Keeper>,
    ) -> Result<http::StatusCode, Box<dyn std::error::Error + Send + Sync>> {
        let (resp, conn) = self.client.send(req).await?;
        let status = resp.status();
        if keeper
            .as_mut()
            .is_some_and(|k| !k.head(status, resp.headers()))
        {
            keeper = None;
        }
        let mut body = resp.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame?;
            if let (Some(k), Some(data)) = (keeper.as_mut(), frame.data_ref()) {
                if !k.push(data) {
                    keeper = None;
                }
            }
        }
        // Read to the end: the connection can take the next copy.
        conn.release();
        if let Some(k) = keeper {
            k.finish();
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;
    use shadowgate_test_support::BlackHole;

    use super::*;
    use crate::client::{build_client, default_tls};
    use crate::handle::test_handle::{recording, Events};

    const TIMEOUT: Duration = Duration::from_millis(300);

    /// A worker for a target at `url` with `TIMEOUT` whose circuit opens on one failure; its
    /// queue is not used (the tests call `send` directly).
    fn worker(url: &str) -> (Worker, Events) {
        let config = TargetConfig::builder(url)
            .timeout(TIMEOUT)
            .circuit(1, Duration::from_secs(60))
            .build()
            .unwrap();
        let (observer, events) = recording(&config);
        let circuit = Arc::new(Circuit::new(
            1,
            Duration::from_secs(60),
            TIMEOUT,
            observer.metrics.circuit_state.clone(),
            config.name.clone(),
        ));
        let client = build_client(default_tls().unwrap(), &config);
        let (_, rx) = async_channel::bounded(1);
        let budget = Budget::new(usize::MAX, Default::default());
        (
            Worker::new(config, rx, client, circuit, observer, budget, None),
            events,
        )
    }

    fn job() -> Job {
        let (parts, ()) = http::Request::get("/copy").body(()).unwrap().into_parts();
        Job {
            head: Arc::new(CopyHead::capture(&parts, HeaderValue::from_static("id"))),
            body: None,
            dispatched_at: Instant::now(),
            slots: Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_that_waited_past_its_timeout_times_out_with_no_io() {
        let black_hole = BlackHole::start().await.unwrap();
        let (worker, events) = worker(&black_hole.url());
        let job = job();
        tokio::time::advance(TIMEOUT).await;
        worker.send(job).await;
        // No round trip: no elapsed time is reported, and the circuit did not hear a failure.
        assert_eq!(
            *events.lock().unwrap(),
            [(Outcome::TimedOut, None, None)],
            "timed out in the queue, before any I/O"
        );
        assert_eq!(worker.circuit.state(), crate::CircuitState::Closed);
        assert_eq!(worker.observer.metrics.in_flight.get(), 0);
    }

    /// Real time: the copy connects to a black hole and waits for an answer that never comes.
    #[tokio::test]
    async fn a_round_trip_past_the_deadline_times_out() {
        let black_hole = BlackHole::start().await.unwrap();
        let (worker, events) = worker(&black_hole.url());
        let sent = tokio::time::timeout(Duration::from_secs(10), worker.send(job())).await;
        assert!(sent.is_ok(), "the deadline ends the round trip");
        let events = events.lock().unwrap().clone();
        let [(Outcome::TimedOut, None, Some(elapsed))] = events[..] else {
            panic!("expected one timed_out with a round trip, got {events:?}");
        };
        // At the deadline: timers fire on a millisecond grid, and the runner may be busy.
        assert!(elapsed >= TIMEOUT / 2, "{elapsed:?}");
        assert!(elapsed < TIMEOUT * 5, "{elapsed:?}");
        assert_eq!(black_hole.connections(), 1, "the copy was on the wire");
        assert_eq!(
            worker.circuit.state(),
            crate::CircuitState::Open,
            "a timeout on the wire counts against the circuit"
        );
        assert_eq!(worker.observer.metrics.in_flight.get(), 0);
    }
}

//! Admission: every reason a sampled copy is dropped before it reaches a worker is decided, and
//! recorded, in [`TargetHandle::admit`]. It never waits: the checks are atomic loads, one
//! compare-and-swap for the circuit's probe and the rate limit's token, and a `try_send`.

use std::sync::Arc;

use async_channel::TrySendError;
use http::HeaderValue;
use tokio::time::Instant;

use crate::compare::pairing::Slot;
use crate::copy::{CopyChunks, CopyHead};
use crate::handle::TargetHandle;
use crate::outcome::Outcome;
use crate::worker::Job;

/// How far a sampled copy has got when admission is asked about it.
#[derive(Debug)]
pub(crate) enum Step<'a> {
    /// Sampled, before the head is captured. Checks that change no state, so a target that
    /// cannot take the copy costs no capture: an upgrade is never copied, an open circuit
    /// drops it, a full queue drops a copy that would be sent at once (`now`), and a body
    /// whose announced length (`Content-Length`) is over the cap drops one that waits for it.
    Sampled {
        upgrade: bool,
        now: bool,
        announced: u64,
    },
    /// The body has grown to `len` bytes while streaming.
    Streaming { len: usize },
    /// The copy is whole: win the circuit's probe if it is due, take a rate-limit token and a
    /// queue slot.
    Dispatch {
        head: &'a Arc<CopyHead>,
        body: Option<CopyChunks>,
        /// The comparison slots the copy's answer goes to.
        slots: Vec<Slot>,
    },
}

impl TargetHandle {
    /// Admits the copy at this step, or drops it and records why. Records `dispatched` when a
    /// [`Step::Dispatch`] is queued. Never waits. Returns whether the copy goes on.
    pub(crate) fn admit(&self, step: Step<'_>, request_id: &HeaderValue) -> bool {
        let queues = matches!(step, Step::Dispatch { .. });
        match self.refusal(step) {
            Some(outcome) => {
                self.observer.record(outcome, Some(request_id));
                false
            }
            None => {
                if queues {
                    self.observer.record(Outcome::Dispatched, Some(request_id));
                    self.observer.metrics.queue_depth.set(self.tx.len() as i64);
                }
                true
            }
        }
    }

    /// Why the copy stops at this step, if it does (a dispatched copy is queued by then).
    fn refusal(&self, step: Step<'_>) -> Option<Outcome> {
        match step {
            Step::Sampled {
                upgrade,
                now,
                announced,
            } => {
                if upgrade {
                    Some(Outcome::SkippedUpgrade)
                } else if self.circuit.is_blocking() {
                    Some(Outcome::DroppedCircuitOpen)
                } else if now && self.tx.is_full() {
                    // A hint (a worker may take a copy a moment later); dispatch decides for sure.
                    Some(Outcome::DroppedQueueFull)
                } else if !now && announced > self.config.max_body_bytes as u64 {
                    // Content-Length already says it will not fit: no need to keep a chunk.
                    Some(Outcome::DroppedBodyTooLarge)
                } else {
                    None
                }
            }
            Step::Streaming { len } => {
                (len > self.config.max_body_bytes).then_some(Outcome::DroppedBodyTooLarge)
            }
            Step::Dispatch { head, body, slots } => {
                if !self.circuit.admit() {
                    return Some(Outcome::DroppedCircuitOpen);
                }
                if self.rate.as_ref().is_some_and(|r| !r.try_take()) {
                    return Some(Outcome::DroppedRateLimited);
                }
                let job = Job {
                    head: head.clone(),
                    body,
                    dispatched_at: Instant::now(),
                    slots,
                };
                match self.tx.try_send(job) {
                    Ok(()) => None,
                    Err(TrySendError::Full(_)) => Some(Outcome::DroppedQueueFull),
                    Err(TrySendError::Closed(_)) => Some(Outcome::DroppedShutdown),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::builder::TargetBuilder;
    use crate::handle::test_handle::{detached, outcomes};
    use crate::target::TargetConfig;

    fn builder() -> TargetBuilder {
        TargetConfig::builder("http://shadow.test").max_body_bytes(100)
    }

    fn head() -> Arc<CopyHead> {
        let (parts, ()) = http::Request::get("/").body(()).unwrap().into_parts();
        Arc::new(CopyHead::capture(&parts, HeaderValue::from_static("id")))
    }

    fn sampled(upgrade: bool, now: bool, announced: u64) -> Step<'static> {
        Step::Sampled {
            upgrade,
            now,
            announced,
        }
    }

    fn dispatch(head: &Arc<CopyHead>) -> Step<'_> {
        Step::Dispatch {
            head,
            body: None,
            slots: Vec::new(),
        }
    }

    static ID: HeaderValue = HeaderValue::from_static("id");

    #[tokio::test(start_paused = true)]
    async fn before_the_capture_only_stateless_reasons_drop_a_copy() {
        let (t, _queue, events) = detached(builder().build().unwrap());
        assert!(!t.admit(sampled(true, true, 0), &ID));
        assert!(
            !t.admit(sampled(false, false, 101), &ID),
            "Content-Length over the cap"
        );
        assert!(t.admit(sampled(false, false, 100), &ID), "at the cap");
        assert!(
            t.admit(sampled(false, true, 101), &ID),
            "a copy without its body"
        );
        assert_eq!(
            outcomes(&events),
            [Outcome::SkippedUpgrade, Outcome::DroppedBodyTooLarge]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_over_the_cap_while_streaming_is_dropped() {
        let (t, _queue, events) = detached(builder().build().unwrap());
        assert!(t.admit(Step::Streaming { len: 100 }, &ID));
        assert!(!t.admit(Step::Streaming { len: 101 }, &ID));
        assert_eq!(outcomes(&events), [Outcome::DroppedBodyTooLarge]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dispatched_copy_is_queued_with_its_time() {
        let (t, queue, events) = detached(builder().build().unwrap());
        let head = head();
        let at = Instant::now();
        assert!(t.admit(dispatch(&head), &ID));
        assert_eq!(outcomes(&events), [Outcome::Dispatched]);
        let job = queue.try_recv().unwrap();
        assert!(Arc::ptr_eq(&job.head, &head));
        assert_eq!(job.dispatched_at, at);
        assert_eq!(t.observer.metrics.queue_depth.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_before_the_capture_and_at_dispatch() {
        let (t, _queue, events) = detached(builder().queue(1).build().unwrap());
        let head = head();
        assert!(t.admit(dispatch(&head), &ID));
        assert!(
            !t.admit(sampled(false, true, 0), &ID),
            "a copy sent at once"
        );
        assert!(
            t.admit(sampled(false, false, 0), &ID),
            "one that waits for its body"
        );
        assert!(!t.admit(dispatch(&head), &ID));
        assert_eq!(
            outcomes(&events),
            [
                Outcome::Dispatched,
                Outcome::DroppedQueueFull,
                Outcome::DroppedQueueFull
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_drops_before_the_capture_and_at_dispatch() {
        let config = builder()
            .circuit(1, Duration::from_secs(60))
            .build()
            .unwrap();
        let (t, _queue, events) = detached(config);
        t.circuit.on_failure();
        let head = head();
        assert!(!t.admit(sampled(false, true, 0), &ID));
        assert!(!t.admit(dispatch(&head), &ID));
        assert_eq!(
            outcomes(&events),
            [Outcome::DroppedCircuitOpen, Outcome::DroppedCircuitOpen]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_drops_at_dispatch() {
        let (t, _queue, events) = detached(builder().rate_limit(2).build().unwrap());
        let head = head();
        let admitted = (0..5).filter(|_| t.admit(dispatch(&head), &ID)).count();
        assert_eq!(admitted, 2);
        assert_eq!(
            outcomes(&events),
            [
                Outcome::Dispatched,
                Outcome::Dispatched,
                Outcome::DroppedRateLimited,
                Outcome::DroppedRateLimited,
                Outcome::DroppedRateLimited
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_target_drops_as_shutdown() {
        let (t, _queue, events) = detached(builder().build().unwrap());
        t.close();
        assert!(!t.admit(dispatch(&head()), &ID));
        assert_eq!(outcomes(&events), [Outcome::DroppedShutdown]);
    }
}

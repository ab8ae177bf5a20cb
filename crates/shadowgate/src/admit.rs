//! Admission: every reason a sampled copy is dropped before it reaches a worker is decided, and
//! recorded, in [`TargetHandle::admit`]. It never waits: the checks are atomic loads, one
//! compare-and-swap for the circuit's probe and the rate limit's token, and a `try_send`.

use std::sync::Arc;

use http::HeaderValue;
use tokio::time::Instant;

use async_channel::TrySendError;

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
            Step::Dispatch { head, body } => {
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

//! The request side of a copy: which targets a request is copied to ([`start`]), and the
//! [`Tee`] that keeps the body's chunks for the copies that wait for it.
//!
//! Admission ([`TargetHandle::admit`]) decides every drop; this file only walks a copy through
//! its steps: sampled, streaming, whole.

use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http_body::Body;

use crate::admit::Step;
use crate::copy::{CopyChunks, CopyHead};
use crate::handle::TargetHandle;
use crate::hop::is_upgrade_parts;
use crate::mark::arrived_as_copy;
use crate::outcome::Outcome;
use crate::request_id::ensure_request_id;

/// Samples the request for every target in `targets` that `select` names; dispatches the copies
/// that need no body at once and returns the tee for those that wait for it. Allocates nothing
/// when no target samples the request.
pub(crate) fn start<B: Body>(
    targets: &[Arc<TargetHandle>],
    parts: &mut Parts,
    body: &B,
    select: Option<&[Box<str>]>,
) -> Option<Box<Tee>> {
    let mut sampled: Vec<Arc<TargetHandle>> = Vec::new();
    for t in targets {
        if t.selected_by(select) && t.policy.admits(parts) {
            sampled.push(t.clone());
        }
    }
    if sampled.is_empty() {
        return None;
    }
    let request_id = ensure_request_id(&mut parts.headers);
    if arrived_as_copy(parts) {
        // A copy is never copied again (docs/contract.md, "The copy"): mirrors that point at
        // each other, or at their own listener, send each request around once, not forever.
        for t in &sampled {
            t.observer.record(Outcome::SkippedLoop, Some(&request_id));
        }
        return None;
    }
    let upgrade = is_upgrade_parts(&parts.method, &parts.headers);
    let bodiless = body.is_end_stream();
    let announced = body.size_hint().lower();
    // The drops that need no copy go first, so that an overloaded target costs no head capture.
    sampled.retain(|t| {
        let now = bodiless || !t.config.body;
        t.admit(
            Step::Sampled {
                upgrade,
                now,
                announced,
            },
            &request_id,
        )
    });
    if sampled.is_empty() {
        return None;
    }
    let head = Arc::new(CopyHead::capture(parts, request_id));
    sampled.retain(|t| {
        let now = bodiless || !t.config.body;
        if now {
            t.admit(
                Step::Dispatch {
                    head: &head,
                    body: None,
                },
                &head.request_id,
            );
        }
        !now
    });
    (!sampled.is_empty()).then(|| Box::new(Tee::new(head, sampled)))
}

/// The copies waiting for the end of the body, and the chunks so far.
#[derive(Debug)]
pub(crate) struct Tee {
    head: Arc<CopyHead>,
    pending: Vec<Arc<TargetHandle>>,
    chunks: Vec<Bytes>,
    len: usize,
}

impl Tee {
    pub(crate) fn new(head: Arc<CopyHead>, pending: Vec<Arc<TargetHandle>>) -> Self {
        Self {
            head,
            pending,
            chunks: Vec::new(),
            len: 0,
        }
    }

    /// Keeps a chunk (a refcount bump, not a copy); false when no pending target can take a
    /// body this large any more.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        self.len += data.len();
        let len = self.len;
        let request_id = &self.head.request_id;
        self.pending
            .retain(|t| t.admit(Step::Streaming { len }, request_id));
        if self.pending.is_empty() {
            return false;
        }
        if !data.is_empty() {
            self.chunks.push(data.clone());
        }
        true
    }

    /// The body is whole: dispatch every pending copy.
    pub(crate) fn finish(&mut self) {
        let body = CopyChunks {
            chunks: std::mem::take(&mut self.chunks).into(),
            len: self.len,
        };
        for target in std::mem::take(&mut self.pending) {
            target.admit(
                Step::Dispatch {
                    head: &self.head,
                    body: Some(body.clone()),
                },
                &self.head.request_id,
            );
        }
    }
}

impl Drop for Tee {
    /// Copies still pending here never got their whole body.
    fn drop(&mut self) {
        for target in &self.pending {
            target
                .observer
                .record(Outcome::DroppedBodyIncomplete, Some(&self.head.request_id));
        }
    }
}

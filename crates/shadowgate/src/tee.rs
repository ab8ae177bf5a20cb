//! The request side of a copy: which targets a request is copied to ([`start`]), and the
//! [`Tee`] that keeps the body's chunks for the copies that wait for it.
//!
//! Admission ([`TargetHandle::admit`]) decides every per-target drop; this file walks a copy
//! through its steps (sampled, streaming, whole) and charges what it holds to the layer's memory
//! budget (`budget.rs`), which drops every copy of the request as `dropped_memory_budget` when
//! the bytes do not fit.
//!
//! # What a body costs
//!
//! A chunk of at least [`SHARE_FROM`] bytes is kept as the very `Bytes` the primary got (a
//! refcount bump). A smaller one is copied into a [`BUFFER`]-byte buffer shared by the small
//! chunks around it, so a body sent in tiny chunks costs its payload, not a `Bytes` (and the
//! buffer it points into) per chunk. The tee charges, before it allocates or keeps anything:
//! each shared chunk's length, each buffer's [`BUFFER`] plus [`BUFFER_OVERHEAD`], and each slot of
//! the chunk list ([`SLOT`] bytes, charged by capacity). With `P` payload bytes kept (at most the
//! largest pending target's `max_body_bytes`), the list holds at most `P / SHARE_FROM` shared
//! chunks and as many buffer pieces between them, plus `P / BUFFER + 1` buffer ends, and grows
//! by doubling, so what a body holds is at most
//! `P + BUFFER + BUFFER_OVERHEAD · (P / BUFFER + 1) + 2 · SLOT · (2 · P / SHARE_FROM + P / BUFFER + 2)`,
//! about `1.04 · P + 16.2 KiB`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http_body::Body;

use crate::admit::Step;
use tokio::time::Instant;

use crate::budget::{Budget, Reservation};
use crate::compare::capture::Keeper;
use crate::compare::config::Control;
use crate::compare::pairing::{Pairing, Slot};
use crate::copy::{CopyChunks, CopyHead};
use crate::handle::TargetHandle;
use crate::hop::is_upgrade_parts;
use crate::mark::arrived_as_copy;
use crate::outcome::Outcome;
use crate::request_id::ensure_request_id;

/// Chunks at least this long are kept shared; shorter ones are copied into a buffer.
pub(crate) const SHARE_FROM: usize = 4096;
/// The size of a buffer small chunks are copied into.
pub(crate) const BUFFER: usize = 16 * 1024;
/// Charged per buffer besides its bytes: the header `bytes` allocates to share it (40 bytes),
/// rounded up.
pub(crate) const BUFFER_OVERHEAD: usize = 64;
/// Charged per slot of the chunk list: one `Bytes`.
pub(crate) const SLOT: usize = std::mem::size_of::<Bytes>();
/// The fewest slots the chunk list grows by.
const MIN_SLOTS: usize = 8;

/// What the request path starts for a request: the tee of the copies that wait for its body,
/// and the keeper of the primary's answer when a copy is compared.
#[derive(Debug, Default)]
pub(crate) struct Started {
    pub(crate) tee: Option<Box<Tee>>,
    pub(crate) keeper: Option<Box<Keeper>>,
}

/// A copy on its way: its target, and the comparison slots its answer is reported to.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) target: Arc<TargetHandle>,
    pub(crate) slots: Vec<Slot>,
}

impl Pending {
    pub(crate) fn new(target: Arc<TargetHandle>) -> Self {
        Self {
            target,
            slots: Vec::new(),
        }
    }
}

/// Samples the request for every target in `targets` that `select` names; dispatches the copies
/// that need no body at once and returns the tee for those that wait for it, and the keeper
/// of the primary's answer when a copy is compared. Allocates nothing when no target samples
/// the request.
pub(crate) fn start<B: Body>(
    budget: &Arc<Budget>,
    targets: &[Arc<TargetHandle>],
    parts: &mut Parts,
    body: &B,
    select: Option<&[Box<str>]>,
) -> Started {
    let mut sampled: Vec<Pending> = Vec::new();
    for t in targets {
        if t.selected_by(select) && t.policy.admits(parts) {
            sampled.push(Pending::new(t.clone()));
        }
    }
    if sampled.is_empty() {
        return Started::default();
    }
    let request_id = ensure_request_id(&mut parts.headers);
    if arrived_as_copy(parts) {
        // A copy is never copied again (docs/contract.md, "The copy"): mirrors that point at
        // each other, or at their own listener, send each request around once, not forever.
        for p in &sampled {
            p.target
                .observer
                .record(Outcome::SkippedLoop, Some(&request_id));
        }
        return Started::default();
    }
    let upgrade = is_upgrade_parts(&parts.method, &parts.headers);
    let bodiless = body.is_end_stream();
    let announced = body.size_hint().lower();
    let sampled_step = |t: &TargetHandle| Step::Sampled {
        upgrade,
        now: bodiless || !t.config.body,
        announced,
    };
    // The drops that need no copy go first, so that an overloaded target costs no head capture.
    sampled.retain(|p| p.target.admit(sampled_step(&p.target), &request_id));
    if sampled.is_empty() {
        return Started::default();
    }
    let Some(held) = Reservation::new(budget, CopyHead::cost(parts)) else {
        over_budget(&sampled, &request_id);
        return Started::default();
    };
    let head = Arc::new(CopyHead::capture(parts, request_id).held(held));
    let keeper = match upgrade {
        true => None,
        false => pair(budget, targets, &mut sampled, &head, &sampled_step),
    };
    sampled.retain_mut(|p| {
        let now = bodiless || !p.target.config.body;
        if now {
            p.target.admit(
                Step::Dispatch {
                    head: &head,
                    body: None,
                    slots: std::mem::take(&mut p.slots),
                },
                &head.request_id,
            );
        }
        !now
    });
    if sampled.is_empty() {
        return Started { tee: None, keeper };
    }
    let cost = std::mem::size_of::<Tee>() + sampled.capacity() * std::mem::size_of::<Pending>();
    let Some(held) = Reservation::new(budget, cost) else {
        over_budget(&sampled, &head.request_id);
        return Started { tee: None, keeper };
    };
    Started {
        tee: Some(Box::new(Tee::new(head, sampled, held))),
        keeper,
    }
}

/// Starts a pairing for each sampled copy that its target compares (docs/verdicts.md,
/// "Flow"): the copy carries the shadow's slot, the control's copy the control's (the control
/// target gets the request even when its own sample passed it by), and the returned keeper
/// the primary's. A control that cannot be sent, or no longer exists, fails its slot.
fn pair(
    budget: &Arc<Budget>,
    targets: &[Arc<TargetHandle>],
    sampled: &mut Vec<Pending>,
    head: &Arc<CopyHead>,
    sampled_step: &dyn Fn(&TargetHandle) -> Step<'static>,
) -> Option<Box<Keeper>> {
    let mut primary = Vec::new();
    for i in 0..sampled.len() {
        let Some(book) = &sampled[i].target.compare else {
            continue;
        };
        if !(book.comparison.compares(head.method()) && book.comparison.sampled()) {
            continue;
        }
        let control = book.comparison.control.clone();
        let (p, s, c) = Pairing::start(book.clone(), head.clone(), control.is_some());
        primary.push(p);
        sampled[i].slots.push(s);
        let name = match (control, c) {
            (Some(Control::Target(name)), Some(c)) => (name, c),
            (Some(Control::Primary), Some(c)) => {
                // Sent by this copy's worker, beside the copy.
                sampled[i].slots.push(c.for_replay());
                continue;
            }
            _ => continue,
        };
        let (name, c) = name;
        if let Some(p) = sampled.iter_mut().find(|p| *p.target.config.name == *name) {
            p.slots.push(c);
        } else if let Some(t) = targets.iter().find(|t| *t.config.name == *name) {
            if t.admit(sampled_step(t), &head.request_id) {
                sampled.push(Pending {
                    target: t.clone(),
                    slots: vec![c],
                });
            }
        }
    }
    if primary.is_empty() {
        return None;
    }
    Keeper::new(budget, primary, Instant::now()).map(Box::new)
}

/// Records `dropped_memory_budget` for each of `targets`.
fn over_budget(copies: &[Pending], request_id: &http::HeaderValue) {
    for p in copies {
        p.target
            .observer
            .record(Outcome::DroppedMemoryBudget, Some(request_id));
    }
}

/// The copies waiting for the end of the body, and the chunks so far.
#[derive(Debug)]
pub(crate) struct Tee {
    head: Arc<CopyHead>,
    pending: Vec<Pending>,
    chunks: Vec<Bytes>,
    /// The buffer small chunks are copied into: its filled part joins `chunks` before the next
    /// shared chunk, or when it is full.
    small: BytesMut,
    len: usize,
    /// What the tee holds, charged to the budget; handed to the copies' body when it is whole.
    held: Option<Reservation>,
}

impl Tee {
    /// `held` already covers the tee itself.
    pub(crate) fn new(head: Arc<CopyHead>, pending: Vec<Pending>, held: Reservation) -> Self {
        Self {
            head,
            pending,
            chunks: Vec::new(),
            small: BytesMut::new(),
            len: 0,
            held: Some(held),
        }
    }

    /// Keeps a chunk (shared, or copied if small); false when no pending target can take a body
    /// this large any more, or the budget cannot take what keeping it costs.
    pub(crate) fn push(&mut self, data: &Bytes) -> bool {
        self.len += data.len();
        let len = self.len;
        let request_id = &self.head.request_id;
        self.pending
            .retain(|p| p.target.admit(Step::Streaming { len }, request_id));
        if self.pending.is_empty() {
            return false;
        }
        if data.is_empty() || self.keep(data) {
            return true;
        }
        self.drop_over_budget();
        false
    }

    /// The body is whole: dispatch every pending copy.
    pub(crate) fn finish(&mut self) {
        if !self.seal() {
            return self.drop_over_budget();
        }
        let body = CopyChunks {
            chunks: std::mem::take(&mut self.chunks).into(),
            len: self.len,
            held: self.held.take().map(Arc::new),
        };
        for p in std::mem::take(&mut self.pending) {
            p.target.admit(
                Step::Dispatch {
                    head: &self.head,
                    body: Some(body.clone()),
                    slots: p.slots,
                },
                &self.head.request_id,
            );
        }
    }

    fn drop_over_budget(&mut self) {
        over_budget(&std::mem::take(&mut self.pending), &self.head.request_id);
    }

    fn charge(&mut self, bytes: usize) -> bool {
        self.held.as_mut().is_some_and(|h| h.grow(bytes))
    }

    fn keep(&mut self, data: &Bytes) -> bool {
        if data.len() < SHARE_FROM {
            return self.copy(data);
        }
        if !(self.seal() && self.slot() && self.charge(data.len())) {
            return false;
        }
        self.chunks.push(data.clone());
        true
    }

    /// Copies `data` into buffers, starting (and charging) a new one when the last is full.
    fn copy(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            // After `split`, the buffer's capacity is what is left of its allocation.
            let spare = self.small.capacity() - self.small.len();
            if spare == 0 {
                if !(self.seal() && self.charge(BUFFER + BUFFER_OVERHEAD)) {
                    return false;
                }
                self.small = BytesMut::with_capacity(BUFFER);
                continue;
            }
            let n = spare.min(data.len());
            self.small.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        true
    }

    /// Moves the buffer's filled part to `chunks`; the rest of its allocation stays for the next
    /// small chunks.
    fn seal(&mut self) -> bool {
        if self.small.is_empty() {
            return true;
        }
        if !self.slot() {
            return false;
        }
        self.chunks.push(self.small.split().freeze());
        true
    }

    /// Makes room for one more chunk in `chunks`, charging the new slots before allocating them.
    fn slot(&mut self) -> bool {
        if self.chunks.len() < self.chunks.capacity() {
            return true;
        }
        let more = self.chunks.capacity().max(MIN_SLOTS);
        if !self.charge(more * SLOT) {
            return false;
        }
        self.chunks.reserve_exact(more);
        true
    }
}

impl Drop for Tee {
    /// Copies still pending here never got their whole body.
    fn drop(&mut self) {
        for p in &self.pending {
            p.target
                .observer
                .record(Outcome::DroppedBodyIncomplete, Some(&self.head.request_id));
        }
    }
}

#[cfg(test)]
mod tests {
    use async_channel::Receiver;
    use prometheus_client::metrics::gauge::Gauge;

    use super::*;
    use crate::handle::test_handle::{detached, outcomes, Events};
    use crate::target::TargetConfig;
    use crate::worker::Job;

    /// The bound in this file's documentation, for `p` payload bytes.
    fn bound(p: usize) -> usize {
        let buffers = p / BUFFER + 1;
        let entries = 2 * p / SHARE_FROM + buffers + 1;
        p + BUFFER + buffers * BUFFER_OVERHEAD + SLOT * (2 * entries).max(MIN_SLOTS)
    }

    struct Fixture {
        budget: Arc<Budget>,
        tee: Tee,
        queue: Receiver<Job>,
        events: Events,
    }

    /// A tee for one target with `max_body_bytes` `cap`, under a budget of `limit` bytes.
    fn tee(cap: usize, limit: usize) -> Fixture {
        let budget = Budget::new(limit, Gauge::default());
        let (parts, ()) = http::Request::post("/").body(()).unwrap().into_parts();
        let head = Arc::new(CopyHead::capture(
            &parts,
            http::HeaderValue::from_static("id"),
        ));
        let config = TargetConfig::builder("http://shadow.test")
            .max_body_bytes(cap)
            .build()
            .unwrap();
        let (handle, queue, events) = detached(config);
        let held = Reservation::new(&budget, 0).unwrap();
        Fixture {
            tee: Tee::new(head, vec![Pending::new(handle)], held),
            budget,
            queue,
            events,
        }
    }

    fn whole(job: &Job) -> Vec<u8> {
        let body = job.body.as_ref().unwrap();
        body.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn one_byte_chunks_are_coalesced_and_held_within_the_bound() {
        const P: usize = 100_000;
        let mut f = tee(P, usize::MAX);
        for i in 0..P {
            assert!(f.tee.push(&Bytes::from(vec![i as u8])));
        }
        let held = f.budget.held() as usize;
        assert!(held <= bound(P), "{held} > {}", bound(P));
        assert!(held >= P, "the payload is charged: {held}");
        f.tee.finish();
        let job = f.queue.try_recv().unwrap();
        assert_eq!(outcomes(&f.events), [Outcome::Dispatched]);
        assert_eq!(job.body.as_ref().unwrap().len, P);
        assert_eq!(job.body.as_ref().unwrap().chunks.len(), P.div_ceil(BUFFER));
        let expected: Vec<u8> = (0..P).map(|i| i as u8).collect();
        assert_eq!(whole(&job), expected);
        drop(f.tee);
        assert_eq!(f.budget.held() as usize, held, "the queued job holds it");
        drop(job);
        assert_eq!(f.budget.held(), 0, "given back with the last holder");
    }

    #[test]
    fn large_chunks_stay_shared_and_small_ones_between_them_share_a_buffer() {
        let mut f = tee(1 << 20, usize::MAX);
        let large = [
            Bytes::from(vec![b'L'; SHARE_FROM]),
            Bytes::from(vec![b'M'; 9000]),
        ];
        let small = Bytes::from_static(b"ab");
        for data in [&small, &large[0], &small, &small, &large[1], &small] {
            assert!(f.tee.push(data));
        }
        f.tee.finish();
        let job = f.queue.try_recv().unwrap();
        let chunks = &job.body.as_ref().unwrap().chunks;
        let lens: Vec<_> = chunks.iter().map(Bytes::len).collect();
        assert_eq!(lens, [2, SHARE_FROM, 4, 9000, 2]);
        assert_eq!(chunks[1].as_ptr(), large[0].as_ptr(), "shared, not copied");
        assert_eq!(chunks[3].as_ptr(), large[1].as_ptr(), "shared, not copied");
        // The small pieces are consecutive parts of one buffer.
        assert_eq!(chunks[2].as_ptr(), chunks[0].as_ptr().wrapping_add(2));
        assert_eq!(chunks[4].as_ptr(), chunks[2].as_ptr().wrapping_add(4));
        let held = f.budget.held() as usize;
        assert_eq!(
            held,
            SHARE_FROM + 9000 + BUFFER + BUFFER_OVERHEAD + MIN_SLOTS * SLOT
        );
    }

    #[test]
    fn over_the_budget_the_copy_is_dropped_once_and_its_bytes_given_back() {
        // Room for the slots and one buffer, not a second one.
        let mut f = tee(1 << 20, BUFFER + BUFFER_OVERHEAD + 1024);
        let one = Bytes::from_static(b"x");
        let mut kept = 0;
        while f.tee.push(&one) {
            kept += 1;
        }
        assert_eq!(
            kept, BUFFER,
            "the first buffer filled, the second did not fit"
        );
        assert_eq!(outcomes(&f.events), [Outcome::DroppedMemoryBudget]);
        assert!(f.tee.pending.is_empty());
        drop(f.tee);
        assert_eq!(
            outcomes(&f.events),
            [Outcome::DroppedMemoryBudget],
            "not counted again as incomplete"
        );
        assert_eq!(f.budget.held(), 0);
        assert!(f.queue.try_recv().is_err());
    }

    #[test]
    fn every_way_a_copy_ends_gives_its_bytes_back() {
        let chunk = Bytes::from(vec![b'x'; 10]);
        // Too large: the tee lets go at once.
        let mut f = tee(15, usize::MAX);
        assert!(f.tee.push(&chunk));
        assert!(f.budget.held() > 0);
        assert!(!f.tee.push(&chunk));
        drop(f.tee);
        assert_eq!(outcomes(&f.events), [Outcome::DroppedBodyTooLarge]);
        assert_eq!(f.budget.held(), 0);
        // Incomplete: the body never ended.
        let mut f = tee(100, usize::MAX);
        assert!(f.tee.push(&chunk));
        drop(f.tee);
        assert_eq!(outcomes(&f.events), [Outcome::DroppedBodyIncomplete]);
        assert_eq!(f.budget.held(), 0);
        // Queued, then dropped unsent (a shut-down queue drops its jobs).
        let mut f = tee(100, usize::MAX);
        assert!(f.tee.push(&chunk));
        f.tee.finish();
        drop(f.tee);
        assert!(f.budget.held() > 0, "held by the queued job");
        f.queue.close();
        drop(f.queue.try_recv().unwrap());
        assert_eq!(f.budget.held(), 0);
    }
}

//! Pairing: the two (or three) answers to one compared request meet here. The primary's is
//! captured on its way to the client (`capture.rs`), the shadow's and the control's by the
//! workers that sent their copies. Each side holds a [`Slot`]; reporting through it, or dropping
//! it unreported, puts the side's answer, and the last side to arrive resolves the pair: a
//! comparison job for the comparator, or the one skip reason that ended it. So every compared
//! copy gets exactly one result, however it ends.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::book::Book;
use super::result::CompareResult;
use crate::budget::Reservation;
use crate::copy::CopyHead;

/// One side's whole response, as kept for the comparison.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// The body's chunks, as they came (joined by the comparator, off the request path).
    pub(crate) body: Vec<Bytes>,
    pub(crate) len: usize,
    /// From the request to the end of the response body.
    pub(crate) elapsed: Duration,
    /// What the answer holds, charged to the layer's memory budget.
    pub(crate) _held: Option<Reservation>,
}

/// A side's answer, or why there is none.
pub(crate) type Reported = Result<Arc<Answer>, CompareResult>;

/// Which side a slot reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Primary,
    Shadow,
    Control,
}

impl Role {
    /// The result when the side's slot is dropped without an answer.
    fn lost(self) -> CompareResult {
        match self {
            Role::Primary => CompareResult::SkippedPrimaryIncomplete,
            Role::Shadow => CompareResult::SkippedShadowFailed,
            Role::Control => CompareResult::SkippedControlFailed,
        }
    }
}

/// One compared request of one target: the sides so far.
pub(crate) struct Pairing {
    pub(crate) book: Arc<Book>,
    pub(crate) head: Arc<CopyHead>,
    sides: Mutex<Sides>,
}

impl std::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pairing").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Sides {
    primary: Option<Reported>,
    shadow: Option<Reported>,
    control: Option<Reported>,
    wants_control: bool,
    resolved: bool,
}

/// The three sides of a resolved pair.
pub(crate) struct Resolved {
    pub(crate) primary: Arc<Answer>,
    pub(crate) shadow: Arc<Answer>,
    pub(crate) control: Option<Arc<Answer>>,
}

impl Pairing {
    /// A pairing for `book`'s target and its slots: the primary's, the shadow's, and the
    /// control's when the comparison has one.
    pub(crate) fn start(
        book: Arc<Book>,
        head: Arc<CopyHead>,
        wants_control: bool,
    ) -> (Slot, Slot, Option<Slot>) {
        let cap = book.comparison.max_body_bytes;
        let pairing = Arc::new(Pairing {
            book,
            head,
            sides: Mutex::new(Sides {
                wants_control,
                ..Sides::default()
            }),
        });
        let slot = |role| Slot {
            pairing: Some(pairing.clone()),
            role,
            cap,
            replay: false,
        };
        let control = wants_control.then(|| slot(Role::Control));
        (slot(Role::Primary), slot(Role::Shadow), control)
    }

    fn put(&self, role: Role, reported: Reported) {
        let ready = {
            let mut guard = self.sides.lock().unwrap_or_else(PoisonError::into_inner);
            let sides = &mut *guard;
            if sides.resolved {
                return;
            }
            let place = match role {
                Role::Primary => &mut sides.primary,
                Role::Shadow => &mut sides.shadow,
                Role::Control => &mut sides.control,
            };
            if place.is_some() {
                return;
            }
            *place = Some(reported);
            let whole = sides.primary.is_some()
                && sides.shadow.is_some()
                && (!sides.wants_control || sides.control.is_some());
            if !whole {
                return;
            }
            sides.resolved = true;
            (
                sides.primary.take(),
                sides.shadow.take(),
                sides.control.take(),
            )
        };
        let (Some(primary), Some(shadow), control) = ready else {
            return;
        };
        // The primary's failure first: it says the most about why nothing was compared.
        let resolved = primary.and_then(|primary| {
            let shadow = shadow?;
            let control = control.transpose()?;
            Ok(Resolved {
                primary,
                shadow,
                control,
            })
        });
        match resolved {
            Ok(pair) => Book::submit(&self.book, self.head.clone(), pair),
            Err(result) => self.book.skipped(result, &self.head.request_id),
        }
    }
}

/// Where one side puts its answer. Dropped without one, it puts the side's failure.
#[derive(Debug)]
pub(crate) struct Slot {
    pairing: Option<Arc<Pairing>>,
    role: Role,
    cap: usize,
    /// The control's slot of `control = "primary"`: answered by a replay to the primary.
    replay: bool,
}

impl Slot {
    /// This slot, to be answered by a replay to the primary.
    pub(crate) fn for_replay(mut self) -> Self {
        self.replay = true;
        self
    }

    /// Whether a replay to the primary answers this slot.
    pub(crate) fn is_replay(&self) -> bool {
        self.replay
    }

    /// The largest body this side's comparison takes.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Puts the side's answer: itself, or too large for this comparison.
    pub(crate) fn report(mut self, answer: &Arc<Answer>) {
        let reported = match answer.len > self.cap {
            true => Err(CompareResult::SkippedBodyTooLarge),
            false => Ok(answer.clone()),
        };
        self.put(reported);
    }

    /// Puts the side's failure.
    pub(crate) fn fail(mut self, result: CompareResult) {
        self.put(Err(result));
    }

    fn put(&mut self, reported: Reported) {
        if let Some(pairing) = self.pairing.take() {
            pairing.put(self.role, reported);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let lost = self.role.lost();
        self.put(Err(lost));
    }
}

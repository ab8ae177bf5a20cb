//! [`RequestLog`]: the requests a server recorded, and a way to wait for them.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::Recorded;

#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: Mutex<Vec<Recorded>>,
    /// Bumped after each push, so it never runs ahead of `entries`.
    count: watch::Sender<usize>,
}

impl RequestLog {
    pub(crate) fn new() -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            count: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Recorded>> {
        // Pushing cannot leave the vector half-updated; a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, request: Recorded) {
        self.lock().push(request);
        self.count.send_modify(|n| *n += 1);
    }

    pub(crate) fn snapshot(&self) -> Vec<Recorded> {
        self.lock().clone()
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    pub(crate) async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let mut count = self.count.subscribe();
        // Either outcome ends the wait: enough requests, or time is up (the sender lives as long
        // as `self`, so the wait cannot fail otherwise).
        let _ = tokio::time::timeout(timeout, count.wait_for(|&c| c >= n)).await;
        self.snapshot()
    }
}

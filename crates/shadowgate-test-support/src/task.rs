//! The tasks one server owns: its accept loop, its connections, and whatever hyper spawns for
//! them (HTTP/2 streams, upgraded connections). All of them end when the server is dropped.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::task::JoinSet;

struct Tasks {
    set: JoinSet<()>,
    closed: bool,
}

/// Spawns tasks that belong to one server. Also hyper's executor, so HTTP/2 stream tasks are
/// owned by the server too instead of outliving it on the runtime.
#[derive(Clone)]
pub(crate) struct TaskSet {
    inner: Arc<Mutex<Tasks>>,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        let tasks = Tasks {
            set: JoinSet::new(),
            closed: false,
        };
        Self {
            inner: Arc::new(Mutex::new(tasks)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tasks> {
        // A panic while holding this lock leaves the set consistent; keep going.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Spawns `fut` on the current runtime; once the server is dropped, `fut` is dropped instead.
    pub(crate) fn spawn<F>(&self, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut tasks = self.lock();
        if tasks.closed {
            return;
        }
        // Reap finished tasks so a long-lived server does not accumulate them.
        while tasks.set.try_join_next().is_some() {}
        tasks.set.spawn(fut);
    }

    /// A guard that aborts every task of this set, present and future, when dropped.
    pub(crate) fn guard(&self) -> TaskGuard {
        TaskGuard(self.clone())
    }
}

impl<F> hyper::rt::Executor<F> for TaskSet
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        self.spawn(fut);
    }
}

impl fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tasks = self.lock();
        f.debug_struct("TaskSet")
            .field("tasks", &tasks.set.len())
            .field("closed", &tasks.closed)
            .finish()
    }
}

/// Aborts all tasks of its [`TaskSet`] on drop.
#[derive(Debug)]
pub(crate) struct TaskGuard(TaskSet);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut tasks = self.0.lock();
        tasks.closed = true;
        tasks.set.abort_all();
    }
}

//! The comparator: one thread per layer that takes resolved pairs from a bounded queue and
//! compares them, so that parsing and diffing bodies never runs on the async workers that serve
//! requests. A pair that finds the queue full is `skipped_queue_full`, never waited for.

use async_channel::Receiver;

use super::book::Job;

/// Pairs waiting for the comparator, at most, per layer.
pub const COMPARE_QUEUE: usize = 1024;

/// Starts the comparator thread on `jobs`; it ends when every sender is gone.
pub(crate) fn start(jobs: Receiver<Job>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shadowgate-compare".into())
        .spawn(move || {
            while let Ok(job) = jobs.recv_blocking() {
                job.run();
            }
        })
        .map(drop)
}

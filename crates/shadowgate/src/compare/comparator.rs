//! The comparator: one thread per layer that takes resolved pairs from a bounded queue and
//! compares them, so that parsing and diffing bodies never runs on the async workers that serve
//! requests. A pair that finds the queue full is `skipped_queue_full`, never waited for.
//!
//! Waking a blocked thread for every pair costs the sender a system call and both cores a
//! context switch, which at thousands of pairs a second is more than the comparison itself. So
//! while pairs keep coming the thread drains the queue and naps [`NAP`] between drains, and the
//! senders wake no one; only after [`NAPS_BEFORE_SLEEP`] empty naps in a row does it block
//! until the next pair.

use std::time::Duration;

use async_channel::{Receiver, TryRecvError};

use super::book::Job;

/// Pairs waiting for the comparator, at most, per layer.
pub const COMPARE_QUEUE: usize = 1024;
/// The nap between drains while pairs keep coming.
const NAP: Duration = Duration::from_millis(2);
/// Empty naps in a row before the thread blocks (100 ms of quiet).
const NAPS_BEFORE_SLEEP: u32 = 50;

/// Starts the comparator thread on `jobs`; it ends when every sender is gone.
pub(crate) fn start(jobs: Receiver<Job>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("shadowgate-compare".into())
        .spawn(move || run(&jobs))
        .map(drop)
}

fn run(jobs: &Receiver<Job>) {
    let mut empty = 0;
    loop {
        match jobs.try_recv() {
            Ok(job) => {
                empty = 0;
                job.run();
            }
            Err(TryRecvError::Closed) => return,
            Err(TryRecvError::Empty) if empty < NAPS_BEFORE_SLEEP => {
                empty += 1;
                std::thread::sleep(NAP);
            }
            Err(TryRecvError::Empty) => match jobs.recv_blocking() {
                Ok(job) => {
                    empty = 0;
                    job.run();
                }
                Err(_) => return,
            },
        }
    }
}

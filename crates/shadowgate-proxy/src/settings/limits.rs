//! [`Limits`]: what a client connection may cost before it is cut (a slow head, an idle spell, a
//! client that reads nothing), what all shadow copies may hold together, and the shutdown grace
//! period.

use std::time::Duration;

use super::DEFAULT_SHUTDOWN_TIMEOUT;

/// A client that has not sent a whole request head this long after it started is cut (slowloris).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no request in flight is closed after this long.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A response whose writes to the client make no progress this long is cut (nginx's default).
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest request head accepted; a larger one is answered 431.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The smallest `max_header_bytes` accepted (hyper's HTTP/1 read buffer cannot be smaller).
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
/// The most bytes all shadow copies hold together (the library's default memory budget).
pub const DEFAULT_MIRROR_MEMORY_BYTES: usize = shadowgate::DEFAULT_MEMORY_BUDGET;
/// The smallest `mirror_memory_bytes` accepted: below it a budget would refuse ordinary copies.
pub const MIN_MIRROR_MEMORY_BYTES: usize = 1024 * 1024;
/// The largest `mirror_memory_bytes` accepted (1 TiB): a bound, so no sum of reservations can
/// come near overflowing the budget's counter.
pub const MAX_MIRROR_MEMORY_BYTES: usize = 1 << 40;
/// The largest `max_header_bytes` accepted (1 MiB).
pub const MAX_MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Limits on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// How long a connection may sit with no request in flight.
    pub idle_timeout: Duration,
    /// The largest request head, in bytes (at least [`MIN_MAX_HEADER_BYTES`]).
    pub max_header_bytes: usize,
    /// The most bytes every copy holds together, overhead included (at least
    /// [`MIN_MIRROR_MEMORY_BYTES`]); a copy over it is dropped as `dropped_memory_budget`.
    pub mirror_memory_bytes: usize,
    /// In-flight requests get this long to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
    /// A connection whose writes to the client stay blocked this long is cut (freeing the
    /// backend slot its response held).
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            mirror_memory_bytes: DEFAULT_MIRROR_MEMORY_BYTES,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
        }
    }
}

//! # shadowgate
//!
//! A [`tower`](https://docs.rs/tower) middleware that sends every request to the service it wraps
//! (the *primary*) and tees copies of chosen requests to *shadow targets*, such as a canary or a
//! new build, so new code meets real traffic with no risk to the users being served.
//!
//! ```no_run
//! use std::time::Duration;
//! use shadowgate::{MirrorLayer, TargetConfig};
//! use tower::ServiceBuilder;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let canary = TargetConfig::builder("http://127.0.0.1:9000")
//!     .name("canary")
//!     .sample(0.1)
//!     .timeout(Duration::from_secs(2))
//!     .build()?;
//! let mirror = MirrorLayer::builder()
//!     .target(canary)
//!     .on_outcome(|e: &shadowgate::OutcomeEvent<'_>| println!("{} {}", e.target, e.outcome))
//!     .build()?;
//! let app = ServiceBuilder::new().layer(mirror.clone()).service_fn(
//!     |req: http::Request<shadowgate::TeeBody<http_body_util::Empty<bytes::Bytes>>>| async move {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("primary")))
//!     },
//! );
//! # let _ = app;
//! // ... serve `app`; on the way out:
//! mirror.shutdown(Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! ## Guarantees
//!
//! - **The primary never waits for a shadow.** `poll_ready` is the primary's alone. Admitting a
//!   copy is a `try_send` on a bounded queue, never an await; a fixed set of workers per target
//!   drains it, on their own tasks, with their own connection pools.
//! - **Bounded cost.** Per target at most `workers` copies in flight and `queue` waiting, each with
//!   a body of at most `max_body_bytes`; every copy of the layer together holds at most
//!   [`MirrorLayerBuilder::memory_budget`] bytes (default 256 MiB), counted by bytes held,
//!   overhead included. Past a bound the copy is dropped and counted.
//! - **Exactly one outcome** ([`Outcome`]) per sampled request and target, counted in
//!   `shadowgate_mirror_requests_total` and passed to the [`OnOutcome`] hook.
//! - **Fidelity.** The wrapped service gets the request and its body bytes unchanged (the only
//!   change: a sampled request with no valid `X-Request-Id`, see [`is_valid_request_id`], gets
//!   a new one). The copy gets the same method, raw path and query, headers and body bytes, less hop-by-hop headers, plus
//!   `X-Mirror: 1`, `X-Mirrored-From` and the target's own header changes.
//! - **Streaming.** The body streams to the primary as it arrives; its `Bytes` of 4 KiB or more
//!   are shared into the copy (no copying), smaller ones copied together into 16 KiB buffers, and
//!   the copy is sent once the body has ended. Upgrades and CONNECT are
//!   never mirrored (`skipped_upgrade`).
//! - **No loops.** A request that arrives marked as a copy (`X-Mirror`, or the
//!   [`ArrivedAsCopy`] extension [`take_mirror_marks`] leaves) is never copied again
//!   (`skipped_loop`).
//!
//! Copies are never retried, never follow redirects, and their responses are read and discarded.
//! A client that disconnects does not cancel copies already dispatched.

mod admit;
mod body;
mod budget;
mod builder;
mod circuit;
mod client;
pub mod compare;
mod copy;
mod error;
mod future;
mod handle;
mod header;
mod histogram;
mod hop;
mod host;
mod layer;
mod mark;
mod metrics;
mod observer;
mod outcome;
mod policy;
pub mod pool;
mod rate;
mod registry;
mod request_id;
mod service;
mod stats;
mod target;
mod tee;
mod url;
mod worker;

pub use body::TeeBody;
pub use budget::DEFAULT_MEMORY_BUDGET;
pub use builder::TargetBuilder;
pub use circuit::{CircuitState, DEFAULT_CIRCUIT_FAILURES, DEFAULT_CIRCUIT_RETRY_AFTER};
pub use compare::{
    CaptureBody, CompareConfig, CompareEvent, CompareReport, CompareResult, Control, IgnoreRule,
    OnCompare, PrimaryReplay,
};
pub use error::{BuildError, Field, InvalidValue, Problem, TargetError};
pub use future::ResponseFuture;
pub use header::{parse_header, parse_header_name};
pub use histogram::{DurationHistogram, HistogramSnapshot};
pub use hop::{
    is_protected, is_upgrade, remove_connection_named, remove_fixed_hop_by_hop, remove_hop_by_hop,
};
pub use host::HostMode;
pub use layer::{MirrorLayer, MirrorLayerBuilder};
pub use mark::{take_mirror_marks, ArrivedAsCopy};
pub use metrics::{MirrorMetrics, Series, SeriesValue};
pub use outcome::{OnOutcome, Outcome, OutcomeEvent};
pub use policy::{ClientAddr, SampleBy, SampleRatio};
pub use registry::ShutdownReport;
pub use request_id::{ensure_request_id, is_valid_request_id, new_request_id, MAX_REQUEST_ID_LEN};
pub use service::Mirror;
pub use stats::TargetStats;
pub use target::{
    duplicate_name, TargetConfig, DEFAULT_MAX_BODY_BYTES, DEFAULT_QUEUE, DEFAULT_TIMEOUT,
    DEFAULT_WORKERS, MAX_CIRCUIT_FAILURES, MAX_DURATION, MAX_MAX_BODY_BYTES, MAX_QUEUE,
    MAX_RATE_LIMIT, MAX_WORKERS,
};
pub use url::TargetUrl;

/// Entry points for the fuzz targets in the repository's `fuzz/` folder (docs/fuzzing.md). Not a
/// stable API: they hand on to the layer's own code unchanged.
#[doc(hidden)]
pub mod fuzzing {
    use http::request::Parts;

    /// The head of the copy that the layer would send to a target at `target_url` (default
    /// settings) for a request with head `parts`: the request id ensured as the request path
    /// does, the head captured, and the copy built as a worker builds it. `Err` names why the
    /// target URL or the copy could not be built.
    pub fn copy_head(parts: &mut Parts, target_url: &str) -> Result<Parts, String> {
        let target = crate::TargetConfig::builder(target_url)
            .build()
            .map_err(|e| e.to_string())?;
        let request_id = crate::ensure_request_id(&mut parts.headers);
        let head = crate::copy::CopyHead::capture(parts, request_id);
        let copy = crate::copy::build_request(&target, &head, None).map_err(|e| e.to_string())?;
        Ok(copy.into_parts().0)
    }
}

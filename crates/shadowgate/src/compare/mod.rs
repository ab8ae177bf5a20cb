//! Comparison (docs/verdicts.md): the shadow's answers against the primary's, with noise
//! cancelled and each field judged.
//!
//! - The pure core: differences between two documents (`diff.rs`, `document.rs`), the pointer
//!   globs rules are written in, endpoints, the shapes of changing values, the bounded counts
//!   (`tally.rs`) and the verdict rule.
//! - At run time: a target's settings (`config.rs`), the capture of each side (`capture.rs`),
//!   the pairing of the sides (`pairing.rs`), the comparator thread, and each target's
//!   [`book`](book) of results, latency and samples.

pub(crate) mod book;
pub(crate) mod capture;
pub(crate) mod comparator;
pub mod config;
mod decode;
pub mod diff;
pub mod document;
pub mod endpoint;
mod latency;
pub(crate) mod pairing;
pub mod pointer;
pub mod replay;
pub mod report;
mod result;
pub(crate) mod rules;
pub(crate) mod samples;
pub mod shape;
pub mod tally;
pub mod verdict;

pub use book::LATENCY_FIELD;
pub use capture::CaptureBody;
pub use comparator::COMPARE_QUEUE;
pub use config::{
    CompareConfig, Comparison, Control, DEFAULT_COMPARE_BODY_BYTES, DEFAULT_COMPARE_PER_SECOND,
    MAX_COMPARE_BODY_BYTES, MAX_COMPARE_RULES,
};
pub use diff::{diff, ArrayMode, Difference, Kind, Rules, Tolerance};
pub use document::{compare, Side, VOLATILE};
pub use endpoint::{endpoint, Template};
pub use latency::Quantiles;
pub use pointer::{escape, Glob};
pub use replay::{PrimaryReplay, ReplayBody, ReplayError, ReplayFuture};
pub use report::{
    CompareEvent, CompareReport, EndpointReport, FieldReport, LatencyReport, OnCompare, Sample,
    SampleDifference, SampleRequest, SampleSide, StatusCount, VerdictCounts,
};
pub use result::CompareResult;
pub use rules::IgnoreRule;
pub use samples::{REDACTED_HEADERS, SAMPLES_PER_FIELD, SAMPLE_BODY_BYTES, SAMPLE_STORE_BYTES};
pub use shape::{masked, shape, Shape};
pub use tally::{
    Bounds, EndpointCounts, FieldCounts, Pair, Tally, MAX_ENDPOINT_LEN, MAX_FIELD_LEN,
};
pub use verdict::{diffy, Evidence, Rule, Verdict};

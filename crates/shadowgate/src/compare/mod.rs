//! The comparison engine's core (docs/verdicts.md): differences between two documents, the
//! pointer globs that rules are written in, endpoints, the shapes of changing values, and the
//! verdict rule. Pure functions, no I/O; the
//! capture of both responses and the per-target bookkeeping build on them.
//!
//! Not yet wired to the layer: verdicts are the work in progress of README's "Not yet".

pub mod diff;
pub mod document;
pub mod endpoint;
pub mod pointer;
pub mod shape;
pub mod tally;
pub mod verdict;

pub use diff::{diff, ArrayMode, Difference, Kind, Rules, Tolerance};
pub use document::{compare, Side, VOLATILE};
pub use endpoint::{endpoint, Template};
pub use pointer::{escape, Glob};
pub use shape::{masked, shape, Shape};
pub use tally::{Bounds, EndpointCounts, FieldCounts, Pair, Tally};
pub use verdict::{diffy, Evidence, Rule, Verdict};

//! Problems found while building a layer or a target. Shadow failures at run time are never
//! errors: they are [`crate::Outcome`]s.

use std::borrow::Cow;
use std::fmt;

/// Why a layer could not be built, or a target added to one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two targets with the same name (see [`crate::duplicate_name`]).
    #[error("duplicate target name {0:?}")]
    DuplicateTarget(String),
    /// The layer was built outside a Tokio runtime, so its workers have nowhere to run.
    #[error("MirrorLayer must be built inside a Tokio runtime (its workers are spawned on it)")]
    NoRuntime,
    /// The TLS client configuration could not be built.
    #[error("TLS client setup failed: {0}")]
    Tls(String),
    /// A target compares with `control = "primary"` but the layer has no
    /// [`crate::MirrorLayerBuilder::primary_replay`] to send the replays.
    #[error("target {0:?} compares with control = \"primary\", which needs a primary replay (MirrorLayerBuilder::primary_replay)")]
    NoPrimaryReplay(String),
    /// The comparator thread could not be started.
    #[error("the comparator thread could not be started: {0}")]
    Thread(String),
}

/// A value that a setting cannot take: the value as given and why. Its text reads
/// `VALUE REASON`, for example `"ftp://x" is not an http:// or https:// URL` or
/// `1.5 is outside 0..=1`, so that a caller can put a flag or key path in front of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} {reason}")]
pub struct InvalidValue {
    value: String,
    reason: Cow<'static, str>,
}

impl InvalidValue {
    /// `value` (already rendered: quoted text, a number, or a description such as "the value"
    /// where the value must not be echoed) and `reason`, which reads after it.
    pub(crate) fn new(value: impl Into<String>, reason: impl Into<Cow<'static, str>>) -> Self {
        Self {
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Text given as a quoted string, and the reason.
    pub(crate) fn quoted(text: &str, reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(format!("{text:?}"), reason)
    }

    /// The value as rendered in the message.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Why it cannot be used (reads after the value).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The [`crate::TargetBuilder`] setting a [`Problem`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The target URL.
    Url,
    /// The sample ratio.
    Sample,
    /// Copies in flight.
    Workers,
    /// Copies waiting.
    Queue,
    /// A copy's timeout.
    Timeout,
    /// The `Host` copies carry.
    Host,
    /// The largest body a copy carries.
    MaxBodyBytes,
    /// Copies per second.
    RateLimit,
    /// The circuit's failure count.
    CircuitFailures,
    /// How long the circuit stays open.
    CircuitRetryAfter,
    /// A header added to copies, by its name as given.
    AddHeader(String),
    /// A header removed from copies, by its position among the removals (from 0).
    RemoveHeader(usize),
    /// A comparison setting, by its key (`sample`, `ignore[2]`, …).
    Compare(String),
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Url => f.write_str("url"),
            Field::Sample => f.write_str("sample"),
            Field::Workers => f.write_str("workers"),
            Field::Queue => f.write_str("queue"),
            Field::Timeout => f.write_str("timeout"),
            Field::Host => f.write_str("host"),
            Field::MaxBodyBytes => f.write_str("max_body_bytes"),
            Field::RateLimit => f.write_str("rate_limit"),
            Field::CircuitFailures => f.write_str("circuit failures"),
            Field::CircuitRetryAfter => f.write_str("circuit retry_after"),
            Field::AddHeader(name) => write!(f, "add_header {name:?}"),
            Field::RemoveHeader(i) => write!(f, "remove_header[{i}]"),
            Field::Compare(key) => write!(f, "compare {key}"),
        }
    }
}

/// One bad setting of a target: which, and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The setting.
    pub field: Field,
    /// Its value and what is wrong with it.
    pub error: InvalidValue,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.error)
    }
}

/// Why a target could not be built: every bad setting, each with its [`Field`] and value, in
/// the order of the fields. The text lists them, separated by `; `.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetError {
    /// The problems (at least one).
    pub problems: Vec<Problem>,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TargetError {}

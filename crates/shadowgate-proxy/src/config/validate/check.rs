//! The error collector and the checks every table shares: durations, counts, names.

use std::time::Duration;

use shadowgate::MAX_DURATION;

use crate::config::{duration, ConfigError};

/// Problems found so far; checks record one and return a default so that checking goes on.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<ConfigError>);

impl Errors {
    /// Records a problem at `key`.
    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(key, message));
    }

    /// How many problems so far.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `value`, or an error when the key is missing.
    pub(crate) fn required<'a>(&mut self, key: &str, value: Option<&'a str>) -> Option<&'a str> {
        if value.is_none() {
            self.push(key, "is required");
        }
        value
    }

    /// A duration greater than zero and at most [`MAX_DURATION`] (a day).
    pub(crate) fn positive_duration(
        &mut self,
        key: &str,
        value: Option<&str>,
        default: Duration,
    ) -> Duration {
        match value.map(duration::parse) {
            None => default,
            Some(Ok(d)) if d > MAX_DURATION => {
                let v = value.unwrap_or_default();
                let max = duration::format(MAX_DURATION);
                self.push(
                    key,
                    format!("{v:?} is more than the longest allowed, {max}"),
                );
                default
            }
            Some(Ok(d)) if !d.is_zero() => d,
            Some(Ok(_)) => {
                let v = value.unwrap_or_default();
                self.push(key, format!("{v:?} must be greater than zero"));
                default
            }
            Some(Err(e)) => {
                self.push(key, e);
                default
            }
        }
    }

    /// A count in `min..=max` (default when absent or bad).
    fn count_in(&mut self, key: &str, value: Option<i64>, default: u64, min: u64, max: u64) -> u64 {
        let Some(v) = value else { return default };
        match u64::try_from(v) {
            Ok(n) if (min..=max).contains(&n) => n,
            Ok(n) if n > max => {
                self.push(key, format!("{v} is more than the largest allowed, {max}"));
                default
            }
            _ => {
                self.push(key, format!("{v} must be at least {min}"));
                default
            }
        }
    }

    /// A `u32` count in `min..=max`.
    pub(crate) fn count_u32(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: u32,
        (min, max): (u32, u32),
    ) -> u32 {
        let n = self.count_in(key, value, default.into(), min.into(), max.into());
        u32::try_from(n).unwrap_or(default)
    }

    /// A `usize` count in `min..=max`.
    pub(crate) fn count(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: usize,
        (min, max): (usize, usize),
    ) -> usize {
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let n = self.count_in(key, value, as_u64(default), as_u64(min), as_u64(max));
        usize::try_from(n).unwrap_or(default)
    }

    /// The settings when nothing was wrong, else every problem.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<ConfigError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// `name` as it goes in a key path: bare when TOML allows (`canary`), quoted otherwise
/// (`"my.mirror"`).
pub(crate) fn key_name(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

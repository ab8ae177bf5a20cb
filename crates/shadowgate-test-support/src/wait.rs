//! [`eventually`]: the one bounded wait for something a test expects to become true, instead of
//! a polling loop written out in each test.
//!
//! The probe says what it saw each time it is called: `true`/`false`, `Some(value)`/`None`, or
//! `Ok(value)`/`Err(what it saw instead)`. The wait returns the value as soon as there is one;
//! at the bound it panics with what was awaited and the last thing the probe saw (so a `Result`
//! probe, whose `Err` carries the observed value, gives the most useful failure).

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use crate::client::PROMPT;

/// How often a probe is called.
const POLL: Duration = Duration::from_millis(5);

/// What a probe returns: either the awaited value, or what it saw instead.
pub trait Check {
    /// What [`eventually`] returns once the check holds.
    type Value;

    /// `Ok` with the value once the check holds, else `Err` describing what was seen.
    fn check(self) -> Result<Self::Value, String>;
}

impl Check for bool {
    type Value = ();

    fn check(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("false".to_owned())
        }
    }
}

impl<T> Check for Option<T> {
    type Value = T;

    fn check(self) -> Result<T, String> {
        self.ok_or_else(|| "None".to_owned())
    }
}

impl<T, E: Debug> Check for Result<T, E> {
    type Value = T;

    fn check(self) -> Result<T, String> {
        self.map_err(|seen| format!("{seen:?}"))
    }
}

/// Calls `probe` every few milliseconds until it holds and returns its value; panics, naming
/// `what` and the last thing the probe saw, if it still does not hold after
/// [`PROMPT`](crate::client::PROMPT).
pub async fn eventually<C: Check>(what: &str, mut probe: impl FnMut() -> C) -> C::Value {
    eventually_async(what, || std::future::ready(probe())).await
}

/// [`eventually`] for a probe that has to await (a request to an admin endpoint, say).
#[allow(clippy::panic)] // failing the test that waits is this function's job
pub async fn eventually_async<C, F>(what: &str, mut probe: impl FnMut() -> F) -> C::Value
where
    C: Check,
    F: Future<Output = C>,
{
    let deadline = tokio::time::Instant::now() + PROMPT;
    loop {
        // A probe that hangs is bounded too.
        let seen = match tokio::time::timeout_at(deadline, probe()).await {
            Ok(seen) => seen.check(),
            Err(_) => Err("no answer from the probe itself".to_owned()),
        };
        match seen {
            Ok(value) => return value,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("gave up after {PROMPT:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// What a probe saw instead of the awaited value, described for the failure message.
pub struct Seen(String);

impl Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A probe result: holds when `seen == want`; otherwise says what was seen.
pub fn exactly<T: PartialEq + Debug>(seen: T, want: T) -> Result<T, Seen> {
    if seen == want {
        Ok(seen)
    } else {
        Err(Seen(format!("{seen:?} (awaiting {want:?})")))
    }
}

/// A probe result: holds when `seen >= least`; otherwise says what was seen.
pub fn at_least<T: PartialOrd + Debug>(seen: T, least: T) -> Result<T, Seen> {
    if seen >= least {
        Ok(seen)
    } else {
        Err(Seen(format!("{seen:?} (awaiting at least {least:?})")))
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn each_probe_kind_says_what_it_saw() {
        assert_eq!(true.check(), Ok(()));
        assert_eq!(false.check(), Err("false".to_owned()));
        assert_eq!(Some(3).check(), Ok(3));
        assert_eq!(None::<u8>.check(), Err("None".to_owned()));
        assert_eq!(exactly(2, 2).check(), Ok(2));
        assert_eq!(exactly(1, 2).check(), Err("1 (awaiting 2)".to_owned()));
        assert_eq!(at_least(5, 2).check(), Ok(5));
        assert_eq!(
            at_least(1, 2).check(),
            Err("1 (awaiting at least 2)".to_owned())
        );
    }

    #[tokio::test]
    async fn eventually_returns_the_value_once_the_probe_holds() {
        let calls = Cell::new(0);
        let value = eventually("the third call", || {
            calls.set(calls.get() + 1);
            (calls.get() == 3).then_some("third")
        })
        .await;
        assert_eq!((value, calls.get()), ("third", 3));
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "waiting for the impossible; last seen: 7 (awaiting 8)")]
    async fn eventually_fails_at_the_bound_naming_the_wait_and_the_last_value() {
        eventually("the impossible", || exactly(7, 8)).await;
    }
}

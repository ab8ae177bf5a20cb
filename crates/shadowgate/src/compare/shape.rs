//! Recognisable shapes of values that change from one response to the next (docs/verdicts.md,
//! "Masking"): without a control, two different values of the same shape are counted as
//! `masked`, never as silently equal and never as a regression.
//!
//! The shapes: a UUID; a time near now (within [`NEAR`]), as an RFC 3339 string or as Unix
//! seconds or milliseconds; a token of 16 or more hex or base64 characters that holds a digit
//! and a letter. A date far from now (a birthday, a release date) has no shape: it is compared
//! as it is.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::endpoint::is_uuid;

/// How near now a time must be to be masked.
pub const NEAR: Duration = Duration::from_secs(24 * 60 * 60);

/// A shape a changing value can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Shape {
    /// `8-4-4-4-12` hex digits.
    Uuid,
    /// A time within [`NEAR`] of now.
    TimeNearNow,
    /// 16 or more hex or base64 characters, with a digit and a letter.
    Token,
}

/// The shape of `value`, judged at `now`, if it has one.
pub fn shape(value: &Value, now: SystemTime) -> Option<Shape> {
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    let near = |secs: f64| (secs - now).abs() <= NEAR.as_secs_f64();
    match value {
        Value::String(s) if is_uuid(s) => Some(Shape::Uuid),
        Value::String(s) if rfc3339_seconds(s).is_some_and(near) => Some(Shape::TimeNearNow),
        Value::String(s) if is_token(s) => Some(Shape::Token),
        Value::Number(n) => {
            let v = n.as_f64()?;
            (near(v) || near(v / 1000.0)).then_some(Shape::TimeNearNow)
        }
        _ => None,
    }
}

/// Whether two different values are both of one shape (so the difference is masked).
pub fn masked(primary: &Value, shadow: &Value, now: SystemTime) -> bool {
    primary != shadow && shape(primary, now).is_some_and(|s| shape(shadow, now) == Some(s))
}

fn is_token(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 16
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_'))
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_alphabetic)
}

/// Seconds since the Unix epoch of an RFC 3339 date-time (`2026-12-02T14:53:00Z`, with an
/// optional fraction and a `Z` or `±hh:mm` offset; `t` and a space are taken for `T`).
fn rfc3339_seconds(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    if b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = 0.0;
    if let Some(after) = rest.strip_prefix('.') {
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = format!("0.{}", &after[..digits]).parse().ok()?;
        rest = &after[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let (h, m): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset) as f64 + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// 2026-12-02T14:00:00Z.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_220_000)
    }

    #[test]
    fn the_civil_calendar_is_right() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            rfc3339_seconds("2026-12-02T14:00:00Z"),
            Some(1_796_220_000.0)
        );
        assert_eq!(
            rfc3339_seconds("2026-12-02T16:00:00+02:00"),
            Some(1_796_220_000.0)
        );
        assert_eq!(
            rfc3339_seconds("2026-12-02 14:00:00.250Z"),
            Some(1_796_220_000.25)
        );
        for bad in [
            "2026-13-02T14:00:00Z",
            "2026-12-02T14:00:00",
            "yesterday",
            "2026-12-02T14:00:00+0200",
        ] {
            assert_eq!(rfc3339_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn shapes_near_now_and_not_far() {
        let now = now();
        assert_eq!(
            shape(&json!("3f2c1a9e-2b4d-4c8e-9f00-1234567890ab"), now),
            Some(Shape::Uuid)
        );
        assert_eq!(
            shape(&json!("2026-12-02T13:59:58.120Z"), now),
            Some(Shape::TimeNearNow)
        );
        assert_eq!(shape(&json!(1_796_219_990), now), Some(Shape::TimeNearNow));
        assert_eq!(
            shape(&json!(1_796_219_990_123u64), now),
            Some(Shape::TimeNearNow)
        );
        assert_eq!(
            shape(&json!("a1b2c3d4e5f60718293a"), now),
            Some(Shape::Token)
        );
        // A birthday, a small number, a word: compared as they are.
        assert_eq!(shape(&json!("1990-04-01T00:00:00Z"), now), None);
        assert_eq!(shape(&json!(42), now), None);
        assert_eq!(shape(&json!("premium"), now), None);
        assert_eq!(shape(&json!("aaaaaaaaaaaaaaaaaaaa"), now), None);
    }

    #[test]
    fn only_two_different_values_of_one_shape_are_masked() {
        let now = now();
        let (a, b) = (
            json!("3f2c1a9e-2b4d-4c8e-9f00-1234567890ab"),
            json!("00000000-2b4d-4c8e-9f00-1234567890ab"),
        );
        assert!(masked(&a, &b, now));
        assert!(!masked(&a, &a, now), "equal is not masked");
        assert!(
            !masked(&a, &json!("2026-12-02T14:00:00Z"), now),
            "two shapes"
        );
        assert!(!masked(&json!("free"), &json!("premium"), now));
    }
}

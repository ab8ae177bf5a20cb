//! Durations in the config file: a whole number and a unit, `"250ms"`, `"5s"`, `"30m"`, `"1h"`.

use std::time::Duration;

/// Parses `"250ms"`, `"5s"`, `"30m"` or `"1h"` (a whole number, no space, one unit). The error
/// names the value and says what is expected.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("{s:?} is not a duration (expected a whole number and a unit: 250ms, 5s, 30m, 1h)")
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    if number.is_empty() {
        return Err(bad());
    }
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is too large a duration"))?;
    let too_large = || format!("{s:?} is too large a duration");
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(too_large)
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        _ => Err(bad()),
    }
}

/// Writes `d` in the form [`parse`] reads, in the largest unit that keeps it whole (`"90s"`,
/// `"30m"`, `"250ms"`). Sub-millisecond parts, which the file cannot express, are dropped.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_are_named() {
        for s in [
            "", "5", "s", "5 s", "-5s", "1.5s", "5sec", "5S", " 5s", "1d",
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.contains(&format!("{s:?}")), "{e}");
            assert!(e.contains("is not a duration"), "{e}");
        }
        let e = parse("99999999999999999999s").unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let e = parse("18446744073709551615h").unwrap_err();
        assert!(e.contains("too large"), "{e}");
    }

    #[test]
    fn format_round_trips_in_the_largest_whole_unit() {
        for (d, s) in [
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(5), "5s"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_secs(1800), "30m"),
            (Duration::from_secs(7200), "2h"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(format(d), s);
            assert_eq!(parse(s), Ok(d));
        }
    }
}

//! The query of `PUT`/`POST`/`DELETE /targets`: repeated `url`, optional `persistent` and
//! `sample`, percent-decoded; every bad or unknown parameter is refused by name.

/// What a targets call asks for.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct TargetsQuery {
    pub(crate) urls: Vec<String>,
    pub(crate) persistent: Option<bool>,
    pub(crate) sample: Option<f64>,
}

impl TargetsQuery {
    /// Parses the query; the error names the bad parameter and value.
    pub(crate) fn parse(query: Option<&str>) -> Result<TargetsQuery, String> {
        let mut out = TargetsQuery::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(raw_key)
                .ok_or_else(|| format!("{raw_key:?} is not valid percent-encoding"))?;
            let value = decode(raw_value)
                .ok_or_else(|| format!("{key}={raw_value:?} is not valid percent-encoding"))?;
            match key.as_str() {
                "url" if value.is_empty() => return Err("url= is empty".into()),
                "url" => {
                    if !out.urls.contains(&value) {
                        out.urls.push(value);
                    }
                }
                "persistent" => {
                    let on = match value.as_str() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(format!("persistent={value:?} is not true or false")),
                    };
                    out.persistent = Some(on);
                }
                "sample" => match value.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => out.sample = Some(r),
                    Ok(_) => return Err(format!("sample={value:?} is outside 0..=1")),
                    Err(_) => return Err(format!("sample={value:?} is not a number")),
                },
                other => {
                    return Err(format!(
                        "unknown parameter {other:?} (want url, persistent, sample)"
                    ))
                }
            }
        }
        if out.urls.is_empty() {
            return Err("no url parameter: give one or more url=URL".into());
        }
        Ok(out)
    }
}

/// Percent-decoding, with `+` as a space (form encoding); `None` when it is not valid UTF-8 or
/// a `%` is not followed by two hex digits.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_urls_decoded_and_options() {
        let q = TargetsQuery::parse(Some(
            "url=http%3A%2F%2Fa%3A1&url=http://b:2/x&url=http://b:2/x&persistent=true&sample=0.5",
        ))
        .unwrap();
        assert_eq!(q.urls, ["http://a:1", "http://b:2/x"]);
        assert_eq!(q.persistent, Some(true));
        assert_eq!(q.sample, Some(0.5));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, want) in [
            ("", "no url"),
            ("url=http://a&sample=2", "sample=\"2\""),
            ("url=http://a&sample=x", "sample=\"x\""),
            ("url=http://a&persistent=maybe", "persistent=\"maybe\""),
            ("url=http://a&colour=red", "\"colour\""),
            ("url=%zz", "percent"),
        ] {
            let err = TargetsQuery::parse(Some(query)).unwrap_err();
            assert!(err.contains(want), "{query}: {err}");
        }
    }
}

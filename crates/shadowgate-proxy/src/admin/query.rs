//! The query of `PUT`/`POST`/`DELETE /targets`: repeated `url`, optional `persistent` and
//! `sample`, form-decoded (`form_urlencoded`); every bad or unknown parameter is refused by name.
//! The URLs are checked when their targets are built ([`shadowgate::TargetUrl`]), the sample
//! here by [`shadowgate::SampleRatio`].

use shadowgate::SampleRatio;

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
        let query = query.unwrap_or("").as_bytes();
        for (key, value) in form_urlencoded::parse(query) {
            match &*key {
                "url" if value.is_empty() => return Err("url= is empty".into()),
                "url" => {
                    if !out.urls.iter().any(|u| *u == value) {
                        out.urls.push(value.into_owned());
                    }
                }
                "persistent" => {
                    let on = match &*value {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(format!("persistent={value:?} is not true or false")),
                    };
                    out.persistent = Some(on);
                }
                "sample" => match SampleRatio::parse(&value) {
                    Ok(r) => out.sample = Some(r.get()),
                    Err(e) => return Err(format!("sample={value:?}: {e}")),
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
        let q = TargetsQuery::parse(Some("url=http://a/x+y%2By")).unwrap();
        assert_eq!(q.urls, ["http://a/x y+y"], "form decoding: + is a space");
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, want) in [
            ("", "no url"),
            ("url=", "url= is empty"),
            ("url=http://a&sample=2", "sample=\"2\": 2 is outside 0..=1"),
            (
                "url=http://a&sample=x",
                "sample=\"x\": \"x\" is not a number",
            ),
            ("url=http://a&persistent=maybe", "persistent=\"maybe\""),
            ("url=http://a&colour=red", "\"colour\""),
        ] {
            let err = TargetsQuery::parse(Some(query)).unwrap_err();
            assert!(err.contains(want), "{query}: {err}");
        }
    }
}

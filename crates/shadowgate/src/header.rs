//! The one parser for header names and values given as text (a target's header changes, and in
//! the proxy a route's header matches).

use http::header::{HeaderName, HeaderValue};

use crate::error::InvalidValue;

/// A header name; the error quotes it: `"bad name" is not a valid header name`.
pub fn parse_header_name(name: &str) -> Result<HeaderName, InvalidValue> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| InvalidValue::quoted(name, "is not a valid header name"))
}

/// A header name and value. The value is not echoed in the error (a header added to copies may
/// carry a credential): `the value has characters a header cannot carry`.
pub fn parse_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidValue> {
    let name = parse_header_name(name)?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| InvalidValue::new("the value", "has characters a header cannot carry"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_checked() {
        let (n, v) = parse_header("X-A", "1").unwrap();
        assert_eq!((n.as_str(), v.as_bytes()), ("x-a", &b"1"[..]));
        assert_eq!(
            parse_header("bad name", "1").unwrap_err().to_string(),
            "\"bad name\" is not a valid header name"
        );
        assert_eq!(
            parse_header("X-A", "a\nb").unwrap_err().to_string(),
            "the value has characters a header cannot carry"
        );
        assert!(parse_header_name("").is_err());
    }
}

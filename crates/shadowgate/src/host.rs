//! [`HostMode`]: which `Host` header a shadow copy carries, and its one parser.

use http::header::HeaderValue;
use http::uri::Authority;

use crate::error::InvalidValue;

/// Which `Host` header a copy carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostMode {
    /// The client's original `Host` (the default).
    #[default]
    Original,
    /// The target URL's authority.
    Target,
    /// This literal value.
    Literal(HeaderValue),
}

impl HostMode {
    /// The config form: `original`, `target`, or a literal `host[:port]`; the error quotes the
    /// value: `"a b" is not original, target or a host[:port]`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        match s {
            "original" => Ok(HostMode::Original),
            "target" => Ok(HostMode::Target),
            literal => Self::literal(literal).map_err(|_| {
                InvalidValue::quoted(literal, "is not original, target or a host[:port]")
            }),
        }
    }

    /// A literal `host[:port]`; the error quotes it: `"a b" is not a host[:port]`.
    pub fn literal(host: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::quoted(host, "is not a host[:port]");
        host.parse::<Authority>().map_err(|_| bad())?;
        HeaderValue::from_str(host)
            .map(HostMode::Literal)
            .map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_forms_and_literals() {
        assert_eq!(HostMode::parse("original"), Ok(HostMode::Original));
        assert_eq!(HostMode::parse("target"), Ok(HostMode::Target));
        assert_eq!(
            HostMode::parse("lit:1"),
            Ok(HostMode::Literal(HeaderValue::from_static("lit:1")))
        );
        assert_eq!(
            HostMode::parse("a b").unwrap_err().to_string(),
            "\"a b\" is not original, target or a host[:port]"
        );
        assert_eq!(
            HostMode::literal("a/b").unwrap_err().to_string(),
            "\"a/b\" is not a host[:port]"
        );
    }
}

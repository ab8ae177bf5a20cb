//! [`BackendUrl`]: a primary backend's URL, checked once (by the config file's and the flags'
//! validation, or by whoever builds [`crate::Settings`]) so that the upstream module takes it as
//! it is.

use std::fmt;
use std::str::FromStr;

use shadowgate::{InvalidValue, TargetUrl};

/// An `http://` or `https://` backend URL with a host, no user info and no query, and an
/// optional base path. The rules and their wording are the shadow targets' ([`TargetUrl`]).
/// Two URLs are equal when they differ only by a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BackendUrl(TargetUrl);

impl BackendUrl {
    /// Parses `url`; the error quotes it and says what is wrong, for example
    /// `"ftp://x" is not an http:// or https:// URL`.
    pub fn parse(url: &str) -> Result<Self, InvalidValue> {
        TargetUrl::parse(url).map(Self)
    }

    /// The scheme, authority and base path, and the join of a request path onto them.
    pub fn url(&self) -> &TargetUrl {
        &self.0
    }
}

impl FromStr for BackendUrl {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `SCHEME://AUTHORITY[/BASE]`, without a trailing `/`: how it is written in the config file, in
/// logs and in the `backend` label.
impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_the_target_url_rules_and_prints_without_the_trailing_slash() {
        let u: BackendUrl = "http://a:1/base/".parse().unwrap();
        assert_eq!(u.to_string(), "http://a:1/base");
        assert_eq!(u, BackendUrl::parse("http://a:1/base").unwrap());
        assert_eq!(
            BackendUrl::parse("ftp://x").unwrap_err().to_string(),
            "\"ftp://x\" is not an http:// or https:// URL"
        );
    }
}

//! [`TargetUrl`]: an absolute `http://` or `https://` URL with an optional base path, the one
//! parser for shadow target URLs (and, in the proxy, for backend URLs), and the one place a
//! request's path is joined onto a base path.

use std::fmt;
use std::str::FromStr;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::Uri;

use crate::error::InvalidValue;

/// An absolute `http://` or `https://` URL with a host, no user info and no query; its path,
/// if any, is a base path that every request's path is appended to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    scheme: Scheme,
    authority: Authority,
    /// The URL's path without a trailing `/` ("" for the root).
    base_path: Box<str>,
}

impl TargetUrl {
    /// Parses `url`; the error quotes it and says what is wrong, for example
    /// `"ftp://x" is not an http:// or https:// URL`.
    pub fn parse(url: &str) -> Result<Self, InvalidValue> {
        let bad = |reason: &'static str| InvalidValue::quoted(url, reason);
        let uri: Uri = url.parse().map_err(|_| bad("is not a URL"))?;
        let scheme = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP || *s == Scheme::HTTPS => s.clone(),
            Some(_) => return Err(bad("is not an http:// or https:// URL")),
            None => return Err(bad("is not an absolute http:// or https:// URL")),
        };
        let authority = match uri.authority() {
            Some(a) if a.as_str().contains('@') => {
                return Err(bad("must not carry user info"));
            }
            Some(a) if !a.host().is_empty() => a.clone(),
            _ => return Err(bad("has no host")),
        };
        if uri.query().is_some() {
            return Err(bad("must not have a query"));
        }
        Ok(Self {
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').into(),
        })
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The path without a trailing `/` (`""` for the root).
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// The URI of a request for `path_and_query` (`/` when absent) at this URL: the raw path and
    /// query unchanged, after the base path. Only a base path allocates.
    pub fn join(&self, path_and_query: Option<&PathAndQuery>) -> Result<Uri, http::Error> {
        let path_and_query = match path_and_query {
            Some(pq) if self.base_path.is_empty() => pq.clone(),
            None if self.base_path.is_empty() => PathAndQuery::from_static("/"),
            pq => {
                let pq = pq.map_or("/", PathAndQuery::as_str);
                PathAndQuery::try_from(format!("{}{pq}", self.base_path))?
            }
        };
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
    }
}

impl FromStr for TargetUrl {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// `SCHEME://AUTHORITY[/BASE]`, without a trailing `/`.
impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_is_trimmed_and_display_is_normalised() {
        let u = TargetUrl::parse("http://canary:8080/base/").unwrap();
        assert_eq!(u.base_path(), "/base");
        assert_eq!(u.authority().as_str(), "canary:8080");
        assert_eq!(u.to_string(), "http://canary:8080/base");
        let u: TargetUrl = "https://canary".parse().unwrap();
        assert_eq!(u.base_path(), "");
        assert_eq!(*u.scheme(), Scheme::HTTPS);
        assert_eq!(u, TargetUrl::parse("https://canary/").unwrap());
    }

    #[test]
    fn each_rule_names_the_url_and_the_reason() {
        for (url, why) in [
            ("not a url", "\"not a url\" is not a URL"),
            ("ftp://x", "\"ftp://x\" is not an http:// or https:// URL"),
            ("canary:8080", "is not an absolute http:// or https:// URL"),
            ("/path", "is not an absolute http:// or https:// URL"),
            ("http://u@a", "\"http://u@a\" must not carry user info"),
            ("http://a/?q=1", "\"http://a/?q=1\" must not have a query"),
        ] {
            let err = TargetUrl::parse(url).unwrap_err();
            assert!(err.to_string().contains(why), "{url}: {err}");
            assert_eq!(err.value(), format!("{url:?}"));
        }
    }

    #[test]
    fn join_keeps_the_raw_path_and_query_after_the_base_path() {
        let pq = PathAndQuery::from_static("/a/%2F..//b?x=%20&y");
        let root = TargetUrl::parse("http://a:1").unwrap();
        assert_eq!(
            root.join(Some(&pq)).unwrap().to_string(),
            "http://a:1/a/%2F..//b?x=%20&y"
        );
        assert_eq!(root.join(None).unwrap().to_string(), "http://a:1/");
        let based = TargetUrl::parse("https://a:1/base/").unwrap();
        assert_eq!(
            based.join(Some(&pq)).unwrap().to_string(),
            "https://a:1/base/a/%2F..//b?x=%20&y"
        );
        assert_eq!(based.join(None).unwrap().to_string(), "https://a:1/base/");
    }
}

//! JSON Pointers (RFC 6901) as comparison fields, and the globs that name fields in rules:
//! `*` stands for one reference token, `**` for any number of them (none included); every
//! other token matches itself exactly (docs/verdicts.md, "Rules").

use std::fmt;

/// `token` escaped for a pointer: `~` as `~0`, `/` as `~1`. Borrows when there is nothing to
/// escape.
pub fn escape(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// A pattern over pointers: `/body/**/price`, `/headers/x-served-by`, `/body/items/*/id`.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    One,
    Any,
    Exact(String),
}

impl Glob {
    /// The glob written `text` (a pointer, `""` for the whole document, with `*` and `**`
    /// tokens). Every text is a glob; a token is compared as written, escapes included.
    pub fn new(text: &str) -> Self {
        let tokens = match text.strip_prefix('/') {
            None => Vec::new(),
            Some(rest) => (rest.split('/'))
                .map(|t| match t {
                    "*" => Token::One,
                    "**" => Token::Any,
                    t => Token::Exact(t.to_owned()),
                })
                .collect(),
        };
        Self {
            text: text.to_owned(),
            tokens,
        }
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `pointer` (escaped, as [`escape`] writes its tokens) matches.
    pub fn matches(&self, pointer: &str) -> bool {
        let tokens: Vec<&str> = match pointer.strip_prefix('/') {
            None => Vec::new(),
            Some(rest) => rest.split('/').collect(),
        };
        matches(&self.tokens, &tokens)
    }
}

fn matches(glob: &[Token], pointer: &[&str]) -> bool {
    match glob.split_first() {
        None => pointer.is_empty(),
        Some((Token::Any, rest)) => (0..=pointer.len()).any(|skip| matches(rest, &pointer[skip..])),
        Some((token, rest)) => match pointer.split_first() {
            None => false,
            Some((first, others)) => {
                let ok = match token {
                    Token::One => true,
                    Token::Exact(t) => t == first,
                    Token::Any => unreachable!("handled above"),
                };
                ok && matches(rest, others)
            }
        },
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_any() {
        let g = Glob::new("/body/**/price");
        for p in ["/body/price", "/body/items/3/price", "/body/a/b/c/price"] {
            assert!(g.matches(p), "{p}");
        }
        for p in ["/body", "/body/price/x", "/headers/price", "/body/prices"] {
            assert!(!g.matches(p), "{p}");
        }
        let g = Glob::new("/body/items/*/id");
        assert!(g.matches("/body/items/0/id"));
        assert!(g.matches("/body/items/*/id"));
        assert!(!g.matches("/body/items/id"));
        assert!(!g.matches("/body/items/0/1/id"));
        assert!(Glob::new("").matches(""));
        assert!(!Glob::new("").matches("/body"));
        assert!(Glob::new("/**").matches("/body/x"));
    }

    #[test]
    fn escaped_tokens_match_as_written() {
        assert_eq!(escape("a/b~c"), "a~1b~0c");
        assert_eq!(escape("plain"), "plain");
        assert!(Glob::new("/headers/a~1b").matches(&format!("/headers/{}", escape("a/b"))));
    }
}

//! Path normalisation before routing (docs/operations.md, "Paths"): the dot segments of a
//! request's path, `.` and `..`, also percent-encoded (`%2e`, `%2E`), are resolved as RFC 3986
//! §5.2.4 (remove_dot_segments) does, before the route is matched; what is forwarded, and what the
//! copy carries, is the resolved path. A path whose `..` would climb above `/` is refused (400),
//! where the RFC would silently stop at the root. The query and every other percent-encoding
//! are kept as they are.
//!
//! Cost on the request path: one scan of the path's bytes for `.` or `%`; a path with neither
//! (the common case) is left alone with no allocation. Only a path that holds a dot segment is
//! rebuilt.

use http::uri::{PathAndQuery, Uri};

/// Why a path cannot be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadPath {
    /// Its `..` segments climb above `/`.
    AboveRoot,
    /// The resolved path could not be put back into the URI. A resolved path only drops
    /// segments of a valid one, so this is not expected; the request is refused rather than
    /// forwarded with its dot segments.
    Unrebuildable,
}

/// Resolves the dot segments of `uri`'s path in place (the query untouched). A path that does
/// not start with `/` (`*`, a `CONNECT` authority) is left as it is. On an error `uri` is left
/// as it was.
pub(crate) fn normalise_uri(uri: &mut Uri) -> Result<(), BadPath> {
    let Some(resolved) = normalise(uri.path()).map_err(|AboveRoot| BadPath::AboveRoot)? else {
        return Ok(());
    };
    let with_query = match uri.query() {
        Some(q) => format!("{resolved}?{q}"),
        None => resolved,
    };
    // Scheme and authority are shared `Bytes`: the clone copies no text.
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(PathAndQuery::try_from(with_query).map_err(|_| BadPath::Unrebuildable)?);
    *uri = Uri::from_parts(parts).map_err(|_| BadPath::Unrebuildable)?;
    Ok(())
}

/// A path whose `..` segments climb above `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AboveRoot;

/// `path` with its dot segments resolved: `None` when it has none (it is already normal),
/// [`AboveRoot`] when a `..` climbs above `/`.
pub(crate) fn normalise(path: &str) -> Result<Option<String>, AboveRoot> {
    // The fast path: no dot segment can hide in a path with no `.` and no `%`.
    if !path.starts_with('/') || !path.bytes().any(|b| b == b'.' || b == b'%') {
        return Ok(None);
    }
    let rest = &path[1..];
    if !rest.split('/').any(|s| dots(s).is_some()) {
        return Ok(None);
    }
    let mut kept: Vec<&str> = Vec::new();
    // Whether the path ends in a dot segment, which leaves a trailing `/` (`/a/b/..` is `/a/`).
    let mut ends_as_directory = false;
    for segment in rest.split('/') {
        ends_as_directory = false;
        match dots(segment) {
            Some(Dots::One) => ends_as_directory = true,
            Some(Dots::Two) => {
                kept.pop().ok_or(AboveRoot)?;
                ends_as_directory = true;
            }
            None => kept.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if ends_as_directory || kept.is_empty() {
        out.push('/');
    }
    Ok(Some(out))
}

enum Dots {
    One,
    Two,
}

/// Whether `segment` is `.` or `..`, each dot written plain or as `%2e`/`%2E`.
fn dots(segment: &str) -> Option<Dots> {
    let mut rest = segment.as_bytes();
    let mut n = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', b'e' | b'E', tail @ ..] => tail,
            _ => return None,
        };
        n += 1;
    }
    match n {
        1 => Some(Dots::One),
        2 => Some(Dots::Two),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(path: &str) -> Result<String, AboveRoot> {
        normalise(path).map(|p| p.unwrap_or_else(|| path.to_owned()))
    }

    #[test]
    fn dot_segments_are_resolved() {
        for (path, want) in [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/public/../admin/users", "/admin/users"),
            ("/public/%2e%2e/secret", "/secret"),
            ("/public/%2E%2e/secret", "/secret"),
            ("/a/.%2e/b", "/b"),
            ("/a/%2e/b", "/a/b"),
            ("/a/b/..", "/a/"),
            ("/a/b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/.", "/"),
            ("/a//../b", "/a/b"),
            ("//a", "//a"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b/c.", "/a/..b/c."),
            ("/a%2eb/%2e%2e%2e", "/a%2eb/%2e%2e%2e"),
            ("/a/%2f../b", "/a/%2f../b"),
        ] {
            assert_eq!(norm(path), Ok(want.to_owned()), "{path}");
        }
    }

    #[test]
    fn climbing_above_the_root_is_refused() {
        for path in ["/..", "/../a", "/a/../..", "/%2e%2e/etc", "/a/./../.%2E/b"] {
            assert_eq!(normalise(path), Err(AboveRoot), "{path}");
        }
    }

    #[test]
    fn a_normal_path_is_not_rebuilt() {
        for path in ["/", "/a/b/", "/a.b/c%20d", "*", ""] {
            assert_eq!(normalise(path), Ok(None), "{path}");
        }
    }

    #[test]
    fn the_query_is_kept_as_it_is() {
        let mut uri: Uri = "/a/../b%2e?x=/../y&z=%2e%2e".parse().unwrap();
        normalise_uri(&mut uri).unwrap();
        assert_eq!(uri, "/b%2e?x=/../y&z=%2e%2e");
        let mut uri: Uri = "http://h:1/a/./b?q".parse().unwrap();
        normalise_uri(&mut uri).unwrap();
        assert_eq!(uri, "http://h:1/a/b?q");
    }

    #[test]
    fn a_refused_path_leaves_the_uri_as_it_was() {
        let mut uri: Uri = "http://h:1/a/../../b?q".parse().unwrap();
        assert_eq!(normalise_uri(&mut uri), Err(BadPath::AboveRoot));
        assert_eq!(uri, "http://h:1/a/../../b?q");
    }

    /// RFC 3986 §5.2.4 as written, on a path whose dot segments are plain (it stops at the root
    /// where [`normalise`] refuses).
    fn reference(input: &str) -> String {
        let mut input = input.to_owned();
        let mut output = String::new();
        while !input.is_empty() {
            if let Some(rest) = input.strip_prefix("../") {
                input = rest.to_owned();
            } else if let Some(rest) = input.strip_prefix("./") {
                input = rest.to_owned();
            } else if input.starts_with("/./") {
                input.replace_range(..3, "/");
            } else if input == "/." {
                input = "/".to_owned();
            } else if input.starts_with("/../") || input == "/.." {
                let len = if input == "/.." { 3 } else { 4 };
                input.replace_range(..len, "/");
                output.truncate(output.rfind('/').unwrap_or(0));
            } else if input == "." || input == ".." {
                input.clear();
            } else {
                let start = usize::from(input.starts_with('/'));
                let end = input[start..].find('/').map_or(input.len(), |i| i + start);
                output.push_str(&input[..end]);
                input.replace_range(..end, "");
            }
        }
        output
    }

    /// Whether a `..` climbs above the root, counting depth segment by segment.
    fn climbs(segments: &[&str]) -> bool {
        let mut depth = 0usize;
        for s in segments {
            match *s {
                "." => {}
                ".." => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => return true,
                },
                _ => depth += 1,
            }
        }
        false
    }

    const SEGMENTS: &[(&str, &str)] = &[
        ("a", "a"),
        ("b.c", "b.c"),
        ("", ""),
        ("%41", "%41"),
        (".", "."),
        ("..", ".."),
        ("%2e", "."),
        ("%2E", "."),
        ("%2e%2E", ".."),
        (".%2e", ".."),
        ("...", "..."),
        ("%2e%2e%2e", "%2e%2e%2e"),
    ];

    fn path_strategy() -> impl Strategy<Value = (String, Vec<&'static str>)> {
        prop::collection::vec(0..SEGMENTS.len(), 0..10).prop_map(|picks| {
            let written: String = picks
                .iter()
                .map(|&i| format!("/{}", SEGMENTS[i].0))
                .collect();
            let plain = picks.iter().map(|&i| SEGMENTS[i].1).collect();
            let written = if written.is_empty() {
                "/".to_owned()
            } else {
                written
            };
            (written, plain)
        })
    }

    proptest! {
        #[test]
        fn normalising_agrees_with_the_rfc_is_idempotent_and_never_climbs(
            (written, plain) in path_strategy()
        ) {
            match norm(&written) {
                Err(AboveRoot) => prop_assert!(climbs(&plain), "{written}"),
                Ok(n) => {
                    prop_assert!(!climbs(&plain), "{written}");
                    let plain_path: String = if plain.is_empty() {
                        "/".to_owned()
                    } else {
                        plain.iter().map(|s| format!("/{s}")).collect()
                    };
                    prop_assert_eq!(&n, &reference(&plain_path), "{}", written);
                    prop_assert!(n.starts_with('/'));
                    prop_assert_eq!(normalise(&n), Ok(None), "not idempotent: {}", n);
                }
            }
        }
    }
}

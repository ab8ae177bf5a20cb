//! Endpoints: the groups a request's path falls into for verdicts (docs/verdicts.md,
//! "Endpoints"). A path matching a configured template is that template (`/api/users/{id}`);
//! any other has each segment that looks like an identifier written `{}`: all digits, a UUID,
//! or a hex string of 8 characters or more holding a digit. The query is not part of it.

/// A configured template: `/api/users/{id}`, where a `{name}` segment matches any one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Option<String>>,
}

impl Template {
    /// The template written `text`. A segment in braces matches any one segment; every other
    /// segment matches itself exactly.
    pub fn new(text: &str) -> Self {
        let segments = (text.trim_start_matches('/').split('/'))
            .map(|s| {
                let wild = s.len() >= 2 && s.starts_with('{') && s.ends_with('}');
                (!wild).then(|| s.to_owned())
            })
            .collect();
        Self {
            text: text.to_owned(),
            segments,
        }
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches(&self, path: &str) -> bool {
        let mut parts = path.trim_start_matches('/').split('/');
        for segment in &self.segments {
            match (parts.next(), segment) {
                (None, _) => return false,
                (Some(part), Some(exact)) if part != exact => return false,
                (Some(""), None) => return false,
                _ => {}
            }
        }
        parts.next().is_none()
    }
}

/// The endpoint of `path` (no query): the first template that matches, else the path with its
/// identifier-like segments collapsed to `{}`.
pub fn endpoint(path: &str, templates: &[Template]) -> String {
    if let Some(t) = templates.iter().find(|t| t.matches(path)) {
        return t.text.clone();
    }
    let mut out = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(if looks_like_an_id(segment) {
            "{}"
        } else {
            segment
        });
    }
    out
}

/// All digits; a UUID (8-4-4-4-12 hex); or 8 or more hex digits with at least one digit (so
/// that words such as `deadbeef`… are kept only when they hold no digit).
fn looks_like_an_id(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if is_uuid(segment) {
        return true;
    }
    bytes.len() >= 8
        && bytes.iter().all(u8::is_ascii_hexdigit)
        && bytes.iter().any(u8::is_ascii_digit)
}

/// `8-4-4-4-12` hex digits.
pub(crate) fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_collapse_and_words_stay() {
        for (path, want) in [
            ("/api/users/42", "/api/users/{}"),
            ("/api/users/42/orders/7", "/api/users/{}/orders/{}"),
            ("/o/3f2c1a9e-2b4d-4c8e-9f00-1234567890ab", "/o/{}"),
            ("/blob/0123abcd", "/blob/{}"),
            ("/blob/cafebabe", "/blob/cafebabe"),
            ("/search", "/search"),
            ("/", "/"),
            ("/v2/items", "/v2/items"),
            ("/a//b", "/a//b"),
        ] {
            assert_eq!(endpoint(path, &[]), want, "{path}");
        }
    }

    #[test]
    fn templates_win_in_order() {
        let templates = [
            Template::new("/api/users/{id}"),
            Template::new("/api/{kind}/{id}"),
        ];
        assert_eq!(endpoint("/api/users/alice", &templates), "/api/users/{id}");
        assert_eq!(endpoint("/api/teams/red", &templates), "/api/{kind}/{id}");
        assert_eq!(
            endpoint("/api/users/alice/x", &templates),
            "/api/users/alice/x"
        );
        assert_eq!(endpoint("/api/users/", &templates), "/api/users/");
    }
}

//! [`Answer`]: every response the proxy makes up itself rather than passing on from an upstream:
//! the 404 for a request no route takes, the 400 for a refused `Host` or a path that climbs above
//! `/`, a redirect route's answer, the refused `CONNECT`, the
//! upstream failures of [`crate::rescue`] and every admin API answer. One builder, so the same
//! kind of answer always carries the same headers: a text body is `text/plain; charset=utf-8`,
//! a JSON body `application/json` and ends with a newline (see docs/operations.md for the admin
//! answers).

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};

/// The content type of every text answer.
const TEXT: &str = "text/plain; charset=utf-8";
/// The content type of every JSON answer.
const JSON: &str = "application/json";

/// A response of the proxy's own: a status, a few headers and a short body held whole. Turned
/// into the response type of the listener that sends it with [`Answer::into_response`].
#[derive(Debug)]
#[must_use]
pub(crate) struct Answer(Response<Bytes>);

impl Answer {
    /// An answer with no body and no content type.
    pub(crate) fn empty(status: StatusCode) -> Self {
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = status;
        Self(response)
    }

    /// A body of `content_type`.
    pub(crate) fn typed(status: StatusCode, content_type: &'static str, body: Bytes) -> Self {
        Self::empty(status)
            .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
            .body(body)
    }

    /// A `text/plain` body (the callers end it with a newline).
    pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self::typed(status, TEXT, body.into())
    }

    /// A JSON document, followed by a newline.
    pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Self::typed(status, JSON, Bytes::from(body))
    }

    /// `405 Method Not Allowed` naming the methods that are (`Allow`), with `message` as text.
    pub(crate) fn not_allowed(message: &'static str, allow: &'static str) -> Self {
        Self::text(StatusCode::METHOD_NOT_ALLOWED, message)
            .header(ALLOW, HeaderValue::from_static(allow))
    }

    /// The proxy's 404 for a request no route takes.
    pub(crate) fn no_route() -> Self {
        Self::text(
            StatusCode::NOT_FOUND,
            "404 Not Found: no route matches this request\n",
        )
    }

    /// `400 Bad Request` for a request head the proxy refuses to forward (or copy); `reason`
    /// ends with a newline.
    pub(crate) fn bad_request(reason: &'static str) -> Self {
        Self::text(StatusCode::BAD_REQUEST, reason)
    }

    /// The 400 for a request head refused before routing ([`crate::forwarded::check_head`]).
    pub(crate) fn refused_head(why: crate::forwarded::RefusedHead) -> Self {
        use crate::forwarded::RefusedHead;
        use crate::path::BadPath;
        Self::bad_request(match why {
            RefusedHead::Host(reason) => reason,
            RefusedHead::Path(BadPath::AboveRoot) => "400 Bad Request: the path climbs above /\n",
            RefusedHead::Path(BadPath::Unrebuildable) => {
                "400 Bad Request: the path cannot be resolved\n"
            }
        })
    }

    /// A redirect route's answer: `status` with `Location`, no body.
    pub(crate) fn redirect(status: StatusCode, location: &HeaderValue) -> Self {
        Self::empty(status).header(LOCATION, location.clone())
    }

    /// Adds (or replaces) a header.
    pub(crate) fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers_mut().insert(name, value);
        self
    }

    fn body(mut self, body: Bytes) -> Self {
        *self.0.body_mut() = body;
        self
    }

    /// The response, with the body type of the listener that sends it.
    pub(crate) fn into_response<B: From<Bytes>>(self) -> Response<B> {
        self.0.map(B::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_carry_their_content_type() {
        let text = Answer::text(StatusCode::NOT_FOUND, "not found\n").into_response::<Bytes>();
        assert_eq!(text.status(), StatusCode::NOT_FOUND);
        assert_eq!(text.headers()[CONTENT_TYPE], TEXT);
        assert_eq!(text.body(), "not found\n");
        let json = Answer::json(StatusCode::OK, &serde_json::json!({"a": 1}));
        let json = json.into_response::<Bytes>();
        assert_eq!(json.headers()[CONTENT_TYPE], JSON);
        assert_eq!(json.body(), "{\"a\":1}\n");
    }

    #[test]
    fn a_redirect_has_a_location_and_no_body() {
        let to = HeaderValue::from_static("https://example.com/");
        let r = Answer::redirect(StatusCode::FOUND, &to).into_response::<Bytes>();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[LOCATION], to);
        assert!(r.headers().get(CONTENT_TYPE).is_none());
        assert!(r.body().is_empty());
    }
}

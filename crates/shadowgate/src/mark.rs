//! The marks a copy carries (`X-Mirror: 1`, `X-Mirrored-From`), and the loop rule they serve: a
//! request that arrives marked as a copy is never copied again (`skipped_loop`, see "The copy" in
//! docs/contract.md).

use http::header::{HeaderMap, HeaderName};
use http::request::Parts;
use http::{Extensions, Request};

/// `X-Mirror: 1`, set on every copy.
pub(crate) static X_MIRROR: HeaderName = HeaderName::from_static("x-mirror");
/// `X-Mirrored-From`: the host the copied request was sent to.
pub(crate) static X_MIRRORED_FROM: HeaderName = HeaderName::from_static("x-mirrored-from");

/// A request extension saying the request arrived marked as a copy although its `X-Mirror`
/// header is gone: [`take_mirror_marks`] leaves it when it removes the marks, so the layer still
/// refuses to copy the request (`skipped_loop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArrivedAsCopy;

/// Removes `X-Mirror` and `X-Mirrored-From` from a request, so that the wrapped service cannot
/// be told by a client that the request is a copy; when `X-Mirror` was there, adds
/// [`ArrivedAsCopy`], so that the layer still never copies it. Returns whether it was marked.
///
/// Costs two header lookups; the extension (an allocation) only for a marked request.
pub fn take_mirror_marks<B>(req: &mut Request<B>) -> bool {
    let headers = req.headers_mut();
    let marked = headers.remove(&X_MIRROR).is_some();
    headers.remove(&X_MIRRORED_FROM);
    if marked {
        req.extensions_mut().insert(ArrivedAsCopy);
    }
    marked
}

/// Whether the request arrived marked as a copy: it carries `X-Mirror`, or [`ArrivedAsCopy`].
pub(crate) fn arrived_as_copy(parts: &Parts) -> bool {
    is_marked(&parts.headers, &parts.extensions)
}

fn is_marked(headers: &HeaderMap, extensions: &Extensions) -> bool {
    headers.contains_key(&X_MIRROR) || extensions.get::<ArrivedAsCopy>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_the_marks_keeps_the_fact() {
        let mut req = Request::builder()
            .header("x-mirror", "1")
            .header("x-mirrored-from", "a.example")
            .header("x-other", "1")
            .body(())
            .unwrap();
        assert!(arrived_as_copy(&req_parts(&req)));
        assert!(take_mirror_marks(&mut req));
        assert!(!req.headers().contains_key("x-mirror"));
        assert!(!req.headers().contains_key("x-mirrored-from"));
        assert_eq!(req.headers().len(), 1);
        assert!(arrived_as_copy(&req_parts(&req)));
    }

    #[test]
    fn a_forged_mirrored_from_alone_is_removed_but_is_no_mark() {
        let mut req = Request::builder()
            .header("x-mirrored-from", "a.example")
            .body(())
            .unwrap();
        assert!(!take_mirror_marks(&mut req));
        assert!(req.headers().is_empty());
        assert!(!arrived_as_copy(&req_parts(&req)));
    }

    fn req_parts(req: &Request<()>) -> Parts {
        let mut copy = Request::builder().body(()).unwrap();
        *copy.headers_mut() = req.headers().clone();
        if req.extensions().get::<ArrivedAsCopy>().is_some() {
            copy.extensions_mut().insert(ArrivedAsCopy);
        }
        copy.into_parts().0
    }
}

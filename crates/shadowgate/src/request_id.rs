//! `X-Request-Id`: the key that joins a primary request to its copies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The header name.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client `X-Request-Id` kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Returns the request's `X-Request-Id`: the client's when it is one [valid](is_valid_request_id)
/// value, else a new one that replaces whatever was there (see "The copy" in docs/contract.md).
///
/// Costs one lookup and a scan of at most [`MAX_REQUEST_ID_LEN`] bytes when the client sent
/// one; a new id is made only when it is missing or refused.
pub fn ensure_request_id(headers: &mut HeaderMap) -> HeaderValue {
    let mut values = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(id), None) = (values.next(), values.next()) {
        if is_valid_request_id(id) {
            return id.clone();
        }
    }
    let id = new_request_id();
    headers.insert(X_REQUEST_ID.clone(), id.clone());
    id
}

/// Whether a client's `X-Request-Id` is kept: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters (`%x21-7E`: no space, no control or non-ASCII byte).
pub fn is_valid_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=MAX_REQUEST_ID_LEN).contains(&bytes.len())
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A new id: 32 lowercase hex digits, a random per-process half and a counter half, so ids are
/// unique within a process and collide across processes only by chance (1 in 2^64). For a
/// caller that knows the request has no `X-Request-Id` (else [`ensure_request_id`]).
pub fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<[u8; 16]> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut digits = [0u8; 16];
        hex(fastrand::u64(..), &mut digits);
        digits
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    buf[..16].copy_from_slice(prefix);
    hex(n, &mut buf[16..]);
    // The buffer holds hex digits only, which are always a valid header value.
    HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_client_id_and_makes_unique_ones() {
        let mut h = HeaderMap::new();
        h.insert("x-request-id", HeaderValue::from_static("abc"));
        assert_eq!(ensure_request_id(&mut h), "abc");
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let mut h = HeaderMap::new();
        let id = ensure_request_id(&mut h);
        assert_eq!(h["x-request-id"], id);
    }

    #[test]
    fn only_one_short_visible_ascii_id_is_kept() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        for kept in ["x", "!~", longest.as_str()] {
            let mut h = HeaderMap::new();
            h.insert("x-request-id", HeaderValue::from_str(kept).unwrap());
            assert_eq!(ensure_request_id(&mut h), kept);
        }
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let refused: [&[u8]; 5] = [b"", b"a b", b"a\tb", b"caf\xc3\xa9", too_long.as_bytes()];
        for bad in refused {
            let mut h = HeaderMap::new();
            h.insert("x-request-id", HeaderValue::from_bytes(bad).unwrap());
            let id = ensure_request_id(&mut h);
            assert_eq!(id.len(), 32, "{bad:?} was kept");
            assert_eq!(h.get_all("x-request-id").iter().collect::<Vec<_>>(), [&id]);
        }
        let mut h = HeaderMap::new();
        h.append("x-request-id", HeaderValue::from_static("a"));
        h.append("x-request-id", HeaderValue::from_static("b"));
        let id = ensure_request_id(&mut h);
        assert_eq!(id.len(), 32, "one of two ids was kept");
        assert_eq!(h.get_all("x-request-id").iter().count(), 1);
    }
}

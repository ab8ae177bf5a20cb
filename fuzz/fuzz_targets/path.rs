//! Path normalisation before routing on arbitrary request targets: never a panic; a normalised
//! URI keeps its scheme, authority and query, and its path is already normal (normalising again
//! changes nothing).

#![no_main]

use http::Uri;
use libfuzzer_sys::fuzz_target;
use shadowgate_proxy::fuzzing::normalise_uri;

fuzz_target!(|data: &[u8]| {
    let Ok(before) = Uri::try_from(data) else {
        return;
    };
    let mut uri = before.clone();
    if normalise_uri(&mut uri).is_err() {
        return;
    }
    assert_eq!(uri.scheme(), before.scheme(), "{before} -> {uri}");
    assert_eq!(uri.authority(), before.authority(), "{before} -> {uri}");
    assert_eq!(uri.query(), before.query(), "{before} -> {uri}");
    if before.path().starts_with('/') {
        assert!(uri.path().starts_with('/'), "{before} -> {uri}");
    } else {
        assert_eq!(uri.path(), before.path(), "{before} -> {uri}");
    }
    let mut again = uri.clone();
    assert!(normalise_uri(&mut again).is_ok(), "{uri} is not normal");
    assert_eq!(again, uri, "normalising twice changed {uri}");
});

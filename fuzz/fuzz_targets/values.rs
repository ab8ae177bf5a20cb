//! The library's value parsers (target URLs, sample ratios, host modes, sampling keys, headers) on
//! arbitrary text: never a panic, and a parsed URL's canonical text parses back to the same URL.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shadowgate::{parse_header, HostMode, SampleBy, SampleRatio, TargetUrl};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(url) = TargetUrl::parse(text) {
        let shown = url.to_string();
        let again = TargetUrl::parse(&shown)
            .unwrap_or_else(|e| panic!("{text:?} parsed, its form {shown:?} does not: {e}"));
        assert_eq!(again.to_string(), shown, "a URL's form is not a fixpoint");
        let _ = url.join(Some(&http::uri::PathAndQuery::from_static("/a?b")));
    }
    if let Ok(r) = SampleRatio::parse(text) {
        assert!((0.0..=1.0).contains(&r.get()), "{text:?} gave {}", r.get());
    }
    let _ = HostMode::parse(text);
    let _ = SampleBy::parse(text);
    if let Some((name, value)) = text.split_once(':') {
        let _ = parse_header(name, value);
    }
});

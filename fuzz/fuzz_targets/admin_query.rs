//! The admin API's `/targets` query parser on arbitrary text: never a panic, and every refusal
//! names what it refused.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shadowgate_proxy::fuzzing::targets_query;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = targets_query(query) {
        assert!(!e.is_empty(), "an empty refusal for {query:?}");
    }
});

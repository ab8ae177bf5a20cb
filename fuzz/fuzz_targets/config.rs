//! The config loader and validator on arbitrary text: never a panic, and whatever validates prints
//! (`shadowgate check`) as a config that validates again and prints the same.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shadowgate_proxy::config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(raw) = config::parse(text, "fuzz.toml") else {
        return;
    };
    let Ok(settings) = config::validate(&raw, Path::new("/nonexistent")) else {
        return;
    };
    let printed = config::to_toml(&settings).expect("valid settings always print");
    let raw = config::parse(&printed, "printed.toml").expect("printed settings parse");
    let again = config::validate(&raw, Path::new("/nonexistent"))
        .unwrap_or_else(|e| panic!("printed settings do not validate: {e:?}\n{printed}"));
    let reprinted = config::to_toml(&again).expect("valid settings always print");
    assert_eq!(printed, reprinted, "check's output is not a fixpoint");
});

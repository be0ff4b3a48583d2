//! A registry file an operator imports.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tinnhiem_hub::fuzzing::parse_registry(text);
    }
});

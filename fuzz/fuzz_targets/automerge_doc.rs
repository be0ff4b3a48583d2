//! Automerge bytes from a peer or a USB stick: load, read, compute, check heads.
//! (Sync messages are fuzzed through the hub machine, `hub_session`.)
#![no_main]
use libfuzzer_sys::fuzz_target;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::compute;

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(mut d) = SessionDoc::load(data, b"fuzz") {
        if let Ok(s) = d.read() {
            let _ = compute(&s);
        }
        let heads = d.heads();
        let _ = d.has_heads(&heads);
    }
});

//! Seals and receipts as a peer or a file may send them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tinnhiem_core::seal::{PublicKey, Receipt, Seal};

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let Ok(s) = Seal::from_bytes(data) {
        let _ = s.verify_signature();
        let _ = s.id();
        if let Ok(r) = Receipt::from_bytes(data) {
            let _ = r.verify(&PublicKey([1; 32]), &s);
        }
    }
    if let Ok(r) = Receipt::from_bytes(data) {
        let _ = r.to_bytes();
    }
});

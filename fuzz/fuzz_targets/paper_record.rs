//! What a QR code on paper holds (from a photograph anyone can hand a hub): decode,
//! bounded inflate, verify. Never panics, never grows past the bound.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tinnhiem_core::seal::paper;

fuzz_target!(|data: &[u8]| {
    // Start from the magic most of the time, so the fuzzer reaches the inflater.
    let mut bytes = paper::PAPER_MAGIC.to_vec();
    bytes.extend_from_slice(data);
    for input in [data, &bytes[..]] {
        if let Ok(p) = paper::decode(input) {
            let _ = p.verify();
        }
    }
});

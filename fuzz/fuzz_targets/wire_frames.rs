//! Bytes from a peer's stream, split at an arbitrary point: the framer must return
//! messages, "read more" or a typed error, never panic or allocate past its limit.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tinnhiem_core::proto::Framer;

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let split = data
        .first()
        .map_or(0, |b| *b as usize % (data.len().max(1)));
    let mut f = Framer::new(64 * 1024);
    for part in [&data[..split], &data[split..]] {
        if f.push(part).is_err() {
            return;
        }
        while let Ok(Some(m)) = f.next_msg() {
            // A decoded message encodes back to a frame that decodes to itself.
            let mut g = Framer::new(usize::MAX >> 1);
            g.push(&m.encode().expect("own message")).expect("own frame");
            assert_eq!(g.next_msg().expect("decodes").expect("whole"), m);
        }
    }
});

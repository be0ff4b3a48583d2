//! A clerk's session file: parse, validate, build the document, compute the result.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{compute, subjects_from_csv, SessionFile, UnitId};

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = subjects_from_csv(text);
    let Ok(f) = SessionFile::from_json(text) else {
        return;
    };
    let unit = UnitId::new("fuzz").expect("unit");
    let Ok(s) = f.into_session(&unit, || "e".into()) else {
        return;
    };
    let r = compute(&s);
    let _ = r.to_json();
    if let Ok(d) = SessionDoc::from_session(&s, b"fuzz", 0) {
        let back = d.read().expect("a document we wrote reads back");
        assert_eq!(compute(&back).subjects, r.subjects);
    }
});

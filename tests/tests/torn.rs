//! Torn and corrupted store files: a store whose file was cut short or scribbled on
//! either refuses to open with a clear error, or opens and serves only what was written;
//! it never serves altered data.

use tinnhiem_tests::{seed, NodeHome, Rng};

#[test]
fn a_torn_or_corrupted_store_never_serves_altered_data() {
    let mut rng = Rng::new(seed("torn"));
    let h = NodeHome::init("phong-tho");
    let f = h.file("s.json", &tinnhiem_tests::session_file("ky-hop-1", 20));
    h.ok(&["session", "import", f.to_str().expect("p")]);
    h.ok(&["seal", "ky-hop-1"]);
    let truth = h.result_json("ky-hop-1");
    let file = h.path().join("store/tinnhiem.redb");
    let original = std::fs::read(&file).expect("store file");
    let mut refused = 0;
    let mut served = 0;
    for round in 0..40 {
        let mut bytes = original.clone();
        if round % 2 == 0 {
            // A torn write: the tail is gone.
            let keep = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(keep);
        } else {
            // Scribbles: a few random bytes flipped anywhere.
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len() as u64) as usize;
                bytes[at] ^= 1 + rng.below(255) as u8;
            }
        }
        std::fs::write(&file, &bytes).expect("write");
        let o = h.run(&["result", "ky-hop-1", "--json"]);
        if o.status.success() {
            let got: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            let mut got_no_seals = got.clone();
            let mut truth_no_seals = truth.clone();
            got_no_seals.as_object_mut().map(|m| m.remove("seals"));
            truth_no_seals.as_object_mut().map(|m| m.remove("seals"));
            assert_eq!(
                got_no_seals, truth_no_seals,
                "round {round}: a damaged store served other data"
            );
            // Whatever seals are served still verify against the document.
            if got["seals"].as_array().is_some_and(|a| !a.is_empty()) {
                let v = h.run(&["verify", "ky-hop-1"]);
                let out = String::from_utf8_lossy(&v.stdout);
                let err = String::from_utf8_lossy(&v.stderr);
                // Either every seal verifies, or the store refuses (a damaged page the
                // first command did not touch); never a seal served that does not verify.
                assert!(
                    v.status.success()
                        || (v.status.code() == Some(1)
                            && err.contains("Lỗi:")
                            && !out.contains("KHÔNG HỢP LỆ")),
                    "round {round}: {out}\n{err}"
                );
            }
            served += 1;
        } else {
            // A clear error and exit status 1, never a crash (101). The engine may print
            // its own panic message first; it is caught and reported as a damaged store.
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "round {round}: {err}");
            assert!(
                err.contains("Lỗi:"),
                "round {round}: a clear error, got {err}"
            );
            refused += 1;
        }
        std::fs::write(&file, &original).expect("restore");
    }
    eprintln!("torn: {refused} refused with an error, {served} served the original data");
    assert!(refused > 0, "damage must be noticed at least sometimes");
}

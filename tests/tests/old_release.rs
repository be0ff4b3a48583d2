//! A node home sealed by an earlier release (`tests/fixtures/home-13e9ab6`, made by
//! `tinnhiem-node` at commit 13e9ab6, before the minutes had the Annex 4 header fields
//! and before sealing waited for the counting board) still reads, verifies byte for
//! byte, and prints minutes without the form's "…" placeholders.

use tinnhiem_tests::NodeHome;

const FULL: &str = "hdnd-2023-ky-hop-14";
/// Sealed without a counting board, as that release allowed.
const BARE: &str = "khong-ghi-ban";

#[test]
fn a_home_sealed_by_the_previous_release_still_verifies_and_prints() {
    let h = NodeHome::copy_of("home-13e9ab6");
    for s in [FULL, BARE] {
        let v: serde_json::Value =
            serde_json::from_str(&h.ok(&["verify", s, "--json"])).expect("json");
        assert_eq!(v["seals"][0]["valid"], true, "{s}: {v}");
        let show = h.ok(&["session", "show", s]);
        assert!(show.contains("đúng trạng thái hiện tại"), "{s}: {show}");
    }
    // The seal ids are those the earlier release printed when it sealed.
    let v: serde_json::Value =
        serde_json::from_str(&h.ok(&["verify", BARE, "--json"])).expect("json");
    assert_eq!(
        v["seals"][0]["seal_id"],
        "2e294585e65fafa876dc90dfa4170d23a859d3973b38e3b369ccc34162ba5081",
        "{v}"
    );

    let html = h.path().join("m.html");
    h.ok(&["export", BARE, "--minutes", html.to_str().expect("p")]);
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(!page.contains("BẢN NHÁP"), "{page}");
    assert!(
        !page.contains('…'),
        "a sealed copy shows no placeholder: {page}"
    );
    assert!(
        page.contains("Tổng số ủy viên ban chấp hành: <b>30</b>")
            && page.contains("Số phiếu không hợp lệ hoàn toàn: <b>1</b>"),
        "{page}"
    );
    h.ok(&["export", FULL, "--minutes", html.to_str().expect("p")]);
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.contains("Tổng số đại biểu: <b>50</b>")
            && page.contains("do đồng chí Nguyễn Thị Lan làm Trưởng Ban"),
        "{page}"
    );

    // The new header fields go into the document, not the sealed result: writing them
    // asks for a new seal (the document changed), which verifies, and the first still does.
    h.ok(&["board", "set", FULL, "--assigned-by", "Chủ tọa kỳ họp"]);
    h.ok(&["seal", FULL]);
    let v: serde_json::Value =
        serde_json::from_str(&h.ok(&["verify", FULL, "--json"])).expect("json");
    assert_eq!(v["seals"].as_array().map(Vec::len), Some(2), "{v}");
    assert!(
        v["seals"]
            .as_array()
            .expect("seals")
            .iter()
            .all(|s| s["valid"] == true),
        "{v}"
    );
}

//! Paper that verifies itself: a QR image of sealed minutes is checked by the node and
//! accepted by a hub with no link at all, shown as paper-delivered until the document
//! arrives and matches; a QR of an unknown unit, or a picture without one, is refused.

use std::process::Command;
use tinnhiem_tests::{bin, Hub, NodeHome};

fn hub_cmd(hub: &Hub, args: &[&str]) -> std::process::Output {
    Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(args)
        .output()
        .expect("run hub")
}

#[test]
fn a_photographed_qr_reaches_the_hub_before_the_document_and_then_matches() {
    let hub = Hub::start("lai-chau");
    let node = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&node, "lai-chau.phong-tho");
    node.seal_session("ky-hop-2023", 20);
    let qr = node.path().join("qr.png");
    node.ok(&["export", "ky-hop-2023", "--qr", qr.to_str().expect("path")]);
    let checked = node.ok(&["verify-paper", qr.to_str().expect("path")]);
    assert!(checked.contains("KHỚP"), "{checked}");

    // Another node of the same unit that never saw this seal cannot confirm it.
    let other = NodeHome::init("lai-chau.phong-tho");
    let out = other.run(&["verify-paper", qr.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // No link: the hub takes the paper.
    let out = hub_cmd(&hub, &["ingest-qr", qr.to_str().expect("path")]);
    assert!(out.status.success(), "{out:?}");
    let st = hub.status();
    let papers = st["papers"].as_array().expect("papers");
    assert_eq!(papers.len(), 1, "{st}");
    assert_eq!(papers[0]["state"], "paper_only", "{st}");
    let unit = st["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["unit"] == "lai-chau.phong-tho"))
        .cloned()
        .expect("unit");
    assert_eq!(unit["paper_only"], 1, "{unit}");
    assert_eq!(unit["reported"], false, "{unit}");

    // The document arrives: the paper now matches it.
    node.point_at(hub.addr, &hub.key);
    node.ok(&["sync", "--once", "--timeout", "60"]);
    let st = hub.status();
    assert_eq!(st["papers"][0]["state"], "matched", "{st}");

    // A unit the hub does not know, and a picture without a code: refused, clearly.
    let stranger = NodeHome::init("dien-bien.muong-nhe");
    stranger.seal_session("ky-hop-2023", 10);
    let sqr = stranger.path().join("qr.png");
    stranger.ok(&["export", "ky-hop-2023", "--qr", sqr.to_str().expect("path")]);
    let out = hub_cmd(&hub, &["ingest-qr", sqr.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("không có trong sổ đăng ký"),
        "{out:?}"
    );
    let blank = node.file("blank.png", "");
    std::fs::write(&blank, include_bytes!("../../web/assets/blank.png")).expect("write");
    let out = hub_cmd(&hub, &["ingest-qr", blank.to_str().expect("path")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("không tìm thấy mã QR"),
        "{out:?}"
    );
    assert_eq!(hub.status()["papers"].as_array().map(Vec::len), Some(1));
}

/// Seal 1 printed, a tally changed, seal 2: the seal-1 paper is genuine but outdated.
/// The node must say it was replaced (by which seal, when) and exit non-zero; the hub
/// must not take it as the current result, before or after the later seal arrives.
#[test]
fn a_paper_of_an_earlier_seal_is_reported_replaced_not_matching() {
    let hub = Hub::start("lai-chau");
    let node = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&node, "lai-chau.phong-tho");
    node.seal_session("ky-hop-2023", 20);
    let qr1 = node.path().join("qr1.png");
    let qr1s = qr1.to_str().expect("path");
    node.ok(&["export", "ky-hop-2023", "--qr", qr1s]);

    // The hub takes the seal-1 paper while it is still the latest it knows of.
    let out = hub_cmd(&hub, &["ingest-qr", qr1s]);
    assert!(out.status.success(), "{out:?}");

    node.ok(&[
        "tally",
        "set",
        "ky-hop-2023",
        "s01",
        "--high",
        "19",
        "--confidence",
        "11",
        "--low",
        "0",
        "--invalid",
        "0",
    ]);
    node.ok(&["seal", "ky-hop-2023"]);
    let qr2 = node.path().join("qr2.png");
    let qr2s = qr2.to_str().expect("path");
    node.ok(&["export", "ky-hop-2023", "--qr", qr2s]);

    let out = node.run(&["verify-paper", qr1s]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!text.contains("KHỚP"), "{text}");
    assert!(
        text.contains("ĐÃ BỊ THAY THẾ")
            && text.contains("niêm phong lần 1")
            && text.contains("lại lần 2 lúc"),
        "{text}"
    );
    let out = node.run(&["verify-paper", qr1s, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["papers"][0]["state"], "superseded", "{v}");
    assert_eq!(v["papers"][0]["superseded_by"]["seq"], 2, "{v}");
    assert!(
        v["papers"][0]["superseded_by"]["sealed_at"].is_string(),
        "{v}"
    );

    // The latest paper still matches.
    let checked = node.ok(&["verify-paper", qr2s]);
    assert!(checked.contains("KHỚP"), "{checked}");
    let v: serde_json::Value =
        serde_json::from_str(&node.ok(&["verify-paper", qr2s, "--json"])).expect("json");
    assert_eq!(v["papers"][0]["state"], "matches", "{v}");

    // Seal 2 reaches the hub: the held seal-1 paper is no longer counted as a result.
    node.point_at(hub.addr, &hub.key);
    node.ok(&["sync", "--once", "--timeout", "60"]);
    let st = hub.status();
    let papers = st["papers"].as_array().expect("papers");
    assert_eq!(papers.len(), 1, "{st}");
    assert_eq!(papers[0]["state"], "superseded", "{st}");
    assert_eq!(papers[0]["superseded_by"], 2, "{st}");

    // And a seal-1 paper brought again is refused, naming the later seal.
    let out = hub_cmd(&hub, &["ingest-qr", qr1s]);
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("đã bị thay thế bởi niêm phong lần 2"), "{err}");
    let out = hub_cmd(&hub, &["ingest-qr", qr2s]);
    assert!(out.status.success(), "{out:?}");
}

//! The printed minutes as a board signs them: Chromium's own print to PDF (the clerk's
//! "Print" button) of a sealed session of ten people: two A4 pages, the signature
//! block on a page with results it signs, the QR code at most 4 cm.

use tinnhiem_tests::browser::{pdf_has_text, pdf_pages, Browser};
use tinnhiem_tests::NodeHome;

const PASSWORD: &str = "mat-khau-thu-nghiem";
/// `n` (up to ten) people with the long positions of a district council, one flagged.
fn session_json(id: &str, n: usize) -> String {
    let people = [
        ("Vương Thị Thu Hiền", "Chủ tịch Hội đồng nhân dân huyện"),
        ("Lò Văn Mạnh", "Phó Chủ tịch Hội đồng nhân dân huyện"),
        (
            "Giàng A Páo",
            "Trưởng Ban Kinh tế - Xã hội Hội đồng nhân dân huyện",
        ),
        (
            "Nguyễn Thị Lan Anh",
            "Trưởng Ban Pháp chế Hội đồng nhân dân huyện",
        ),
        ("Tráng A Dế", "Chủ tịch Ủy ban nhân dân huyện"),
        ("Hoàng Văn Thắng", "Phó Chủ tịch Ủy ban nhân dân huyện"),
        ("Phạm Thị Ngọc Bích", "Phó Chủ tịch Ủy ban nhân dân huyện"),
        (
            "Lý Seo Chứ",
            "Ủy viên Ủy ban nhân dân, Trưởng Công an huyện",
        ),
        (
            "Đỗ Minh Tuấn",
            "Ủy viên Ủy ban nhân dân, Chỉ huy trưởng Ban Chỉ huy Quân sự huyện",
        ),
        (
            "Sùng A Chình",
            "Chánh Văn phòng Hội đồng nhân dân và Ủy ban nhân dân huyện",
        ),
    ];
    let subjects: Vec<String> = people
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, (name, pos))| {
            format!(
                r#"{{"id": "s{:02}", "person_id": "p-{i}", "name": "{name}", "position": "{pos}", "unit": "huyện Phong Thổ"}}"#,
                i + 1
            )
        })
        .collect();
    // 30 delegates, 29 collected, 1 wholly invalid: 28 count for each person.
    let binding = id.starts_with("bo-phieu");
    let tallies: Vec<String> = (1..=n)
        .map(|i| {
            let low = if i == 6 { 16 } else { i % 3 };
            if binding {
                // The first person over half "no confidence": the flagged list printed.
                let no = if i == 1 { 16 } else { i };
                format!(
                    r#""s{i:02}": {{"confidence": {}, "no_confidence": {no}, "invalid": 1}}"#,
                    28 - 1 - no
                )
            } else {
                format!(
                    r#""s{i:02}": {{"high": {}, "confidence": 8, "low": {low}, "invalid": 1}}"#,
                    28 - 8 - 1 - low
                )
            }
        })
        .collect();
    format!(
        r#"{{"id": "{id}", "profile": "nq96-2023", "procedure": "{}",
  "body": "Hội đồng nhân dân huyện Phong Thổ", "title": "Kỳ họp thứ mười", "date": "2023-12-12",
  "place": "Hội trường Huyện ủy Phong Thổ", "count_from": "15:10", "count_to": "16:05",
  "chair": "Vương Thị Thu Hiền", "board": ["Vương Thị Thu Hiền", "Lò Thị Hoa", "Vàng A Sình", "Đặng Thị Mai", "Chảo Láo Lở"],
  "assigned_by": "Chủ tọa kỳ họp", "polled_posts": "những người giữ chức vụ do Hội đồng nhân dân huyện bầu",
  "attendance": {{"total": 30, "present": 29, "absent_from_start": 1, "present_at_vote": 29}},
  "ballots": {{"issued": 29, "collected": 29, "wholly_invalid": 1}},
  "subjects": [{}],
  "tallies": {{{}}}}}"#,
        if binding { "binding" } else { "poll" },
        subjects.join(",\n"),
        tallies.join(", ")
    )
}

/// Leaves only what `keep` selects visible: the layout, and so the pages, stay as they
/// are (`visibility`, not `display`), while a page shows text only if it holds some of it.
async fn only(b: &Browser, keep: &str) {
    b.c.execute(
        "for (const e of document.querySelectorAll('body *')) e.style.visibility = 'hidden';
         for (const e of document.querySelectorAll(arguments[0])) {
           e.style.visibility = 'visible';
           for (const d of e.querySelectorAll('*')) d.style.visibility = 'visible';
         }",
        vec![serde_json::json!(keep)],
    )
    .await
    .expect("script");
}

/// The pages (1-based) on which something `keep` selects is printed.
async fn pages_of(b: &Browser, keep: &str, pages: usize) -> Vec<usize> {
    only(b, keep).await;
    let mut on = Vec::new();
    for p in 1..=pages {
        if pdf_has_text(&b.print_pdf(&p.to_string()).await) {
            on.push(p);
        }
    }
    on
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_people_print_on_two_a4_pages_with_the_signature_beside_results() {
    let node = NodeHome::init("lai-chau.phong-tho");
    node.user("lan", "clerk", PASSWORD);
    // Seven people once took three pages, the signature block split over the last two;
    // two people of a binding vote left the QR code alone on page 2, three people of a
    // poll page 1 half empty with one row.
    let ids: Vec<(String, usize)> = (1..=10)
        .map(|n| (format!("ky-hop-{n}-nguoi"), n))
        .chain([
            (String::from("bo-phieu-2-nguoi"), 2),
            (String::from("bo-phieu-3-nguoi"), 3),
        ])
        .collect();
    for (id, n) in &ids {
        let (id, n) = (id.as_str(), *n);
        let f = node.file(&format!("{id}.json"), &session_json(id, n));
        node.ok(&["session", "import", f.to_str().expect("path")]);
        node.ok(&["seal", id]);
    }
    let web = node.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    for (id, n) in &ids {
        b.go(&format!("{}/s/{id}/minutes", web.base)).await;
        b.wait_for("#qr svg").await;
        check_print(&b, *n).await;
    }
    b.close().await;
}

async fn check_print(b: &Browser, n: usize) {
    let text = b.text("body").await;
    assert!(
        text.contains("Tổng số đại biểu: 30") && !text.contains("(kỳ họp)"),
        "{text}"
    );
    assert!(
        text.contains("Số phiếu không hợp lệ hoàn toàn: 1 phiếu"),
        "{text}"
    );
    // Annex 4's fields from the import file, and no blank left on a sealed paper.
    assert!(
        text.contains("Thực hiện nhiệm vụ do Chủ tọa kỳ họp giao")
            && text.contains("đối với những người giữ chức vụ do Hội đồng nhân dân huyện bầu;")
            && !text.contains('…'),
        "{text}"
    );

    let pdf = b.print_pdf("").await;
    if let Ok(d) = std::env::var("TINNHIEM_SCREENSHOTS") {
        let _ = std::fs::write(format!("{d}/minutes-{n}.pdf"), &pdf);
    }
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    let pages = pdf_pages(&pdf);
    assert!(
        pages <= 2,
        "{n} people on at most two A4 pages, not {pages}"
    );

    // The QR code as printed: at most 4 cm (96 CSS px per inch).
    b.cdp(
        "Emulation.setEmulatedMedia",
        serde_json::json!({"media": "print"}),
    )
    .await;
    let w =
        b.c.execute(
            "return document.querySelector('#qr svg').getBoundingClientRect().width",
            vec![],
        )
        .await
        .expect("script")
        .as_f64()
        .expect("width");
    let mm = w * 25.4 / 96.0;
    assert!(mm > 30.0 && mm <= 40.5, "QR code {mm:.1} mm wide in print");
    b.cdp(
        "Emulation.setEmulatedMedia",
        serde_json::json!({"media": ""}),
    )
    .await;

    // The signature block shares its page with lines of the result table.
    let sign = pages_of(b, ".sign", pages).await;
    assert_eq!(sign.len(), 1, "the signature block on one page: {sign:?}");
    let rows = pages_of(b, "td", pages).await;
    assert!(
        rows.contains(&sign[0]),
        "{n} people: signature on page {} alone, result lines on {rows:?}",
        sign[0]
    );
    // The seal's ids (and the QR code beside the signature) on the signed page.
    let seal = pages_of(b, ".seal", pages).await;
    assert_eq!(
        seal, sign,
        "{n} people: seal block on {seal:?}, signature on {sign:?}"
    );
    // Up to three people, the table is not split (one row left on page 1, half empty).
    if n <= 3 {
        assert_eq!(rows.len(), 1, "{n} people: result lines on pages {rows:?}");
    }
}

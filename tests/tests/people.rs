//! The list of people on the clerk's pages, in a real headless Chromium (issue 12 §4):
//! a Vietnamese spreadsheet pasted as it is, a taken row refused at the form with nothing
//! changed, a person edited and removed after a confirmation in the page (and kept while
//! they have marks the clerk was not shown), and an unsealed session deleted.

use fantoccini::Locator;
use tinnhiem_tests::browser::Browser;
use tinnhiem_tests::NodeHome;

const PASSWORD: &str = "mat-khau-thu-nghiem";
const S: &str = "ky-hop-18";

/// A list as an office keeps it: Vietnamese headers, `;` (a spreadsheet set to
/// Vietnamese), reasons in words.
const LIST: &str = "STT;Họ và tên;Chức vụ;Đơn vị công tác;Mã cá nhân;Lý do không lấy phiếu
1;Vương Thị Thu Hiền;Phó Chủ tịch HĐND huyện;HĐND huyện Phong Thổ;p-0101;
2;Lò Văn Mạnh;Chủ tịch UBND huyện;UBND huyện Phong Thổ;p-0102;
3;Giàng A Páo;Phó Chủ tịch UBND huyện;UBND huyện Phong Thổ;p-0103;Nghỉ hưu
4;Vàng Thị Mai;Trưởng ban Pháp chế;HĐND huyện Phong Thổ;p-0104;
";

/// `subject list`: the row ids and names, as the store holds them.
fn names(h: &NodeHome) -> Vec<String> {
    h.ok(&["subject", "list", S])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            format!("{} {}", f[1], f[3])
        })
        .collect()
}

async fn absent(b: &Browser, css: &str) -> bool {
    b.c.find(Locator::Css(css)).await.is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_keeps_the_list_of_people_whole() {
    let h = NodeHome::init("lai-chau.phong-tho");
    h.user("lan", "clerk", PASSWORD);
    h.ok(&[
        "session",
        "create",
        S,
        "--profile",
        "nq96-2023",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "2023-12-12",
    ]);
    h.seal_session("da-niem-phong", 20);
    let web = h.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/{S}#subjects", web.base)).await;

    // The help says which headers are read; the office's list goes in as it is.
    let help = b.text("#csv-help").await;
    assert!(
        help.contains("STT") && help.contains("Họ và tên") && help.contains("Mã cá nhân"),
        "{help}"
    );
    b.fill("#csv-text", LIST).await;
    b.click("#csv-go").await;
    b.wait_text("#tab-subjects .msg", "Đã nhập 4 người", 20)
        .await;
    let t = b.wait_text("#subjects-table", "Vàng Thị Mai", 20).await;
    assert!(
        t.contains("s04") && t.contains("Đã có thông báo nghỉ hưu"),
        "{t}"
    );
    b.shot("people-1-list").await;

    // A taken row is refused at the form, naming who is there, and nothing changes.
    let before = names(&h);
    b.fill("#one input[name=id]", "s02").await;
    b.fill("#one input[name=person]", "p-0999").await;
    b.fill("#one input[name=name]", "Người Thay Thế").await;
    b.click("#one-go").await;
    let said = b.wait_text("#one-msg", "không ghi gì", 20).await;
    assert!(
        said.contains("dòng s02 đã có Lò Văn Mạnh") && said.contains("s05"),
        "{said}"
    );
    let at = b.text("#one-id-error").await;
    assert!(at.contains("Lò Văn Mạnh"), "{at}");
    assert!(!b.text("#subjects-table").await.contains("Người Thay Thế"));
    assert_eq!(names(&h), before, "the store is unchanged");
    b.shot("people-2-clash").await;

    // An edit, in place.
    b.click("tr[data-subject=s02] .subject-edit").await;
    b.fill("#edit-name", "Lò Văn Mạnh Hùng").await;
    b.click("#edit-go").await;
    b.wait_text("#subjects-table", "Lò Văn Mạnh Hùng", 20).await;
    b.wait_text("#subject-msg", "Đã sửa dòng s02", 20).await;

    // A removal asks first; "Thôi" keeps the person.
    b.click("tr[data-subject=s04] .subject-remove").await;
    let ask = b.wait_text("#remove-confirm", "Vàng Thị Mai", 10).await;
    assert!(ask.contains("Xóa"), "{ask}");
    b.click("#remove-no").await;
    assert!(absent(&b, "#remove-confirm").await);
    assert!(b.text("#subjects-table").await.contains("Vàng Thị Mai"));
    b.click("tr[data-subject=s04] .subject-remove").await;
    b.click("#remove-yes").await;
    b.wait_text("#subject-msg", "Đã xóa Vàng Thị Mai", 20).await;
    assert!(!b.text("#subjects-table").await.contains("Vàng Thị Mai"));
    assert!(!names(&h).iter().any(|n| n.contains("Vàng Thị Mai")));

    // A ballot typed elsewhere gives Hiền a mark the page has not shown yet: the plain
    // removal is refused and she stays.
    h.ok(&["entry", "add", S, "--marks", "s01=high,s02=low"]);
    b.click("tr[data-subject=s01] .subject-remove").await;
    let ask = b.text("#remove-confirm").await;
    if !ask.contains("phiếu có ý kiến") {
        b.click("#remove-yes").await;
        let refused = b.wait_text("#remove-msg", "Không xóa", 20).await;
        assert!(refused.contains("1 phiếu có ý kiến"), "{refused}");
        assert!(names(&h).iter().any(|n| n.contains("Vương Thị Thu Hiền")));
    }
    // Shown the mark, the clerk removes her with it.
    b.c.refresh().await.expect("reload");
    b.click("tr[data-subject=s01] .subject-remove").await;
    let ask = b
        .wait_text("#remove-confirm", "1 phiếu có ý kiến", 10)
        .await;
    assert!(ask.contains("xóa luôn các ý kiến đó"), "{ask}");
    assert_eq!(b.text("#remove-yes").await, "Xóa cả ý kiến đã ghi");
    b.shot("people-3-remove-marked").await;
    b.click("#remove-yes").await;
    b.wait_text("#subject-msg", "cùng các ý kiến đã ghi", 20)
        .await;
    assert!(!names(&h).iter().any(|n| n.contains("Vương Thị Thu Hiền")));

    // A sealed session offers no deletion.
    b.go(&format!("{}/s/da-niem-phong", web.base)).await;
    b.wait_text("#summary", "đã niêm phong", 20).await;
    assert!(absent(&b, "#delete-session").await);

    // The unsealed one is deleted after a confirmation in the page.
    b.go(&format!("{}/s/{S}", web.base)).await;
    b.click("#delete-session").await;
    b.click("#delete-no").await;
    b.wait_for("#delete-session").await;
    b.click("#delete-session").await;
    let ask = b.wait_text("#delete-confirm", S, 10).await;
    assert!(ask.contains("chưa niêm phong"), "{ask}");
    b.shot("people-4-delete").await;
    b.click("#delete-yes").await;
    b.wait_text("#sessions", "da-niem-phong", 20).await;
    assert!(!b.text("#sessions").await.contains(S));
    let list = h.ok(&["session", "list"]);
    assert!(
        !list.contains(S) && list.contains("da-niem-phong"),
        "{list}"
    );
    b.close().await;
}

//! Hostile text through every template this crate renders: the page frame, the message
//! page, the refusal of a role, the login page (unit tests in `login.rs`) and the
//! minutes. Each field gets its own marker, so a field that came out raw, or not at
//! all, is named.

use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{compute, SessionFile, UnitId};
use tinnhiem_core::seal::{seal_doc, UnitKey};
use tinnhiem_web::{page, Role, Signed};

/// Markup, an attribute's quotes and an entity, named after the field it goes into.
fn hostile(field: &str) -> String {
    format!(r#"<script>alert("{field}")</script> & '{field}' "{field}""#)
}

/// How [`hostile`] reads once escaped, as text or as a quoted attribute.
fn escaped(field: &str) -> String {
    format!("&lt;script&gt;alert(&quot;{field}&quot;)&lt;/script&gt; &amp; '{field}' &quot;{field}&quot;")
}

/// Every field came out escaped, and no markup of theirs came out at all.
fn assert_escaped(page: &str, fields: &[&str]) {
    assert!(
        !page.contains("<script>alert"),
        "markup of a field came out raw: {page}"
    );
    for f in fields {
        assert!(
            page.contains(&escaped(f)),
            "«{f}» is not in the page escaped: {page}"
        );
        assert!(!page.contains(&hostile(f)), "«{f}» came out raw: {page}");
    }
}

fn signed() -> Signed {
    Signed {
        user: hostile("user"),
        role: Role::Clerk,
        csrf: hostile("csrf"),
    }
}

#[test]
fn the_frame_escapes_title_name_navigation_user_and_token() {
    let nav_href = hostile("href");
    let nav_label = hostile("label");
    let html = page::frame(
        &hostile("title"),
        &hostile("app"),
        &[(nav_href.as_str(), nav_label.as_str())],
        Some(&signed()),
        maud::html! { p { (hostile("body")) } },
    )
    .into_string();
    assert_escaped(
        &html,
        &["title", "app", "href", "label", "user", "csrf", "body"],
    );
    // The token is where app.js reads it, and in the logout form.
    assert!(
        html.contains(&format!(
            r#"<meta name="csrf" content="{}">"#,
            escaped("csrf")
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            r#"<input type="hidden" name="csrf" value="{}">"#,
            escaped("csrf")
        )),
        "{html}"
    );
    // Only the frame's own script, no inline one.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
}

#[test]
fn a_message_escapes_its_title_and_text() {
    let html = page::message(&hostile("title"), &hostile("text")).into_string();
    assert_escaped(&html, &["title", "text"]);
}

#[tokio::test]
async fn a_refused_role_is_named_escaped() {
    let mut who = signed();
    who.role = Role::Reviewer;
    let r = who.require(&[Role::Clerk]).expect_err("refused");
    assert_eq!(r.status(), 403);
    let body = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .expect("body");
    let html = String::from_utf8(body.to_vec()).expect("utf-8");
    assert_escaped(&html, &["user", "csrf"]);
}

/// A session whose every text field is hostile, and a second person excluded.
fn session_json() -> String {
    let h = |f: &str| serde_json::to_string(&hostile(f)).expect("json");
    format!(
        r#"{{"id": "s", "profile": "nq96-2023", "procedure": "poll", "body": {body},
  "title": {title}, "date": "2023-12-08", "opening_date": "2023-12-06", "place": {place},
  "count_from": "14:05", "count_to": "14:50", "chair": {chair}, "board": [{member}, "Lò Văn Thắng"],
  "assigned_by": {assigned}, "polled_posts": {posts},
  "attendance": {{"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49}},
  "ballots": {{"issued": 49, "collected": 49, "wholly_invalid": 3}},
  "subjects": [
    {{"id": "s01", "person_id": "p-1", "name": {name}, "position": {position}, "unit": {unit}}},
    {{"id": "s02", "person_id": "p-2", "name": {excluded}, "position": "Ủy viên", "excluded": "retiring"}}
  ],
  "tallies": {{"s01": {{"high": 5, "confidence": 10, "low": 31, "invalid": 0}}}}}}"#,
        body = h("body"),
        title = h("title"),
        place = h("place"),
        chair = h("chair"),
        member = h("member"),
        assigned = h("assigned"),
        posts = h("posts"),
        name = h("name"),
        position = h("position"),
        unit = h("unit"),
        excluded = h("excluded"),
    )
}

#[test]
fn the_minutes_escape_every_field_draft_and_sealed() {
    let unit = UnitId::new("u").expect("unit");
    let s = SessionFile::from_json(&session_json())
        .expect("json")
        .into_session(&unit, || "e".into())
        .expect("valid");
    let r = compute(&s);
    assert!(r.sealable(), "{:?}", r.problems);
    let mut d = SessionDoc::from_session(&s, b"dev", 1).expect("doc");
    let (seal, _) = seal_doc(&mut d, &UnitKey::from_seed([7; 32]), 1, 2).expect("seal");
    let fields = [
        "body", "title", "place", "chair", "member", "assigned", "posts", "name", "position",
        "unit", "excluded",
    ];
    let issuer = hostile("issuer");
    for sealed in [None, Some(&seal)] {
        let html = tinnhiem_web::minutes::html(&s, &r, Some(&issuer), sealed);
        assert_escaped(&html, &fields);
        assert_escaped(&html, &["issuer"]);
        // The person over the threshold is named in the flagged list too.
        assert!(
            html.contains(&format!("<li class=\"flag\">{}: ", escaped("name"))),
            "{html}"
        );
        // The style is the only inline element besides the QR code's SVG.
        assert_eq!(html.matches("<style>").count(), 1, "{html}");
        assert!(!html.contains("<script"), "{html}");
    }
    // A Party committee's minutes name its own body as the issuer.
    let party = session_json().replace("nq96-2023", "qd96-2023");
    let s = SessionFile::from_json(&party)
        .expect("json")
        .into_session(&unit, || "e".into())
        .expect("valid");
    let html = tinnhiem_web::minutes::html(&s, &compute(&s), Some(&issuer), None);
    assert_escaped(&html, &["body"]);
    assert!(
        html.contains(&format!("<div class=\"org\"><b>{}</b>", escaped("body"))),
        "{html}"
    );
}

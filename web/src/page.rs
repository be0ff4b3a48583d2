//! The page frame every server shares: a header with the server's name, the navigation
//! and who is signed in, the embedded style sheet (screen and print) and the small
//! script that page scripts build on. Pages are HTML strings; everything a user or a
//! peer typed goes through [`esc`].
//!
//! No page has inline script or style: the Content-Security-Policy
//! ([`crate::guard::csp`]) allows only files this server serves ([`js`]).

use crate::login::Signed;

/// The style sheet, served at `/assets/app.css`.
pub const CSS: &str = include_str!("../assets/app.css");
/// The shared script, served at `/assets/app.js`.
pub const JS: &str = include_str!("../assets/app.js");

/// Escapes text for HTML content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// A page script compiled into the binary, served as a file (the policy allows no
/// inline script).
pub fn js(text: &'static str) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A whole page: `nav` is `(href, label)`; `signed` shows who is in and a logout button,
/// and puts the session's anti-forgery token where `app.js` finds it.
pub fn frame(
    title: &str,
    app: &str,
    nav: &[(&str, &str)],
    signed: Option<&Signed>,
    body: &str,
) -> String {
    let nav: String = nav
        .iter()
        .map(|(h, l)| format!(r#"<a href="{}">{}</a>"#, esc(h), esc(l)))
        .collect();
    let who = signed
        .map(|s| {
            format!(
                r#"<form method=post action="/logout" class=who><input type=hidden name=csrf value="{}"><span id=who>{} · {}</span> <button type=submit class=link>Đăng xuất</button></form>"#,
                esc(&s.csrf),
                esc(&s.user),
                esc(s.role.title())
            )
        })
        .unwrap_or_default();
    let csrf = signed
        .map(|s| format!("<meta name=csrf content=\"{}\">\n", esc(&s.csrf)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang=vi><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{title} — {app}</title>
{csrf}<link rel=stylesheet href="/assets/app.css">
<script src="/assets/app.js"></script>
</head><body>
<header class=top><strong class=app>{app}</strong><nav>{nav}</nav>{who}</header>
<main>{body}</main>
</body></html>"#,
        title = esc(title),
        app = esc(app),
    )
}

/// A page with one message (errors, refusals).
pub fn message(title: &str, text: &str) -> String {
    frame(
        title,
        "tinnhiem",
        &[("/", "Trang chính")],
        None,
        &format!(
            "<section class=card><h1>{}</h1><p>{}</p></section>",
            esc(title),
            esc(text)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_encodes_queries() {
        assert_eq!(esc(r#"<b a="x">&'"#), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(url_encode("/s/a b?x=đ"), "/s/a%20b%3Fx%3D%C4%91");
    }
}

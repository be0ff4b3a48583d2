//! The page frame every server shares: a header with the server's name, the navigation
//! and who is signed in, the embedded style sheet (screen and print) and the small
//! script that page scripts build on. Pages are maud templates ([`maud::html!`]):
//! whatever is spliced into them is escaped unless it is wrapped in `PreEscaped`, so
//! text a user or a peer typed cannot become markup by someone forgetting to escape it.
//!
//! No page has inline script or style: the Content-Security-Policy
//! ([`crate::guard::csp`]) allows only files this server serves ([`js`]).

use crate::login::Signed;
use maud::{html, Markup, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The style sheet, served at `/assets/app.css`.
pub const CSS: &str = include_str!("../assets/app.css");
/// The shared script, served at `/assets/app.js`.
pub const JS: &str = include_str!("../assets/app.js");

/// What a query value keeps as it is: letters, digits, the unreserved marks and `/`
/// (a path in `next=` stays readable); everything else is `%XX`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
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
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE) "\n"
        html lang="vi" {
            head {
                meta charset="utf-8"; "\n"
                meta name="viewport" content="width=device-width, initial-scale=1"; "\n"
                title { (title) " — " (app) } "\n"
                @if let Some(s) = signed {
                    meta name="csrf" content=(s.csrf); "\n"
                }
                link rel="stylesheet" href="/assets/app.css"; "\n"
                script src="/assets/app.js" {} "\n"
            }
            body {
                "\n"
                header class="top" {
                    strong class="app" { (app) }
                    nav { @for (href, label) in nav { a href=(href) { (label) } } }
                    @if let Some(s) = signed {
                        form method="post" action="/logout" class="who" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span id="who" { (s.user) " · " (s.role.title()) }
                            " "
                            button type="submit" class="link" { "Đăng xuất" }
                        }
                    }
                }
                "\n"
                main { (body) }
                "\n"
            }
        }
    }
}

/// A page with one message (errors, refusals).
pub fn message(title: &str, text: &str) -> Markup {
    frame(
        title,
        "tinnhiem",
        &[("/", "Trang chính")],
        None,
        html! { section class="card" { h1 { (title) } p { (text) } } },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_queries() {
        assert_eq!(url_encode("/s/a b?x=đ"), "/s/a%20b%3Fx%3D%C4%91");
        assert_eq!(url_encode("a-_.~/Z9"), "a-_.~/Z9");
    }
}

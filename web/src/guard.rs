//! What every request and every response of both servers passes through
//! ([`check`], an axum middleware): the security headers on every response, and for
//! every request that may change something (any method but GET, HEAD, OPTIONS) a
//! same-origin check and the session's anti-forgery token.
//!
//! Why both: a page on the same host at another port is the same *site*, so the
//! SameSite=Strict session cookie goes with its requests (a field test sealed a
//! session that way). The browser says where a request comes from (`Sec-Fetch-Site`,
//! `Origin`); anything but this origin is refused. A client that sends neither (an old
//! browser, a script) still needs the token, which only this origin's pages can read:
//! each signed-in page carries it in a `<meta>`, `app.js` sends it as
//! [`CSRF_HEADER`], and the two plain HTML forms (login, logout) as the field
//! [`CSRF_FIELD`]. The login form has no session yet: its token is a random value in a
//! cookie of its own that the form repeats (double submit), and the origin check is
//! what really protects it.
//!
//! A request with no live session passes on without a token: every handler behind it
//! answers 401 or the login page, which changes nothing.

use crate::login::{self, Auth};
use crate::page;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, OnceLock};

/// The header `app.js` sends the session's token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field the login and logout forms send it in.
pub const CSRF_FIELD: &str = "csrf";
/// The largest form body read here to find the field (login and logout are tiny).
const MAX_FORM: usize = 16 * 1024;

/// The middleware: `axum::middleware::from_fn_with_state(auth, guard::check)`.
pub async fn check(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let assets = req.uri().path().starts_with("/assets/");
    let mut resp = if is_safe(req.method()) {
        next.run(req).await
    } else {
        match admit(&auth, req).await {
            Ok(req) => next.run(req).await,
            Err(refused) => refused,
        }
    };
    secure_headers(resp.headers_mut(), assets);
    resp
}

fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

const NO_TOKEN: &str = "thiếu mã chống giả mạo của phiên đăng nhập (yêu cầu không đến từ trang của hệ thống, hoặc trang đã cũ). Hãy tải lại trang rồi làm lại.";
const BAD_TOKEN: &str = "mã chống giả mạo không khớp với phiên đăng nhập (trang đã cũ, hoặc yêu cầu bị giả mạo). Hãy tải lại trang rồi làm lại.";
const NO_LOGIN_TOKEN: &str = "trang đăng nhập đã cũ hoặc trình duyệt chặn cookie. Hãy tải lại trang đăng nhập rồi đăng nhập lại.";

async fn admit(auth: &Auth, req: Request) -> Result<Request, Response> {
    let path = req.uri().path().to_string();
    if let Err(why) = same_origin(req.headers()) {
        tracing::warn!(%path, "refused a cross-origin request: {why}");
        return Err(refuse(&path, &why));
    }
    let expected = if path == "/login" {
        match login::login_token(req.headers()) {
            Some(t) => t,
            None => return Err(refuse(&path, NO_LOGIN_TOKEN)),
        }
    } else {
        match auth.csrf_of(req.headers()) {
            Some(t) => t,
            None => return Ok(req),
        }
    };
    let in_header = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (req, given) = match in_header {
        Some(g) => (req, Some(g)),
        None if is_form(req.headers()) => {
            let (parts, body) = req.into_parts();
            let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
                Ok(b) => b,
                Err(_) => return Err(refuse(&path, "biểu mẫu quá lớn")),
            };
            let given = form_field(&bytes, CSRF_FIELD);
            (Request::from_parts(parts, Body::from(bytes)), given)
        }
        None => (req, None),
    };
    match given {
        Some(g) if ct_eq(g.as_bytes(), expected.as_bytes()) => Ok(req),
        Some(_) => {
            tracing::warn!(%path, "refused a request with a wrong anti-forgery token");
            Err(refuse(&path, BAD_TOKEN))
        }
        None => {
            tracing::warn!(%path, "refused a request without an anti-forgery token");
            Err(refuse(&path, NO_TOKEN))
        }
    }
}

fn is_form(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// The raw value of `name` in a urlencoded body (tokens are hex, never escaped).
fn form_field(body: &[u8], name: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Equal without telling, by its time, how much of a guess was right.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `Ok` unless the browser says the request comes from another origin. What "this
/// origin" is comes from the `Host` header: a TLS proxy in front must pass it on
/// (Caddy does; nginx needs `proxy_set_header Host $host;`, deploy/OPERATIONS.md).
///
/// `Sec-Fetch-Site` (which no page script can set) decides when present. Under our
/// `Referrer-Policy: no-referrer` browsers send `Origin: null` with this site's own
/// form posts and fetches, so `null` passes only when `Sec-Fetch-Site` vouches for the
/// request; any other `Origin` must name this server.
pub fn same_origin(h: &HeaderMap) -> Result<(), String> {
    let site = h.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = site {
        if site != "same-origin" {
            return Err(format!(
                "trình duyệt báo yêu cầu này đến từ một trang khác (Sec-Fetch-Site: {site}), không phải từ trang của hệ thống"
            ));
        }
    }
    let Some(origin) = h.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("?");
    if origin == "null" {
        return match site {
            Some(_) => Ok(()),
            None => Err(
                "trình duyệt không cho biết yêu cầu gửi từ trang nào (Origin: null). Hãy dùng một trình duyệt mới (Chrome, Cốc Cốc, Edge, Firefox)"
                    .into(),
            ),
        };
    }
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !origin_is_host(origin, host) {
        return Err(format!(
            "yêu cầu này gửi từ trang {origin}, không phải từ trang của hệ thống ({host})"
        ));
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) names the server reached as `host`.
fn origin_is_host(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false; // "null" and anything else
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) || host.is_empty() {
        return false;
    }
    let with_port = |a: &str| {
        let a = a.to_ascii_lowercase();
        // An IPv6 literal's colons are inside brackets; a port follows the last one.
        let has_port = match a.rfind(']') {
            Some(end) => a[end..].contains(':'),
            None => a.contains(':'),
        };
        if has_port {
            a
        } else {
            format!("{a}:{default}")
        }
    };
    with_port(authority) == with_port(host)
}

fn refuse(path: &str, why: &str) -> Response {
    let text = format!("Yêu cầu bị từ chối: {why}");
    if path.starts_with("/api/") || path == "/metrics" {
        return (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": text })),
        )
            .into_response();
    }
    (
        StatusCode::FORBIDDEN,
        page::message("Yêu cầu bị từ chối", &text),
    )
        .into_response()
}

/// The Content-Security-Policy: scripts and styles only from this server's files,
/// except the minutes' own style sheet (inline, so that a saved minutes file prints
/// the same), allowed by its hash.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self' '{}'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            crate::minutes::style_hash()
        )
    })
}

/// Sets the security headers a handler did not set itself. Pages and API answers are
/// never stored by a browser or a proxy (a shared office computer keeps no copy of the
/// results); the embedded assets may be kept but are checked again each time.
fn secure_headers(h: &mut HeaderMap, assets: bool) {
    let fixed: [(&str, &'static str); 6] = [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        (
            "cache-control",
            if assets { "no-cache" } else { "no-store" },
        ),
    ];
    for (name, value) in fixed {
        if !h.contains_key(name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(v) = HeaderValue::from_str(csp()) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_origin_passes() {
        let ok = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("https://dashboard.example", "dashboard.example"),
            ("https://Dashboard.example", "dashboard.example:443"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://[::1]", "[::1]:80"),
        ];
        for (o, h) in ok {
            assert!(origin_is_host(o, h), "{o} {h}");
        }
        let bad = [
            ("http://127.0.0.1:9090", "127.0.0.1:8080"),
            ("http://evil.example", "127.0.0.1:8080"),
            ("null", "127.0.0.1:8080"),
            ("https://dashboard.example", "dashboard.example:80"),
            ("http://127.0.0.1:8080", ""),
            ("file://", "127.0.0.1:8080"),
            ("http://a@127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://[::1]:8080", "[::1]:9090"),
        ];
        for (o, h) in bad {
            assert!(!origin_is_host(o, h), "{o} {h}");
        }
        assert!(same_origin(&headers(&[])).is_ok());
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])).is_ok());
        let e = same_origin(&headers(&[("sec-fetch-site", "same-site")])).expect_err("port");
        assert!(e.contains("same-site"), "{e}");
        assert!(same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080")
        ]))
        .is_err());
        // Our own posts under no-referrer: Origin null, vouched for by Sec-Fetch-Site.
        assert!(same_origin(&headers(&[
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ]))
        .is_ok());
        assert!(same_origin(&headers(&[("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[
            ("origin", "null"),
            ("sec-fetch-site", "cross-site")
        ]))
        .is_err());
        assert!(same_origin(&headers(&[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin"),
            ("host", "127.0.0.1:8080")
        ]))
        .is_err());
    }

    #[test]
    fn form_fields_and_constant_time_compare() {
        assert_eq!(
            form_field(b"user=lan&csrf=ab12&next=%2F", "csrf").as_deref(),
            Some("ab12")
        );
        assert_eq!(form_field(b"user=lan", "csrf"), None);
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn the_policy_allows_no_inline_script() {
        let p = csp();
        assert!(p.contains("script-src 'self';"), "{p}");
        assert!(!p.contains("unsafe"), "{p}");
        assert!(p.contains("frame-ancestors 'none'"), "{p}");
    }
}

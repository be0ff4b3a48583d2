//! Login sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie, held in
//! memory with an idle and an absolute expiry (a restart signs everyone out, which is
//! what an office laptop or a hub after an upgrade should do). Handlers take a
//! [`Signed`] and call [`Signed::require`] with the roles they allow.
//!
//! Each session also has an anti-forgery token of its own, which its pages carry and
//! send back ([`crate::guard`]). A login attempt passes the [`Throttle`] before its
//! password is looked at, and the [`HashGate`] before argon2 runs.

use crate::account::{Accounts, Role};
use crate::guard::ct_eq;
use crate::page;
use crate::throttle::{HashGate, Throttle};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COOKIE: &str = "tinnhiem_session";
/// The login form's own anti-forgery token (double submit: cookie and hidden field).
const LOGIN_COOKIE: &str = "tinnhiem_login";
/// The largest login or logout form accepted: a name, a password, a path and a token.
const MAX_LOGIN_FORM: usize = 8 * 1024;

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Login name (what the audit log records).
    pub user: String,
    /// Role.
    pub role: Role,
    /// The session's anti-forgery token: pages embed it, requests that change
    /// something send it back ([`crate::guard`]).
    pub csrf: String,
}

impl Signed {
    /// `Ok` when the person's role is one of `roles` (admin always passes); a 403 page
    /// otherwise.
    #[allow(clippy::result_large_err)]
    pub fn require(&self, roles: &[Role]) -> Result<(), Response> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            return Ok(());
        }
        Err((
            StatusCode::FORBIDDEN,
            page::frame(
                "Không có quyền",
                "tinnhiem",
                &[("/", "Trang chính")],
                Some(self),
                html! {
                    section class="card" {
                        h1 { "Không có quyền" }
                        p { "Tài khoản «" (self.user) "» (" (self.role.title()) ") không được dùng trang này." }
                    }
                },
            ),
        )
            .into_response())
    }
}

struct Session {
    signed: Signed,
    created: Instant,
    seen: Instant,
}

/// Accounts and the sessions signed in to one server.
pub struct Auth {
    accounts: Accounts,
    /// The server's title on the login page.
    pub app: String,
    sessions: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max: Duration,
    throttle: Throttle,
    gate: HashGate,
    metrics_token: Option<String>,
}

impl Auth {
    /// Sessions end after `idle` without a request, and `max` after login in any case.
    pub fn new(accounts: Accounts, app: impl Into<String>, idle: Duration, max: Duration) -> Auth {
        Auth {
            accounts,
            app: app.into(),
            sessions: Mutex::new(HashMap::new()),
            idle,
            max,
            throttle: Throttle::new(),
            gate: HashGate::default(),
            metrics_token: None,
        }
    }

    /// Lets a scraper read `/metrics` with `Authorization: Bearer TOKEN`
    /// ([`crate::metrics::token`]).
    pub fn with_metrics_token(mut self, token: String) -> Auth {
        self.metrics_token = Some(token);
        self
    }

    /// The anti-forgery token of the live session whose cookie `headers` carry.
    pub fn csrf_of(&self, headers: &HeaderMap) -> Option<String> {
        token_of(headers)
            .and_then(|t| self.find(&t))
            .map(|s| s.csrf)
    }

    /// The defaults: 2 hours idle (a counting break), 12 hours at most (a working day).
    pub fn with_defaults(accounts: Accounts, app: impl Into<String>) -> Auth {
        Auth::new(
            accounts,
            app,
            Duration::from_secs(2 * 3600),
            Duration::from_secs(12 * 3600),
        )
    }

    /// Whether any account exists (a server without one says how to make one).
    pub fn has_accounts(&self) -> bool {
        self.accounts.list().map(|l| !l.is_empty()).unwrap_or(false)
    }

    /// A new session for `user`; its cookie token.
    fn open(&self, user: String, role: Role) -> Option<String> {
        self.open_at(user, role, Instant::now())
    }

    /// [`Auth::open`] at `now` (time is an argument, so that expiry is tested without
    /// waiting for it).
    fn open_at(&self, user: String, role: Role, now: Instant) -> Option<String> {
        let token = random_hex()?;
        let signed = Signed {
            user,
            role,
            csrf: random_hex()?,
        };
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, x| now - x.seen < self.idle && now - x.created < self.max);
        s.insert(
            token.clone(),
            Session {
                signed,
                created: now,
                seen: now,
            },
        );
        Some(token)
    }

    fn find(&self, token: &str) -> Option<Signed> {
        self.find_at(token, Instant::now())
    }

    /// [`Auth::find`] at `now`.
    fn find_at(&self, token: &str, now: Instant) -> Option<Signed> {
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let x = s.get_mut(token)?;
        if now - x.seen >= self.idle || now - x.created >= self.max {
            s.remove(token);
            return None;
        }
        x.seen = now;
        Some(x.signed.clone())
    }

    fn close(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }
}

/// 256 random bits, hex.
fn random_hex() -> Option<String> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).ok()?;
    Some(hex::encode(b))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The login form's token from its cookie (see [`crate::guard`]).
pub(crate) fn login_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, LOGIN_COOKIE)
}

/// The address a login attempt is counted under: the peer, or, when the peer is this
/// machine and says it is a proxy, the client it names last in `X-Forwarded-For` (the
/// one the proxy itself appended). `None` when the server was started without peer
/// addresses.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientAddr, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = || {
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|a| a.trim().parse::<IpAddr>().ok())
        };
        Ok(ClientAddr(match peer {
            Some(p) if p.is_loopback() => forwarded().or(Some(p)),
            other => other,
        }))
    }
}

impl<S> FromRequestParts<S> for Signed
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Signed, Response> {
        let auth = Arc::<Auth>::from_ref(state);
        if let Some(s) = token_of(&parts.headers).and_then(|t| auth.find(&t)) {
            return Ok(s);
        }
        let path = parts.uri.path();
        if path.starts_with("/api/") || path == "/metrics" {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "error": "chưa đăng nhập hoặc phiên đăng nhập đã hết hạn"
                })),
            )
                .into_response();
            if path == "/metrics" {
                // A scraper learns it may use a bearer token (MetricsReader).
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer realm=\"tinnhiem\""),
                );
            }
            return Err(r);
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        Err(Redirect::to(&format!("/login?next={}", page::url_encode(next))).into_response())
    }
}

/// Who reads `/metrics`: Prometheus with the bearer token of the home's
/// `metrics.token`, or a signed-in person (whose role the handler checks).
pub enum MetricsReader {
    /// The bearer token matched.
    Scraper,
    /// Signed in with the cookie.
    Person(Signed),
}

impl<S> FromRequestParts<S> for MetricsReader
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<MetricsReader, Response> {
        let auth = Arc::<Auth>::from_ref(state);
        let Some(given) = parts.headers.get(header::AUTHORIZATION) else {
            return Signed::from_request_parts(parts, state)
                .await
                .map(MetricsReader::Person);
        };
        let bearer = given
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        match (bearer, auth.metrics_token.as_deref()) {
            (Some(g), Some(t)) if ct_eq(g.as_bytes(), t.as_bytes()) => Ok(MetricsReader::Scraper),
            _ => {
                tracing::warn!("/metrics: a wrong bearer token");
                Err((
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer realm=\"tinnhiem\", error=\"invalid_token\"")],
                    axum::Json(serde_json::json!({
                        "error": "mã Bearer không đúng: dùng nội dung tệp metrics.token trong thư mục home của máy chủ"
                    })),
                )
                    .into_response())
            }
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only absolute paths of this server, never another site. Browsers drop tabs and line
/// breaks from a URL and read `\` as `/`, so `/\t/evil` and `/\evil` are `//evil`, another
/// host: anything but printable ASCII without a backslash is refused, and so is a
/// second `/` at the start.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n[1..].starts_with('/')
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n
        }
        _ => "/",
    }
}

fn login_page(auth: &Auth, next: &str, token: &str, error: Option<&str>) -> Markup {
    let body = html! {
        section class="card narrow" {
            h1 { "Đăng nhập" }
            @if !auth.has_accounts() {
                p class="warn" {
                    "Chưa có tài khoản nào. Tạo bằng lệnh " code { "user add TÊN --role VAI_TRÒ" }
                    " (xem " (auth.accounts.path().display()) ")."
                }
            }
            @if let Some(e) = error {
                p class="error" role="alert" id="login-error" { (e) }
            }
            "\n"
            form method="post" action="/login" {
                "\n"
                input type="hidden" name="csrf" value=(token); "\n"
                input type="hidden" name="next" value=(next); "\n"
                label { "Tên đăng nhập " input name="user" id="user" autocomplete="username" required autofocus; } "\n"
                label { "Mật khẩu " input name="password" id="password" type="password" autocomplete="current-password" required; } "\n"
                button type="submit" id="login" { "Đăng nhập" } "\n"
            }
        }
    };
    page::frame("Đăng nhập", &auth.app, &[], None, body)
}

/// The login cookie's `Set-Cookie`: only sent back to `/login`, only from this site.
fn login_cookie(token: &str) -> String {
    format!("{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict")
}

async fn get_login(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let Some(token) = login_token(&headers).or_else(random_hex) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "không lấy được số ngẫu nhiên",
        )
            .into_response();
    };
    (
        [(header::SET_COOKIE, login_cookie(&token))],
        login_page(&auth, safe_next(q.next.as_deref()), &token, None),
    )
        .into_response()
}

async fn post_login(
    State(auth): State<Arc<Auth>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_string();
    // The guard let this request in only with the cookie's token in the form.
    let token = login_token(&headers).unwrap_or_default();
    let page = |code: StatusCode, msg: &str| {
        (code, login_page(&auth, &next, &token, Some(msg))).into_response()
    };
    let name = f.user.trim().to_string();
    if let Err(refusal) = auth.throttle.attempt(&name, addr, Instant::now()) {
        tracing::warn!(user = %name, addr = ?addr, "login throttled: {refusal:?}");
        let mut r = page(StatusCode::TOO_MANY_REQUESTS, &refusal.to_string());
        if let Ok(v) = refusal.retry_after().to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let accounts = auth.accounts.clone();
    let (user, password) = (name.clone(), f.password);
    // argon2 takes tens of milliseconds of CPU and 19 MiB: two at a time, off the
    // async threads.
    let checked = auth
        .gate
        .run(move || accounts.check(&user, &password))
        .await;
    let user = match checked {
        Ok(Ok(Some(u))) => u,
        Ok(Ok(None)) => {
            tracing::warn!(user = %name, addr = ?addr, "login refused");
            let n = auth.throttle.failures(&name, Instant::now());
            let mut msg = "Sai tên đăng nhập hoặc mật khẩu.".to_string();
            if n >= crate::throttle::FREE {
                msg.push_str(&format!(
                    " Đã sai {n} lần liên tiếp: lần sau phải chờ vài giây; sai đủ {} lần thì bị khóa đăng nhập {} phút.",
                    crate::throttle::LOCK_AFTER,
                    crate::throttle::LOCK.as_secs() / 60
                ));
            }
            return page(StatusCode::UNAUTHORIZED, &msg);
        }
        Ok(Err(e)) => {
            tracing::error!("accounts: {e}");
            return page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
        Err(crate::throttle::Busy) => {
            tracing::warn!(user = %name, addr = ?addr, "login refused: too many password checks at once");
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Máy chủ đang bận kiểm tra nhiều lần đăng nhập cùng lúc. Hãy thử lại sau ít giây.",
            );
        }
    };
    auth.throttle.succeed(&name, addr);
    let Some(session) = auth.open(user.name.clone(), user.role) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "không lấy được số ngẫu nhiên",
        )
            .into_response();
    };
    tracing::info!(user = %user.name, role = user.role.key(), "login");
    let cookie = format!("{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict");
    (
        AppendHeaders([
            (header::SET_COOKIE, cookie),
            (
                header::SET_COOKIE,
                format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
        ]),
        Redirect::to(&next),
    )
        .into_response()
}

async fn post_logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(t) = token_of(&headers) {
        auth.close(&t);
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

async fn asset_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        page::CSS,
    )
        .into_response()
}

async fn asset_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        page::JS,
    )
        .into_response()
}

/// `/login`, `/logout` and the shared assets, for any state that holds an [`Auth`].
pub fn routes<S>() -> Router<S>
where
    Arc<Auth>: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/login",
            get(get_login)
                .post(post_login)
                .layer(DefaultBodyLimit::max(MAX_LOGIN_FORM)),
        )
        .route(
            "/logout",
            post(post_logout).layer(DefaultBodyLimit::max(MAX_LOGIN_FORM)),
        )
        .route("/assets/app.css", get(asset_css))
        .route("/assets/app.js", get(asset_js))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markup, quotes and an entity, named after the field they go into.
    fn hostile(field: &str) -> String {
        format!(r#"<script>alert("{field}")</script> & '{field}' "{field}""#)
    }

    #[test]
    fn the_login_page_escapes_what_it_shows() {
        let base = tempfile::tempdir().expect("tempdir");
        // A home whose path has markup (its `/` makes two directories).
        let dir = base.path().join(hostile("path"));
        std::fs::create_dir_all(&dir).expect("dir");
        let auth = Auth::with_defaults(Accounts::in_dir(&dir), hostile("app"));
        let html = login_page(
            &auth,
            &hostile("next"),
            &hostile("token"),
            Some(&hostile("error")),
        )
        .into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        for f in ["path", "app", "next", "token", "error"] {
            let escaped = format!(
                "&lt;script&gt;alert(&quot;{f}&quot;)&lt;/script&gt; &amp; '{f}' &quot;{f}&quot;"
            );
            assert!(html.contains(&escaped), "{f}: {html}");
        }
        assert!(
            html.contains(r#"<input type="hidden" name="next" value="&lt;script&gt;"#),
            "{html}"
        );
    }

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/s/x?y=1")), "/s/x?y=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/ /evil.example")), "/");
        assert_eq!(safe_next(Some("/%2F/evil.example")), "/%2F/evil.example");
        assert_eq!(safe_next(Some("evil.example")), "/");
        assert_eq!(safe_next(Some("/s/đ")), "/");
        assert_eq!(safe_next(Some("")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn sessions_expire_when_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = Auth::new(
            Accounts::in_dir(dir.path()),
            "t",
            Duration::from_secs(2 * 3600),
            Duration::from_secs(12 * 3600),
        );
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let t = auth.open_at("lan".into(), Role::Clerk, t0).expect("token");
        // Each request moves the idle limit on.
        assert_eq!(
            auth.find_at(&t, at(3600)).map(|s| s.user),
            Some("lan".into())
        );
        assert!(auth.find_at(&t, at(3600 + 2 * 3600 - 1)).is_some());
        // Two hours without a request end it.
        assert!(auth
            .find_at(&t, at(2 * 3600 + 2 * 3600 - 1 + 2 * 3600))
            .is_none());
        assert!(auth.find_at("not-a-token", at(0)).is_none());
    }

    #[test]
    fn sessions_end_after_twelve_hours_however_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = Auth::with_defaults(Accounts::in_dir(dir.path()), "t");
        let t0 = Instant::now();
        let t = auth.open_at("lan".into(), Role::Clerk, t0).expect("token");
        for h in 1..12 {
            assert!(auth
                .find_at(&t, t0 + Duration::from_secs(h * 3600))
                .is_some());
        }
        assert!(auth
            .find_at(&t, t0 + Duration::from_secs(12 * 3600))
            .is_none());
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; tinnhiem_session=abc; b=2".parse().expect("header"),
        );
        assert_eq!(token_of(&h).as_deref(), Some("abc"));
    }
}

//! Login sessions: a random 256-bit token in an HttpOnly, SameSite=Strict cookie, held in
//! memory with an idle and an absolute expiry (a restart signs everyone out, which is
//! what an office laptop or a hub after an upgrade should do). Handlers take a
//! [`Signed`] and call [`Signed::require`] with the roles they allow.

use crate::account::{Accounts, Role};
use crate::page;
use axum::extract::{FromRef, FromRequestParts, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const COOKIE: &str = "tinnhiem_session";

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Login name (what the audit log records).
    pub user: String,
    /// Role.
    pub role: Role,
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
            Html(page::frame(
                "Không có quyền",
                "tinnhiem",
                &[("/", "Trang chính")],
                Some(self),
                &format!(
                    "<section class=card><h1>Không có quyền</h1><p>Tài khoản «{}» ({}) không được dùng trang này.</p></section>",
                    page::esc(&self.user),
                    page::esc(self.role.title())
                ),
            )),
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
        }
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

    fn open(&self, signed: Signed) -> Option<String> {
        let mut b = [0u8; 32];
        getrandom::getrandom(&mut b).ok()?;
        let token = hex::encode(b);
        let now = Instant::now();
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
        let now = Instant::now();
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

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
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
            return Err((
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "error": "chưa đăng nhập hoặc phiên đăng nhập đã hết hạn"
                })),
            )
                .into_response());
        }
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        Err(Redirect::to(&format!("/login?next={}", page::url_encode(next))).into_response())
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

/// Only paths of this server, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn login_page(auth: &Auth, next: &str, error: Option<&str>) -> Html<String> {
    let hint = if auth.has_accounts() {
        String::new()
    } else {
        format!(
            "<p class=warn>Chưa có tài khoản nào. Tạo bằng lệnh <code>user add TÊN --role VAI_TRÒ</code> (xem {}).</p>",
            page::esc(&auth.accounts.path().display().to_string())
        )
    };
    let error = error
        .map(|e| {
            format!(
                "<p class=error role=alert id=login-error>{}</p>",
                page::esc(e)
            )
        })
        .unwrap_or_default();
    Html(page::frame(
        "Đăng nhập",
        &auth.app,
        &[],
        None,
        &format!(
            r#"<section class="card narrow"><h1>Đăng nhập</h1>{hint}{error}
<form method=post action="/login">
<input type=hidden name=next value="{next}">
<label>Tên đăng nhập <input name=user id=user autocomplete=username required autofocus></label>
<label>Mật khẩu <input name=password id=password type=password autocomplete=current-password required></label>
<button type=submit id=login>Đăng nhập</button>
</form></section>"#,
            next = page::esc(next)
        ),
    ))
}

async fn get_login(State(auth): State<Arc<Auth>>, Query(q): Query<LoginQuery>) -> Html<String> {
    login_page(&auth, safe_next(q.next.as_deref()), None)
}

async fn post_login(State(auth): State<Arc<Auth>>, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref()).to_string();
    let accounts = auth.accounts.clone();
    let (user, password) = (f.user.trim().to_string(), f.password);
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let checked = tokio::task::spawn_blocking(move || accounts.check(&user, &password)).await;
    let user = match checked {
        Ok(Ok(Some(u))) => u,
        Ok(Ok(None)) => {
            tracing::warn!(user = %f.user.trim(), "login refused");
            return (
                StatusCode::UNAUTHORIZED,
                login_page(&auth, &next, Some("Sai tên đăng nhập hoặc mật khẩu.")),
            )
                .into_response();
        }
        Ok(Err(e)) => {
            tracing::error!("accounts: {e}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                login_page(&auth, &next, Some(&e.to_string())),
            )
                .into_response();
        }
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let signed = Signed {
        user: user.name.clone(),
        role: user.role,
    };
    let Some(token) = auth.open(signed) else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "không lấy được số ngẫu nhiên",
        )
            .into_response();
    };
    tracing::info!(user = %user.name, role = user.role.key(), "login");
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
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
        .route("/login", get(get_login).post(post_login))
        .route("/logout", post(post_logout))
        .route("/assets/app.css", get(asset_css))
        .route("/assets/app.js", get(asset_js))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/s/x?y=1")), "/s/x?y=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn sessions_expire_when_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = Auth::new(
            Accounts::in_dir(dir.path()),
            "t",
            Duration::from_millis(30),
            Duration::from_secs(60),
        );
        let t = auth
            .open(Signed {
                user: "lan".into(),
                role: Role::Clerk,
            })
            .expect("token");
        assert_eq!(auth.find(&t).map(|s| s.user), Some("lan".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert!(auth.find(&t).is_none());
        assert!(auth.find("not-a-token").is_none());
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

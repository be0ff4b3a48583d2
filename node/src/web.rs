//! The clerk's web pages (`serve --http ADDR`): the whole session flow in Vietnamese,
//! offline, every asset in the binary. Each request opens the store for a moment (one
//! request at a time, behind a lock), acts through the [`Desk`] as the signed-in clerk,
//! and closes it, so the command line and `sync --daemon` keep working beside it.

use crate::desk::{Desk, NewSession, Sealing};
use crate::home::Home;
use anyhow::{anyhow, bail, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tinnhiem_core::doc::{CountField, MetaField};
use tinnhiem_core::domain::{
    compute, deadlines, exclusion_from_text, is_hhmm, Exclusion, Mode, PersonId, Procedure,
    Profile, Subject, SubjectId, ACCEPTED_EXCLUSIONS, ACCEPTED_HEADERS,
};
use tinnhiem_store::StoreError;
use tinnhiem_web::metrics::{Kind, Metrics};
use tinnhiem_web::{page, Auth, MetricsReader, Role, Signed};

/// What every handler needs.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) home: Arc<Home>,
    pub(crate) auth: Arc<Auth>,
    /// One request at a time holds the store.
    pub(crate) lock: Arc<Mutex<()>>,
}

impl FromRef<Web> for Arc<Auth> {
    fn from_ref(w: &Web) -> Arc<Auth> {
        w.auth.clone()
    }
}

const CLERKS: &[Role] = &[Role::Clerk];
/// Documents from another laptop, session JSON and CSV: generous for a session, small
/// for a laptop's memory.
const MAX_UPLOAD: usize = 16 << 20;

pub(crate) fn app(web: Web) -> Router {
    let app = Router::new()
        .route("/", get(home_page))
        .route("/s/{id}", get(session_page))
        .route("/s/{id}/minutes", get(minutes_page))
        .route("/s/{id}/result.csv", get(result_csv))
        .route("/s/{id}/result.xlsx", get(result_xlsx))
        .route("/s/{id}/doc", get(doc_download))
        .route("/api/sessions", get(api_sessions).post(api_create))
        .route("/api/import", post(api_import))
        .route("/api/merge", post(api_merge))
        .route("/api/s/{id}", get(api_session))
        .route("/api/s/{id}/subjects", post(api_subjects))
        .route("/api/s/{id}/subjects/edit", post(api_subject_edit))
        .route("/api/s/{id}/subjects/remove", post(api_subject_remove))
        .route("/api/s/{id}/delete", post(api_delete))
        .route("/api/s/{id}/board", post(api_board))
        .route("/api/s/{id}/counts", post(api_counts))
        .route("/api/s/{id}/tally", post(api_tally))
        .route("/api/s/{id}/entries", post(api_entry_add))
        .route("/api/s/{id}/entries/remove", post(api_entry_remove))
        .route("/api/s/{id}/seal", post(api_seal))
        .route("/api/status", get(api_status))
        .route("/metrics", get(metrics))
        .route(
            "/assets/sessions.js",
            get(|| async { page::js(SESSIONS_JS) }),
        )
        .route("/assets/session.js", get(|| async { page::js(SESSION_JS) }))
        .route("/assets/ballot.js", get(|| async { page::js(BALLOT_JS) }))
        .merge(tinnhiem_web::login::routes())
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(web.clone());
    tinnhiem_web::guarded(app, web.auth)
}

const SESSIONS_JS: &str = include_str!("../assets/sessions.js");
const SESSION_JS: &str = include_str!("../assets/session.js");
/// Ballot entry at the keyboard and the tallies table; loaded before session.js.
const BALLOT_JS: &str = include_str!("../assets/ballot.js");

fn title(w: &Web) -> String {
    format!(
        "Kiểm phiếu — {}",
        w.home
            .config
            .name
            .as_deref()
            .unwrap_or(w.home.config.unit.as_str())
    )
}

fn nav() -> Vec<(&'static str, &'static str)> {
    vec![("/", "Các phiên")]
}

/// Conflicts with the field's label for people (the path stays for scripts).
fn conflicts_json(c: &[tinnhiem_core::domain::Conflict]) -> Value {
    c.iter()
        .map(|c| json!({"field": c.field, "label": tinnhiem_core::domain::conflict_vi(&c.field), "values": c.values}))
        .collect()
}

fn bad(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": msg }))).into_response()
}

/// Runs `f` with the desk, as `who`, off the async threads and behind the store lock.
/// An error is the clerk's to read: a 400 with the message.
async fn at_desk<T: Send + 'static>(
    w: &Web,
    who: &Signed,
    f: impl FnOnce(&Desk<'_>) -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    who.require(CLERKS)?;
    desk_as(w, who.user.clone(), f).await
}

/// [`at_desk`] without a person: `user` is what the audit log would name.
async fn desk_as<T: Send + 'static>(
    w: &Web,
    user: String,
    f: impl FnOnce(&Desk<'_>) -> Result<T> + Send + 'static,
) -> Result<T, Response> {
    let (home, lock) = (w.home.clone(), w.lock.clone());
    let r = tokio::task::spawn_blocking(move || {
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let desk = Desk::open(&home, format!("{user} (web)"))?;
        // A page's change over standing seals waits for the clerk's word (`Unseal`).
        desk.allow_unseal.set(false);
        // Copies a seal on a full disk could not write, as every CLI command does; a
        // disk still full is said by the seal itself, not by every page.
        let _ = desk.rebuild_copies();
        f(&desk)
    })
    .await;
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if passing(&e) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": format!("{e:#}") })),
        )
            .into_response()),
        Ok(Err(e)) if e.downcast_ref::<crate::desk::SealStands>().is_some() => {
            let seq = e
                .downcast_ref::<crate::desk::SealStands>()
                .map_or(0, |s| s.seq);
            Err((
                StatusCode::CONFLICT,
                Json(json!({"error": format!("{e:#}"), "confirm_unseal": {"seq": seq}})),
            )
                .into_response())
        }
        Ok(Err(e)) => Err(match e.downcast_ref::<crate::desk::Refused>() {
            // Each reason goes to its field on the page; the whole text says it all too.
            Some(refused) => (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": refused.to_string(), "fields": refused.fields()})),
            )
                .into_response(),
            None => bad(format!("{e:#}")),
        }),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

/// A store another process holds, or a read or write the disk failed: the same request
/// may succeed in a moment, so it is a 503 the page retries, not a 400 it gives up on.
fn passing(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(
                StoreError::Locked(_)
                    | StoreError::Io(_)
                    | StoreError::NoSpace(_)
                    | StoreError::Unavailable { .. }
            )
        )
    })
}

fn json_or<T: serde::Serialize>(r: Result<T, Response>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e,
    }
}

async fn home_page(State(w): State<Web>, who: Signed) -> Response {
    if let Err(r) = who.require(CLERKS) {
        return r;
    }
    page::frame("Các phiên", &title(&w), &nav(), Some(&who), home_body()).into_response()
}

/// The list of sessions, the new-session form and the file import; `sessions.js`
/// fills them in.
fn home_body() -> Markup {
    html! {
        h1 { "Các phiên kiểm phiếu " small class="muted" id="live" {} } "\n"
        section class="card" { table id="sessions" { tr { td class="muted" { "Đang tải…" } } } } "\n"
        div class="grid" {
            "\n"
            section class="card" {
                h2 { "Tạo phiên mới" } "\n"
                form id="create" {
                    "\n"
                    label { "Mã phiên " input name="session" required placeholder="vd: hdnd-2024-ky-hop-18" pattern="[a-z0-9][a-z0-9.\\-_]*"; } "\n"
                    label { "Cơ quan bỏ phiếu " input name="body" required placeholder="vd: HĐND huyện Phong Thổ"; } "\n"
                    label { "Tên kỳ họp / hội nghị " input name="title" placeholder="vd: Kỳ họp thứ mười tám"; } "\n"
                    label { "Ngày bỏ phiếu " input name="date" type="date" required; } "\n"
                    label { "Ngày khai mạc kỳ họp (để trống nếu trùng ngày bỏ phiếu) " input name="opening_date" type="date"; } "\n"
                    label { "Quy định " select name="profile" {
                        option value="nq96-2023" { "Nghị quyết 96/2023/QH15 (HĐND)" }
                        option value="qd96-2023" { "Quy định 96-QĐ/TW (Đảng)" }
                        option value="nq85-2014" { "Nghị quyết 85/2014/QH13 (HĐND, trước NQ 96)" }
                        option value="qd262-2014" { "Quy định 262-QĐ/TW (Đảng, trước QĐ 96)" }
                    } } "\n"
                    label { "Hình thức " select name="procedure" {
                        option value="poll" { "Lấy phiếu tín nhiệm" }
                        option value="binding" { "Bỏ phiếu tín nhiệm" }
                    } } "\n"
                    label { "Cách nhập " select name="mode" {
                        option value="entries" { "Từng phiếu" }
                        option value="tallies" { "Tổng hợp từ giấy" }
                    } } "\n"
                    button id="create-go" { "Tạo phiên" } " " span id="create-msg" {} "\n"
                }
            }
            "\n"
            section class="card" {
                h2 { "Nhập phiên từ tệp" } "\n"
                p class="muted" { "Tệp JSON theo mẫu deploy/examples/session.json, hoặc tệp .automerge của máy khác trong cùng đơn vị (gộp)." } "\n"
                label { "Tệp " input type="file" id="file" accept=".json,.automerge"; } "\n"
                label class="check" { input type="checkbox" id="file-restore"; " Khôi phục nếu đây là phiên đã bị xóa trên máy này (bình thường để trống: tệp của phiên đã xóa bị từ chối)" } "\n"
                button id="file-go" class="secondary" { "Nhập / gộp" } " " span id="file-msg" {} "\n"
            }
        }
        "\n"
        section class="card" { h2 { "Gửi lên máy chủ" } div id="sync" {} } "\n"
        script src="/assets/sessions.js" {}
    }
}

async fn session_page(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    if let Err(r) = who.require(CLERKS) {
        return r;
    }
    page::frame(
        &format!("Phiên {id}"),
        &title(&w),
        &nav(),
        Some(&who),
        session_body(&id),
    )
    .into_response()
}

/// One session's page: its tabs are empty frames that `session.js` fills from
/// `/api/s/{id}`.
fn session_body(id: &str) -> Markup {
    html! {
        div id="session" data-id=(id) {} "\n"
        h1 id="heading" { "Phiên " (id) " " small class="muted" id="live" {} } "\n"
        p id="summary" class="muted" {} "\n"
        div id="session-actions" class="noprint" {} "\n"
        div id="unseal-confirm" class="noprint" hidden {} "\n"
        nav class="tabs noprint" id="tabs" {} "\n"
        @for tab in ["setup", "subjects", "counts", "ballots", "result", "seal"] {
            section class="card" id={ "tab-" (tab) } hidden {} "\n"
        }
        script src="/assets/ballot.js" {} "\n"
        script src="/assets/session.js" {}
    }
}

async fn api_sessions(State(w): State<Web>, who: Signed) -> Response {
    json_or(
        at_desk(&w, &who, |d| {
            let mut out = Vec::new();
            for id in d.store.sessions()? {
                let (_, doc) = d.load(id.as_str())?;
                let s = doc.read()?;
                let seals = d.store.seals(&id)?;
                out.push(json!({
                    "id": id, "body": s.meta.body, "title": s.meta.title, "date": s.meta.date.to_string(),
                    "profile": s.meta.profile.key(), "procedure": s.meta.procedure.title(),
                    "subjects": s.subjects.len(), "entries": s.entries.len(),
                    "sealed": seals.last().map(|x| x.body.seq),
                }));
            }
            Ok(Value::Array(out))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct CreateForm {
    session: String,
    body: String,
    #[serde(default)]
    title: Option<String>,
    date: String,
    /// Empty or absent: the session opens on the vote day.
    #[serde(default)]
    opening_date: Option<String>,
    profile: String,
    procedure: String,
    mode: String,
}

async fn api_create(State(w): State<Web>, who: Signed, Json(f): Json<CreateForm>) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            let mut problems = Vec::new();
            let id = d.session_id(f.session.trim());
            if let Err(e) = &id {
                problems.push(format!("Mã phiên: {e}"));
            }
            let profile = Profile::parse_or_why(&f.profile)
                .map_err(|why| problems.push(format!("Quy định: {why}")))
                .ok();
            let procedure = Procedure::parse(&f.procedure);
            let mode = Mode::parse(&f.mode);
            let date = chrono::NaiveDate::parse_from_str(&f.date, "%Y-%m-%d").ok();
            if date.is_none() {
                problems.push("Ngày bỏ phiếu: cần chọn một ngày".into());
            }
            if f.body.trim().is_empty() {
                problems.push("Cơ quan bỏ phiếu: còn trống".into());
            }
            let opening_date = match f.opening_date.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(o) => {
                    let d = chrono::NaiveDate::parse_from_str(o, "%Y-%m-%d").ok();
                    if d.is_none() {
                        problems.push(format!("Ngày khai mạc kỳ họp «{o}»: cần chọn một ngày"));
                    }
                    d
                }
            };
            let (Ok(id), Some(profile), Some(procedure), Some(mode), Some(date)) =
                (id, profile, procedure, mode, date)
            else {
                if problems.is_empty() {
                    problems.push("quy định, hình thức hoặc cách nhập không hợp lệ".into());
                }
                bail!("Không tạo được phiên:\n- {}", problems.join("\n- "));
            };
            d.create(&NewSession {
                id: id.clone(),
                profile,
                procedure,
                mode,
                date,
                opening_date,
                body: f.body,
                title: f.title,
            })?;
            Ok(json!({"id": id}))
        })
        .await,
    )
}

async fn api_import(State(w): State<Web>, who: Signed, body: String) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            let s = d.import(&body, "Tệp JSON")?;
            Ok(json!({"id": s.meta.session, "subjects": s.subjects.len()}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct MergeQuery {
    /// Bring back a session deleted on this laptop.
    #[serde(default)]
    restore: bool,
}

async fn api_merge(
    State(w): State<Web>,
    who: Signed,
    axum::extract::Query(q): axum::extract::Query<MergeQuery>,
    body: Bytes,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            let (sid, new, s) = d.merge(&body, "tệp của máy khác", q.restore)?;
            Ok(
                json!({"id": sid, "new_changes": new, "entries": s.entries.len(),
                      "conflicts": conflicts_json(&s.conflicts)}),
            )
        })
        .await,
    )
}

async fn api_session(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            let (sid, mut doc) = d.load(&id)?;
            let s = doc.read()?;
            let r = compute(&s);
            let heads = doc.heads();
            let seals: Vec<Value> = d
                .store
                .seals(&sid)?
                .iter()
                .map(|x| {
                    json!({"seq": x.body.seq, "seal_id": hex::encode(x.id()),
                           "result_digest": hex::encode(x.body.result_digest),
                           "sealed_at": x.body.sealed_at, "current": x.body.heads == heads})
                })
                .collect();
            let levels: Vec<Value> = s
                .meta
                .procedure
                .levels()
                .iter()
                .map(|l| json!({"key": l.key(), "title": l.title()}))
                .collect();
            let subjects: Vec<Value> = s
                .subjects
                .iter()
                .map(|x| {
                    json!({"id": x.id, "person_id": x.person_id, "name": x.name, "position": x.position,
                           "unit": x.unit, "excluded": x.excluded.map(|e| e.title()),
                           "excluded_key": x.excluded.map(|e| e.key()),
                           "marks": s.entries.iter().filter(|e| e.marks.contains_key(&x.id)).count(),
                           "tally": s.tallies.get(&x.id).map(|t| json!({"levels": t.levels, "invalid": t.invalid}))})
                })
                .collect();
            let entries: Vec<Value> = s
                .entries
                .iter()
                .map(|e| {
                    let marks: serde_json::Map<String, Value> = e
                        .marks
                        .iter()
                        .map(|(k, m)| (k.to_string(), json!(m.key())))
                        .collect();
                    json!({"id": e.id, "marks": marks})
                })
                .collect();
            let m = &s.meta;
            let problems: Vec<String> = r.problems.iter().map(ToString::to_string).collect();
            Ok(json!({
                "meta": {"session": m.session, "unit": m.unit, "body": m.body, "title": m.title,
                         "date": m.date.to_string(), "profile": m.profile.key(), "body_kind": m.profile.rules().body,
                         "procedure": m.procedure.key(), "procedure_title": m.procedure.title(),
                         "mode": m.mode.key(), "place": m.place, "count_from": m.count_from,
                         "count_to": m.count_to, "chair": m.chair, "board": m.board,
                         "assigned_by": m.assigned_by, "polled_posts": m.polled_posts,
                         "opening_date": m.opening_date.map(|d| d.to_string())},
                "attendance": s.attendance, "ballots": s.ballots,
                "levels": levels, "subjects": subjects, "entries": entries,
                "conflicts": conflicts_json(&s.conflicts), "anomalies": s.anomalies,
                "result": r.to_json(), "problems": problems, "sealable": r.sealable(),
                "board_missing": m.board_missing(),
                "flag_titles": r.subjects.iter().map(|x| (x.id.to_string(), x.flag.title())).collect::<std::collections::BTreeMap<_, _>>(),
                "seals": seals,
                "deadlines": deadlines(m),
                "csv_help": {"headers": ACCEPTED_HEADERS, "reasons": ACCEPTED_EXCLUSIONS},
                "exclusions": m.profile.rules().exclusions.iter().map(|e| json!({"key": e.key(), "title": e.title()})).collect::<Vec<_>>(),
            }))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct SubjectsForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    #[serde(default)]
    csv: Option<String>,
    /// With `csv`: replace the lines whose id is already on the list.
    #[serde(default)]
    replace: bool,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    position: Option<String>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    excluded: Option<String>,
}

/// The reason not to poll as the form sends it: a key, words, or empty for polled.
fn excluded_field(x: Option<&str>) -> Result<Option<Exclusion>> {
    exclusion_from_text(x.unwrap_or("")).map_err(|e| anyhow!("Lý do không lấy phiếu: {e}"))
}

async fn api_subjects(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<SubjectsForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            if let Some(csv) = f.csv.filter(|c| !c.trim().is_empty()) {
                let r = d.import_subjects(&id, &csv, "Danh sách CSV", f.replace)?;
                return Ok(
                    json!({"imported": r.added, "replaced": r.replaced, "unchanged": r.unchanged}),
                );
            }
            let sid = SubjectId::new(f.id.as_deref().unwrap_or("").trim())
                .map_err(|e| anyhow!("Mã dòng: {e}"))?;
            let person = PersonId::new(f.person.as_deref().unwrap_or("").trim())
                .map_err(|e| anyhow!("Mã người: {e}"))?;
            let excluded = excluded_field(f.excluded.as_deref())?;
            let s = d.add_subject(
                &id,
                Subject {
                    id: sid,
                    person_id: person,
                    name: f.name.unwrap_or_default().trim().into(),
                    position: f.position.unwrap_or_default().trim().into(),
                    unit: f.unit.unwrap_or_default().trim().into(),
                    order: 0,
                    excluded,
                },
            )?;
            Ok(json!({"id": s.id}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct SubjectEditForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    id: String,
    person: String,
    name: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    excluded: Option<String>,
}

async fn api_subject_edit(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<SubjectEditForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            let person = PersonId::new(f.person.trim()).map_err(|e| anyhow!("Mã người: {e}"))?;
            let change = crate::desk::SubjectChange {
                person_id: Some(person),
                name: Some(f.name),
                position: Some(f.position),
                unit: Some(f.unit),
                excluded: Some(excluded_field(f.excluded.as_deref())?),
            };
            let (old, new) = d.edit_subject(&id, &f.id, change)?;
            Ok(json!({"id": new.id, "changed": old != new}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct SubjectRemoveForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    id: String,
    /// The clerk saw how many marks this person has and wants them gone too.
    #[serde(default)]
    drop_marks: bool,
}

async fn api_subject_remove(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<SubjectRemoveForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            let r = d.remove_subject(&id, &f.id, f.drop_marks)?;
            Ok(json!({"id": r.subject.id, "name": r.subject.name, "marks": r.marks, "tally": r.tally}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct DeleteForm {
    /// The session's id typed again: the page's confirmation, checked here too.
    confirm: String,
}

async fn api_delete(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<DeleteForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            if f.confirm.trim() != id {
                bail!("Chưa xóa: gõ đúng mã phiên «{id}» để xác nhận");
            }
            let r = d.delete_session(&id)?;
            Ok(json!({"id": r.id, "subjects": r.subjects, "entries": r.entries}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct BoardForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    #[serde(default)]
    chair: Option<String>,
    /// One member per line.
    #[serde(default)]
    members: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    assigned_by: Option<String>,
    #[serde(default)]
    polled_posts: Option<String>,
    /// YYYY-MM-DD; empty clears it (the session opens on the vote day).
    #[serde(default)]
    opening_date: Option<String>,
}

async fn api_board(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<BoardForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            let mut problems = Vec::new();
            for (label, v) in [("Bắt đầu kiểm phiếu", &f.from), ("Kết thúc", &f.to)] {
                if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                    if !is_hhmm(v) {
                        problems.push(format!("{label} «{v}»: cần dạng GIỜ:PHÚT, vd 14:05"));
                    }
                }
            }
            let opening = f.opening_date.map(|o| o.trim().to_string());
            if let Some(o) = opening.as_deref().filter(|o| !o.is_empty()) {
                if chrono::NaiveDate::parse_from_str(o, "%Y-%m-%d").is_err() {
                    problems.push(format!("Ngày khai mạc kỳ họp «{o}»: cần chọn một ngày"));
                }
            }
            if !problems.is_empty() {
                bail!("{}", problems.join("\n"));
            }
            let keep = |v: Option<String>| v.filter(|x| !x.trim().is_empty());
            let members = f.members.map(|m| {
                m.lines()
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .collect::<Vec<_>>()
                    .join("\n")
            });
            d.set_meta(
                &id,
                vec![
                    (MetaField::Chair, keep(f.chair)),
                    (MetaField::Board, keep(members)),
                    (MetaField::CountFrom, keep(f.from)),
                    (MetaField::CountTo, keep(f.to)),
                    (MetaField::Place, keep(f.place)),
                    (MetaField::Title, keep(f.title)),
                    (MetaField::AssignedBy, keep(f.assigned_by)),
                    (MetaField::PolledPosts, keep(f.polled_posts)),
                    (MetaField::OpeningDate, opening),
                ],
            )?;
            Ok(json!({"ok": true}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct CountsForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    total: Option<u64>,
    present: Option<u64>,
    absent_from_start: Option<u64>,
    present_at_vote: Option<u64>,
    issued: Option<u64>,
    collected: Option<u64>,
    wholly_invalid: Option<u64>,
    /// Check only, write nothing: the page asks as the clerk types.
    #[serde(default)]
    check: bool,
}

async fn api_counts(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<CountsForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            let r = d.set_counts(
                &id,
                &[
                    (CountField::Total, f.total),
                    (CountField::Present, f.present),
                    (CountField::AbsentFromStart, f.absent_from_start),
                    (CountField::PresentAtVote, f.present_at_vote),
                    (CountField::Issued, f.issued),
                    (CountField::Collected, f.collected),
                    (CountField::WhollyInvalid, f.wholly_invalid),
                ],
                f.check,
            )?;
            Ok(json!({"quorum_met": r.quorum_met, "saved": !f.check}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct TallyForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    subject: String,
    high: Option<u64>,
    confidence: Option<u64>,
    low: Option<u64>,
    no_confidence: Option<u64>,
    #[serde(default)]
    invalid: u64,
}

async fn api_tally(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<TallyForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            d.set_tally(
                &id,
                &f.subject,
                [f.high, f.confidence, f.low, f.no_confidence],
                f.invalid,
                [
                    "Tín nhiệm cao",
                    "Tín nhiệm",
                    "Tín nhiệm thấp",
                    "Không tín nhiệm",
                ],
            )?;
            Ok(json!({"ok": true}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct EntryForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    /// Subject id → mark key. Missing is an empty ballot, refused in Vietnamese like
    /// any other, not a bare 422.
    #[serde(default)]
    marks: std::collections::BTreeMap<String, String>,
    /// The page's id for this ballot; a retry with the same id is answered, not stored.
    #[serde(default)]
    id: Option<String>,
}

async fn api_entry_add(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<EntryForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            let pairs: Vec<(String, String)> = f.marks.into_iter().collect();
            let a = d.add_entry(&id, &pairs, f.id.as_deref())?;
            Ok(json!({"id": a.id, "count": a.count, "already": a.already}))
        })
        .await,
    )
}

#[derive(Deserialize)]
struct RemoveForm {
    /// The clerk confirmed in the page that this change may unseal the minutes.
    #[serde(default)]
    confirm_unseal: bool,
    id: String,
}

async fn api_entry_remove(
    State(w): State<Web>,
    who: Signed,
    Path(id): Path<String>,
    Json(f): Json<RemoveForm>,
) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            d.allow_unseal.set(f.confirm_unseal);
            d.remove_entry(&id, &f.id)?;
            Ok(json!({"ok": true}))
        })
        .await,
    )
}

async fn api_seal(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    json_or(
        at_desk(&w, &who, move |d| {
            Ok(match d.seal(&id)? {
                Sealing::Already(s) => {
                    json!({"state": "already", "seq": s.body.seq, "seal_id": hex::encode(s.id())})
                }
                Sealing::Sealed(s, _) => {
                    json!({"state": "sealed", "seq": s.body.seq, "seal_id": hex::encode(s.id())})
                }
                Sealing::Refused(p) => json!({"state": "refused", "problems": p}),
            })
        })
        .await,
    )
}

async fn api_status(State(w): State<Web>, who: Signed) -> Response {
    json_or(
        at_desk(&w, &who, |d| {
            // Re-read node.toml: `hub set` may have run since the server started.
            let home = Home::open(&d.home.dir)?;
            crate::sync::status_value(&home, &d.store)
        })
        .await,
    )
}

/// Prometheus text format: sessions, seals, and deliveries to the hub by state. For a
/// clerk signed in, or a scraper with the home's `metrics.token`.
async fn metrics(State(w): State<Web>, who: MetricsReader) -> Response {
    let user = match who {
        MetricsReader::Scraper => "prometheus".to_string(),
        MetricsReader::Person(p) => {
            if let Err(r) = p.require(CLERKS) {
                return r;
            }
            p.user
        }
    };
    let r = desk_as(&w, user, |d| {
        let sessions = d.store.sessions()?;
        let mut seals = 0;
        for s in &sessions {
            seals += d.store.seals(s)?.len() as u64;
        }
        let home = Home::open(&d.home.dir)?;
        let st = crate::sync::status_value(&home, &d.store)?;
        let list = st["deliveries"].as_array().cloned().unwrap_or_default();
        let alarm = !st["log"]["alarm"].is_null();
        let mut m = Metrics::new();
        m.one(
            Kind::Gauge,
            "tinnhiem_node_sessions",
            "Sessions in this home.",
            sessions.len() as u64,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_node_seals",
            "Seals made in this home.",
            seals,
        )
        .labelled(
            Kind::Gauge,
            "tinnhiem_node_deliveries",
            "Seals by delivery state to the hub.",
            ["pending", "sent", "received", "rejected"].map(|state| {
                let n = list.iter().filter(|x| x["state"] == state).count() as u64;
                (vec![("state", state.to_string())], n)
            }),
        )
        .one(
            Kind::Gauge,
            "tinnhiem_node_log_alarm",
            "1 when the hub signed two log states that cannot both be true.",
            u64::from(alarm),
        );
        Ok(m)
    })
    .await;
    match r {
        Ok(m) => m.into_response(),
        Err(e) => e,
    }
}

async fn minutes_page(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    let name = w.home.config.name.clone();
    match at_desk(&w, &who, move |d| {
        let (sid, mut doc) = d.load(&id)?;
        let s = doc.read()?;
        let r = compute(&s);
        let seals = d.store.seals(&sid)?;
        let heads = doc.heads();
        let current = seals.iter().rev().find(|x| x.body.heads == heads);
        Ok(tinnhiem_web::minutes::html(
            &s,
            &r,
            name.as_deref(),
            current,
        ))
    })
    .await
    {
        Ok(h) => Html(h).into_response(),
        Err(e) => e,
    }
}

async fn result_csv(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    result_file(
        w,
        who,
        id,
        "csv",
        "text/csv; charset=utf-8",
        crate::report::csv,
    )
    .await
}

async fn result_xlsx(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    let mime = tinnhiem_web::sheet::XLSX_MIME;
    result_file(w, who, id, "xlsx", mime, crate::report::xlsx).await
}

/// A session's result as a download, written by `write` (CSV or XLSX).
async fn result_file(
    w: Web,
    who: Signed,
    id: String,
    ext: &'static str,
    mime: &'static str,
    write: fn(&tinnhiem_core::domain::SessionResult) -> anyhow::Result<Vec<u8>>,
) -> Response {
    let file = format!("attachment; filename=\"{}.{ext}\"", id.replace('"', ""));
    match at_desk(&w, &who, move |d| {
        let (_, doc) = d.load(&id)?;
        write(&compute(&doc.read()?))
    })
    .await
    {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, mime.to_string()),
                (header::CONTENT_DISPOSITION, file),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e,
    }
}

async fn doc_download(State(w): State<Web>, who: Signed, Path(id): Path<String>) -> Response {
    let file = format!("attachment; filename=\"{}.automerge\"", id.replace('"', ""));
    match at_desk(&w, &who, move |d| {
        let (_, mut doc) = d.load(&id)?;
        Ok(doc.save())
    })
    .await
    {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (header::CONTENT_DISPOSITION, file),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => e,
    }
}

/// `serve`: the pages, and with `sync` the delivery loop, in one process until SIGTERM.
pub(crate) fn serve(home: Home, addr: std::net::SocketAddr, sync: bool) -> Result<()> {
    tinnhiem_net::log::init();
    let home = Arc::new(home);
    let token = tinnhiem_web::metrics::token(&home.dir)?;
    let auth = Arc::new(
        Auth::with_defaults(
            tinnhiem_web::Accounts::in_dir(&home.dir),
            format!(
                "Kiểm phiếu — {}",
                home.config
                    .name
                    .as_deref()
                    .unwrap_or(home.config.unit.as_str())
            ),
        )
        .with_metrics_token(token),
    );
    if !auth.has_accounts() {
        println!(
            "Chưa có tài khoản: tạo bằng `tinnhiem-node --home {} user add TÊN --role clerk`",
            home.dir.display()
        );
    }
    // Copies a seal on a full disk could not write (see copies.rs).
    if let Err(e) = Desk::open(&home, "serve").and_then(|d| d.rebuild_copies()) {
        eprintln!("Cảnh báo: {e:#}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow!("--http {addr}: không mở được cổng web: {e}"))?;
        let local = listener.local_addr()?;
        println!("Trang kiểm phiếu: http://{local}/");
        let web = Web {
            home: home.clone(),
            auth,
            lock: Arc::new(Mutex::new(())),
        };
        let stop = tinnhiem_web::process::Stop::on_signal();
        let server = tokio::spawn(tinnhiem_web::serve_until(
            listener,
            app(web),
            stop.clone().wait(),
        ));
        if sync {
            // The loop ends at the stop, after the round in progress is recorded.
            crate::sync::daemon_loop(&home, stop.clone().wait()).await;
        } else {
            stop.wait().await;
        }
        // Requests in flight are answered (and their writes made durable) first.
        if tokio::time::timeout(tinnhiem_web::process::DRAIN, server)
            .await
            .is_err()
        {
            tracing::warn!("requests still open after the drain; stopping anyway");
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markup, quotes and an entity, named after the field they go into.
    fn hostile(field: &str) -> String {
        format!(r#"<script>alert("{field}")</script> & '{field}' "{field}""#)
    }

    fn escaped(field: &str) -> String {
        format!("&lt;script&gt;alert(&quot;{field}&quot;)&lt;/script&gt; &amp; '{field}' &quot;{field}&quot;")
    }

    fn clerk() -> Signed {
        Signed {
            user: "lan".into(),
            role: Role::Clerk,
            csrf: "t".into(),
        }
    }

    /// The session's id comes from the URL before anything validates it, and the
    /// office's name from node.toml: both are escaped, in text and in attributes.
    #[test]
    fn the_pages_escape_the_id_in_the_url_and_the_office_name() {
        let id = hostile("id");
        let html = page::frame(
            &format!("Phiên {id}"),
            &hostile("name"),
            &nav(),
            Some(&clerk()),
            session_body(&id),
        )
        .into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains(&escaped("name")), "{html}");
        assert!(
            html.contains(&format!(
                r#"<div id="session" data-id="{}">"#,
                escaped("id")
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(r#"<h1 id="heading">Phiên {} "#, escaped("id"))),
            "{html}"
        );
        // Six empty tabs and two page scripts, files only.
        assert_eq!(html.matches(r#"<section class="card" id="tab-"#).count(), 6);
        assert_eq!(html.matches("<script").count(), 3, "{html}");
        assert!(html.contains(r#"<script src="/assets/session.js"></script>"#));

        let html = page::frame(
            "Các phiên",
            &hostile("name"),
            &nav(),
            Some(&clerk()),
            home_body(),
        )
        .into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains(&escaped("name")), "{html}");
        assert!(
            html.contains(r#"pattern="[a-z0-9][a-z0-9.\-_]*""#),
            "{html}"
        );
    }
}

//! The hub's web pages (`serve --http ADDR`): the provincial dashboard (units reported
//! of those expected, as a tree of the province; late and missing units; subjects over
//! thresholds; delivery to each upper hub; the transparency log's head), the printable
//! minutes of any session received, CSV export, the reviewer's search across places,
//! and `/metrics`. Every page reads the same reports the CLI prints (`query::*`), so the
//! two never disagree; pages refresh themselves by polling `/api/*` every few seconds.

use crate::home::Home;
use crate::keys::doc_key;
use crate::query::deadlines::{deadlines, Period};
use crate::query::log::{log_show, LogHead};
use crate::query::person::person;
use crate::query::results::{flagged, SubjectRow};
use crate::query::sessions::sessions;
use crate::query::status::{counts, status, status_down, Status, StatusReport};
use crate::query::Hub;
use crate::state::HubState;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_store::Table;
use tinnhiem_web::metrics::{Kind, Metrics};
use tinnhiem_web::sheet::{Cell, Sheet, XLSX_MIME};
use tinnhiem_web::{page, Auth, MetricsReader, Role, Signed};

/// What every handler needs.
#[derive(Clone)]
pub(crate) struct Web {
    pub(crate) hub: Arc<HubState>,
    pub(crate) home: PathBuf,
    pub(crate) auth: Arc<Auth>,
}

impl FromRef<Web> for Arc<Auth> {
    fn from_ref(w: &Web) -> Arc<Auth> {
        w.auth.clone()
    }
}

const STAFF: &[Role] = &[Role::Staff];
const READERS: &[Role] = &[Role::Staff, Role::Reviewer];

/// The router.
pub(crate) fn app(web: Web) -> Router {
    let app = Router::new()
        .route("/", get(dashboard))
        .route("/review", get(review))
        .route("/minutes/{unit}/{session}", get(minutes))
        .route("/export/results.csv", get(results_csv))
        .route("/export/results.xlsx", get(results_xlsx))
        .route("/api/dashboard", get(api_dashboard))
        .route("/api/person", get(api_person))
        .route("/metrics", get(metrics))
        .route(
            "/assets/dashboard.js",
            get(|| async { page::js(DASHBOARD_JS) }),
        )
        .route("/assets/review.js", get(|| async { page::js(REVIEW_JS) }))
        .merge(tinnhiem_web::login::routes())
        .with_state(web.clone());
    tinnhiem_web::guarded(app, web.auth)
}

fn nav(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut n = Vec::new();
    if role != Role::Reviewer {
        n.push(("/", "Tổng hợp"));
        n.push(("/export/results.csv", "Xuất CSV"));
        n.push(("/export/results.xlsx", "Xuất Excel"));
    }
    n.push(("/review", "Tra cứu người được lấy phiếu"));
    n
}

/// Runs a store query off the async threads; errors become a 500 with the message.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{e:#}"),
        )),
        Err(e) => Err(api_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())),
    }
}

/// The upper hubs, read again from hub.toml (`destination add` changes it while serving).
fn destinations(home: &std::path::Path) -> Vec<crate::home::Destination> {
    Home::open(home)
        .map(|h| h.config.destination)
        .unwrap_or_default()
}

fn api_error(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

fn title(w: &Web) -> String {
    let name = Home::open(&w.home)
        .ok()
        .and_then(|h| h.config.name)
        .unwrap_or_else(|| w.hub.unit.clone());
    format!("Máy chủ {name}")
}

async fn dashboard(State(w): State<Web>, who: Signed) -> Response {
    if who.role == Role::Reviewer {
        return axum::response::Redirect::to("/review").into_response();
    }
    if let Err(r) = who.require(STAFF) {
        return r;
    }
    page::frame(
        "Tổng hợp",
        &title(&w),
        &nav(who.role),
        Some(&who),
        dashboard_body(),
    )
    .into_response()
}

/// The dashboard's frames: counts, the tree of units, flagged people, sessions,
/// deliveries up, refused keys and rejections; `dashboard.js` fills them from
/// `/api/dashboard`.
fn dashboard_body() -> Markup {
    html! {
        h1 { "Tổng hợp kết quả lấy phiếu tín nhiệm " small class="muted" id="live" {} } "\n"
        div class="grid" {
            "\n "
            div class="card" { div class="muted" { "Đơn vị đã báo cáo" } div class="stat" id="reported" { "…" } } "\n "
            div class="card" { div class="muted" { "Biên bản đã nhận / bị từ chối" } div class="stat" id="seals" { "…" } } "\n "
            div class="card" { div class="muted" { "Hạn báo cáo" } div id="due" { "…" } } "\n "
            div class="card" { div class="muted" { "Nhật ký minh bạch" } div id="log" { "…" } } "\n"
        }
        "\n"
        section class="card alarm" id="loss-card" hidden { h2 { "Kho dữ liệu đã mất dữ liệu" } div id="loss" {} } "\n"
        div class="card bad" id="store-down" hidden {} "\n"
        section class="card" { h2 { "Các đơn vị" } div class="tree" id="units" {} } "\n"
        section class="card" { h2 { "Người có kết quả vượt ngưỡng" } div id="flagged" {} } "\n"
        section class="card" { h2 { "Biên bản đã nhận" } div id="sessions" {} } "\n"
        section class="card" { h2 { "Chuyển lên cấp trên" } div id="destinations" {} } "\n"
        section class="card" {
            h2 { "Khóa lạ bị từ chối khi kết nối" }
            p class="muted" { "Máy chủ chưa đăng ký các khóa này. Chỉ đăng ký sau khi gọi điện cho đơn vị và đối chiếu dấu vân tay khóa với màn hình của họ." }
            div id="refused" {}
        }
        "\n"
        section class="card" { h2 { "Bị từ chối gần đây" } div id="rejections" {} } "\n"
        script src="/assets/dashboard.js" {}
    }
}

/// The reviewer's search; `review.js` asks `/api/person` and lists what it finds.
fn review_body() -> Markup {
    html! {
        h1 { "Tra cứu người được lấy phiếu" } "\n"
        section class="card noprint" {
            form id="search" class="row" {
                "\n"
                label { "Họ tên (có hoặc không dấu) hoặc mã người " input id="q" name="q" autofocus autocomplete="off" placeholder="ví dụ: nguyen van an"; } "\n"
                button id="go" type="submit" { "Tìm" }
            }
            p class="muted" id="count" {}
        }
        "\n"
        div id="people" {} "\n"
        script src="/assets/review.js" {}
    }
}

const DASHBOARD_JS: &str = include_str!("../assets/dashboard.js");
const REVIEW_JS: &str = include_str!("../assets/review.js");

/// `/api/dashboard`: `status`, with what the page shows besides.
#[derive(Serialize)]
struct Dashboard {
    #[serde(flatten)]
    status: Status,
    log: LogHead,
    flagged: Vec<SubjectRow>,
    deadlines: Vec<Period>,
    sessions: Vec<SessionRow>,
}

/// One session received, at its latest seal.
#[derive(Serialize)]
struct SessionRow {
    unit: String,
    session: String,
    body: String,
    /// ISO day.
    date: String,
    seq: u32,
    /// Unix seconds.
    received_at: Option<i64>,
    subjects: usize,
    flagged: usize,
}

async fn api_dashboard(State(w): State<Web>, who: Signed) -> Response {
    if let Err(r) = who.require(STAFF) {
        return r;
    }
    let hub = w.hub.clone();
    let home = w.home.clone();
    let r = blocking(move || {
        let q = hub.queries();
        let store = &hub.store;
        if !store.health().available {
            // The page keeps what it showed and says why nothing is new.
            let down = StatusReport::Down(Box::new(status_down(&hub.unit, store)))
                .with_refused(hub.refused_keys(), hub.refused_keys_more());
            return Ok(serde_json::to_value(down)?);
        }
        let today = chrono::Utc::now().date_naive();
        let mut status = status(q, today)?;
        status.destinations = Some(delivery_summary(&hub, &home)?);
        status.refused_keys = hub.refused_keys();
        status.refused_keys_more = Some(hub.refused_keys_more());
        let sessions = sessions(store, &hub.results)?
            .iter()
            .map(|s| SessionRow {
                unit: s.unit.clone(),
                session: s.result.session.to_string(),
                body: s.meta.body.clone(),
                date: s.meta.date.to_string(),
                seq: s.seal.body.seq,
                received_at: s.receipt.as_ref().map(|r| r.body.received_at),
                subjects: s.result.subjects.len(),
                flagged: s
                    .result
                    .subjects
                    .iter()
                    .filter(|x| x.flag != tinnhiem_core::domain::Flag::None)
                    .count(),
            })
            .collect();
        Ok(serde_json::to_value(Dashboard {
            status,
            log: log_show(store)?,
            flagged: flagged(q)?,
            deadlines: deadlines(q, today)?.periods,
            sessions,
        })?)
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => e,
    }
}

async fn review(State(w): State<Web>, who: Signed) -> Response {
    if let Err(r) = who.require(READERS) {
        return r;
    }
    page::frame(
        "Tra cứu",
        &title(&w),
        &nav(who.role),
        Some(&who),
        review_body(),
    )
    .into_response()
}

#[derive(Deserialize)]
struct PersonQuery {
    #[serde(default)]
    q: String,
}

async fn api_person(State(w): State<Web>, who: Signed, Query(q): Query<PersonQuery>) -> Response {
    if let Err(r) = who.require(READERS) {
        return r;
    }
    let query = q.q.trim().to_string();
    if query.is_empty() {
        return Json(json!({"query": "", "people": []})).into_response();
    }
    if query.chars().count() > 200 {
        return api_error(StatusCode::BAD_REQUEST, "chuỗi tìm kiếm quá dài");
    }
    let hub = w.hub.clone();
    match blocking(move || person(hub.queries(), &query)).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => e,
    }
}

async fn minutes(
    State(w): State<Web>,
    who: Signed,
    Path((unit, session)): Path<(String, String)>,
) -> Response {
    if let Err(r) = who.require(READERS) {
        return r;
    }
    let hub = w.hub.clone();
    let r = blocking(move || -> anyhow::Result<Option<String>> {
        let store = &hub.store;
        let Some(s) = sessions(store, &hub.results)?
            .into_iter()
            .find(|s| s.unit == unit && s.result.session.as_str() == session)
        else {
            return Ok(None);
        };
        let Some(bytes) = store.read(Table::Docs, &doc_key(&unit, &session))? else {
            return Ok(None);
        };
        let mut doc = SessionDoc::load(&bytes, b"hub")?;
        let at = doc.read_at(&s.seal.body.heads)?;
        let name = crate::registry::list(store)?
            .into_iter()
            .find(|e| e.id == unit)
            .and_then(|e| e.name);
        Ok(Some(tinnhiem_web::minutes::html(
            &at,
            &s.result,
            name.as_deref(),
            Some(&s.seal),
        )))
    })
    .await;
    match r {
        Ok(Some(html)) => axum::response::Html(html).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            page::message(
                "Không có biên bản",
                "Máy chủ chưa nhận biên bản đã niêm phong nào của phiên này.",
            ),
        )
            .into_response(),
        Err(e) => e,
    }
}

const RESULT_HEADERS: [&str; 21] = [
    "Đơn vị",
    "Phiên",
    "Cơ quan",
    "Ngày",
    "Mã người",
    "Họ tên",
    "Chức vụ",
    "Phiếu thu về",
    "Phiếu không hợp lệ hoàn toàn",
    "Phiếu hợp lệ",
    "Phiếu không hợp lệ",
    "Tín nhiệm cao",
    "Tín nhiệm cao (%)",
    "Tín nhiệm",
    "Tín nhiệm (%)",
    "Tín nhiệm thấp",
    "Tín nhiệm thấp (%)",
    "Không tín nhiệm",
    "Không tín nhiệm (%)",
    "Cảnh báo",
    "Mã niêm phong",
];

/// The column of [`RESULT_HEADERS`] with the warning, which shades a row in XLSX.
const FLAG_COL: usize = 19;

/// One row per subject of every session received: text cells, numbers as numbers, a
/// level the procedure lacks left empty.
fn result_sheet(hub: Hub<'_>) -> anyhow::Result<Sheet> {
    use tinnhiem_core::domain::Mark;
    let mut rows = Vec::new();
    for s in sessions(hub.store, hub.cache)? {
        let levels = s.result.procedure.levels();
        for x in &s.result.subjects {
            let mut row = vec![
                Cell::Text(s.unit.clone()),
                Cell::Text(s.result.session.to_string()),
                Cell::Text(s.meta.body.clone()),
                Cell::Text(s.meta.date.to_string()),
                Cell::Text(x.person_id.to_string()),
                Cell::Text(x.name.clone()),
                Cell::Text(x.position.clone()),
                Cell::Num(s.result.collected),
                Cell::Num(s.result.wholly_invalid),
                Cell::Num(x.valid),
                Cell::Num(x.invalid),
            ];
            for m in [Mark::High, Mark::Confidence, Mark::Low, Mark::NoConfidence] {
                let i = levels.iter().position(|l| *l == m);
                row.push(
                    i.and_then(|i| x.counts.get(i))
                        .map_or(Cell::Empty, |c| Cell::Num(*c)),
                );
                row.push(
                    i.and_then(|i| x.percent.get(i))
                        .map_or(Cell::Empty, |p| Cell::Percent(*p)),
                );
            }
            row.push(Cell::Text(x.flag.title().to_string()));
            row.push(Cell::Text(hex::encode(s.seal.id())));
            rows.push(row);
        }
    }
    Ok(Sheet {
        headers: RESULT_HEADERS.iter().map(|h| h.to_string()).collect(),
        rows,
        flag_col: Some(FLAG_COL),
    })
}

fn download(bytes: Vec<u8>, mime: &'static str, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// For Excel in a Vietnamese office: BOM, `;`, decimal comma (see [`tinnhiem_web::sheet`]).
async fn results_csv(State(w): State<Web>, who: Signed) -> Response {
    if let Err(r) = who.require(STAFF) {
        return r;
    }
    let hub = w.hub.clone();
    let r = blocking(move || Ok(result_sheet(hub.queries())?.csv()?)).await;
    match r {
        Ok(bytes) => download(bytes, "text/csv; charset=utf-8", "ket-qua.csv"),
        Err(e) => e,
    }
}

async fn results_xlsx(State(w): State<Web>, who: Signed) -> Response {
    if let Err(r) = who.require(STAFF) {
        return r;
    }
    let hub = w.hub.clone();
    let r = blocking(move || Ok(result_sheet(hub.queries())?.xlsx("Kết quả")?)).await;
    match r {
        Ok(bytes) => download(bytes, XLSX_MIME, "ket-qua.xlsx"),
        Err(e) => e,
    }
}

/// Prometheus text format: for the dashboard's logins, and for a scraper with the
/// home's `metrics.token` as a bearer token (Prometheus cannot log in with a cookie).
async fn metrics(State(w): State<Web>, who: MetricsReader) -> Response {
    if let MetricsReader::Person(p) = &who {
        if let Err(r) = p.require(STAFF) {
            return r;
        }
    }
    let hub = w.hub.clone();
    let home = w.home.clone();
    let r = blocking(move || {
        let store = &hub.store;
        let t = hub.traffic();
        let health = store.health();
        let mut m = Metrics::new();
        m.one(
            Kind::Gauge,
            "tinnhiem_hub_store_available",
            "1 when the store works, 0 while it is down (a full or failing disk); it reopens by itself.",
            u64::from(health.available),
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_store_failing",
            "1 while the store is down or its disk failed in the last 60 s (a full disk lets it reopen between refused writes), else 0.",
            u64::from(health.failing),
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_store_last_failure_timestamp_seconds",
            "Unix time of the last failure of the store's disk in this process; 0 if none.",
            health.last_failure.map_or(0, |t| u64::try_from(t).unwrap_or(0)),
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_store_failures_total",
            "Failures of the store's disk (full, I/O error) seen since start.",
            health.failures,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_store_reopened_total",
            "Times the store was opened again by itself after a failure, since start.",
            health.reopened,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_resync_asked_total",
            "Seals answered heads_missing (the node sends its document again first), since start; not rejections.",
            t.resync,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_refused_unavailable_total",
            "Deliveries refused as unavailable (the store could not be used), since start.",
            t.unavailable,
        );
        if !health.available {
            // Nothing can be read: the counts of the store are left out, not zeroed.
            return Ok(m);
        }
        // Counts only: no deadline calendar, no results, so a scrape stays cheap.
        let c = counts(store, &hub.unit)?;
        let d = delivery_summary(&hub, &home)?;
        let log = log_show(store)?;
        let loss = crate::leaves::LossRecord::read(store).map_err(|e| anyhow::anyhow!(e))?;
        m.one(
            Kind::Gauge,
            "tinnhiem_hub_seals_accepted",
            "Sealed minutes accepted.",
            c.seals_accepted,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_seals_rejected",
            "Sealed minutes or messages rejected.",
            c.seals_rejected,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_units_expected",
            "Units registered to report here.",
            c.units_expected,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_units_reported",
            "Units with at least one accepted seal.",
            c.units_reported,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_log_size",
            "Leaves in the transparency log.",
            log.size,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_log_lost_items",
            "Items signed into the log that the store lost and no district delivered again yet (alarm when > 0).",
            loss.missing.len() as u64,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_log_loss_events_total",
            "Times the store was found behind the log on start (it went back in time).",
            loss.events.len() as u64,
        )
        .labelled(
            Kind::Gauge,
            "tinnhiem_hub_deliveries",
            "Deliveries to upper hubs by state.",
            d.as_array().into_iter().flatten().flat_map(|dest| {
                let unit = dest["unit"].as_str().unwrap_or("").to_string();
                ["pending", "sent", "received", "rejected"].map(|st| {
                    (
                        vec![("destination", unit.clone()), ("state", st.to_string())],
                        dest[st].as_u64().unwrap_or(0),
                    )
                })
            }),
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_connections_total",
            "QUIC connections closed since start.",
            t.connections,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_messages_total",
            "Sync messages exchanged on closed connections since start.",
            t.messages,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_wire_bytes_total",
            "Bytes on the wire of closed connections since start.",
            t.bytes,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_retries_total",
            "QUIC Retries sent: handshakes asked to prove their address while many were pending.",
            t.retries,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_handshakes_shed_total",
            "Handshakes dropped or refused over a bound (per source address, in total).",
            t.shed,
        )
        .one(
            Kind::Gauge,
            "tinnhiem_hub_handshakes_in_progress",
            "Handshakes in progress at the last one admitted.",
            t.handshakes,
        )
        .one(
            Kind::Counter,
            "tinnhiem_hub_refused_keys_total",
            "Handshakes refused for a key the registry does not accept (remembered keys).",
            t.refused_keys,
        );
        Ok(m)
    })
    .await;
    match r {
        Ok(m) => m.into_response(),
        Err(e) => e,
    }
}

/// Each upper destination with its deliveries by state (the dashboard and `/metrics`).
fn delivery_summary(hub: &HubState, home: &std::path::Path) -> anyhow::Result<Value> {
    let dests = destinations(home);
    crate::forward::summary(&hub.store, &hub.unit, &dests)
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

    /// The hub's name comes from hub.toml and the person from the login: escaped on
    /// both pages, which carry only their own script files.
    #[test]
    fn the_dashboard_and_the_search_escape_the_hubs_name_and_the_user() {
        let who = Signed {
            user: hostile("user"),
            role: Role::Staff,
            csrf: hostile("csrf"),
        };
        for (body, script) in [
            (dashboard_body(), "/assets/dashboard.js"),
            (review_body(), "/assets/review.js"),
        ] {
            let html = page::frame(
                "Tổng hợp",
                &hostile("name"),
                &nav(who.role),
                Some(&who),
                body,
            )
            .into_string();
            assert!(!html.contains("<script>alert"), "{html}");
            for f in ["name", "user", "csrf"] {
                assert!(html.contains(&escaped(f)), "{f}: {html}");
            }
            assert_eq!(html.matches("<script").count(), 2, "{html}");
            assert!(
                html.contains(&format!(r#"<script src="{script}"></script>"#)),
                "{html}"
            );
        }
    }
}

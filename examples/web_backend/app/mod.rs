//! The web backend: an axum service whose ordinary data lives in a primary
//! SQLite database (diesel) and whose sensitive data lives in strongroom,
//! reached through the library's async front ([`AsyncClient`]).
//!
//! Shared by the example's `main.rs` and by `tests/web_backend.rs`, which
//! starts the same router on a loopback port and drives it over HTTP.
//!
//! Every operation that touches both databases runs as one unit of
//! blocking work on tokio's blocking pool ([`AppState::blocking`]): once
//! started it runs to its end even if the client hangs up and the handler's
//! future is dropped, so a create never stops between its two writes.

pub mod primary;
pub mod reconcile;

use std::future::Future;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use strongroom::asynk::AsyncClient;
use strongroom::{Client, ClientId, RecordId, Sensitive, Store, StoreOptions, Stored};
use tracing::Instrument;

pub use primary::{PatientRow, Primary, PrimaryError};
pub use reconcile::{reconcile, ReconcileReport};

/// The sensitive part of a patient: sealed in strongroom, never in the
/// primary database and never logged.
#[derive(Debug, Clone, Sensitive)]
#[sensitive(record_type = "patient")]
pub struct PatientSecret {
    #[sensitive]
    pub name: String,
    #[sensitive]
    pub national_id: String,
    #[sensitive]
    pub notes: String,
}

/// How long a request may take before the service answers 503.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The options the service opens its strongroom store with: on PostgreSQL
/// the server cancels a statement after 5 s (one behind a table another
/// session locked, say), so a request's work never holds a connection,
/// and its permit, for longer; a request deadline alone would only stop
/// the waiting.
pub fn store_options() -> StoreOptions {
    StoreOptions::default().postgres_statement_timeout(Duration::from_secs(5))
}

/// The header a request id is read from (if the caller sent a usable one)
/// and returned in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// This service's strongroom client (its own profile and keys).
    pub vault: AsyncClient,
    /// This service's primary database.
    pub primary: Primary,
    /// The service's name, shown by `GET /`.
    pub name: Arc<str>,
}

impl AppState {
    /// Opens (creating them if missing) this service's strongroom profile
    /// on `store` and its primary SQLite database. Blocking: call it from
    /// `spawn_blocking` or before serving.
    pub fn open(
        name: &str,
        store: &Store,
        profile: &FsPath,
        primary: &FsPath,
    ) -> anyhow::Result<Self> {
        let client = Client::open_or_create(profile, store)?;
        // As many primary connections as strongroom ones: every piece of
        // blocking work holds at most one of each.
        let primary = Primary::open(primary, store.pool_size())?;
        Ok(AppState {
            vault: AsyncClient::new(client),
            primary,
            name: name.into(),
        })
    }

    /// Runs `work` on tokio's blocking pool (after the async client's
    /// permit) with the strongroom client and the primary database, inside
    /// the current request's span ([`AsyncClient::run`] carries it). A
    /// dropped future does not stop it once it started.
    pub async fn blocking<T, F>(&self, work: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&Client, &Primary) -> Result<T, AppError> + Send + 'static,
    {
        let primary = self.primary.clone();
        self.vault
            .run(move |client| Ok(work(client, &primary)))
            .await?
    }
}

/// The service's routes, with the request-id middleware around them.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(whoami))
        .route("/patients", post(create_patient).get(list_patients))
        .route(
            "/patients/{id}",
            get(get_patient).put(update_patient).delete(delete_patient),
        )
        .route("/shared/patients/{record_id}", get(get_shared))
        .route("/shares", post(share))
        .route("/shares/{record_type}/{reader_id}", delete(revoke))
        .route("/admin/reconcile", post(reconcile_now))
        .fallback(|| async { AppError::NotFound })
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// Serves `state`'s router on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

// ---------------------------------------------------------------- errors

/// A request's failure, as HTTP sees it.
#[derive(Debug)]
pub enum AppError {
    /// 400: the body, query or a header is malformed.
    BadRequest(&'static str),
    /// 413: the body is over the size the router takes.
    TooLarge,
    /// 415: the body is not declared as JSON.
    NotJson,
    /// 404: no such patient (or record, share, client).
    NotFound,
    /// 409: the version given is not the current one.
    Conflict { current: Option<u64> },
    /// 403: this service may not read it (never shared, or revoked).
    Forbidden,
    /// 503: no database connection came in time, or the database cannot
    /// be reached; worth retrying later.
    Unavailable,
    /// 500: anything else. The detail is logged (it names ids and the
    /// driver's message, never a value) and never sent.
    Internal(String),
}

impl From<strongroom::Error> for AppError {
    fn from(err: strongroom::Error) -> Self {
        use strongroom::Error as E;
        match err {
            E::Conflict { found, .. } => AppError::Conflict { current: found },
            E::NotFound { .. } | E::NotShared { .. } | E::UnknownClient { .. } => {
                AppError::NotFound
            }
            E::AccessDenied { .. } | E::NotPermitted(_) => AppError::Forbidden,
            E::InvalidInput(why) => AppError::BadRequest(why),
            E::PoolTimeout { .. } | E::Connect { .. } | E::StatementTimeout => {
                tracing::warn!(error = %err, "the sensitive database is unavailable");
                AppError::Unavailable
            }
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<PrimaryError> for AppError {
    fn from(err: PrimaryError) -> Self {
        AppError::Internal(err.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        AppError::from(PrimaryError::from(err))
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::NotJson,
            _ => AppError::BadRequest("the body is not the JSON this endpoint takes"),
        }
    }
}

impl From<QueryRejection> for AppError {
    fn from(_: QueryRejection) -> Self {
        AppError::BadRequest("malformed query string")
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<u64>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, error, message, current_version) = match self {
            AppError::BadRequest(why) => (StatusCode::BAD_REQUEST, "bad_request", why, None),
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is too large",
                None,
            ),
            AppError::NotJson => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not_json",
                "the body must be sent as application/json",
                None,
            ),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource", None),
            AppError::Conflict { current } => (
                StatusCode::CONFLICT,
                "conflict",
                "the version given is not the current one",
                current,
            ),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "this service has no access to that record",
                None,
            ),
            AppError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is busy or its database unreachable; try again later",
                None,
            ),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                    None,
                )
            }
        };
        let body = ErrorBody {
            error,
            message,
            current_version,
        };
        (status, Json(body)).into_response()
    }
}

// ---------------------------------------------------------- request ids

/// Gives every request a span carrying its id (the caller's `x-request-id`
/// if it is short and plain, else a new one), its method and its route
/// template (never the raw path or query, never a header or body), and
/// returns the id in the response.
async fn request_span(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
        status = tracing::field::Empty,
        ms = tracing::field::Empty,
    );
    let started = Instant::now();
    // A request that outlives its deadline is answered 503; work it
    // started runs to its end on its blocking thread (see `blocking`),
    // bounded on PostgreSQL by the store's statement timeout.
    let mut response =
        match tokio::time::timeout(REQUEST_DEADLINE, next.run(request).instrument(span.clone()))
            .await
        {
            Ok(response) => response,
            Err(_) => {
                span.in_scope(|| tracing::warn!("the request ran past its deadline"));
                AppError::Unavailable.into_response()
            }
        };
    span.record("status", response.status().as_u16());
    span.record("ms", started.elapsed().as_millis() as u64);
    span.in_scope(|| tracing::info!("response"));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

// -------------------------------------------------------------- patients

/// A patient as a request gives it (create and update).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientIn {
    pub clinic: String,
    #[serde(default)]
    pub ward: u16,
    pub name: String,
    pub national_id: String,
    #[serde(default)]
    pub notes: String,
    /// For an update: the version it was read at (or `If-Match`).
    #[serde(default)]
    pub version: Option<u64>,
}

impl PatientIn {
    fn check(&self) -> Result<(), AppError> {
        let short = |text: &str, max: usize| {
            !text.trim().is_empty() && text.len() <= max && !text.chars().any(char::is_control)
        };
        if !short(&self.clinic, 64) {
            return Err(AppError::BadRequest("clinic: 1 to 64 characters"));
        }
        if !short(&self.name, 200) {
            return Err(AppError::BadRequest("name: 1 to 200 characters"));
        }
        if !short(&self.national_id, 64) {
            return Err(AppError::BadRequest("national_id: 1 to 64 characters"));
        }
        if self.notes.len() > 10_000 {
            return Err(AppError::BadRequest("notes: at most 10,000 bytes"));
        }
        Ok(())
    }

    fn secret(&self) -> PatientSecret {
        PatientSecret {
            name: self.name.clone(),
            national_id: self.national_id.clone(),
            notes: self.notes.clone(),
        }
    }
}

/// A patient as the service returns it: the primary row's plain data and
/// the decrypted sensitive part, at the sensitive part's version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientOut {
    pub id: i64,
    pub clinic: String,
    pub ward: u16,
    pub name: String,
    pub national_id: String,
    pub notes: String,
    pub version: u64,
    /// The strongroom record holding the sensitive part.
    pub record_id: RecordId,
}

impl PatientOut {
    fn new(row: &PatientRow, secret: &Stored<PatientSecret>) -> Self {
        PatientOut {
            id: row.id,
            clinic: row.clinic.clone(),
            ward: u16::try_from(row.ward).unwrap_or_default(),
            name: secret.name.clone(),
            national_id: secret.national_id.clone(),
            notes: secret.notes.clone(),
            version: secret.version(),
            record_id: secret.id(),
        }
    }
}

/// The entity tag of a patient at `version`: strong when the plain row and
/// the sensitive part are of that same version; weak (`W/"N"`, which a
/// conditional update never matches) when the row lags behind the record,
/// as it does while an update is between its two commits.
fn etag(version: u64, strong: bool) -> HeaderValue {
    let tag = if strong {
        format!("\"{version}\"")
    } else {
        format!("W/\"{version}\"")
    };
    HeaderValue::from_str(&tag).expect("a number is a header value")
}

fn patient_response(status: StatusCode, patient: PatientOut, strong: bool) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, etag(patient.version, strong));
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&format!("/patients/{}", patient.id)) {
            headers.insert(header::LOCATION, location);
        }
    }
    (status, headers, Json(patient)).into_response()
}

/// What an update or delete asks of the current version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// No condition (a delete only).
    Unconditional,
    /// `If-Match: *`: whatever version is current.
    Any,
    /// One of these versions (strong tags; a list with only weak tags is
    /// empty: it matches nothing).
    OneOf(Vec<u64>),
}

impl Expected {
    /// The version to write against, given the version the row is at: the
    /// row's for `*` or no condition, else the listed version the row is
    /// at, or the newest listed (strongroom then answers a conflict if it
    /// is stale). `None`: nothing listed can match.
    fn version(&self, row_version: u64) -> Option<u64> {
        match self {
            Expected::Unconditional | Expected::Any => Some(row_version),
            Expected::OneOf(versions) if versions.contains(&row_version) => Some(row_version),
            Expected::OneOf(versions) => versions.iter().copied().max(),
        }
    }
}

/// The version an update or delete expects: `If-Match` as RFC 9110 reads
/// it (`*`, or a comma-separated list of entity tags `"N"`, of which a weak
/// `W/"N"` never matches; a bare `N` is taken too), or `version` in the
/// body; both must agree.
fn expected_version(headers: &HeaderMap, body: Option<u64>) -> Result<Expected, AppError> {
    const MALFORMED: AppError = AppError::BadRequest("If-Match: *, or entity tags \"N\"");
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().map_err(|_| MALFORMED)?.trim();
            if text == "*" {
                Some(Expected::Any)
            } else {
                let mut versions = Vec::new();
                for tag in text.split(',').map(str::trim) {
                    let (weak, tag) = match tag.strip_prefix("W/") {
                        Some(rest) => (true, rest),
                        None => (false, tag),
                    };
                    let digits = tag
                        .strip_prefix('"')
                        .and_then(|t| t.strip_suffix('"'))
                        .unwrap_or(tag);
                    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(MALFORMED);
                    }
                    let version = digits.parse::<u64>().map_err(|_| MALFORMED)?;
                    if !weak {
                        versions.push(version);
                    }
                }
                Some(Expected::OneOf(versions))
            }
        }
    };
    match (header, body) {
        (None, None) => Ok(Expected::Unconditional),
        (None, Some(b)) => Ok(Expected::OneOf(vec![b])),
        (Some(Expected::OneOf(listed)), Some(b)) if !listed.contains(&b) => Err(
            AppError::BadRequest("If-Match and the body's version differ"),
        ),
        (Some(_), Some(b)) => Ok(Expected::OneOf(vec![b])),
        (Some(h), None) => Ok(h),
    }
}

fn patient_id(id: &str) -> Result<i64, AppError> {
    id.parse::<i64>().map_err(|_| AppError::NotFound)
}

async fn whoami(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "service": &*app.name, "client_id": app.vault.id() }))
}

/// Creates a patient: the sensitive part in strongroom first, then the
/// primary row holding its record id; if the row cannot be written, the
/// record is deleted again (and if even that fails, reconciliation removes
/// it later).
pub fn create(
    client: &Client,
    primary: &Primary,
    input: &PatientIn,
) -> Result<PatientOut, AppError> {
    let stored = client.repo::<PatientSecret>().insert(input.secret())?;
    match primary.insert(&input.clinic, i32::from(input.ward), stored.id()) {
        Ok(row) => Ok(PatientOut::new(&row, &stored)),
        Err(err) => {
            if let Err(undo) = client.delete(stored.id(), stored.version()) {
                tracing::warn!(
                    record_id = %stored.id(),
                    error = %undo,
                    "the primary insert failed and its strongroom record could not be removed; \
                     reconciliation will remove it"
                );
            }
            Err(err.into())
        }
    }
}

async fn create_patient(
    State(app): State<AppState>,
    body: Result<Json<PatientIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(input) = body?;
    input.check()?;
    if input.version.is_some() {
        return Err(AppError::BadRequest("a new patient has no version"));
    }
    let patient = app
        .blocking(move |client, primary| create(client, primary, &input))
        .await?;
    Ok(patient_response(StatusCode::CREATED, patient, true))
}

async fn get_patient(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AppError> {
    let id = patient_id(&id)?;
    let (patient, strong) = app
        .blocking(move |client, primary| {
            let row = primary.find(id)?.ok_or(AppError::NotFound)?;
            let secret = client.repo::<PatientSecret>().get(row.secret)?;
            // The row's plain columns are of another version than the
            // sensitive part (an update between its two commits): this
            // body is a mix, and its tag must not pass for the version's.
            let strong = u64::try_from(row.secret_version).ok() == Some(secret.version());
            Ok((PatientOut::new(&row, &secret), strong))
        })
        .await?;
    Ok(patient_response(StatusCode::OK, patient, strong))
}

async fn update_patient(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<PatientIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let id = patient_id(&id)?;
    let Json(input) = body?;
    input.check()?;
    let expected = expected_version(&headers, input.version)?;
    if expected == Expected::Unconditional {
        return Err(AppError::BadRequest(
            "name the version: an If-Match header or \"version\" in the body",
        ));
    }
    let patient = app
        .blocking(move |client, primary| {
            let row = primary.find(id)?.ok_or(AppError::NotFound)?;
            let row_version = u64::try_from(row.secret_version).unwrap_or_default();
            let expected = expected.version(row_version).ok_or(AppError::Conflict {
                current: Some(row_version),
            })?;
            let new_version = expected
                .checked_add(1)
                .ok_or(AppError::Conflict { current: None })?;
            let secret = input.secret();
            let (fields, plain) = secret.to_parts()?;
            // The row's plain columns first, in the primary's transaction,
            // then strongroom's update inside it: a row that cannot be
            // written fails before strongroom is touched, and a stale
            // version (a conflict, nothing written in strongroom) rolls the
            // row back. Only a failure of the primary's own commit, after
            // strongroom's, can still leave the two apart (the row then
            // lags, and reads carry a weak tag).
            let meta = primary
                .update_then(
                    id,
                    &input.clinic,
                    i32::from(input.ward),
                    new_version,
                    |row| {
                        client
                            .update(row.secret, expected, &fields, &plain)
                            .map_err(AppError::from)
                    },
                )?
                .ok_or(AppError::NotFound)?;
            Ok(PatientOut {
                id,
                clinic: input.clinic,
                ward: input.ward,
                name: secret.name,
                national_id: secret.national_id,
                notes: secret.notes,
                version: meta.version,
                record_id: row.secret,
            })
        })
        .await?;
    Ok(patient_response(StatusCode::OK, patient, true))
}

async fn delete_patient(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, AppError> {
    let id = patient_id(&id)?;
    let expected = expected_version(&headers, None)?;
    let deleted = app
        .blocking(move |client, primary| {
            // The row goes first, in a transaction that commits only once the
            // record is deleted at the expected version: a conflict leaves
            // both, and a crash between the two leaves at worst an orphan
            // record for reconciliation, never a row without its record.
            primary.delete_then(id, |row| {
                // The version from the row, never by decrypting the record:
                // a patient whose sensitive part cannot be read can still
                // be deleted.
                let row_version = u64::try_from(row.secret_version).unwrap_or_default();
                let version = expected.version(row_version).ok_or(AppError::Conflict {
                    current: Some(row_version),
                })?;
                match client.delete(row.secret, version) {
                    // Without a condition, whatever version is current
                    // goes (the record moved on past the row).
                    Err(strongroom::Error::Conflict {
                        found: Some(found), ..
                    }) if matches!(expected, Expected::Unconditional | Expected::Any) => {
                        client.delete(row.secret, found)?
                    }
                    other => other?,
                }
                Ok(())
            })
        })
        .await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound)
    }
}

/// `GET /patients` query: a plain filter, a cursor and a page size.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub clinic: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One page of patients.
#[derive(Debug, Serialize, Deserialize)]
pub struct PatientPage {
    pub patients: Vec<PatientOut>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next: Option<String>,
    /// Patients on this page whose sensitive part cannot be read (a row
    /// that fails verification): left out, and named here, instead of
    /// failing the page for every caller. Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

async fn list_patients(
    State(app): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<PatientPage>, AppError> {
    let Query(params) = params?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(AppError::BadRequest("limit: 1 to 100"));
    }
    let after = match params.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .map_err(|_| AppError::BadRequest("malformed cursor"))?,
        ),
    };
    let page = app
        .blocking(move |client, primary| {
            let (rows, more) = primary.list(params.clinic.as_deref(), after, i64::from(limit))?;
            // The two databases are read one after the other, not in one
            // snapshot: a patient deleted in between is left out (its row
            // was read, its record is gone), and one updated in between
            // shows the newer sensitive part.
            let repo = client.repo::<PatientSecret>();
            let mut patients = Vec::with_capacity(rows.len());
            let mut unreadable = Vec::new();
            for row in &rows {
                use strongroom::Error as E;
                match repo.get(row.secret) {
                    Ok(secret) => patients.push(PatientOut::new(row, &secret)),
                    Err(E::NotFound { .. }) => {}
                    // This row's record, not the database: one bad row
                    // must not fail the page for everyone.
                    Err(
                        err @ (E::Decryption
                        | E::AccessDenied { .. }
                        | E::ValueType { .. }
                        | E::MissingField { .. }),
                    ) => {
                        tracing::warn!(patient = row.id, error = %err, "left out a patient whose sensitive part cannot be read");
                        unreadable.push(row.id.to_string());
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            let next = more
                .then(|| rows.last().map(|row| row.id.to_string()))
                .flatten();
            Ok(PatientPage {
                patients,
                next,
                unreadable,
            })
        })
        .await?;
    Ok(Json(page))
}

/// A patient's sensitive part as another service reads it, once the
/// writer shared the record type with it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SharedPatient {
    pub record_id: RecordId,
    pub writer_id: ClientId,
    pub version: u64,
    pub name: String,
    pub national_id: String,
    pub notes: String,
}

async fn get_shared(
    State(app): State<AppState>,
    Path(record_id): Path<String>,
) -> Result<Json<SharedPatient>, AppError> {
    let record_id: RecordId = record_id.parse().map_err(|_| AppError::NotFound)?;
    let stored = app.vault.repo::<PatientSecret>().get(record_id).await?;
    Ok(Json(SharedPatient {
        record_id,
        writer_id: stored.meta().writer_id,
        version: stored.version(),
        name: stored.name.clone(),
        national_id: stored.national_id.clone(),
        notes: stored.notes.clone(),
    }))
}

// ---------------------------------------------------------------- shares

/// `POST /shares`: share a record type with another service's client.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareIn {
    pub record_type: String,
    pub reader_id: ClientId,
}

async fn share(
    State(app): State<AppState>,
    body: Result<Json<ShareIn>, JsonRejection>,
) -> Result<Json<serde_json::Value>, AppError> {
    let Json(input) = body?;
    let outcome = app.vault.share(input.record_type, input.reader_id).await?;
    Ok(Json(serde_json::json!({
        "wrapped_keys": outcome.wrapped_keys,
        "policies": outcome.policies,
    })))
}

async fn revoke(
    State(app): State<AppState>,
    Path((record_type, reader_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, AppError> {
    let reader: ClientId = reader_id.parse().map_err(|_| AppError::NotFound)?;
    let outcome = app.vault.revoke(record_type, reader).await?;
    Ok(Json(serde_json::json!({
        "new_key_version": outcome.new_version,
        "rows_deleted": outcome.rows_deleted,
    })))
}

// -------------------------------------------------------- reconciliation

/// `POST /admin/reconcile?older_than_secs=N` (default 60).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileParams {
    pub older_than_secs: Option<u64>,
}

async fn reconcile_now(
    State(app): State<AppState>,
    params: Result<Query<ReconcileParams>, QueryRejection>,
) -> Result<Json<ReconcileReport>, AppError> {
    let Query(params) = params?;
    let grace = Duration::from_secs(params.older_than_secs.unwrap_or(60));
    let report = app
        .blocking(move |client, primary| reconcile(client, primary, grace))
        .await?;
    Ok(Json(report))
}

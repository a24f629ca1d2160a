//! One handler per endpoint: parse, check the token for changes, call the
//! migrator on a connection of its own, answer JSON.

use crate::history_filter;
use crate::http::HttpApi;
use crate::http::reply::{ApiError, authorize};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use migrations_rs_runtime::{
    ApplyReport, Connection, Drift, LockHolder, LockStatus, LogQuery, LogRecord, RevertReport, RevertScope, Scope,
    Status, Version,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

type Api = State<Arc<HttpApi>>;

const DEFAULT_PAGE: u64 = 50;
const LARGEST_PAGE: u64 = 1000;

impl HttpApi {
    async fn connect(&self) -> Result<Connection, ApiError> {
        Ok(self.database.connect().await?)
    }
}

/// Gives a connection back (to its pool, or closes it), then the result.
async fn done<T>(conn: Connection, result: migrations_rs_runtime::Result<T>) -> Result<T, ApiError> {
    let _ = conn.close().await;
    Ok(result?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthParams {
    /// Also compare the live schema with the one the migrations produce.
    #[serde(default)]
    drift: bool,
}

pub(crate) async fn health(
    State(api): Api,
    params: Result<Query<HealthParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut conn = api.connect().await?;
    let result = match params.drift {
        true => api.migrator.health_with_drift(&mut conn, &api.drift).await,
        false => api.migrator.health(&mut conn).await,
    };
    let health = done(conn, result).await?;
    let status = if health.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(health)).into_response())
}

#[derive(Serialize)]
pub(crate) struct StatusBody {
    up_to_date: bool,
    #[serde(flatten)]
    status: Status,
}

pub(crate) async fn status(State(api): Api) -> Result<Json<StatusBody>, ApiError> {
    let mut conn = api.connect().await?;
    let result = api.migrator.status(&mut conn).await;
    let status = done(conn, result).await?;
    Ok(Json(StatusBody { up_to_date: status.is_up_to_date(), status }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryParams {
    limit: Option<u64>,
    before: Option<i64>,
    version: Option<String>,
    action: Option<String>,
    since: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct HistoryPage {
    entries: Vec<LogRecord>,
    /// Pass as `before` for the next page; absent on the last one.
    next_before: Option<i64>,
}

pub(crate) async fn history(
    State(api): Api,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let (limit, query) = history_query(params)?;
    let mut conn = api.connect().await?;
    let result = api.migrator.history(&mut conn, &query).await;
    let mut entries = done(conn, result).await?;
    let more = entries.len() as u64 > limit;
    entries.truncate(limit as usize);
    let next_before = if more { entries.last().map(|e| e.id) } else { None };
    Ok(Json(HistoryPage { entries, next_before }))
}

/// The page size and the log query of `GET /history`, or the 400 that names the bad parameter.
pub(crate) fn history_query(params: Result<Query<HistoryParams>, QueryRejection>) -> Result<(u64, LogQuery), ApiError> {
    let Query(params) = params.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > LARGEST_PAGE {
        return Err(ApiError::bad_request(format!("limit={limit}: give 1 to {LARGEST_PAGE}")));
    }
    let action = match params.action.as_deref() {
        None => None,
        Some(text) => Some(
            history_filter::parse_action(text)
                .map_err(|unknown| ApiError::bad_request(format!("action={text}: use one of {}", unknown.names())))?,
        ),
    };
    let query = LogQuery {
        // One more than a page, to know whether another page follows.
        limit: Some(limit + 1),
        since: params
            .since
            .as_deref()
            .map(|since| history_filter::parse_since(since, &format!("since={since}")))
            .transpose()
            .map_err(|error| ApiError::bad_request(error.to_string()))?,
        version: params.version.as_deref().map(Version::parse).transpose()?,
        action,
        before_id: params.before,
    };
    Ok((limit, query))
}

pub(crate) async fn lock_status(State(api): Api) -> Result<Json<LockStatus>, ApiError> {
    let mut conn = api.connect().await?;
    let result = api.migrator.lock_status(&mut conn).await;
    Ok(Json(done(conn, result).await?))
}

pub(crate) async fn startup(State(api): Api) -> Result<Response, ApiError> {
    match &api.startup {
        Some(report) => Ok(Json(report).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "this service did not report its start-up")),
    }
}

pub(crate) async fn drift(State(api): Api) -> Result<Json<Drift>, ApiError> {
    let mut conn = api.connect().await?;
    let result = api.migrator.drift(&mut conn, &api.drift).await;
    Ok(Json(done(conn, result).await?))
}

/// A version as a JSON string or number.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum VersionParam {
    Number(u64),
    Text(String),
}

impl VersionParam {
    fn parse(&self) -> Result<Version, ApiError> {
        Ok(match self {
            VersionParam::Number(number) => Version::parse(&number.to_string())?,
            VersionParam::Text(text) => Version::parse(text)?,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpRequest {
    to: Option<VersionParam>,
}

pub(crate) async fn up(State(api): Api, headers: HeaderMap, body: Bytes) -> Result<Json<ApplyReport>, ApiError> {
    authorize(api.token.as_ref(), &headers)?;
    let request: UpRequest = parse_body(&body)?;
    let target = request.to.as_ref().map(VersionParam::parse).transpose()?;
    tracing::info!(target = ?target.map(|v| v.to_string()), "up requested over HTTP");
    let mut conn = api.connect().await?;
    let result = api.migrator.up(&mut conn, Scope::from(target)).await;
    Ok(Json(done(conn, result).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct DownRequest {
    steps: Option<usize>,
    to: Option<VersionParam>,
    #[serde(default)]
    last_batch: bool,
}

pub(crate) async fn down(State(api): Api, headers: HeaderMap, body: Bytes) -> Result<Json<RevertReport>, ApiError> {
    authorize(api.token.as_ref(), &headers)?;
    let request: DownRequest = parse_body(&body)?;
    let target = match (request.steps, &request.to, request.last_batch) {
        (Some(0), None, false) => return Err(ApiError::bad_request("steps=0 reverts nothing: give 1 or more")),
        (steps, None, false) => RevertScope::Steps(steps.unwrap_or(1)),
        (None, Some(to), false) => RevertScope::To(to.parse()?),
        (None, None, true) => RevertScope::LastBatch,
        _ => return Err(ApiError::bad_request("give one of `steps`, `to` and `last_batch`, not several")),
    };
    tracing::info!(?target, "down requested over HTTP");
    let mut conn = api.connect().await?;
    let result = api.migrator.down(&mut conn, target).await;
    Ok(Json(done(conn, result).await?))
}

#[derive(Serialize)]
pub(crate) struct Released {
    released: Option<LockHolder>,
}

pub(crate) async fn release_lock(State(api): Api, headers: HeaderMap) -> Result<Json<Released>, ApiError> {
    authorize(api.token.as_ref(), &headers)?;
    let mut conn = api.connect().await?;
    let result = api.migrator.release_lock(&mut conn).await;
    let released = done(conn, result).await?;
    tracing::warn!(holder = ?released.as_ref().map(ToString::to_string), "migration lock released over HTTP");
    Ok(Json(Released { released }))
}

pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no endpoint {method} {}: GET health, status, history, lock, startup, drift; POST up, down, lock/release",
            uri.path()
        ),
    )
}

/// An empty body is the default request; anything else must be the request as JSON.
fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("the request body is not valid: {error}")))
}

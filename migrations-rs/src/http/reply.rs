//! Errors as JSON with the status code that fits, and the bearer token check.
//! An error body says what happened (`error`), what kind of error it is
//! (`code`) and what can be done next (`remedies`, in this API's words).

use crate::http::BearerToken;
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use migrations_rs_runtime::error::{AdoptError, LockError};
use migrations_rs_runtime::version::ParseVersionError;
use migrations_rs_runtime::{Error, StepReport};
use subtle::ConstantTimeEq;

/// An error answer: `{"error": "...", "code": "...", "remedies": [...]}` with
/// its status code. Each remedy has a `kind`, its data and a `text` naming
/// the route and body field to send.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// What can be done next, each as `{"kind": ..., "text": ..., <data>}`.
    remedies: Vec<serde_json::Value>,
    /// For a failed migration: what the run applied (or reverted) before it.
    completed: Vec<StepReport>,
    /// Whether the failed run was reverting, so `completed` lists reverted steps.
    reverting: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            remedies: Vec::new(),
            completed: Vec::new(),
            reverting: false,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// The HTTP status the error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<ParseVersionError> for ApiError {
    fn from(error: ParseVersionError) -> Self {
        Error::from(error).into()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, code) = match &error {
            Error::InvalidVersion { .. } | Error::UnknownVersion { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::Lock(LockError::Timeout { .. }) => (StatusCode::CONFLICT, "lock_held"),
            Error::Dirty { .. } => (StatusCode::CONFLICT, "dirty"),
            Error::ChecksumMismatch { .. } => (StatusCode::CONFLICT, "modified"),
            Error::Refused { .. } | Error::TransactionControl { .. } => (StatusCode::CONFLICT, "refused"),
            Error::NotApplied { .. }
            | Error::AlreadyApplied { .. }
            | Error::Irreversible { .. }
            | Error::RevertStopped { .. }
            | Error::Adopt(AdoptError::NotAdopted { .. })
            | Error::MissingFromCode { .. }
            | Error::OutOfOrder { .. } => (StatusCode::CONFLICT, "conflict"),
            Error::MigrationFailed { .. }
            | Error::SomeFailed { .. }
            | Error::Lock(LockError::Lost { .. })
            | Error::HookFailed { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "migration_failed"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "database"),
        };
        let (completed, reverting) = match &error {
            Error::MigrationFailed { completed, action, .. } => (completed.clone(), *action == "reverting"),
            Error::RevertStopped { reverted, .. } => (reverted.clone(), true),
            _ => (Vec::new(), false),
        };
        // Every URL inside the runtime's messages is already redacted.
        let remedies = crate::http::remedy::remedies_json(&error);
        ApiError { status, code, message: error.to_string(), remedies, completed, reverting }
    }
}

impl ApiError {
    /// The JSON body of the answer.
    pub(crate) fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.message, "code": self.code, "remedies": self.remedies });
        if !self.completed.is_empty() {
            let key = if self.reverting { "reverted_before_failure" } else { "applied_before_failure" };
            body[key] = serde_json::json!(self.completed);
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Lets a request change the database only with the configured token.
pub(crate) fn authorize(token: Option<&BearerToken>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "actions_disabled",
            "this service allows no changes over HTTP: it configured no bearer token (HttpApi::bearer_token)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().split_once(' '))
        // The scheme's name is case-insensitive (RFC 7235): `Bearer`, `bearer`, `BEARER`.
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    let Some(given) = given else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this request changes the database: send `Authorization: Bearer <token>`",
        ));
    };
    // Constant time for tokens of equal length; a different length says only that.
    if bool::from(given.trim().as_bytes().ct_eq(expected.0.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the bearer token is wrong"))
    }
}

//! The one place where errors become HTTP responses: `application/problem+json`
//! (RFC 9457) with a stable `code`. 5xx bodies are opaque; the cause is logged.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use events::DomainError;
use serde::Serialize;

use crate::error::{Error, Refusal};

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "1";

fn problem(status: StatusCode, code: &str, detail: String) -> Response {
    let body = Problem {
        kind: format!("https://ledgerline.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        code,
        detail,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

fn status_of(error: &DomainError) -> StatusCode {
    match error {
        DomainError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::NotFound => StatusCode::NOT_FOUND,
        DomainError::AlreadyExists
        | DomainError::InsufficientFunds { .. }
        | DomainError::Frozen
        | DomainError::NotFrozen
        | DomainError::Closed
        | DomainError::NonzeroBalance { .. } => StatusCode::CONFLICT,
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            Refusal::Domain(error) => problem(status_of(&error), error.code(), detail),
            Refusal::VersionConflict { .. } => problem(StatusCode::PRECONDITION_FAILED, "version_conflict", detail),
            Refusal::IdempotencyKeyReused => {
                problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", detail)
            }
            Refusal::WriteConflict => problem(StatusCode::CONFLICT, "write_conflict", detail),
            Refusal::Unavailable(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail),
            Refusal::BadRequest(_) => problem(StatusCode::BAD_REQUEST, "validation_failed", detail),
            Refusal::PayloadTooLarge(_) => problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail),
            Refusal::UnsupportedMediaType => {
                problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail)
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Refused(refusal) => refusal.into_response(),
            other => {
                tracing::error!(error = %other, "request failed");
                problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into())
            }
        }
    }
}

/// Any path this API does not know.
pub async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "not_found", "no such resource".into())
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> Response {
    problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this resource".into())
}

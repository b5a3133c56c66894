//! The one place where errors become HTTP responses: `application/problem+json`
//! (RFC 9457) with a stable `code`. 5xx bodies are opaque; the cause is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events::DomainError;
use ledger_runtime::problem::{problem, problem_with};

use super::forward::{searched_header, ForwardTo, NOT_OWNER, SEARCHED};
use crate::error::{Error, Refusal};

fn status_of(error: &DomainError) -> StatusCode {
    match error {
        DomainError::Validation(_) | DomainError::CurrencyMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        DomainError::NotFound | DomainError::TransferNotFound => StatusCode::NOT_FOUND,
        DomainError::AlreadyExists
        | DomainError::InsufficientFunds { .. }
        | DomainError::Frozen
        | DomainError::NotFrozen
        | DomainError::Closed
        | DomainError::NonzeroBalance { .. }
        | DomainError::TransferExists
        | DomainError::TransferAlreadyPosted
        | DomainError::TransferAlreadyVoided
        | DomainError::TransferExpired
        | DomainError::TransferNotPending
        | DomainError::TransferLegRecorded
        | DomainError::TransferNotExpired
        | DomainError::SubjectErased => StatusCode::CONFLICT,
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
            Refusal::WriteConflict { commit_id, position } => {
                let proof = serde_json::json!({"commit_id": commit_id, "position": position});
                problem_with(StatusCode::CONFLICT, "write_conflict", detail, Some(proof))
            }
            Refusal::Unavailable(_) => problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail),
            // Seen by a client only when the request was already forwarded once.
            Refusal::Elsewhere(partition) => {
                let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
                response.extensions_mut().insert(ForwardTo::Owner(partition));
                response.headers_mut().insert(NOT_OWNER, axum::http::HeaderValue::from(partition));
                response
            }
            Refusal::NotHere { searched } => {
                let mut response = problem(StatusCode::NOT_FOUND, DomainError::TransferNotFound.code(), detail);
                response.extensions_mut().insert(ForwardTo::Anyone);
                response.headers_mut().insert(SEARCHED, searched_header(&searched));
                response
            }
            Refusal::BadRequest(_) => problem(StatusCode::BAD_REQUEST, "validation_failed", detail),
            Refusal::UnknownSubject => problem(StatusCode::NOT_FOUND, "subject_not_found", detail),
            Refusal::Forbidden(_) => problem(StatusCode::FORBIDDEN, "forbidden", detail),
            Refusal::PayloadTooLarge => problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail),
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

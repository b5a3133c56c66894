//! The one place where this service's errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ledger_runtime::problem::problem;

use crate::error::Error;

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let detail = self.to_string();
        match self {
            Error::NotFound(_) => problem(StatusCode::NOT_FOUND, "not_found", detail),
            Error::Validation(_) => problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail),
            Error::Url(refusal) => problem(StatusCode::UNPROCESSABLE_ENTITY, refusal.code(), detail),
            Error::Malformed(_) => problem(StatusCode::BAD_REQUEST, "validation_failed", detail),
            Error::MediaType => problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail),
            Error::TooLarge => problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", detail),
            Error::BadCursor => problem(StatusCode::BAD_REQUEST, "bad_cursor", detail),
            Error::Auth(error) => error.into_response(),
            Error::Database(ref cause) if is_unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the database is unavailable".into())
            }
            other => {
                tracing::error!(error = %other, "request failed");
                problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".into())
            }
        }
    }
}

fn is_unavailable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed)
}

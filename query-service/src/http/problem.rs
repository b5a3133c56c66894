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
            Error::Validation(_) => problem(StatusCode::BAD_REQUEST, "validation_failed", detail),
            Error::BadCursor => problem(StatusCode::BAD_REQUEST, "bad_cursor", detail),
            Error::Auth(error) => error.into_response(),
            Error::NotYetConsistent(_) => problem(StatusCode::GATEWAY_TIMEOUT, "not_yet_consistent", detail),
            Error::KeysUnavailable => {
                problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the key store is unavailable".into())
            }
            Error::Database(ref cause) if is_unavailable(cause) => {
                tracing::warn!(error = %cause, "read models unavailable");
                problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the read models are unavailable".into())
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

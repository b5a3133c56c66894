//! `application/problem+json` (RFC 9457) responses with a stable `code`.
//! Each service maps its own errors to these in one place.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECS: &str = "1";

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: String,
    /// Members of this problem type beyond the standard ones (RFC 9457 §3.2).
    #[serde(flatten)]
    extension: Option<serde_json::Value>,
}

/// The shape of every error body, for the OpenAPI documents.
#[derive(utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// A URI naming the problem type, ending in the code.
    #[schema(rename = "type", example = "https://ledgerline.dev/problems/insufficient_funds")]
    pub kind: String,
    /// The HTTP reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable, machine-readable error code.
    #[schema(example = "insufficient_funds")]
    pub code: String,
    /// What went wrong, for people.
    pub detail: String,
    /// `write_conflict` only: the commit the log rejected.
    #[schema(nullable = false)]
    pub commit_id: Option<uuid::Uuid>,
    /// `write_conflict` only: where the fold rejected that commit, to check against the log.
    #[schema(nullable = false)]
    pub position: Option<ProblemPosition>,
}

/// A record's place in the events topic.
#[derive(utoipa::ToSchema)]
pub struct ProblemPosition {
    #[schema(minimum = 0)]
    pub partition: i32,
    #[schema(minimum = 0)]
    pub offset: i64,
}

/// A problem response. 503 and 504 carry `Retry-After`.
pub fn problem(status: StatusCode, code: &str, detail: String) -> Response {
    problem_with(status, code, detail, None)
}

/// A problem response with members of its own type: `extension` is a JSON
/// object whose members are added to the body.
pub fn problem_with(status: StatusCode, code: &str, detail: String, extension: Option<serde_json::Value>) -> Response {
    let body = Problem {
        kind: format!("https://ledgerline.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        code,
        detail,
        extension,
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    if matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT) {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

/// Any path a service does not know.
pub async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "not_found", "no such resource".into())
}

/// A known path with a method it does not take.
pub async fn method_not_allowed() -> Response {
    problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this resource".into())
}

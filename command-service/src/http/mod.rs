//! The HTTP API: routes, extraction, and the mapping of errors to problem+json.

mod awaiting;
mod cluster;
pub mod extract;
pub mod forward;
mod openapi;
mod peer;
mod problem;
pub use extract::CommandHeaders;
pub use forward::Forwarder;
pub use openapi::document as openapi_document;
mod routes;
mod subjects;
mod transfers;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::Refusal;

/// The command API. Separate from serving, so tests can call it in-process.
pub fn router(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    let cors = state.cors.clone();
    cors.apply(
        Router::new()
            .route("/v1/accounts", post(routes::open_account))
            .route("/v1/accounts/{id}/deposits", post(routes::deposit))
            .route("/v1/accounts/{id}/withdrawals", post(routes::withdraw))
            .route("/v1/accounts/{id}/freeze", post(routes::freeze))
            .route("/v1/accounts/{id}/unfreeze", post(routes::unfreeze))
            .route("/v1/accounts/{id}/close", post(routes::close))
            .route("/v1/transfers", post(transfers::initiate))
            .route("/v1/transfers/{id}/post", post(transfers::post))
            .route("/v1/transfers/{id}/void", post(transfers::void))
            // Commands only: per client, after the token is checked (layers run outside in).
            .route_layer(middleware::from_fn_with_state(state.rate_limit.clone(), ledger_runtime::rate_limit::limit))
            // The transfer driver's legs: not limited per client (one driver sends them all).
            .route("/v1/internal/transfers/{id}/credit", post(transfers::credit))
            .route("/v1/internal/transfers/{id}/reverse", post(transfers::reverse))
            .route("/v1/internal/transfers/{id}/expire", post(transfers::expire))
            .route("/v1/internal/transfers/{id}/legs", get(cluster::legs))
            .route("/v1/internal/accounts/{id}/currency", get(cluster::currency))
            .route("/v1/cluster", get(cluster::members))
            .route("/v1/subjects/{subject}", delete(subjects::erase))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/openapi.json", get(|| async { Json(openapi::document()) }))
            .fallback(ledger_runtime::problem::not_found)
            .method_not_allowed_fallback(ledger_runtime::problem::method_not_allowed)
            .layer(DefaultBodyLimit::max(max_body))
            .layer(middleware::from_fn_with_state(state.auth.clone(), ledger_runtime::auth::require_token))
            .layer(middleware::from_fn_with_state(state.forwarder.clone(), forward::forward))
            .layer(middleware::from_fn_with_state(state.metrics.http.clone(), ledger_runtime::http_metrics::track))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(ledger_runtime::trace::request_span)
                    .on_response(ledger_runtime::trace::record_response),
            ),
    )
    .with_state(state)
}

/// Prometheus metrics (OpenMetrics text), for tokens with role `ops`.
async fn metrics(State(state): State<AppState>, principal: ledger_runtime::auth::Principal) -> Response {
    ledger_runtime::http_metrics::exposition(&principal, || state.metrics.render(&state.partitions))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()), responses((status = 200, description = "Alive")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready once the writers' group has given this instance its partitions and
/// each is caught up with the log (an instance with none is ready once the
/// others own them all: it forwards).
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()), responses(
    (status = 200, description = "Ready, with the start-up recovery report"),
    (status = 503, description = "`unavailable`: still catching up", body = ledger_runtime::problem::ProblemDoc,
     content_type = "application/problem+json", headers(("Retry-After" = String)))))]
async fn readyz(State(state): State<AppState>) -> Response {
    // An empty assignment is only ready if the others own every partition
    // (a group that has not seen the topic's partitions yet assigns nothing).
    let covered =
        || !state.partitions.owned().is_empty() || state.forwarder.registry().peers(state.partitions.count()).1;
    if state.partitions.ready() && covered() {
        let body = json!({
            "status": "ready",
            "partitions": state.partitions.owned(),
            "recovery": state.partitions.report(),
        });
        (StatusCode::OK, Json(body)).into_response()
    } else {
        Refusal::Unavailable("joining the writers' group or loading partitions".into()).into_response()
    }
}

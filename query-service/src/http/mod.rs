//! The read API: routes, parameters, and the mapping of errors to problem+json.

mod accounts;
mod events;
mod history;
mod ledger;
mod openapi;
mod params;
mod problem;
mod transfers;
pub use openapi::document as openapi_document;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::Error;
pub use params::{LAG_HEADER, TOKEN_HEADER};

/// The query API. Separate from serving, so tests can call it in-process.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    cors.apply(
        Router::new()
            .route("/v1/accounts", get(accounts::list))
            .route("/v1/accounts/{id}", get(accounts::one))
            .route("/v1/accounts/{id}/entries", get(accounts::entries))
            .route("/v1/accounts/{id}/history", get(history::as_of))
            .route("/v1/accounts/{id}/transfers", get(transfers::of_account))
            .route("/v1/transfers/{id}", get(transfers::one))
            .route("/v1/ledger/totals", get(ledger::totals))
            .route("/v1/events", get(events::list))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/openapi.json", get(|| async { axum::Json(openapi::document()) }))
            .fallback(ledger_runtime::problem::not_found)
            .method_not_allowed_fallback(ledger_runtime::problem::method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(state.auth.clone(), ledger_runtime::auth::require_token))
            .layer(axum::middleware::from_fn_with_state(
                state.metrics.http.clone(),
                ledger_runtime::http_metrics::track,
            ))
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
    ledger_runtime::http_metrics::exposition(&principal, || state.metrics.render(&state.pool))
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()), responses((status = 200, description = "Alive")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the read models answer.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()), responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "`unavailable`", body = ledger_runtime::problem::ProblemDoc,
     content_type = "application/problem+json", headers(("Retry-After" = String)))))]
async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query("select 1 from projection_checkpoints limit 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(error) => Error::Database(error).into_response(),
    }
}

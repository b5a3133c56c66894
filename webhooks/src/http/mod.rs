//! The endpoints API: routes, and the mapping of errors to problem+json.

mod actions;
mod cursor;
mod endpoints;
mod extract;
mod openapi;
mod problem;
mod views;
pub use openapi::document as openapi_document;

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;

/// The API. Separate from serving, so tests can call it in-process.
pub fn router(state: AppState) -> Router {
    let cors = state.cors.clone();
    cors.apply(
        Router::new()
            .route("/v1/webhooks/endpoints", post(endpoints::create).get(endpoints::list))
            .route(
                "/v1/webhooks/endpoints/{id}",
                get(endpoints::one).patch(endpoints::update).delete(endpoints::delete),
            )
            .route("/v1/webhooks/endpoints/{id}/rotate-secret", post(actions::rotate))
            .route("/v1/webhooks/endpoints/{id}/test", post(actions::test))
            .route("/v1/webhooks/endpoints/{id}/attempts", get(actions::attempts))
            .route("/v1/webhooks/endpoints/{id}/replay", post(actions::replay))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/openapi.json", get(|| async { axum::Json(openapi::document()) }))
            .fallback(ledger_runtime::problem::not_found)
            .method_not_allowed_fallback(ledger_runtime::problem::method_not_allowed)
            .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024))
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
    if let Ok(backlog) = crate::store::deliveries::backlog(&state.pool).await {
        for (endpoint, pending, age) in backlog {
            let label = crate::metrics::Endpoint { endpoint: endpoint.to_string() };
            state.metrics.lag_deliveries.get_or_create(&label).set(pending);
            state.metrics.lag_seconds.get_or_create(&label).set(age);
        }
    }
    if let Ok(disabled) = crate::store::endpoints::count_disabled(&state.pool).await {
        state.metrics.disabled.set(disabled);
    }
    ledger_runtime::http_metrics::exposition(&principal, || state.metrics.render())
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "ops", security(()), responses((status = 200, description = "Alive")))]
async fn healthz() -> &'static str {
    "ok"
}

/// Ready once every partition assigned to this worker is folded to its end.
#[utoipa::path(get, path = "/readyz", tag = "ops", security(()), responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "`unavailable`", body = ledger_runtime::problem::ProblemDoc,
     content_type = "application/problem+json", headers(("Retry-After" = String)))))]
async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready").into_response()
    } else {
        ledger_runtime::problem::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "folding the assigned partitions".into(),
        )
    }
}

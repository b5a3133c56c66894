//! The cluster as ops and peers see it: `GET /v1/cluster` (role `ops`), and
//! what one instance asks another about the partitions it serves (a
//! transfer's legs, an account's currency).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::DomainError;
use ledger_runtime::auth::{Principal, Role};
use serde_json::json;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::Refusal;
use crate::partitions::Slot;

/// Every live instance and the partitions it owns.
#[utoipa::path(get, path = "/v1/cluster", operation_id = "list_cluster_members", tag = "ops", summary = "The command-service instances and their partitions",
    responses((status = 200, description = "`instances` (url, partitions, aggregates, generation, last_seen_ms), `generation`, `partitions`, `this`"),
              (status = 401, description = "`unauthorized`: no bearer token, or a bad one", body = ledger_runtime::problem::ProblemDoc, content_type = "application/problem+json"),
              (status = 403, description = "`forbidden`: needs the ops role")))]
pub async fn members(State(state): State<AppState>, principal: Principal) -> Result<Response, Refusal> {
    principal.require_any(&[Role::Ops]).map_err(|_| Refusal::Forbidden("the cluster view needs the ops role"))?;
    let registry = state.forwarder.registry();
    if let Err(error) = registry.sync(&state.partitions).await {
        tracing::warn!(%error, "cluster view from the last refresh");
    }
    let view = registry.view();
    let body = json!({
        "instances": view.instances,
        "generation": view.generation,
        "partitions": state.partitions.count(),
        "this": registry.url,
    });
    Ok(Json(body).into_response())
}

/// What the partitions served here know of a transfer (for the instance
/// that waits on it, `Prefer: wait`).
pub async fn legs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    super::peer::require(&state.token_key, &headers, &format!("/v1/internal/transfers/{id}/legs"))?;
    let transfer = Uuid::parse_str(&id).map_err(|_| Refusal::Domain(DomainError::TransferNotFound))?;
    let known = state.directory.known(&transfer).ok_or(Refusal::Domain(DomainError::TransferNotFound))?;
    Ok(Json(json!({ "source": known.source, "destination": known.destination, "legs": known.legs })).into_response())
}

/// The currency of an account, from the instance that serves its partition.
pub async fn currency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    super::peer::require(&state.token_key, &headers, &format!("/v1/internal/accounts/{id}/currency"))?;
    let account = super::routes::account_id(&id)?;
    let partition = state.partitions.partition_of(&account);
    match state.partitions.slot(partition) {
        Slot::Serving(_) => {}
        Slot::Away => return Err(Refusal::Elsewhere(partition)),
        Slot::Loading | Slot::Stopping => return Err(Refusal::Unavailable(format!("partition {partition} is moving"))),
    }
    let currency = state.directory.currency(&account).ok_or(Refusal::Domain(DomainError::NotFound))?;
    Ok(Json(json!({ "account_id": account, "currency": currency })).into_response())
}

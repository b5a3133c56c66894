//! What is done to an endpoint: rotate its secret, send it a signed ping,
//! list its attempts, deliver again from an instant or a position.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use ledger_runtime::auth::Principal;
use serde_json::json;
use uuid::Uuid;

use super::cursor;
use super::endpoints::load;
use super::extract::{Body, Params};
use super::views::{limit, AttemptPage, AttemptPageQuery, AttemptView, ReplayBody, Replayed, RotatedSecret};
use crate::error::Error;
use crate::payload::{API_VERSION, TEST_TYPE};
use crate::signing::SigningSecret;
use crate::state::AppState;
use crate::store::{deliveries, endpoints};

/// A new secret; the previous one keeps signing (beside it) for the overlap.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks",
    operation_id = "rotate_webhook_secret", params(("id" = String, Path)), responses(
        (status = 200, description = "The new secret, shown this once", body = RotatedSecret), super::openapi::ApiErrors))]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<RotatedSecret>, Error> {
    let endpoint = load(&state, &principal, &id).await?;
    let secret = SigningSecret::generate();
    let overlap = chrono::Duration::from_std(state.deliverer.delivery.rotation_overlap).unwrap_or_default();
    let until = Utc::now() + overlap;
    let sealed = state.vault.seal(endpoint.id, &secret);
    endpoints::rotate(&state.pool, endpoint.id, &sealed, state.vault.kek_id(), until).await?;
    endpoints::announce(&state.pool, endpoint.id).await?;
    Ok(Json(RotatedSecret { secret: secret.expose(), previous_valid_until: until }))
}

/// Sends a signed `webhook.test` message now and answers how it went.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/test", tag = "webhooks", operation_id = "test_webhook_endpoint",
    params(("id" = String, Path)), responses(
        (status = 200, description = "The attempt, whatever the receiver answered", body = AttemptView), super::openapi::ApiErrors))]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AttemptView>, Error> {
    let endpoint = load(&state, &principal, &id).await?;
    let event_id = Uuid::now_v7();
    let body = json!({
        "id": event_id,
        "type": TEST_TYPE,
        "api_version": API_VERSION,
        "created_at": Utc::now(),
        "data": { "endpoint_id": endpoint.id },
    });
    let bytes = serde_json::to_vec(&body).expect("a JSON value serialises");
    let webhook_id = crate::payload::webhook_id(event_id);
    let outcome = state.deliverer.sign_and_send(&endpoint, &webhook_id, bytes).await?;
    state.deliverer.record(&endpoint, None, TEST_TYPE, 1, &outcome).await?;
    let latest = deliveries::attempts(&state.pool, endpoint.id, None, 1).await?;
    latest.into_iter().next().map(|a| Json(AttemptView::from(a))).ok_or(Error::NotFound("no such endpoint"))
}

/// The endpoint's attempts, newest first.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}/attempts", tag = "webhooks",
    operation_id = "list_webhook_attempts", params(("id" = String, Path), AttemptPageQuery), responses(
        (status = 200, description = "A page of attempts", body = AttemptPage), super::openapi::ApiErrors))]
pub async fn attempts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Params(query): Params<AttemptPageQuery>,
) -> Result<Json<AttemptPage>, Error> {
    let endpoint = load(&state, &principal, &id).await?;
    let limit = limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::parse_attempt).transpose()?;
    let mut rows = deliveries::attempts(&state.pool, endpoint.id, before, limit + 1).await?;
    let next_cursor = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        cursor::attempt(rows[rows.len() - 1].id)
    });
    Ok(Json(AttemptPage { items: rows.into_iter().map(AttemptView::from).collect(), next_cursor }))
}

/// Delivers again, in log order per account, every message since an instant
/// (or a message's position) that the endpoint's scope and filter admit:
/// those delivered, those given up, and those made before it existed.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/replay", tag = "webhooks",
    operation_id = "replay_webhook_endpoint", params(("id" = String, Path)), request_body = ReplayBody, responses(
        (status = 202, description = "Queued again", body = Replayed), super::openapi::ApiErrors))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Body(body): Body<ReplayBody>,
) -> Result<(StatusCode, Json<Replayed>), Error> {
    let endpoint = load(&state, &principal, &id).await?;
    let since = match body {
        ReplayBody::Since(s) => s.since,
        ReplayBody::Position(p) => cursor::parse_position(&p.position)?,
    };
    let scope = if endpoint.scope == "own" {
        Some((state.vault.subject_of_fresh(&endpoint.owner_sub).await?, endpoint.owner_sub.as_str()))
    } else {
        None
    };
    let replayed = deliveries::replay(&state.pool, endpoint.id, scope, &endpoint.event_types, since).await?;
    state.deliverer.wake_after_replay();
    Ok((StatusCode::ACCEPTED, Json(Replayed { replayed })))
}

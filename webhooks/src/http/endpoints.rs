//! `/v1/webhooks/endpoints`: create, list, read, change and delete endpoints.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger_runtime::auth::{Principal, Role};
use uuid::Uuid;

use super::cursor;
use super::extract::{Body, Params};
use super::views::{
    check_description, check_types, limit, may_create, visible, CreatedEndpoint, EndpointChanges, EndpointPage,
    EndpointPageQuery, EndpointView, NewEndpointBody, Scope,
};
use crate::error::Error;
use crate::signing::SigningSecret;
use crate::state::AppState;
use crate::store::endpoints::{self, Changes, NewEndpoint};

pub(super) fn endpoint_id(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("no such endpoint"))
}

/// The endpoint `raw` names, if the caller may see it.
pub(super) async fn load(state: &AppState, principal: &Principal, raw: &str) -> Result<endpoints::Endpoint, Error> {
    let id = endpoint_id(raw)?;
    visible(principal, endpoints::get(&state.pool, id).await?)
}

/// Creates an endpoint. Its secret is in this answer only.
#[utoipa::path(post, path = "/v1/webhooks/endpoints", tag = "webhooks", operation_id = "create_webhook_endpoint",
    request_body = NewEndpointBody,
    responses(
        (status = 201, description = "Created; `Location` names it", body = CreatedEndpoint,
         headers(("Location" = String, description = "The endpoint's URL"))), super::openapi::ApiErrors))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Body(body): Body<NewEndpointBody>,
) -> Result<Response, Error> {
    let scope = may_create(&principal, body.scope)?;
    let url = state.deliverer.sender.egress().check_url(&body.url)?;
    let types = body.event_types.unwrap_or_else(|| vec!["*".into()]);
    check_types(&types)?;
    let description = body.description.unwrap_or_default();
    check_description(&description)?;
    let (id, secret) = (Uuid::now_v7(), SigningSecret::generate());
    let sealed = state.vault.seal(id, &secret);
    let new = NewEndpoint {
        id,
        owner_sub: &principal.sub,
        scope: if scope == Scope::All { "all" } else { "own" },
        url: url.as_str(),
        description: &description,
        event_types: &types,
        secret_sealed: &sealed,
        kek_id: state.vault.kek_id(),
    };
    let endpoint = endpoints::insert(&state.pool, &new).await?;
    endpoints::announce(&state.pool, endpoint.id).await?;
    let created = CreatedEndpoint { endpoint: EndpointView::from(&endpoint), secret: secret.expose() };
    let location = format!("/v1/webhooks/endpoints/{id}");
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(created)).into_response())
}

/// The caller's endpoints (every endpoint, for ops), by id.
#[utoipa::path(get, path = "/v1/webhooks/endpoints", tag = "webhooks", operation_id = "list_webhook_endpoints",
    params(EndpointPageQuery), responses((status = 200, description = "A page of endpoints", body = EndpointPage), super::openapi::ApiErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<EndpointPageQuery>,
) -> Result<Json<EndpointPage>, Error> {
    principal.require_any(&[Role::Client, Role::Ops])?;
    let limit = limit(query.limit)?;
    let after = query.cursor.as_deref().map(cursor::parse_endpoint).transpose()?;
    let owner = (principal.restricted && !principal.has(Role::Ops)).then_some(principal.sub.as_str());
    let mut rows = endpoints::list(&state.pool, owner, after, limit + 1).await?;
    let next_cursor = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        cursor::endpoint(rows[rows.len() - 1].id)
    });
    Ok(Json(EndpointPage { items: rows.iter().map(EndpointView::from).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "get_webhook_endpoint",
    params(("id" = String, Path)), responses(
        (status = 200, description = "The endpoint", body = EndpointView), super::openapi::ApiErrors))]
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, Error> {
    Ok(Json(EndpointView::from(&load(&state, &principal, &id).await?)))
}

/// Changes the URL, the filter, the description, or enables/disables it.
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "update_webhook_endpoint",
    params(("id" = String, Path)), request_body = EndpointChanges, responses(
        (status = 200, description = "The endpoint as changed", body = EndpointView), super::openapi::ApiErrors))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Body(body): Body<EndpointChanges>,
) -> Result<Json<EndpointView>, Error> {
    let endpoint = load(&state, &principal, &id).await?;
    let url = body.url.as_deref().map(|u| state.deliverer.sender.egress().check_url(u)).transpose()?;
    if let Some(types) = &body.event_types {
        check_types(types)?;
    }
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    let changes = Changes {
        url: url.as_ref().map(|u| u.as_str()),
        description: body.description.as_deref(),
        event_types: body.event_types.as_deref(),
        enabled: body.enabled,
    };
    let changed = endpoints::update(&state.pool, endpoint.id, &changes).await?;
    endpoints::announce(&state.pool, endpoint.id).await?;
    Ok(Json(EndpointView::from(&changed.ok_or(Error::NotFound("no such endpoint"))?)))
}

/// Deletes the endpoint and everything pending for it.
#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "delete_webhook_endpoint",
    params(("id" = String, Path)), responses(
        (status = 204, description = "Deleted"), super::openapi::ApiErrors))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let endpoint = load(&state, &principal, &id).await?;
    endpoints::delete(&state.pool, endpoint.id).await?;
    endpoints::announce(&state.pool, endpoint.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Account reads: one account, a page of accounts, a page of entries.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::params::{Params, LAG_HEADER};
use crate::app::AppState;
use crate::error::Error;
use crate::{cursor, store};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneQuery {
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    owner: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    after: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntriesQuery {
    limit: Option<i64>,
    cursor: Option<String>,
    after: Option<String>,
}

fn limit(requested: Option<i64>) -> Result<i64, Error> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::Validation(format!("limit must be between 1 and {MAX_LIMIT}"))),
    }
}

fn account_id(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("no such account"))
}

fn with_lag(mut response: Response, lag: Option<i64>) -> Response {
    if let Some(lag) = lag {
        response.headers_mut().insert(LAG_HEADER, HeaderValue::from(lag));
    }
    response
}

pub async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<OneQuery>,
) -> Result<Response, Error> {
    let id = account_id(&id)?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts"]).await?;
    let account = store::account(&state.pool, id).await?.ok_or(Error::NotFound("no such account"))?;
    let etag = format!("\"{}\"", account.version);
    let etag_value = HeaderValue::from_str(&etag).map_err(|_| Error::Validation("bad etag".into()))?;
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let response = if matches {
        (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response()
    } else {
        ([(header::ETAG, etag_value)], Json(account)).into_response()
    };
    Ok(with_lag(response, lag))
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(query): Params<ListQuery>,
) -> Result<Response, Error> {
    let limit = limit(query.limit)?;
    if let Some(status) = query.status.as_deref() {
        if !["open", "frozen", "closed"].contains(&status) {
            return Err(Error::Validation("status must be open, frozen or closed".into()));
        }
    }
    let after = query.cursor.as_deref().map(cursor::parse_account).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts"]).await?;
    let mut rows = store::accounts(&state.pool, query.owner.as_deref(), query.status.as_deref(), after, limit).await?;
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|a| cursor::account(a.id))
    });
    Ok(with_lag(Json(json!({ "items": rows, "next_cursor": next.flatten() })).into_response(), lag))
}

pub async fn entries(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<EntriesQuery>,
) -> Result<Response, Error> {
    let id = account_id(&id)?;
    let limit = limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::parse_entry).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts", "account_entries"]).await?;
    store::account(&state.pool, id).await?.ok_or(Error::NotFound("no such account"))?;
    let mut rows = store::entries(&state.pool, id, before, limit).await?;
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|e| cursor::entry(e.sequence))
    });
    Ok(with_lag(Json(json!({ "items": rows, "next_cursor": next.flatten() })).into_response(), lag))
}

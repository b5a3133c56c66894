//! Account reads: one account, a page of accounts, a page of entries.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger_runtime::auth::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::openapi::{ReadErrors, TokenHeader};
use super::params::{Params, LAG_HEADER};
use crate::app::AppState;
use crate::error::Error;
use crate::store::{AccountView, EntryView};
use crate::{cursor, store};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OneQuery {
    /// A consistency token from a command response: wait until this read shows that write.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this owner's accounts: a name as accounts are opened with (not blank, no control characters).
    #[param(
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    owner: Option<String>,
    /// Only accounts in this status: `open`, `frozen` or `closed`.
    #[param(pattern = "^(open|frozen|closed)$")]
    status: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^a1\.[0-9a-f]{32}$")]
    cursor: Option<String>,
    /// A consistency token from a command response.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^e1\.[1-9a-f][0-9a-f]{0,14}$")]
    cursor: Option<String>,
    /// A consistency token from a command response.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

/// A page of accounts in id order.
#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A page of entries, newest first.
#[derive(Serialize, ToSchema)]
pub struct EntryPage {
    items: Vec<EntryView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

pub(super) fn limit(requested: Option<i64>) -> Result<i64, Error> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(Error::Validation(format!("limit must be between 1 and {MAX_LIMIT}"))),
    }
}

/// Cuts `rows` (fetched with one more than `limit`) to the page; the cursor of
/// the next page, if there is one, is that of the page's last row.
pub(super) fn next_page<T>(rows: &mut Vec<T>, limit: i64, cursor: impl FnOnce(&T) -> String) -> Option<String> {
    if rows.len() as i64 <= limit {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(cursor)
}

pub(super) fn account_id(raw: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(raw).map_err(|_| Error::NotFound("no such account"))
}

/// Whose accounts the principal may read: `None` for all (analysts), or only
/// its own (clients). Anybody else gets 403 `forbidden`.
pub(super) fn scope(principal: &Principal) -> Result<Option<&str>, Error> {
    principal.require_any(&[Role::Client, Role::Analyst])?;
    Ok((principal.restricted && !principal.has(Role::Analyst)).then_some(principal.sub.as_str()))
}

/// Someone else's account does not exist, as far as a client can tell (nor
/// does an erased owner's: it belongs to nobody's token any more).
pub(super) fn visible(scope: Option<&str>, owner: Option<&str>) -> Result<(), Error> {
    match scope {
        Some(me) if Some(me) != owner => Err(Error::NotFound("no such account")),
        _ => Ok(()),
    }
}

/// One account from the read model, its owner opened.
pub(super) async fn load(state: &AppState, id: Uuid) -> Result<AccountView, Error> {
    let account = store::account(&state.pool, id).await?.ok_or(Error::NotFound("no such account"))?;
    account.open(&state.opener).await
}

pub(super) fn with_lag(mut response: Response, lag: Option<i64>) -> Response {
    if let Some(lag) = lag {
        response.headers_mut().insert(LAG_HEADER, HeaderValue::from(lag));
    }
    response
}

/// One account, with its version as ETag.
#[utoipa::path(get, path = "/v1/accounts/{id}", operation_id = "get_account", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account id"), OneQuery, TokenHeader,
           ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag from an earlier read")),
    responses(
        (status = 200, body = AccountView, description = "The account",
         headers(("ETag" = String), ("Read-Lag-Records" = Option<i64>, description = "Only without a token"))),
        (status = 304, description = "Not modified", headers(("ETag" = String))),
        ReadErrors))]
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<OneQuery>,
) -> Result<Response, Error> {
    let scope = scope(&principal)?;
    let id = account_id(&id)?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts"]).await?;
    let account = load(&state, id).await?;
    visible(scope, account.owner.as_deref())?;
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

/// A page of accounts, optionally by owner and status.
#[utoipa::path(get, path = "/v1/accounts", operation_id = "list_accounts", tag = "accounts", params(ListQuery, TokenHeader),
    responses((status = 200, body = AccountPage, description = "A page",
               headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))), ReadErrors))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Params(query): Params<ListQuery>,
) -> Result<Response, Error> {
    let scope = scope(&principal)?;
    let limit = limit(query.limit)?;
    if let Some(status) = query.status.as_deref() {
        if !["open", "frozen", "closed"].contains(&status) {
            return Err(Error::Validation("status must be open, frozen or closed".into()));
        }
    }
    if let Some(owner) = query.owner.as_deref() {
        events::account::check_owner(owner).map_err(|e| Error::Validation(e.to_string()))?;
    }
    let after = query.cursor.as_deref().map(cursor::parse_account).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts"]).await?;
    // A client lists its own accounts; asking for another owner's finds none.
    let owner = match (scope, query.owner.as_deref()) {
        (Some(me), Some(other)) if me != other => {
            return Ok(with_lag(Json(AccountPage { items: Vec::new(), next_cursor: None }).into_response(), lag))
        }
        (Some(me), _) => Some(me),
        (None, owner) => owner,
    };
    let owner = match owner {
        Some(name) => Some((name, state.opener.subject_of(name).await?)),
        None => None,
    };
    let rows = store::accounts(&state.pool, owner, query.status.as_deref(), after, limit).await?;
    let mut rows = futures::future::try_join_all(rows.into_iter().map(|row| row.open(&state.opener))).await?;
    let next_cursor = next_page(&mut rows, limit, |a| cursor::account(a.id));
    Ok(with_lag(Json(AccountPage { items: rows, next_cursor }).into_response(), lag))
}

/// A page of an account's money movements, newest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/entries", operation_id = "list_account_entries", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account id"), EntriesQuery, TokenHeader),
    responses((status = 200, body = EntryPage, description = "A page",
               headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))), ReadErrors))]
pub async fn entries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<EntriesQuery>,
) -> Result<Response, Error> {
    let scope = scope(&principal)?;
    let id = account_id(&id)?;
    let limit = limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::parse_entry).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts", "account_entries"]).await?;
    let account = load(&state, id).await?;
    visible(scope, account.owner.as_deref())?;
    let rows = store::entries(&state.pool, id, before, limit).await?;
    let mut rows = futures::future::try_join_all(rows.into_iter().map(|row| row.open(&state.opener, id))).await?;
    let next_cursor = next_page(&mut rows, limit, |e| cursor::entry(e.sequence));
    Ok(with_lag(Json(EntryPage { items: rows, next_cursor }).into_response(), lag))
}

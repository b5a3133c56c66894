//! Transfer reads: one transfer with its steps, and a page of an account's transfers.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger_runtime::auth::{Principal, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::accounts::{account_id, limit, next_page, scope, visible, with_lag};
use super::openapi::{ReadErrors, TokenHeader};
use super::params::Params;
use crate::app::AppState;
use crate::cursor;
use crate::error::Error;
use crate::store::transfers::{self, TransferDetail, TransferView};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// A consistency token from a command response: wait until this read shows that write.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountTransfersQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^x1\.[0-9a-f]{32}$")]
    cursor: Option<String>,
    /// A consistency token from a command response.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

/// A page of transfers, newest first (by id: server-generated ids are UUIDv7).
#[derive(Serialize, ToSchema)]
pub struct TransferPage {
    items: Vec<TransferView>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Whose transfers the principal may read: `None` for all (analysts, ops), or
/// only those from or to its own accounts (clients). Anybody else gets 403.
fn transfer_scope(principal: &Principal) -> Result<Option<&str>, Error> {
    principal.require_any(&[Role::Client, Role::Analyst, Role::Ops])?;
    let everything = !principal.restricted || principal.has(Role::Analyst) || principal.has(Role::Ops);
    Ok((!everything).then_some(principal.sub.as_str()))
}

/// One transfer: its status, amounts, accounts and every step the log recorded.
#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers", operation_id = "get_transfer",
    params(("id" = Uuid, Path, description = "The transfer id"), TransferQuery, TokenHeader),
    responses(
        (status = 200, body = TransferDetail, description = "The transfer",
         headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))),
        ReadErrors))]
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<TransferQuery>,
) -> Result<Response, Error> {
    let owner = transfer_scope(&principal)?;
    let id = Uuid::parse_str(&id).map_err(|_| Error::NotFound("no such transfer"))?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["transfers"]).await?;
    // A transfer between other people's accounts does not exist, as far as a client can tell.
    let owner = match owner {
        Some(name) => Some((name, state.opener.subject_of(name).await?)),
        None => None,
    };
    let mut transfer = transfers::transfer(&state.pool, id, owner).await?.ok_or(Error::NotFound("no such transfer"))?;
    transfer.transfer = transfer.transfer.open(&state.opener).await?;
    Ok(with_lag(Json(transfer).into_response(), lag))
}

/// A page of the transfers an account sent or received, newest first.
#[utoipa::path(get, path = "/v1/accounts/{id}/transfers", tag = "transfers", operation_id = "list_account_transfers",
    params(("id" = Uuid, Path, description = "The account id"), AccountTransfersQuery, TokenHeader),
    responses((status = 200, body = TransferPage, description = "A page",
               headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))), ReadErrors))]
pub async fn of_account(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<AccountTransfersQuery>,
) -> Result<Response, Error> {
    let scope = scope(&principal)?;
    let id = account_id(&id)?;
    let limit = limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::parse_transfer).transpose()?;
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["accounts", "transfers"]).await?;
    let account = super::accounts::load(&state, id).await?;
    visible(scope, account.owner.as_deref())?;
    let rows = transfers::account_transfers(&state.pool, id, before, limit).await?;
    let mut rows = futures::future::try_join_all(rows.into_iter().map(|row| row.open(&state.opener))).await?;
    let next_cursor = next_page(&mut rows, limit, |t| cursor::transfer(t.transfer_id));
    Ok(with_lag(Json(TransferPage { items: rows, next_cursor }).into_response(), lag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[Role], restricted: bool) -> Principal {
        Principal { sub: "alice".into(), roles: roles.to_vec(), restricted }
    }

    #[test]
    fn analysts_and_ops_read_every_transfer_a_client_only_its_own_and_nobody_else_any() {
        assert_eq!(transfer_scope(&principal(&[Role::Analyst], true)).ok(), Some(None));
        assert_eq!(transfer_scope(&principal(&[Role::Ops], true)).ok(), Some(None));
        assert_eq!(transfer_scope(&principal(&[Role::Client, Role::Ops], true)).ok(), Some(None));
        assert_eq!(transfer_scope(&principal(&[Role::Client], true)).ok(), Some(Some("alice")));
        assert_eq!(transfer_scope(&principal(&[Role::Client], false)).ok(), Some(None));
        assert!(matches!(transfer_scope(&principal(&[Role::System], true)), Err(Error::Auth(_))));
        assert!(matches!(transfer_scope(&principal(&[], true)), Err(Error::Auth(_))));
    }
}

//! Handlers: parse, hand the command to its partition writer, answer.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::{Command, ConsistencyToken, Position};
use ledger_runtime::auth::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Body, CommandHeaders};
use super::openapi::{CommandErrors, CommandHeadersDoc, Created, Done};
use crate::app::AppState;
use crate::error::Refusal;
use crate::plan::Reply;

/// Namespace of account ids derived from idempotency keys (UUIDv5).
const ACCOUNT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6467_6572_6c69_6e65_2d61_6363_7431);

/// Open an account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountBody {
    /// Who owns the account: the token's `sub` (the default); a client may not open one for anybody else.
    /// Not blank, no control characters.
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(
        nullable = false,
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u001f\u007f-\u009f]*$",
        example = "alice"
    )]
    owner: Option<String>,
    /// An active ISO-4217 code: the list `events::currency` checks.
    #[schema(schema_with = super::openapi::currency_schema)]
    currency: String,
    /// How far below zero the balance may go, in minor units (default 0).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    overdraft_limit: i64,
}

/// Move money: a positive amount in minor units.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64, example = 1500)]
    amount: i64,
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(
        nullable = false,
        max_length = 256,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "invoice 42"
    )]
    reference: Option<String>,
}

/// Freeze an account, with an optional reason.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    #[schema(nullable = false, max_length = 256, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    #[serde(default, deserialize_with = "super::extract::present")]
    reason: Option<String>,
}

/// An empty object (the body may also be left out).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// The body of every successful command.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    account_id: Uuid,
    /// The account's version after this command.
    version: u64,
    commit_id: Uuid,
    #[schema(value_type = super::openapi::PositionDoc)]
    position: Position,
    /// Send it back to the query service to read this write.
    #[schema(
        example = "v1.4.17.5f0c2a9d1e7b4c3a8d6e0f1a2b3c4d5e",
        pattern = r"^v1\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,18})\.[0-9a-f]{32}$"
    )]
    consistency_token: String,
}

#[utoipa::path(post, path = "/v1/accounts", tag = "accounts", summary = "Open an account",
    params(CommandHeadersDoc),
    request_body(content = OpenAccountBody, content_type = "application/json"),
    responses(Created, CommandErrors))]
pub async fn open_account(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Body(body): Body<OpenAccountBody>,
) -> Result<Response, Refusal> {
    headers.require(&[Role::Client], "account commands need the client role")?;
    let sub = &headers.principal.sub;
    let owner = match body.owner {
        Some(owner) if headers.principal.restricted && owner != *sub => {
            return Err(Refusal::Forbidden("a client opens accounts for itself: owner must be the token's sub"))
        }
        Some(owner) => owner,
        None => sub.clone(),
    };
    // A retried open with the same key (from the same client) lands on the
    // same id, so it cannot create two accounts. Without a key, any new id
    // will do: one on a partition served here (an instance that forwards it
    // lets the owner pick again).
    let account_id = match &headers.idempotency_key {
        Some(key) => Uuid::new_v5(&ACCOUNT_ID_NAMESPACE, format!("{sub}\n{key}").as_bytes()),
        None => state.partitions.new_local_id(),
    };
    let command = Command::OpenAccount { owner, currency: body.currency, overdraft_limit: body.overdraft_limit };
    submit(&state, account_id, command, headers).await
}

#[utoipa::path(post, path = "/v1/accounts/{id}/deposits", tag = "accounts", summary = "Deposit money",
    params(("id" = Uuid, Path, description = "The account id"), CommandHeadersDoc),
    request_body(content = MoneyBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn deposit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<MoneyBody>,
) -> Result<Response, Refusal> {
    let command = Command::Deposit { amount: body.amount, reference: body.reference };
    submit(&state, account_id(&id)?, command, headers).await
}

#[utoipa::path(post, path = "/v1/accounts/{id}/withdrawals", tag = "accounts", summary = "Withdraw money",
    params(("id" = Uuid, Path, description = "The account id"), CommandHeadersDoc),
    request_body(content = MoneyBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<MoneyBody>,
) -> Result<Response, Refusal> {
    let command = Command::Withdraw { amount: body.amount, reference: body.reference };
    submit(&state, account_id(&id)?, command, headers).await
}

#[utoipa::path(post, path = "/v1/accounts/{id}/freeze", operation_id = "freeze_account", tag = "accounts", summary = "Freeze an account",
    params(("id" = Uuid, Path, description = "The account id"), CommandHeadersDoc),
    request_body(content = FreezeBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn freeze(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<FreezeBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::FreezeAccount { reason: body.reason }, headers).await
}

#[utoipa::path(post, path = "/v1/accounts/{id}/unfreeze", operation_id = "unfreeze_account", tag = "accounts", summary = "Unfreeze an account",
    params(("id" = Uuid, Path, description = "The account id"), CommandHeadersDoc),
    request_body(content = NoBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn unfreeze(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(NoBody {}): Body<NoBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::UnfreezeAccount, headers).await
}

#[utoipa::path(post, path = "/v1/accounts/{id}/close", operation_id = "close_account", tag = "accounts", summary = "Close an account (balance must be zero)",
    params(("id" = Uuid, Path, description = "The account id"), CommandHeadersDoc),
    request_body(content = NoBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(NoBody {}): Body<NoBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::CloseAccount, headers).await
}

/// An id that is not a UUID names no account.
pub(super) fn account_id(raw: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(raw).map_err(|_| Refusal::Domain(events::DomainError::NotFound))
}

async fn submit(
    state: &AppState,
    account_id: Uuid,
    command: Command,
    headers: CommandHeaders,
) -> Result<Response, Refusal> {
    headers.require(&[Role::Client], "account commands need the client role")?;
    let reply = state.partitions.submit(account_id, command, headers).await?;
    Ok(accepted(reply, &state.token_key))
}

pub(super) fn accepted(reply: Reply, token_key: &[u8]) -> Response {
    let receipt = reply.receipt;
    let status = if receipt.command == "OpenAccount" { StatusCode::CREATED } else { StatusCode::OK };
    let body = Accepted {
        account_id: receipt.account_id,
        version: receipt.version,
        commit_id: receipt.commit_id,
        position: receipt.position,
        consistency_token: ConsistencyToken(receipt.position).sign(token_key),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", receipt.version)) {
        headers.insert("etag", etag);
    }
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&format!("/v1/accounts/{}", receipt.account_id)) {
            headers.insert("location", location);
        }
    }
    if reply.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

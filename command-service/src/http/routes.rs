//! Handlers: parse, hand the command to its partition writer, answer.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use events::{Command, ConsistencyToken, Position};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::extract::{Body, CommandHeaders};
use crate::app::AppState;
use crate::error::Refusal;
use crate::plan::Reply;

/// Namespace of account ids derived from idempotency keys (UUIDv5).
const ACCOUNT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6467_6572_6c69_6e65_2d61_6363_7431);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAccountBody {
    owner: String,
    currency: String,
    #[serde(default)]
    overdraft_limit: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyBody {
    amount: i64,
    #[serde(default)]
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeBody {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// The body of every successful command.
#[derive(Serialize)]
pub struct Accepted {
    account_id: Uuid,
    version: u64,
    commit_id: Uuid,
    position: Position,
    consistency_token: String,
}

pub async fn open_account(
    State(state): State<AppState>,
    headers: CommandHeaders,
    Body(body): Body<OpenAccountBody>,
) -> Result<Response, Refusal> {
    // A retried open with the same key lands on the same id, so it cannot create two accounts.
    let account_id = match &headers.idempotency_key {
        Some(key) => Uuid::new_v5(&ACCOUNT_ID_NAMESPACE, key.as_bytes()),
        None => Uuid::now_v7(),
    };
    let command =
        Command::OpenAccount { owner: body.owner, currency: body.currency, overdraft_limit: body.overdraft_limit };
    submit(&state, account_id, command, headers).await
}

pub async fn deposit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<MoneyBody>,
) -> Result<Response, Refusal> {
    let command = Command::Deposit { amount: body.amount, reference: body.reference };
    submit(&state, account_id(&id)?, command, headers).await
}

pub async fn withdraw(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<MoneyBody>,
) -> Result<Response, Refusal> {
    let command = Command::Withdraw { amount: body.amount, reference: body.reference };
    submit(&state, account_id(&id)?, command, headers).await
}

pub async fn freeze(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<FreezeBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::FreezeAccount { reason: body.reason }, headers).await
}

pub async fn unfreeze(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(NoBody {}): Body<NoBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::UnfreezeAccount, headers).await
}

pub async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(NoBody {}): Body<NoBody>,
) -> Result<Response, Refusal> {
    submit(&state, account_id(&id)?, Command::CloseAccount, headers).await
}

/// An id that is not a UUID names no account.
fn account_id(raw: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(raw).map_err(|_| Refusal::Domain(events::DomainError::NotFound))
}

async fn submit(
    state: &AppState,
    account_id: Uuid,
    command: Command,
    headers: CommandHeaders,
) -> Result<Response, Refusal> {
    let reply = state.writers.submit(account_id, command, headers).await?;
    Ok(accepted(reply))
}

fn accepted(reply: Reply) -> Response {
    let receipt = reply.receipt;
    let status = if receipt.command == "OpenAccount" { StatusCode::CREATED } else { StatusCode::OK };
    let body = Accepted {
        account_id: receipt.account_id,
        version: receipt.version,
        commit_id: receipt.commit_id,
        position: receipt.position,
        consistency_token: ConsistencyToken(receipt.position).to_string(),
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

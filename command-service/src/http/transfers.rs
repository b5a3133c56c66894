//! Transfer commands: initiate, post and void (clients on their own source
//! accounts, ops on any), and the legs only the transfer driver records
//! (credit, reverse, expire; role `system`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::Utc;
use events::{Command, Position, TransferStatus};
use ledger_runtime::auth::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::awaiting::{self, prefer_wait};
use super::extract::{Body, CommandHeaders};
use super::openapi::{CommandErrors, CommandHeadersDoc, Done, PreferDoc, TransferAcceptedDoc, TransferFinal};
use super::routes::{accepted, account_id};
use crate::app::AppState;
use crate::error::Refusal;

/// Namespace of transfer ids derived from an Idempotency-Key (UUIDv5 of source and key).
const TRANSFER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c65_6467_6572_6c69_6e65_2d74_7266_7231);

/// Move money from one account to another of the same currency.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// Client-chosen id: it is the transfer's idempotency key (default: derived
    /// from the Idempotency-Key, or new).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(nullable = false)]
    transfer_id: Option<Uuid>,
    from: Uuid,
    to: Uuid,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64, example = 1500)]
    amount: i64,
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(nullable = false, max_length = 256, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    reference: Option<String>,
    /// Two-phase: hold the amount until post, void or timeout.
    #[serde(default)]
    pending: bool,
    /// Seconds until an unresolved hold expires (pending only; default 86 400, at most 2 592 000).
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(nullable = false, minimum = 1, maximum = 2_592_000)]
    timeout_secs: Option<u64>,
}

/// Capture a hold: all of it, or `amount` of it (the rest is released).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostBody {
    #[serde(default, deserialize_with = "super::extract::present")]
    #[schema(nullable = false, minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount: Option<i64>,
}

/// An empty object (the body may also be left out).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidBody {}

/// The driver's credit of a transfer's destination.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    from: Uuid,
    to: Uuid,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    amount: i64,
    #[schema(schema_with = super::openapi::currency_schema)]
    currency: String,
    /// The source's reference as its commit holds it: sealed for the source's owner (or clear, from an old log).
    #[serde(default)]
    #[schema(schema_with = super::openapi::personal_schema)]
    reference: Option<events::Personal>,
}

/// The source account of a transfer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    from: Uuid,
}

/// The body of an accepted transfer command.
#[derive(Serialize, ToSchema)]
pub struct TransferAccepted {
    pub(super) transfer_id: Uuid,
    /// `pending`, `held`, `completed`, `reversed`, `voided` or `expired`.
    #[schema(example = "pending")]
    pub(super) status: &'static str,
    /// The account whose commit this command was.
    pub(super) account_id: Uuid,
    pub(super) version: u64,
    pub(super) commit_id: Uuid,
    #[schema(value_type = super::openapi::PositionDoc)]
    pub(super) position: Position,
    pub(super) consistency_token: String,
}

#[utoipa::path(post, path = "/v1/transfers", operation_id = "initiate_transfer", tag = "transfers", summary = "Transfer money between accounts",
    params(CommandHeadersDoc, PreferDoc),
    request_body(content = TransferBody, content_type = "application/json"),
    responses(TransferAcceptedDoc, TransferFinal, CommandErrors))]
pub async fn initiate(
    State(state): State<AppState>,
    mut headers: CommandHeaders,
    http: HeaderMap,
    Body(body): Body<TransferBody>,
) -> Result<Response, Refusal> {
    mover(&mut headers)?;
    let wait = prefer_wait(&http)?;
    let (transfer_id, key) = match (body.transfer_id, headers.idempotency_key.take()) {
        (Some(id), _) => (id, Some(format!("transfer:{id}"))),
        (None, Some(key)) => {
            (Uuid::new_v5(&TRANSFER_ID_NAMESPACE, format!("{}\n{key}", body.from).as_bytes()), Some(key))
        }
        (None, None) => (Uuid::now_v7(), None),
    };
    headers.idempotency_key = key;
    let command = Command::InitiateTransfer {
        transfer_id,
        from: body.from,
        to: body.to,
        amount: body.amount,
        reference: body.reference,
        pending: body.pending,
        timeout_secs: body.timeout_secs,
        destination_currency: awaiting::currency_of(&state, body.to, &http).await,
        now: Utc::now(),
    };
    let reply = state.partitions.submit(body.from, command, headers).await?;
    let done = |s: TransferStatus| s.is_final() || s == TransferStatus::Held;
    Ok(awaiting::respond(&state, transfer_id, reply, wait, done, &http).await)
}

#[utoipa::path(post, path = "/v1/transfers/{id}/post", operation_id = "post_transfer", tag = "transfers", summary = "Post (capture) a held transfer",
    params(("id" = Uuid, Path), CommandHeadersDoc, PreferDoc),
    request_body(content = PostBody, content_type = "application/json"),
    responses(TransferAcceptedDoc, TransferFinal, CommandErrors))]
pub async fn post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    http: HeaderMap,
    Body(body): Body<PostBody>,
) -> Result<Response, Refusal> {
    let now = Utc::now();
    resolve(&state, &id, headers, &http, |transfer_id| Command::PostTransfer { transfer_id, amount: body.amount, now })
        .await
}

#[utoipa::path(post, path = "/v1/transfers/{id}/void", operation_id = "void_transfer", tag = "transfers", summary = "Void (release) a held transfer",
    params(("id" = Uuid, Path), CommandHeadersDoc, PreferDoc),
    request_body(content = VoidBody, content_type = "application/json"),
    responses(TransferAcceptedDoc, TransferFinal, CommandErrors))]
pub async fn void(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    http: HeaderMap,
    Body(VoidBody {}): Body<VoidBody>,
) -> Result<Response, Refusal> {
    let now = Utc::now();
    resolve(&state, &id, headers, &http, |transfer_id| Command::VoidTransfer { transfer_id, now }).await
}

/// Post or void: sent to the transfer's source account, wherever it lives.
async fn resolve(
    state: &AppState,
    id: &str,
    mut headers: CommandHeaders,
    http: &HeaderMap,
    command: impl FnOnce(Uuid) -> Command,
) -> Result<Response, Refusal> {
    mover(&mut headers)?;
    let wait = prefer_wait(http)?;
    let transfer_id = Uuid::parse_str(id).map_err(|_| Refusal::Domain(events::DomainError::TransferNotFound))?;
    // Taken before the lookup: a transfer accepted before this request is in
    // the directory of every partition served here since then.
    let searched = state.partitions.serving();
    let source = match state.directory.source_of(&transfer_id) {
        Some(source) => source,
        // Until every partition here is loaded, "not found" would be a guess.
        None if !state.partitions.ready() => {
            return Err(Refusal::Unavailable("loading partitions: the transfer may be on one of them".into()))
        }
        None if searched.len() as i32 == state.partitions.count()
            && !http.contains_key(&super::forward::FORWARDED_BY) =>
        {
            return Err(Refusal::Domain(events::DomainError::TransferNotFound))
        }
        // Its source may be on a partition not served here: the other
        // instances are asked, and "not found" stands only if the partitions
        // searched, here and there, are all of them.
        None => return Err(Refusal::NotHere { searched }),
    };
    let reply = state.partitions.submit(source, command(transfer_id), headers).await?;
    Ok(awaiting::respond(state, transfer_id, reply, wait, TransferStatus::is_final, http).await)
}

#[utoipa::path(post, path = "/v1/internal/transfers/{id}/credit", operation_id = "credit_transfer", tag = "internal",
    summary = "Credit a transfer's destination, or record its refusal (transfer driver only)",
    params(("id" = Uuid, Path)), request_body(content = CreditBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn credit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<CreditBody>,
) -> Result<Response, Refusal> {
    let transfer_id = account_id(&id)?;
    let command = Command::CreditTransfer {
        transfer_id,
        from: body.from,
        amount: body.amount,
        currency: body.currency,
        reference: body.reference,
    };
    internal(&state, body.to, command, headers).await
}

#[utoipa::path(post, path = "/v1/internal/transfers/{id}/reverse", operation_id = "reverse_transfer", tag = "internal",
    summary = "Give a refused transfer's money back to its source (transfer driver only)",
    params(("id" = Uuid, Path)), request_body(content = SourceBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn reverse(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<SourceBody>,
) -> Result<Response, Refusal> {
    let command = Command::ReverseTransfer { transfer_id: account_id(&id)? };
    internal(&state, body.from, command, headers).await
}

#[utoipa::path(post, path = "/v1/internal/transfers/{id}/expire", operation_id = "expire_transfer", tag = "internal",
    summary = "Release a hold past its timeout (transfer driver only)",
    params(("id" = Uuid, Path)), request_body(content = SourceBody, content_type = "application/json"),
    responses(Done, CommandErrors))]
pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    Body(body): Body<SourceBody>,
) -> Result<Response, Refusal> {
    let command = Command::ExpireTransfer { transfer_id: account_id(&id)?, now: Utc::now() };
    internal(&state, body.from, command, headers).await
}

/// Who may move money: a client out of its own accounts, `ops` between any.
fn mover(headers: &mut CommandHeaders) -> Result<(), Refusal> {
    headers.require(&[Role::Client, Role::Ops], "transfers need the client or ops role")?;
    if headers.principal.has(Role::Ops) {
        headers.owner = None;
    }
    Ok(())
}

async fn internal(
    state: &AppState,
    account: Uuid,
    command: Command,
    mut headers: CommandHeaders,
) -> Result<Response, Refusal> {
    headers.require(&[Role::System], "transfer legs are recorded by the transfer driver only")?;
    headers.owner = None;
    let reply = state.partitions.submit(account, command, headers).await?;
    Ok(accepted(reply, &state.token_key))
}

//! `/v1/accounts/{id}/history?as_of=`: an account as it stood at an instant,
//! folded from its archived events.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::accounts::{account_id, scope, visible, with_lag};
use super::openapi::{ReadErrors, TokenHeader};
use super::params::Params;
use crate::app::AppState;
use crate::error::Error;
use crate::store;
use ledger_runtime::auth::Principal;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The instant (RFC 3339); default now. Commits made at that instant count.
    as_of: Option<DateTime<Utc>>,
    /// A consistency token from a command response.
    #[param(schema_with = super::openapi::token_schema)]
    after: Option<String>,
}

/// An account as of an instant.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccountAsOf)]
pub struct AccountAsOf {
    pub id: Uuid,
    pub as_of: DateTime<Utc>,
    /// `null` once the owner is erased.
    pub owner: Option<String>,
    /// The owner's personal data is erased.
    pub erased: bool,
    pub currency: String,
    pub balance: i64,
    /// The sum of the open holds at that instant.
    pub held: i64,
    /// `balance - held`.
    pub available: i64,
    pub overdraft_limit: i64,
    /// `open`, `frozen` or `closed`.
    pub status: &'static str,
    pub version: u64,
    /// When the last event folded in occurred.
    pub last_event_at: DateTime<Utc>,
}

/// The account as of `as_of`: its events up to then, folded by `events::apply`
/// (through the upcasters), exactly as `ledgerctl state-at --at` folds the log.
#[utoipa::path(get, path = "/v1/accounts/{id}/history", operation_id = "get_account_history", tag = "accounts",
    params(("id" = Uuid, Path, description = "The account id"), HistoryQuery, TokenHeader),
    responses((status = 200, body = AccountAsOf, description = "The account at that instant",
               headers(("Read-Lag-Records" = Option<i64>, description = "Only without a token"))),
              ReadErrors))]
pub async fn as_of(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Params(query): Params<HistoryQuery>,
) -> Result<Response, Error> {
    let scope = scope(&principal)?;
    let id = account_id(&id)?;
    let as_of = query.as_of.unwrap_or_else(Utc::now);
    let lag = state.fresh_enough(&headers, query.after.as_deref(), &["event_archive"]).await?;
    let mut account = events::Account::default();
    let mut last_event_at = None;
    let mut rows = store::account_events(&state.pool, id);
    while let Some(row) = rows.next().await {
        let row = row?;
        // The state as of an instant is the longest run of events made at or before it.
        if row.occurred_at > as_of {
            break;
        }
        let event = events::Event::from_stored(
            row.event_id,
            &row.event_type,
            u32::try_from(row.schema_version).unwrap_or(0),
            row.sequence as u64,
            row.occurred_at,
            row.data,
        )?;
        events::apply(&mut account, &event.payload);
        last_event_at = Some(event.occurred_at);
    }
    // An id that had only refused transfer credits by then was no account.
    let Some(last_event_at) = last_event_at.filter(|_| account.status != events::Status::NotOpened) else {
        return Err(Error::NotFound("no such account at that instant"));
    };
    let stored_owner = serde_json::to_value(&account.owner).expect("a personal field serialises");
    let mut owner = state.opener.open(&stored_owner, &[id], "owner").await?;
    if let Some(subject) = account.owner.subject() {
        if store::subject_erased(&state.pool, subject).await? {
            owner = crate::personal::Opened { text: None, erased: true };
        }
    }
    visible(scope, owner.text.as_deref())?;
    let view = AccountAsOf {
        id,
        as_of,
        owner: owner.text,
        erased: owner.erased,
        currency: account.currency,
        balance: account.balance,
        held: account.held,
        available: account.balance - account.held,
        overdraft_limit: account.overdraft_limit,
        status: account.status.as_str(),
        version: account.version,
        last_event_at,
    };
    Ok(with_lag(Json(view).into_response(), lag))
}

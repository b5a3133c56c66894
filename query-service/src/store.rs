//! SQL of the query service: SELECTs only. Lowercase SQL, binds only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

pub mod transfers;

/// An account as the read model holds it.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: Uuid,
    pub owner: String,
    pub currency: String,
    /// Everything on the account, holds included.
    pub balance: i64,
    /// The sum of the account's open holds: still in `balance`, reserved.
    pub held: i64,
    /// `balance - held`: what may still leave the account (plus the overdraft limit).
    pub available: i64,
    pub overdraft_limit: i64,
    /// `open`, `frozen` or `closed`.
    #[schema(example = "open")]
    pub status: String,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One money movement.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = Entry)]
pub struct EntryView {
    pub sequence: i64,
    /// `deposit`, `withdrawal`, `transfer_debit`, `hold_posted`, `transfer_credit` or `transfer_reversal`.
    #[schema(example = "deposit")]
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reference: Option<String>,
    /// The transfer this entry is a leg of; null for deposits and withdrawals.
    pub transfer_id: Option<Uuid>,
    pub commit_id: Uuid,
    pub partition: i32,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

/// One archived event, as `/v1/events` serves it.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = ArchivedEvent)]
pub struct EventView {
    pub event_id: Uuid,
    pub commit_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub sequence: i64,
    #[serde(rename = "type")]
    #[schema(example = "MoneyDeposited")]
    pub event_type: String,
    /// The current schema version of the type: older events are upcast.
    pub schema_version: i32,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    pub partition: i32,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

/// What `/v1/events` filters on; `after` is the keyset position `(occurred_at, event_id)`.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub aggregate_id: Option<Uuid>,
    pub event_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<(DateTime<Utc>, Uuid)>,
}

const EVENTS_SQL: &str = "select event_id, commit_id, aggregate_type, aggregate_id, sequence, event_type,
        schema_version, data, partition, \"offset\", occurred_at
   from event_archive
  where ($1::uuid is null or aggregate_id = $1) and ($2::text is null or event_type = $2)
    and ($3::timestamptz is null or occurred_at >= $3) and ($4::timestamptz is null or occurred_at < $4)
    and ($5::timestamptz is null or (occurred_at, event_id) > ($5, $6::uuid))
  order by occurred_at, event_id
  limit $7";

/// Events in `(occurred_at, event_id)` order; `limit` rows at most.
pub fn events(
    pool: &PgPool,
    filter: EventFilter,
    limit: i64,
) -> impl futures::Stream<Item = Result<EventView, sqlx::Error>> + '_ {
    let (at, id) = filter.after.unzip();
    sqlx::query_as(EVENTS_SQL)
        .bind(filter.aggregate_id)
        .bind(filter.event_type)
        .bind(filter.from)
        .bind(filter.to)
        .bind(at)
        .bind(id)
        .bind(limit)
        .fetch(pool)
}

/// An archived event of one account, for folding its history.
#[derive(Debug, FromRow)]
pub struct StoredEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub sequence: i64,
    pub occurred_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// An account's archived events in sequence order.
pub fn account_events(pool: &PgPool, id: Uuid) -> impl futures::Stream<Item = Result<StoredEvent, sqlx::Error>> + '_ {
    sqlx::query_as(
        "select event_id, event_type, schema_version, sequence, occurred_at, data
           from event_archive where aggregate_id = $1 order by sequence",
    )
    .bind(id)
    .fetch(pool)
}

const ACCOUNT_COLUMNS: &str =
    "id, owner, currency, balance, held, balance - held as available, overdraft_limit, status, version, opened_at, \
     updated_at";

/// One account. An id that only ever refused a transfer credit (`not_opened`) is no account.
pub async fn account(pool: &PgPool, id: Uuid) -> Result<Option<AccountView>, Error> {
    let sql = format!("select {ACCOUNT_COLUMNS} from accounts where id = $1 and status <> 'not_opened'");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// One page of accounts after `after`, in id order; `limit + 1` rows tell if there is more.
pub async fn accounts(
    pool: &PgPool,
    owner: Option<&str>,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AccountView>, Error> {
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from accounts
          where ($1::text is null or owner = $1) and ($2::text is null or status = $2)
            and status <> 'not_opened' and ($3::uuid is null or id > $3)
          order by id limit $4"
    );
    Ok(sqlx::query_as(&sql).bind(owner).bind(status).bind(after).bind(limit + 1).fetch_all(pool).await?)
}

/// One page of an account's entries before sequence `before`, newest first.
pub async fn entries(pool: &PgPool, id: Uuid, before: Option<i64>, limit: i64) -> Result<Vec<EntryView>, Error> {
    Ok(sqlx::query_as(
        "select sequence, kind, amount, balance_after, reference, transfer_id, commit_id, partition, \"offset\",
                occurred_at
           from account_entries
          where account_id = $1 and ($2::int8 is null or sequence < $2)
          order by sequence desc limit $3",
    )
    .bind(id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(pool)
    .await?)
}

/// Lowest checkpoint of `projections` on a partition (`None`: never applied).
pub async fn checkpoint(
    pool: &PgPool,
    topic: &str,
    partition: i32,
    projections: &[&str],
) -> Result<Option<i64>, Error> {
    let (offset,): (Option<i64>,) = sqlx::query_as(
        "select min(next_offset) from projection_checkpoints
          where topic = $1 and partition = $2 and projection = any($3)",
    )
    .bind(topic)
    .bind(partition)
    .bind(projections)
    .fetch_one(pool)
    .await?;
    Ok(offset)
}

/// Records in the log not yet applied by `projections`, worst partition, as workers last reported it.
pub async fn lag_records(pool: &PgPool, topic: &str, projections: &[&str]) -> Result<i64, Error> {
    let (lag,): (Option<i64>,) = sqlx::query_as(
        "select max(log_end_offset - next_offset)::int8 from projection_checkpoints
          where topic = $1 and projection = any($2)",
    )
    .bind(topic)
    .bind(projections)
    .fetch_one(pool)
    .await?;
    Ok(lag.unwrap_or(0).max(0))
}

/// Every partition's lowest checkpoint.
pub async fn checkpoints(pool: &PgPool, topic: &str) -> Result<Vec<(i32, i64)>, Error> {
    Ok(sqlx::query_as(
        "select partition, min(next_offset)::int8 from projection_checkpoints where topic = $1 group by partition",
    )
    .bind(topic)
    .fetch_all(pool)
    .await?)
}

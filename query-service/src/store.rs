//! SQL of the query service: SELECTs only. Lowercase SQL, binds only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Executor, FromRow, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

pub mod transfers;

/// A pooled connection idle for longer than this is pinged before use.
const PING_IF_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The read pool: 16 connections, read-only sessions. sqlx's default pings
/// every connection before each use, a second round trip per read that about
/// doubles Postgres's work on the hot path; here only a connection idle for
/// over a second is pinged (as PgBouncer's `server_check_delay` does), so a
/// connection broken while idle is still replaced before it fails a read.
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IF_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .after_connect(|conn, _| {
            Box::pin(async move {
                // Read-only at the session level too, whatever the role may do.
                conn.execute("set session characteristics as transaction read only").await?;
                Ok(())
            })
        })
}

/// An account as the read model holds it.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: Uuid,
    /// The owner's name; `null` once the owner is erased.
    #[sqlx(skip)]
    pub owner: Option<String>,
    /// The owner's personal data is erased (GDPR art. 17): `owner` is `null` for good.
    pub erased: bool,
    /// The owner as the read model stores it (sealed).
    #[sqlx(rename = "owner")]
    #[serde(skip)]
    pub stored_owner: serde_json::Value,
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
    /// `null` when there is none, or once its author is erased.
    #[sqlx(skip)]
    pub reference: Option<String>,
    #[sqlx(rename = "reference")]
    #[serde(skip)]
    pub stored_reference: Option<serde_json::Value>,
    /// Its author's erasure is projected: not opened, whatever a key cache holds.
    #[serde(skip)]
    pub reference_erased: bool,
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
    "id, owner, erased, currency, balance, held, balance - held as available, overdraft_limit, status, version, \
     opened_at, updated_at";

impl AccountView {
    /// Opens the stored owner: `owner` in clear, or `null` and `erased` once its key is gone.
    pub async fn open(mut self, opener: &crate::personal::Opener) -> Result<Self, Error> {
        if !self.erased {
            let opened = opener.open(&self.stored_owner, &[self.id], "owner").await?;
            self.owner = opened.text;
            self.erased = opened.erased;
        }
        Ok(self)
    }
}

impl EntryView {
    /// Opens the stored reference, a field of `account`.
    pub async fn open(mut self, opener: &crate::personal::Opener, account: Uuid) -> Result<Self, Error> {
        match &self.stored_reference {
            Some(stored) if !self.reference_erased => {
                self.reference = opener.open(stored, &[account], "reference").await?.text
            }
            _ => {}
        }
        Ok(self)
    }
}

/// One account. An id that only ever refused a transfer credit (`not_opened`) is no account.
pub async fn account(pool: &PgPool, id: Uuid) -> Result<Option<AccountView>, Error> {
    let sql = format!("select {ACCOUNT_COLUMNS} from accounts where id = $1 and status <> 'not_opened'");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// One page of accounts after `after`, in id order; `limit + 1` rows tell if there is more.
pub async fn accounts(
    pool: &PgPool,
    owner: Option<(&str, Option<Uuid>)>,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AccountView>, Error> {
    let sql = format!(
        "select {ACCOUNT_COLUMNS} from accounts
          where ($1::text is null or owner_subject = $5 or owner = to_jsonb($1::text))
            and ($2::text is null or status = $2) and status <> 'not_opened' and ($3::uuid is null or id > $3)
          order by id limit $4"
    );
    let (name, subject) = owner.map_or((None, None), |(name, subject)| (Some(name), subject));
    Ok(sqlx::query_as(&sql).bind(name).bind(status).bind(after).bind(limit + 1).bind(subject).fetch_all(pool).await?)
}

/// One page of an account's entries before sequence `before`, newest first.
pub async fn entries(pool: &PgPool, id: Uuid, before: Option<i64>, limit: i64) -> Result<Vec<EntryView>, Error> {
    Ok(sqlx::query_as(
        "select sequence, kind, amount, balance_after, reference, transfer_id, commit_id, partition, \"offset\",
                occurred_at, exists (select 1 from erased_subjects e
                                      where e.subject = (reference->>'subject')::uuid) as reference_erased
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

/// Is the erasure of `subject` projected?
pub async fn subject_erased(pool: &PgPool, subject: Uuid) -> Result<bool, Error> {
    let (erased,): (bool,) = sqlx::query_as("select exists (select 1 from erased_subjects where subject = $1)")
        .bind(subject)
        .fetch_one(pool)
        .await?;
    Ok(erased)
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

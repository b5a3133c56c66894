//! SQL of the query service: SELECTs only. Lowercase SQL, binds only.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;

/// An account as the read model holds it.
#[derive(Debug, Serialize, FromRow, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    pub id: Uuid,
    pub owner: String,
    pub currency: String,
    pub balance: i64,
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
    /// `deposit` or `withdrawal`.
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reference: Option<String>,
    pub commit_id: Uuid,
    pub partition: i32,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

const ACCOUNT_COLUMNS: &str = "id, owner, currency, balance, overdraft_limit, status, version, opened_at, updated_at";

pub async fn account(pool: &PgPool, id: Uuid) -> Result<Option<AccountView>, Error> {
    let sql = format!("select {ACCOUNT_COLUMNS} from accounts where id = $1");
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
            and ($3::uuid is null or id > $3)
          order by id limit $4"
    );
    Ok(sqlx::query_as(&sql).bind(owner).bind(status).bind(after).bind(limit + 1).fetch_all(pool).await?)
}

/// One page of an account's entries before sequence `before`, newest first.
pub async fn entries(pool: &PgPool, id: Uuid, before: Option<i64>, limit: i64) -> Result<Vec<EntryView>, Error> {
    Ok(sqlx::query_as(
        "select sequence, kind, amount, balance_after, reference, commit_id, partition, \"offset\", occurred_at
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

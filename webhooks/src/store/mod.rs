//! SQL of the webhooks service: lowercase, binds only. Endpoints are in
//! [`endpoints`], what is sent and tried in [`deliveries`]; here the pool,
//! the migrations, and turning a batch of the log into deliveries.

pub mod deliveries;
pub mod endpoints;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::Error;
use crate::payload::{Message, Owner};

pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new().max_connections(16).acquire_timeout(std::time::Duration::from_secs(5))
}

pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    // The key store's tables: personal fields are opened with its keys.
    ledger_runtime::keys::migrate(pool).await?;
    // Several crates migrate the same database: each ignores the others' versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// Where a partition's deliveries were made up to: the next offset, and the
/// commit id of the record before it.
pub async fn cursor(pool: &PgPool, topic: &str, partition: i32) -> Result<Option<(i64, Option<Uuid>)>, Error> {
    Ok(sqlx::query_as("select next_offset, last_commit from webhook_cursors where topic = $1 and partition = $2")
        .bind(topic)
        .bind(partition)
        .fetch_optional(pool)
        .await?)
}

/// One delivery to make: a message to an endpoint.
pub struct NewDelivery {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
}

/// A partition's records `[from, to)`, turned into messages and deliveries;
/// `last_commit` is the commit id of the record before `to`.
pub struct Span {
    pub partition: i32,
    pub from: i64,
    pub to: i64,
    pub last_commit: Option<Uuid>,
}

/// Stores the messages of every span and their deliveries, and moves each
/// span's cursor from `from` to `to`, in one transaction. Returns the
/// partitions whose cursor was not at `from` (another worker got there
/// first): then nothing at all was written.
pub async fn enqueue(
    pool: &PgPool,
    topic: &str,
    spans: &[Span],
    messages: &[Message],
    deliveries: &[NewDelivery],
) -> Result<Vec<i32>, Error> {
    let mut tx = pool.begin().await?;
    let mut moved = Vec::new();
    for span in spans {
        if !advance(&mut tx, topic, span).await? {
            moved.push(span.partition);
        }
    }
    if !moved.is_empty() {
        tx.rollback().await?;
        return Ok(moved);
    }
    insert_messages(&mut tx, messages).await?;
    if !deliveries.is_empty() {
        let endpoints: Vec<Uuid> = deliveries.iter().map(|d| d.endpoint_id).collect();
        let events: Vec<Uuid> = deliveries.iter().map(|d| d.event_id).collect();
        sqlx::query(
            "insert into webhook_deliveries (endpoint_id, event_id, account_id, partition, \"offset\", event_index)
             select d.e, m.event_id, m.account_id, m.partition, m.\"offset\", m.event_index
               from unnest($1::uuid[], $2::uuid[]) as d(e, m_id)
               join webhook_messages m on m.event_id = d.m_id
               join webhook_endpoints p on p.id = d.e
             on conflict do nothing",
        )
        .bind(&endpoints)
        .bind(&events)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(moved)
}

async fn advance(tx: &mut Transaction<'_, Postgres>, topic: &str, span: &Span) -> Result<bool, Error> {
    let moved = if span.from == 0 {
        sqlx::query(
            "insert into webhook_cursors (topic, partition, next_offset, last_commit) values ($1, $2, $4, $5)
             on conflict (topic, partition) do update set next_offset = $4, last_commit = $5
             where webhook_cursors.next_offset = $3",
        )
    } else {
        sqlx::query(
            "update webhook_cursors set next_offset = $4, last_commit = $5
              where topic = $1 and partition = $2 and next_offset = $3",
        )
    }
    .bind(topic)
    .bind(span.partition)
    .bind(span.from)
    .bind(span.to)
    .bind(span.last_commit)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

async fn insert_messages(tx: &mut Transaction<'_, Postgres>, messages: &[Message]) -> Result<(), Error> {
    if messages.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = messages.iter().map(|m| m.event_id).collect();
    let types: Vec<&str> = messages.iter().map(|m| m.event_type).collect();
    let accounts: Vec<Uuid> = messages.iter().map(|m| m.account_id).collect();
    let partitions: Vec<i32> = messages.iter().map(|m| m.partition).collect();
    let offsets: Vec<i64> = messages.iter().map(|m| m.offset).collect();
    let indexes: Vec<i32> = messages.iter().map(|m| m.index).collect();
    let times: Vec<chrono::DateTime<chrono::Utc>> = messages.iter().map(|m| m.occurred_at).collect();
    let subjects: Vec<Option<Uuid>> =
        messages.iter().map(|m| if let Some(Owner::Subject(s)) = &m.owner { Some(*s) } else { None }).collect();
    let clears: Vec<Option<&str>> =
        messages.iter().map(|m| if let Some(Owner::Clear(c)) = &m.owner { Some(c.as_str()) } else { None }).collect();
    let bodies: Vec<&serde_json::Value> = messages.iter().map(|m| &m.body).collect();
    sqlx::query(
        "insert into webhook_messages
             (event_id, event_type, account_id, partition, \"offset\", event_index, occurred_at, owner_subject, owner_clear, body)
         select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::int8[], $6::int[],
                              $7::timestamptz[], $8::uuid[], $9::text[], $10::jsonb[])
         on conflict (event_id) do nothing",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&accounts)
    .bind(&partitions)
    .bind(&offsets)
    .bind(&indexes)
    .bind(&times)
    .bind(&subjects)
    .bind(&clears)
    .bind(&bodies)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

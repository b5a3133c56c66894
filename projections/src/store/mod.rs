//! SQL of the projection workers: read-model writes (set-based, `unnest`) and
//! guarded checkpoints. Lowercase SQL, binds only. The transfers and ledger
//! totals are in [`transfers`], the shadow schema of a replay in [`shadow`],
//! the checkpoints in [`checkpoints`].

pub mod checkpoints;
pub mod shadow;
pub mod subjects;
pub mod transfers;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use events::{Account, Status};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::batch::{FoldedBatch, StoredAccount};
use crate::error::Error;

pub use checkpoints::{advance, checkpoint, CHECKPOINT_CHANNEL};

pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    // The key store's tables first: the read models' grants name them.
    ledger_runtime::keys::migrate(pool).await?;
    migrator().run(pool).await?;
    Ok(())
}

/// The same, on one connection (a replay's, whose search path it keeps).
pub async fn migrate_connection(conn: &mut PgConnection) -> Result<(), Error> {
    ledger_runtime::keys::migrate_connection(&mut *conn).await?;
    migrator().run(conn).await?;
    Ok(())
}

fn migrator() -> sqlx::migrate::Migrator {
    // Several crates migrate the same database: each ignores the others' versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

fn status(text: &str) -> Status {
    match text {
        "open" => Status::Open,
        "frozen" => Status::Frozen,
        "closed" => Status::Closed,
        _ => Status::NotOpened,
    }
}

type AccountRow =
    (Uuid, serde_json::Value, String, i64, i64, i64, String, i64, Option<Uuid>, DateTime<Utc>, DateTime<Utc>);

/// Decodes a batch, loads the state it folds on (in `tx`) and folds it.
pub async fn fold_batch(
    tx: &mut PgConnection,
    topic: &str,
    partition: i32,
    records: &[crate::batch::Record],
) -> Result<crate::batch::FoldedBatch, Error> {
    let decoded = crate::batch::decode(records);
    let stored = load_accounts(tx, &decoded.accounts).await?;
    let subjects = subjects::load_subjects(tx, &decoded.subjects).await?;
    Ok(crate::batch::fold(topic, partition, decoded, stored, subjects))
}

/// The stored state of the given accounts (the fold state for the batch). It
/// has no `transfers`: the fold's `apply` works from the events' data alone.
pub async fn load_accounts(tx: &mut PgConnection, ids: &[Uuid]) -> Result<HashMap<Uuid, StoredAccount>, Error> {
    let rows: Vec<AccountRow> = sqlx::query_as(
        "select id, owner, currency, balance, held, overdraft_limit, status, version, head_commit_id, opened_at,
                updated_at
           from accounts where id = any($1)",
    )
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, owner, currency, balance, held, overdraft_limit, st, version, head, opened_at, updated_at)| {
            let (version, status) = (version as u64, status(&st));
            let owner = serde_json::from_value(owner).unwrap_or_default();
            let account = Account {
                version,
                status,
                owner,
                currency,
                balance,
                held,
                overdraft_limit,
                head,
                ..Account::default()
            };
            (id, StoredAccount { account, opened_at, updated_at })
        })
        .collect())
}

pub async fn upsert_accounts(tx: &mut PgConnection, accounts: &HashMap<Uuid, StoredAccount>) -> Result<(), Error> {
    if accounts.is_empty() {
        return Ok(());
    }
    // One array per column, all in the map's (stable) iteration order.
    let ids: Vec<Uuid> = accounts.keys().copied().collect();
    let owners: Vec<serde_json::Value> = accounts.values().map(|s| personal_json(&s.account.owner)).collect();
    let subjects: Vec<Option<Uuid>> = accounts.values().map(|s| s.account.owner.subject()).collect();
    let currencies: Vec<&str> = accounts.values().map(|s| s.account.currency.as_str()).collect();
    let statuses: Vec<&str> = accounts.values().map(|s| s.account.status.as_str()).collect();
    let balances: Vec<i64> = accounts.values().map(|s| s.account.balance).collect();
    let held: Vec<i64> = accounts.values().map(|s| s.account.held).collect();
    let limits: Vec<i64> = accounts.values().map(|s| s.account.overdraft_limit).collect();
    let versions: Vec<i64> = accounts.values().map(|s| s.account.version as i64).collect();
    let heads: Vec<Option<Uuid>> = accounts.values().map(|s| s.account.head).collect();
    let opened: Vec<DateTime<Utc>> = accounts.values().map(|s| s.opened_at).collect();
    let updated: Vec<DateTime<Utc>> = accounts.values().map(|s| s.updated_at).collect();
    sqlx::query(
        "insert into accounts (id, owner, currency, balance, overdraft_limit, status, version, head_commit_id,
                               opened_at, updated_at, held, owner_subject, erased)
         select u.*, exists (select 1 from erased_subjects e where e.subject = u.owner_subject)
           from unnest($1::uuid[], $2::jsonb[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::int8[],
                       $8::uuid[], $9::timestamptz[], $10::timestamptz[], $11::int8[], $12::uuid[])
                as u(id, owner, currency, balance, overdraft_limit, status, version, head_commit_id, opened_at,
                     updated_at, held, owner_subject)
         on conflict (id) do update set
           owner = excluded.owner, currency = excluded.currency, balance = excluded.balance, held = excluded.held,
           overdraft_limit = excluded.overdraft_limit, status = excluded.status, version = excluded.version,
           head_commit_id = excluded.head_commit_id, updated_at = excluded.updated_at",
    )
    .bind(&ids)
    .bind(&owners)
    .bind(&currencies)
    .bind(&balances)
    .bind(&limits)
    .bind(&statuses)
    .bind(&versions)
    .bind(&heads)
    .bind(&opened)
    .bind(&updated)
    .bind(&held)
    .bind(&subjects)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A personal field as the read models store it: a JSON string (clear, from an
/// old log) or the sealed object; opened only when read.
pub fn personal_json(field: &events::Personal) -> serde_json::Value {
    serde_json::to_value(field).expect("a personal field serialises")
}

/// One money movement: a deposit, a withdrawal, or a transfer leg that moves a balance.
pub struct EntryRow {
    pub account_id: Uuid,
    pub sequence: i64,
    pub kind: &'static str,
    pub amount: i64,
    pub balance_after: i64,
    pub reference: Option<events::Personal>,
    /// The transfer this entry is a leg of.
    pub transfer_id: Option<Uuid>,
    pub commit_id: Uuid,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
}

pub async fn insert_entries(tx: &mut PgConnection, partition: i32, rows: &[EntryRow]) -> Result<(), Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.account_id).collect();
    let sequences: Vec<i64> = rows.iter().map(|r| r.sequence).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind).collect();
    let amounts: Vec<i64> = rows.iter().map(|r| r.amount).collect();
    let balances: Vec<i64> = rows.iter().map(|r| r.balance_after).collect();
    let references: Vec<Option<serde_json::Value>> =
        rows.iter().map(|r| r.reference.as_ref().map(personal_json)).collect();
    let commits: Vec<Uuid> = rows.iter().map(|r| r.commit_id).collect();
    let offsets: Vec<i64> = rows.iter().map(|r| r.offset).collect();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.occurred_at).collect();
    let transfers: Vec<Option<Uuid>> = rows.iter().map(|r| r.transfer_id).collect();
    sqlx::query(
        "insert into account_entries (account_id, sequence, kind, amount, balance_after, reference, commit_id,
                                      partition, \"offset\", occurred_at, transfer_id)
         select a, s, k, m, b, r, c, $8, o, t, x
           from unnest($1::uuid[], $2::int8[], $3::text[], $4::int8[], $5::int8[], $6::jsonb[], $7::uuid[],
                       $9::int8[], $10::timestamptz[], $11::uuid[]) as u(a, s, k, m, b, r, c, o, t, x)",
    )
    .bind(&ids)
    .bind(&sequences)
    .bind(&kinds)
    .bind(&amounts)
    .bind(&balances)
    .bind(&references)
    .bind(&commits)
    .bind(partition)
    .bind(&offsets)
    .bind(&times)
    .bind(&transfers)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn insert_archive(tx: &mut PgConnection, batch: &FoldedBatch) -> Result<(), Error> {
    let n = batch.events();
    if n == 0 {
        return Ok(());
    }
    let (mut event_ids, mut commit_ids, mut types, mut aggregates) =
        (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut sequences, mut event_types, mut versions, mut data, mut offsets, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for accepted in &batch.accepted {
        let commit = &accepted.commit;
        for event in &commit.events {
            event_ids.push(event.event_id);
            commit_ids.push(commit.commit_id);
            types.push(commit.aggregate_type.as_str());
            aggregates.push(commit.aggregate_id);
            sequences.push(event.sequence as i64);
            event_types.push(event.payload.type_name());
            versions.push(event.schema_version() as i32);
            data.push(event.wire_data());
            offsets.push(accepted.offset);
            times.push(event.occurred_at);
        }
    }
    sqlx::query(
        "insert into event_archive (event_id, commit_id, aggregate_type, aggregate_id, sequence, event_type,
                                    schema_version, data, partition, \"offset\", occurred_at)
         select e, c, at, a, s, et, v, d, $9, o, t
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::int8[], $6::text[], $7::int4[],
                       $8::jsonb[], $10::int8[], $11::timestamptz[]) as u(e, c, at, a, s, et, v, d, o, t)",
    )
    .bind(&event_ids)
    .bind(&commit_ids)
    .bind(&types)
    .bind(&aggregates)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&versions)
    .bind(&data)
    .bind(batch.partition)
    .bind(&offsets)
    .bind(&times)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

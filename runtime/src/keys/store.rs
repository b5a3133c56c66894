//! SQL of the subject keys. Lowercase SQL, binds only.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Runs the key store's migrations (the table is shared by every service).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(pool).await
}

/// The same, on one connection (a replay's, whose search path it keeps).
pub async fn migrate_connection(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::migrate::MigrateError> {
    migrator().run(conn).await
}

fn migrator() -> sqlx::migrate::Migrator {
    // Several crates migrate the same database: each ignores the others' versions.
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

pub(super) async fn lookup_key(pool: &PgPool) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("select wrapped_key, kek_id from subject_lookup_key where id").fetch_optional(pool).await
}

pub(super) async fn insert_lookup_key(pool: &PgPool, sealed: &str, kek_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("insert into subject_lookup_key (wrapped_key, kek_id) values ($1, $2) on conflict (id) do nothing")
        .bind(sealed)
        .bind(kek_id)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn subject_by_lookup(
    pool: &PgPool,
    lookup: &[u8],
) -> Result<Option<(Uuid, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "select subject_id, wrapped_key, kek_id from subject_keys where lookup = $1 and wrapped_key is not null",
    )
    .bind(lookup)
    .fetch_optional(pool)
    .await
}

pub(super) async fn insert_subject(
    pool: &PgPool,
    subject: Uuid,
    lookup: &[u8],
    sealed: &str,
    kek_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into subject_keys (subject_id, lookup, wrapped_key, kek_id) values ($1, $2, $3, $4)
         on conflict (lookup) do nothing",
    )
    .bind(subject)
    .bind(lookup)
    .bind(sealed)
    .bind(kek_id)
    .execute(pool)
    .await
    .map(|_| ())
}

pub(super) async fn subject_key(pool: &PgPool, subject: Uuid) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("select wrapped_key, kek_id from subject_keys where subject_id = $1 and wrapped_key is not null")
        .bind(subject)
        .fetch_optional(pool)
        .await
}

#[allow(clippy::type_complexity)]
pub(super) async fn subject_record(
    pool: &PgPool,
    subject: Uuid,
) -> Result<Option<(DateTime<Utc>, Option<DateTime<Utc>>, Option<String>, Option<String>)>, sqlx::Error> {
    sqlx::query_as("select created_at, erased_at, erased_by, erase_reason from subject_keys where subject_id = $1")
        .bind(subject)
        .fetch_optional(pool)
        .await
}

/// Deletes the key and the lookup of a live subject; `false` if there was none.
pub(super) async fn erase(pool: &PgPool, subject: Uuid, by: &str, why: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update subject_keys set wrapped_key = null, lookup = null, erased_at = now(), erased_by = $2,
                erase_reason = $3
          where subject_id = $1 and wrapped_key is not null",
    )
    .bind(subject)
    .bind(by)
    .bind(why)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn live_keys(tx: &mut Transaction<'_, Postgres>) -> Result<Vec<(Uuid, String, String)>, sqlx::Error> {
    sqlx::query_as("select subject_id, wrapped_key, kek_id from subject_keys where wrapped_key is not null for update")
        .fetch_all(&mut **tx)
        .await
}

pub(super) async fn reseal_subject(
    tx: &mut Transaction<'_, Postgres>,
    subject: Uuid,
    sealed: &str,
    kek_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update subject_keys set wrapped_key = $2, kek_id = $3 where subject_id = $1")
        .bind(subject)
        .bind(sealed)
        .bind(kek_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub(super) async fn reseal_lookup_key(
    tx: &mut Transaction<'_, Postgres>,
    sealed: &str,
    kek_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("update subject_lookup_key set wrapped_key = $1, kek_id = $2 where id")
        .bind(sealed)
        .bind(kek_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

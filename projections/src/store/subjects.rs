//! SQL of data subjects in the read models: `erased_subjects`, the fold state
//! of subject commits, and the `erased` mark of their accounts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::Error;

/// The subjects already erased, among `ids` (the fold state of subject commits).
pub async fn load_subjects(
    tx: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, events::subject::Subject>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, Uuid, String, String)> =
        sqlx::query_as("select subject, commit_id, erased_by, reason from erased_subjects where subject = any($1)")
            .bind(ids)
            .fetch_all(&mut *tx)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(subject, head, by, reason)| {
            let erased = Some(events::subject::SubjectErased { by, reason });
            (subject, events::subject::Subject { version: 1, head: Some(head), erased })
        })
        .collect())
}

/// Records the batch's erasures and marks the subjects' accounts erased.
pub async fn record_erasures(tx: &mut PgConnection, batch: &crate::batch::FoldedBatch) -> Result<(), Error> {
    if batch.erasures.is_empty() {
        return Ok(());
    }
    let subjects: Vec<Uuid> = batch.erasures.iter().map(|(_, c)| c.subject).collect();
    let commits: Vec<Uuid> = batch.erasures.iter().map(|(_, c)| c.commit_id).collect();
    let by: Vec<&str> = batch.erasures.iter().map(|(_, c)| c.erased.by.as_str()).collect();
    let reasons: Vec<&str> = batch.erasures.iter().map(|(_, c)| c.erased.reason.as_str()).collect();
    let times: Vec<DateTime<Utc>> = batch.erasures.iter().map(|(_, c)| c.occurred_at).collect();
    let offsets: Vec<i64> = batch.erasures.iter().map(|(o, _)| *o).collect();
    sqlx::query(
        "insert into erased_subjects (subject, commit_id, erased_by, reason, erased_at, partition, \"offset\")
         select s, c, b, r, t, $7, o
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::int8[])
                as u(s, c, b, r, t, o)
         on conflict (subject) do nothing",
    )
    .bind(&subjects)
    .bind(&commits)
    .bind(&by)
    .bind(&reasons)
    .bind(&times)
    .bind(&offsets)
    .bind(batch.partition)
    .execute(&mut *tx)
    .await?;
    sqlx::query("update accounts set erased = true where owner_subject = any($1) and not erased")
        .bind(&subjects)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

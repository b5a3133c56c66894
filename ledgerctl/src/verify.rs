//! `verify`: does every read model equal the fold of the log?

use std::collections::HashMap;

use events::{AccountEvent, LogFold};
use uuid::Uuid;

use crate::{log, Sources};

#[derive(Default)]
struct Expected {
    fold: LogFold,
    entries: HashMap<Uuid, i64>,
    events: HashMap<Uuid, i64>,
}

/// Prints each difference and returns how many there were.
pub async fn run(sources: &Sources, database_url: &str) -> anyhow::Result<u64> {
    let mut expected = Expected::default();
    let ends = log::ends(sources).await?;
    for (partition, end) in ends.iter().enumerate() {
        log::read(sources, partition as i32, *end, |_, _, bytes| {
            if let (Some(commit), verdict) = expected.fold.fold_record(bytes) {
                if verdict.is_accepted() {
                    *expected.events.entry(commit.aggregate_id).or_default() += commit.events.len() as i64;
                    let money = commit
                        .events
                        .iter()
                        .filter(|e| {
                            matches!(e.payload, AccountEvent::MoneyDeposited(_) | AccountEvent::MoneyWithdrawn(_))
                        })
                        .count() as i64;
                    if money > 0 {
                        *expected.entries.entry(commit.aggregate_id).or_default() += money;
                    }
                }
            }
        })
        .await?;
    }
    let pool = sqlx::PgPool::connect(database_url).await?;
    let mut differences = 0u64;
    let mut report = |what: String| {
        differences += 1;
        println!("DIFF {what}");
    };

    let rows: Vec<(Uuid, i64, i64, String, Option<Uuid>)> =
        sqlx::query_as("select id, balance, version, status, head_commit_id from accounts").fetch_all(&pool).await?;
    let mut seen = std::collections::HashSet::new();
    for (id, balance, version, status, head) in rows {
        seen.insert(id);
        let stored = (balance, version, status.as_str(), head);
        match expected.fold.accounts.get(&id) {
            None => report(format!("accounts {id}: in the read model, not in the log")),
            Some(a) if (a.balance, a.version as i64, a.status.as_str(), a.head) != stored => report(format!(
                "accounts {id}: read model balance={balance} version={version} status={status} head={head:?}, \
                 log balance={} version={} status={} head={:?}",
                a.balance,
                a.version,
                a.status.as_str(),
                a.head
            )),
            Some(_) => {}
        }
    }
    for id in expected.fold.accounts.keys().filter(|id| !seen.contains(*id)) {
        report(format!("accounts {id}: in the log, missing from the read model"));
    }
    for (table, column, want) in
        [("account_entries", "account_id", &expected.entries), ("event_archive", "aggregate_id", &expected.events)]
    {
        let sql = format!("select {column}, count(*) from {table} group by {column}");
        let have: HashMap<Uuid, i64> =
            sqlx::query_as::<_, (Uuid, i64)>(&sql).fetch_all(&pool).await?.into_iter().collect();
        for (id, n) in want {
            let got = have.get(id).copied().unwrap_or(0);
            if got != *n {
                report(format!("{table} {id}: read model has {got} rows, the log has {n}"));
            }
        }
        for id in have.keys().filter(|id| !want.contains_key(*id)) {
            report(format!("{table} {id}: rows in the read model, none in the log"));
        }
    }
    println!(
        "verified {} accounts, {} accepted and {} rejected commits: {differences} difference(s)",
        expected.fold.accounts.len(),
        expected.fold.accepted,
        expected.fold.rejected
    );
    Ok(differences)
}

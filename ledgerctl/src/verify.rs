//! `verify`: does every read model equal the fold of the log, and does the
//! ledger hold together (money identity, transfer legs, open transfers)?
//!
//! Two kinds of finding, both printed as found and both counted for the exit
//! code: `DIFF` (a read model differs from the re-fold) and `FAIL` (the
//! accepted log itself breaks a rule of the ledger).

pub(crate) mod answers;
pub(crate) mod ledger;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;
use events::{AccountEvent, Effect, LogFold};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{log, Sources};
use ledger::Ledger;

#[derive(Default)]
struct Expected {
    fold: LogFold,
    entries: HashMap<Uuid, i64>,
    events: HashMap<Uuid, i64>,
    ledger: Ledger,
    /// Each record's verdict and each key's accepted commit, for `--answers`.
    log: answers::Log,
}

/// What is found, printed as it is found.
#[derive(Default)]
struct Report {
    differences: u64,
    failures: u64,
}

impl Report {
    fn diff(&mut self, what: String) {
        self.differences += 1;
        println!("DIFF {what}");
    }

    fn fail(&mut self, what: String) {
        self.failures += 1;
        println!("FAIL {what}");
    }
}

/// Whether an event is a row of `account_entries`: it moves the balance (the
/// projection's rule, derived from the same contract).
fn makes_entry(event: &AccountEvent) -> bool {
    Effect::of(event).balances != 0
}

/// Re-folds every partition of the log from offset 0 to its current end.
async fn fold_log(sources: &Sources) -> anyhow::Result<Expected> {
    let mut expected = Expected::default();
    let ends = log::ends(sources).await?;
    for (partition, end) in ends.iter().enumerate() {
        log::read(sources, partition as i32, *end, |partition, offset, bytes| {
            let (Some(commit), verdict) = expected.fold.fold_record(bytes) else { return };
            expected.log.record(partition, offset, &commit, verdict.is_accepted());
            if !verdict.is_accepted() {
                return;
            }
            *expected.events.entry(commit.aggregate_id).or_default() += commit.events.len() as i64;
            let moves = commit.events.iter().filter(|e| makes_entry(&e.payload)).count() as i64;
            if moves > 0 {
                *expected.entries.entry(commit.aggregate_id).or_default() += moves;
            }
            for event in &commit.events {
                expected.ledger.record(commit.aggregate_id, event);
            }
        })
        .await?;
    }
    Ok(expected)
}

/// Prints each finding and a summary line per check; returns how many findings there were.
/// Transfers still open `max_open` after they should have moved on are failures.
/// With `answers`, every answer in that file is checked against the log too ([`answers`]).
pub async fn run(
    sources: &Sources,
    database_url: &str,
    max_open: chrono::Duration,
    answers: Option<&std::path::Path>,
) -> anyhow::Result<u64> {
    let expected = fold_log(sources).await?;
    let pool = PgPool::connect(database_url).await?;
    let mut report = Report::default();
    if let Some(path) = answers {
        let text = std::fs::read_to_string(path)?;
        let told = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str::<answers::Answer>)
            .collect::<Result<Vec<_>, _>>()?;
        for failure in answers::check(&expected.log, &told) {
            report.fail(failure);
        }
        println!("checked {} answer(s) against the log", told.len());
    }
    accounts(&pool, &expected, &mut report).await?;
    counts(&pool, &expected, &mut report).await?;
    money(&pool, &expected, &mut report).await?;
    transfers(&pool, &expected, &mut report).await?;
    open_transfers(&expected, max_open, &mut report);
    println!(
        "verified {} accounts, {} accepted and {} rejected commits: {} difference(s), {} failure(s)",
        expected.fold.accounts.len(),
        expected.fold.accepted,
        expected.fold.rejected,
        report.differences,
        report.failures
    );
    Ok(report.differences + report.failures)
}

/// Every account row (`not_opened` ones included) against the re-folded state.
async fn accounts(pool: &PgPool, expected: &Expected, report: &mut Report) -> anyhow::Result<()> {
    let rows: Vec<(Uuid, i64, i64, i64, String, Option<Uuid>)> =
        sqlx::query_as("select id, balance, held, version, status, head_commit_id from accounts")
            .fetch_all(pool)
            .await?;
    let mut seen = HashSet::new();
    for (id, balance, held, version, status, head) in rows {
        seen.insert(id);
        let stored = (balance, held, version, status.as_str(), head);
        match expected.fold.accounts.get(&id) {
            None => report.diff(format!("accounts {id}: in the read model, not in the log")),
            Some(a) if (a.balance, a.held, a.version as i64, a.status.as_str(), a.head) != stored => {
                report.diff(format!(
                    "accounts {id}: read model balance={balance} held={held} version={version} status={status} \
                     head={head:?}, log balance={} held={} version={} status={} head={:?}",
                    a.balance,
                    a.held,
                    a.version,
                    a.status.as_str(),
                    a.head
                ))
            }
            Some(_) => {}
        }
    }
    for id in expected.fold.accounts.keys().filter(|id| !seen.contains(*id)) {
        report.diff(format!("accounts {id}: in the log, missing from the read model"));
    }
    Ok(())
}

/// Rows per account in the entries and the archive.
async fn counts(pool: &PgPool, expected: &Expected, report: &mut Report) -> anyhow::Result<()> {
    for (table, column, want) in
        [("account_entries", "account_id", &expected.entries), ("event_archive", "aggregate_id", &expected.events)]
    {
        let sql = format!("select {column}, count(*) from {table} group by {column}");
        let have: HashMap<Uuid, i64> =
            sqlx::query_as::<_, (Uuid, i64)>(&sql).fetch_all(pool).await?.into_iter().collect();
        for (id, n) in want {
            let got = have.get(id).copied().unwrap_or(0);
            if got != *n {
                report.diff(format!("{table} {id}: read model has {got} rows, the log has {n}"));
            }
        }
        for id in have.keys().filter(|id| !want.contains_key(*id)) {
            report.diff(format!("{table} {id}: rows in the read model, none in the log"));
        }
    }
    Ok(())
}

/// The money identity per currency in the re-fold, and `ledger_totals` (summed
/// over partitions in one statement) against it.
async fn money(pool: &PgPool, expected: &Expected, report: &mut Report) -> anyhow::Result<()> {
    let folded = expected.ledger.totals(&expected.fold.accounts);
    let unbalanced = ledger::unbalanced(&folded);
    let broken = unbalanced.len();
    unbalanced.into_iter().for_each(|what| report.fail(what));
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "select currency, sum(balances)::int8, sum(held)::int8, sum(in_transit)::int8, sum(deposits)::int8,
                sum(withdrawals)::int8
           from ledger_totals group by currency",
    )
    .fetch_all(pool)
    .await?;
    let stored: BTreeMap<String, Effect> = rows
        .into_iter()
        .map(|(currency, balances, held, in_transit, deposits, withdrawals)| {
            (currency, Effect { balances, held, in_transit, deposits, withdrawals })
        })
        .collect();
    let differences = ledger::totals_differences(&folded, &stored);
    let differing = differences.len();
    differences.into_iter().for_each(|what| report.diff(what));
    println!(
        "check money: {} currencies, {broken} with balances + in_transit != deposits - withdrawals, \
         {differing} differing from ledger_totals",
        folded.len()
    );
    Ok(())
}

/// Each transfer's legs (every kind at most once), and the `transfers` and
/// `transfer_steps` rows against them.
async fn transfers(pool: &PgPool, expected: &Expected, report: &mut Report) -> anyhow::Result<()> {
    type Row = (Uuid, String, bool, bool, bool, bool, bool, bool, bool, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "select id, status, debited, held, posted, voided, expired, credited, refused, reversed from transfers",
    )
    .fetch_all(pool)
    .await?;
    let steps: HashMap<Uuid, i64> =
        sqlx::query_as::<_, (Uuid, i64)>("select transfer_id, count(*) from transfer_steps group by transfer_id")
            .fetch_all(pool)
            .await?
            .into_iter()
            .collect();
    let (mut repeated, before) = (0, report.differences);
    for (id, transfer) in &expected.ledger.transfers {
        let twice = ledger::repeated_legs(transfer);
        repeated += usize::from(!twice.is_empty());
        for (kind, n) in twice {
            report.fail(format!("transfer {id}: {kind} recorded {n} times"));
        }
        let got = steps.get(id).copied().unwrap_or(0);
        if got != transfer.counts.len() as i64 {
            report.diff(format!("transfer_steps {id}: read model has {got} steps, the log {}", transfer.counts.len()));
        }
    }
    let mut seen = HashSet::new();
    for (id, status, a, b, c, d, e, f, g, h) in rows {
        seen.insert(id);
        let stored = ledger::legs_from_flags([a, b, c, d, e, f, g, h]);
        match expected.ledger.transfers.get(&id) {
            None => report.diff(format!("transfers {id}: in the read model, not in the log")),
            Some(t) if (t.legs, t.legs.status().as_str()) != (stored, status.as_str()) => report.diff(format!(
                "transfers {id}: read model status={status} {stored:?}, log status={} {:?}",
                t.legs.status().as_str(),
                t.legs
            )),
            Some(_) => {}
        }
    }
    for id in expected.ledger.transfers.keys().filter(|id| !seen.contains(*id)) {
        report.diff(format!("transfers {id}: in the log, missing from the read model"));
    }
    for id in steps.keys().filter(|id| !expected.ledger.transfers.contains_key(*id)) {
        report.diff(format!("transfer_steps {id}: rows in the read model, none in the log"));
    }
    println!(
        "check transfers: {} transfers, {repeated} with a leg recorded twice, {} row(s) differing in transfers \
         and transfer_steps",
        expected.ledger.transfers.len(),
        report.differences - before
    );
    Ok(())
}

/// Transfers pending, or held past their expiry, for longer than `bound`.
fn open_transfers(expected: &Expected, bound: chrono::Duration, report: &mut Report) {
    let now = Utc::now();
    let (mut open, mut late) = (0, 0);
    for (id, transfer) in &expected.ledger.transfers {
        open += usize::from(!transfer.legs.status().is_final());
        if let Some(why) = ledger::overdue(transfer, now, bound) {
            late += 1;
            report.fail(format!("transfer {id}: {why}"));
        }
    }
    println!("check open transfers: {open} open, {late} open for longer than {} s", bound.num_seconds());
}

#[cfg(test)]
mod tests {
    use events::account::{HoldReleased, MoneyMoved, TransferReversed};

    use super::*;

    #[test]
    fn only_events_that_move_a_balance_are_entries() {
        let moved = MoneyMoved { amount: 1, reference: None, balance_after: 1 };
        let id = Uuid::new_v4();
        assert!(makes_entry(&AccountEvent::MoneyDeposited(moved.clone())));
        assert!(makes_entry(&AccountEvent::MoneyWithdrawn(moved)));
        assert!(makes_entry(&AccountEvent::TransferReversed(TransferReversed {
            transfer_id: id,
            amount: 1,
            balance_after: 1
        })));
        assert!(!makes_entry(&AccountEvent::HoldVoided(HoldReleased { transfer_id: id, amount: 1 })));
        assert!(!makes_entry(&AccountEvent::AccountClosed));
    }
}

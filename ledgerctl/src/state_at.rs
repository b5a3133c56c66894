//! `state-at`: an account as of a time or a position, by folding the log.

use chrono::{DateTime, Utc};
use events::{fold_commit, judge, partition_for, Account, Commit, Status};
use serde_json::json;
use uuid::Uuid;

use crate::{log, Sources};

/// Folds the account's commits up to the bound (time or offset, inclusive of
/// commits at that instant, exclusive of that offset) and prints the state as JSON.
pub async fn run(
    sources: &Sources,
    opener: &crate::personal::Opener,
    account: Uuid,
    at: Option<DateTime<Utc>>,
    offset: Option<i64>,
) -> anyhow::Result<()> {
    let ends = log::ends(sources).await?;
    let partition = partition_for(account, ends.len() as i32);
    let end = offset.map_or(ends[partition as usize], |o| o.min(ends[partition as usize]));
    let mut state = Account::default();
    let mut last_offset = None;
    let mut past = false;
    log::read(sources, partition, end, |_, offset, bytes| {
        let Ok(commit) = Commit::decode(bytes) else { return };
        if past || commit.aggregate_id != account || !judge(&state, &commit).is_accepted() {
            return;
        }
        // The state as of `at` is the longest run of accepted commits made at or before it.
        let when = commit.events.first().map(|e| e.occurred_at);
        if at.is_some_and(|at| when.is_some_and(|w| w > at)) {
            past = true;
            return;
        }
        fold_commit(&mut state, &commit);
        last_offset = Some(offset);
    })
    .await?;
    let mut body = json!({
        "account_id": account,
        "as_of": at,
        "before_offset": offset,
        "partition": partition,
        "last_applied_offset": last_offset,
        // An id that only refused transfer credits has a history, but is no account.
        "exists": state.status != Status::NotOpened,
        "version": state.version,
        "status": state.status.as_str(),
        "owner": state.owner,
        "currency": state.currency,
        "balance": state.balance,
        "held": state.held,
        "available": state.balance - state.held,
        "overdraft_limit": state.overdraft_limit,
    });
    body = opener.open(body, account).await?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

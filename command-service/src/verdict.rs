//! The answer a writer gives for a commit of its own once the log has judged
//! it (§3 of docs/log-protocol.md, "Answers about a commit in flight").
//!
//! Pure: it reads the proven state, which already holds the fold up to and
//! past the commit. An accepted commit gets its receipt. A rejected commit
//! whose idempotency key the proven state holds (another attempt of the same
//! command, written by another writer or an earlier life of this one, won)
//! gets that attempt's answer, as a retry with the key would: the command
//! *was* applied, so `write_conflict` would be a lie. Only a rejected commit
//! whose command is not in the proven state gets `409 write_conflict`, with
//! the commit id and the position where the fold rejected it.

use events::{Commit, Position};

use crate::error::Refusal;
use crate::plan::{Outcome, Reply};
use crate::state::PartitionState;

/// The answer for `commit`, which the fold judged at `offset` (`accepted` or not).
/// `state` is the proven state after that judgement.
pub fn answer(state: &PartitionState, offset: i64, commit: &Commit, accepted: bool) -> Outcome {
    if accepted {
        return Ok(Reply { receipt: state.receipt(offset, commit), replayed: false });
    }
    if let Some(key) = commit.command.idempotency_key.as_deref() {
        if let Some(record) = state.key(&commit.aggregate_id, key) {
            if record.receipt.commit_id != commit.commit_id {
                return match record.fingerprint == commit.command.fingerprint {
                    true => Ok(Reply { receipt: record.receipt.clone(), replayed: true }),
                    false => Err(Refusal::IdempotencyKeyReused),
                };
            }
        }
    }
    Err(Refusal::WriteConflict {
        commit_id: commit.commit_id,
        position: Position { partition: state.partition, offset },
    })
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;

//! Resuming from a saved position: does this log prove it?
//!
//! A reader that keeps its progress outside the log (a projection checkpoint,
//! a write-side snapshot) saves the offset it applied up to *and* the commit
//! id of the record just before it. Before it carries on from there, it asks
//! the log for that record. A topic deleted and created again under the same
//! name, a broker that lost records, or a reader pointed at another cluster
//! all show up here, instead of as a read model that silently skips the
//! records before its checkpoint (docs/log-protocol.md, "Resuming").

use uuid::Uuid;

/// Progress saved outside the log: everything before `next_offset` is
/// applied, and the record at `next_offset - 1` was commit `last_commit`
/// (`None`: saved before commit ids were kept, or that record was not a commit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    pub next_offset: i64,
    pub last_commit: Option<Uuid>,
}

/// What a reader may do with a saved position, given the log's watermarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Nothing was applied: start at the beginning.
    FromStart,
    /// Read the record at this offset and [`confirm`] its commit id.
    Check(i64),
    /// The log holds the commit saved with the position: carry on.
    Proven,
    /// Carry on without proof, for this reason (logged).
    Unproven(&'static str),
    /// This log is not the one the progress was made on: do not carry on.
    Foreign(String),
}

/// The first step: judged on the partition's `low` and `high` watermarks alone.
pub fn plan(saved: Saved, low: i64, high: i64) -> Resume {
    let at = saved.next_offset;
    if at == 0 {
        Resume::FromStart
    } else if high < at {
        Resume::Foreign(format!(
            "the partition ends at offset {high}, but {at} records were applied from it: \
             the topic was created again, the broker lost records, or this is another cluster"
        ))
    } else if low > at {
        Resume::Foreign(format!(
            "the partition starts at offset {low}, but only {at} records were applied: \
             records {at}..{low} are gone from the log (retention?) and were never applied"
        ))
    } else if saved.last_commit.is_none() {
        Resume::Unproven("the position was saved without the commit before it")
    } else if low == at {
        Resume::Unproven("the record before the position is no longer in the log")
    } else {
        Resume::Check(at - 1)
    }
}

/// The second step: the record at `saved.next_offset - 1` is commit `found`
/// (`None`: it is not a commit).
pub fn confirm(saved: Saved, found: Option<Uuid>) -> Resume {
    if found.is_some() && found == saved.last_commit {
        return Resume::Proven;
    }
    let at = saved.next_offset - 1;
    let shown = found.map_or_else(|| "no commit".to_owned(), |id| format!("commit {id}"));
    let expected = saved.last_commit.map_or_else(|| "?".to_owned(), |id| id.to_string());
    Resume::Foreign(format!(
        "offset {at} holds {shown}, but the progress was saved after commit {expected} there: \
         this is not the log it was made on (the topic was created again, or this is another cluster)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(next_offset: i64, last: u128) -> Saved {
        Saved { next_offset, last_commit: Some(Uuid::from_u128(last)) }
    }

    #[test]
    fn given_nothing_applied_when_resuming_then_the_reader_starts_at_the_beginning() {
        assert_eq!(plan(Saved { next_offset: 0, last_commit: None }, 0, 7), Resume::FromStart);
    }

    #[test]
    fn given_a_checkpoint_past_the_end_when_resuming_then_the_log_is_foreign() {
        // A topic created again: its log is shorter than what was applied.
        assert!(matches!(plan(saved(31, 1), 0, 12), Resume::Foreign(_)));
    }

    #[test]
    fn given_records_deleted_before_the_checkpoint_was_reached_when_resuming_then_it_is_refused() {
        assert!(matches!(plan(saved(10, 1), 25, 40), Resume::Foreign(_)));
    }

    #[test]
    fn given_a_checkpoint_inside_the_log_when_resuming_then_the_record_before_it_is_checked() {
        assert_eq!(plan(saved(31, 1), 0, 40), Resume::Check(30));
    }

    #[test]
    fn given_the_same_commit_before_the_checkpoint_when_confirming_then_the_reader_carries_on() {
        assert_eq!(confirm(saved(31, 1), Some(Uuid::from_u128(1))), Resume::Proven);
    }

    #[test]
    fn given_another_commit_before_the_checkpoint_when_confirming_then_the_log_is_foreign() {
        // The topic was created again and has grown past the old checkpoint.
        assert!(matches!(confirm(saved(31, 1), Some(Uuid::from_u128(2))), Resume::Foreign(_)));
    }

    #[test]
    fn given_no_commit_before_the_checkpoint_when_confirming_then_the_log_is_foreign() {
        assert!(matches!(confirm(saved(31, 1), None), Resume::Foreign(_)));
    }

    #[test]
    fn given_a_position_saved_without_its_commit_when_resuming_then_it_is_unproven_not_refused() {
        let old = Saved { next_offset: 31, last_commit: None };
        assert!(matches!(plan(old, 0, 40), Resume::Unproven(_)));
    }

    #[test]
    fn given_the_record_before_the_checkpoint_deleted_by_retention_when_resuming_then_it_is_unproven() {
        assert!(matches!(plan(saved(31, 1), 31, 40), Resume::Unproven(_)));
    }
}

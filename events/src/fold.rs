//! The fold rule: the one function that decides which commits the log accepted.
//!
//! Readers take a partition in offset order. A commit is *accepted* when its
//! `expected_version` equals the version folded so far for its aggregate, its
//! `previous_commit_id` (when it names one) is the last commit accepted for that
//! aggregate, and its events are numbered on from there; otherwise it is
//! *rejected* and every reader ignores it. So even if two writers race, at most
//! one of two conflicting commits is accepted, every reader agrees which, and a
//! commit decided on top of a rejected one can never be accepted in its place.

use std::collections::HashMap;

use uuid::Uuid;

use crate::account::{apply, Account, AGGREGATE_TYPE};
use crate::commit::{Commit, Record};
use crate::subject::{self, Subject};

/// Why the fold rule rejected a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Another commit got there first: the expected version is stale (or ahead).
    VersionMismatch { expected: u64, actual: u64 },
    /// The version matches but the commit was decided on another history: the
    /// commit it follows is not the one the log accepted at that version.
    PreviousMismatch { expected: Uuid, actual: Uuid },
    /// The commit's events are not numbered `expected_version + 1 ..`, or there are none.
    BadSequence,
    /// The commit is for an aggregate type this reader does not fold.
    UnknownAggregateType,
    /// The record could not be decoded as a commit at all.
    Malformed,
}

impl Rejection {
    /// A stable name for tools and exports.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::VersionMismatch { .. } => "version_mismatch",
            Rejection::PreviousMismatch { .. } => "previous_mismatch",
            Rejection::BadSequence => "bad_sequence",
            Rejection::UnknownAggregateType => "unknown_aggregate_type",
            Rejection::Malformed => "malformed",
        }
    }
}

/// The fold rule's verdict on one commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    Rejected(Rejection),
}

impl Verdict {
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verdict::Accepted)
    }
}

/// The fold rule, without applying anything: would `commit` be accepted on top
/// of `current`, the aggregate as folded so far?
///
/// The version alone cannot tell two histories apart: a writer that chains a
/// second commit onto its own first (expecting versions 5 and 6) while another
/// writer's commit takes version 5 would see its second accepted, on top of a
/// state it never saw. Naming the previous commit closes that gap. Records
/// written before the field existed, and states stored before heads were kept,
/// are judged by the version alone.
pub fn judge(current: &Account, commit: &Commit) -> Verdict {
    if commit.aggregate_type != AGGREGATE_TYPE {
        return Verdict::Rejected(Rejection::UnknownAggregateType);
    }
    let sequences = commit.events.iter().map(|e| e.sequence);
    judge_order(current.version, current.head, commit.expected_version, commit.previous_commit_id, sequences)
}

/// The version rule of every aggregate type: the commit expects the version
/// folded so far, follows the last accepted commit (when both are known), and
/// numbers its events on from there.
pub(crate) fn judge_order(
    version: u64,
    head: Option<Uuid>,
    expected_version: u64,
    previous_commit_id: Option<Uuid>,
    sequences: impl IntoIterator<Item = u64>,
) -> Verdict {
    if expected_version != version {
        return Verdict::Rejected(Rejection::VersionMismatch { expected: expected_version, actual: version });
    }
    if let (Some(expected), Some(actual)) = (previous_commit_id, head) {
        if expected != actual {
            return Verdict::Rejected(Rejection::PreviousMismatch { expected, actual });
        }
    }
    let mut count = 0;
    let numbered = sequences.into_iter().zip(version + 1..).all(|(sequence, next)| {
        count += 1;
        sequence == next
    });
    if count == 0 || !numbered {
        return Verdict::Rejected(Rejection::BadSequence);
    }
    Verdict::Accepted
}

/// Applies the fold rule to one account: judges `commit` and, if accepted,
/// applies its events. Every reader folds through this function.
pub fn fold_commit(account: &mut Account, commit: &Commit) -> Verdict {
    let verdict = judge(account, commit);
    if verdict.is_accepted() {
        for event in &commit.events {
            apply(account, &event.payload);
        }
        account.head = Some(commit.commit_id);
    }
    verdict
}

/// A fold of many accounts, for readers that need nothing more than the state.
#[derive(Clone, Debug, Default)]
pub struct LogFold {
    pub accounts: HashMap<Uuid, Account>,
    /// Data subjects with a commit in the log (so far: their erasures).
    pub subjects: HashMap<Uuid, Subject>,
    pub accepted: u64,
    pub rejected: u64,
}

impl LogFold {
    /// Folds one record value (the raw bytes of a commit). Undecodable records are rejected.
    /// Subject commits are folded too, and give no account commit back.
    pub fn fold_record(&mut self, bytes: &[u8]) -> (Option<Commit>, Verdict) {
        match self.fold_any(bytes) {
            (Some(Record::Account(commit)), verdict) => (Some(commit), verdict),
            (_, verdict) => (None, verdict),
        }
    }

    /// Folds one record value of any kind. Undecodable records are rejected.
    pub fn fold_any(&mut self, bytes: &[u8]) -> (Option<Record>, Verdict) {
        match Record::decode(bytes) {
            Ok(Record::Account(commit)) => {
                let verdict = self.fold(&commit);
                (Some(Record::Account(commit)), verdict)
            }
            Ok(Record::Subject(commit)) => {
                let verdict = subject::fold_commit(self.subjects.entry(commit.subject).or_default(), &commit);
                if verdict.is_accepted() {
                    self.accepted += 1;
                } else {
                    self.rejected += 1;
                }
                (Some(Record::Subject(commit)), verdict)
            }
            Err(_) => {
                self.rejected += 1;
                (None, Verdict::Rejected(Rejection::Malformed))
            }
        }
    }

    /// Folds one decoded commit.
    pub fn fold(&mut self, commit: &Commit) -> Verdict {
        let account = self.accounts.entry(commit.aggregate_id).or_default();
        let verdict = fold_commit(account, commit);
        if verdict.is_accepted() {
            self.accepted += 1;
        } else {
            self.rejected += 1;
            if account.version == 0 {
                self.accounts.remove(&commit.aggregate_id);
            }
        }
        verdict
    }
}

#[cfg(test)]
#[path = "fold_tests.rs"]
mod tests;

//! The data subject aggregate: a person whose personal fields are sealed with
//! a key of their own ([`crate::personal`]). Its one event is the erasure.
//!
//! `SubjectErased` records who erased the subject, when and why (a reason
//! code, never free text), and nothing personal: the subject is a random id.
//! Readers fold it by marking the subject erased; the key itself is destroyed
//! outside the log, after the commit is in it. A subject commit is an ordinary
//! commit record (aggregate type `subject`, key = subject id), judged by the
//! same version rule as an account's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::commit::{CommandInfo, DecodeError, Metadata, RawCommit, RawEvent};
use crate::error::DomainError;
use crate::fold::{judge_order, Rejection, Verdict};

/// The aggregate type of subject commits.
pub const AGGREGATE_TYPE: &str = "subject";
/// The type name of the erasure event.
pub const ERASED: &str = "SubjectErased";
/// The longest reason code.
pub const MAX_REASON_LEN: usize = 64;

/// What the log says of one subject.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub version: u64,
    pub head: Option<Uuid>,
    pub erased: Option<SubjectErased>,
}

/// What an operator asks of a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubjectCommand {
    /// Destroy the subject's personal data: `by` is the operator, `reason` a code such as `gdpr_art17`.
    Erase { by: String, reason: String },
}

/// The erasure: the audit record, with no personal data of the subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectErased {
    /// The operator's token subject.
    pub by: String,
    /// A reason code: lowercase letters, digits and `_`.
    pub reason: String,
}

/// Every rule of a subject.
pub fn decide(state: &Subject, command: &SubjectCommand) -> Result<Vec<SubjectErased>, DomainError> {
    let SubjectCommand::Erase { by, reason } = command;
    if state.erased.is_some() {
        return Err(DomainError::SubjectErased);
    }
    let code = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    if reason.is_empty() || reason.len() > MAX_REASON_LEN || !reason.chars().all(code) {
        return Err(DomainError::Validation(format!(
            "reason must be a code of 1 to {MAX_REASON_LEN} lowercase letters, digits or '_' (no free text: it is kept forever)"
        )));
    }
    if by.is_empty() {
        return Err(DomainError::Validation("the erasure needs an actor".into()));
    }
    Ok(vec![SubjectErased { by: by.clone(), reason: reason.clone() }])
}

/// Folds the erasure into the state. Cannot fail.
pub fn apply(state: &mut Subject, event: &SubjectErased) {
    state.version += 1;
    state.erased = Some(event.clone());
}

/// One commit on a subject: its erasure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectCommit {
    pub commit_id: Uuid,
    pub subject: Uuid,
    pub expected_version: u64,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub erased: SubjectErased,
    pub command: CommandInfo,
    pub metadata: Metadata,
}

impl SubjectCommit {
    /// The record key: the subject id, hyphenated, lowercase.
    pub fn key(&self) -> String {
        self.subject.hyphenated().to_string()
    }

    /// The record value, in the commit envelope every reader knows.
    pub fn encode(&self) -> Vec<u8> {
        let raw = RawCommit {
            commit_id: self.commit_id,
            aggregate_type: AGGREGATE_TYPE.to_owned(),
            aggregate_id: self.subject,
            expected_version: self.expected_version,
            previous_commit_id: None,
            events: vec![RawEvent {
                event_id: self.event_id,
                event_type: ERASED.to_owned(),
                schema_version: 1,
                sequence: self.expected_version + 1,
                occurred_at: self.occurred_at,
                data: serde_json::to_value(&self.erased).expect("the erasure always serialises"),
            }],
            command: self.command.clone(),
            metadata: self.metadata.clone(),
        };
        serde_json::to_vec(&raw).expect("a commit always serialises")
    }

    pub(crate) fn from_raw(raw: RawCommit) -> Result<Self, DecodeError> {
        let [event] = <[RawEvent; 1]>::try_from(raw.events)
            .map_err(|_| DecodeError::Shape("a subject commit holds exactly one event"))?;
        if event.event_type != ERASED || event.schema_version != 1 {
            return Err(DecodeError::UnknownEvent {
                event_type: event.event_type,
                schema_version: event.schema_version,
            });
        }
        if event.sequence != raw.expected_version + 1 {
            return Err(DecodeError::Shape("a subject commit's event is numbered after its expected version"));
        }
        Ok(SubjectCommit {
            commit_id: raw.commit_id,
            subject: raw.aggregate_id,
            expected_version: raw.expected_version,
            event_id: event.event_id,
            occurred_at: event.occurred_at,
            erased: serde_json::from_value(event.data)?,
            command: raw.command,
            metadata: raw.metadata,
        })
    }
}

/// The fold rule for a subject: judges `commit` on `state` and applies it if accepted.
pub fn fold_commit(state: &mut Subject, commit: &SubjectCommit) -> Verdict {
    let verdict = judge_order(state.version, state.head, commit.expected_version, None, [commit.expected_version + 1]);
    if verdict.is_accepted() {
        if state.erased.is_some() {
            return Verdict::Rejected(Rejection::BadSequence);
        }
        apply(state, &commit.erased);
        state.head = Some(commit.commit_id);
    }
    verdict
}

#[cfg(test)]
#[path = "subject_tests.rs"]
mod tests;

//! Erasing a data subject: the `SubjectErased` commit goes into the log first,
//! then the subject's key is destroyed.
//!
//! The order matters. With the commit in the log, every reader blanks the
//! subject's fields, and a process killed before the key is destroyed leaves
//! a live key that a retry destroys (its second commit is rejected by the fold
//! rule: the subject is at version 1 already). Destroying the key first could
//! leave read models that never learn of the erasure. Any instance can erase:
//! a subject commit goes straight to its partition, whose writer reads past it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use events::commit::headers;
use events::subject::{self, Subject, SubjectCommand, SubjectCommit};
use events::{CommandInfo, Metadata};
use ledger_runtime::keys::{SubjectKeys, SubjectRecord};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use serde::Serialize;
use tracing::{info, instrument};
use uuid::Uuid;

use crate::error::Refusal;
use crate::send::SharedProducer;

/// What an erasure answers: the audit record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Erasure {
    pub subject: Uuid,
    pub erased_at: DateTime<Utc>,
    pub erased_by: String,
    pub reason: String,
    /// `true`: erased by an earlier request; nothing was written this time.
    pub already_erased: bool,
}

/// Erases subjects: writes their erasure to the log, then destroys their keys.
pub struct Eraser {
    pub keys: Arc<SubjectKeys>,
    pub producer: Arc<SharedProducer>,
    pub topic: String,
    pub partitions: i32,
}

impl Eraser {
    /// The subject named by `id_or_name`: its id, or (failing that) its owner name.
    async fn find(&self, id_or_name: &str) -> Result<SubjectRecord, Refusal> {
        let unavailable = |e: ledger_runtime::keys::KeyError| {
            tracing::warn!(error = %e, "the key store is unavailable");
            Refusal::Unavailable("the key store is unavailable".into())
        };
        if let Ok(id) = Uuid::parse_str(id_or_name) {
            if let Some(record) = self.keys.record(id).await.map_err(unavailable)? {
                return Ok(record);
            }
        }
        let (id, _) = self.keys.find(id_or_name).await.map_err(unavailable)?.ok_or(Refusal::UnknownSubject)?;
        self.keys.record(id).await.map_err(unavailable)?.ok_or(Refusal::UnknownSubject)
    }

    /// Erases the subject (idempotent: an erased one answers its first erasure).
    #[instrument(skip_all, fields(by))]
    pub async fn erase(
        &self,
        id_or_name: &str,
        by: &str,
        reason: &str,
        metadata: Metadata,
    ) -> Result<Erasure, Refusal> {
        let record = self.find(id_or_name).await?;
        if let Some((erased_at, erased_by, reason)) = record.erased {
            return Ok(Erasure { subject: record.subject, erased_at, erased_by, reason, already_erased: true });
        }
        let command = SubjectCommand::Erase { by: by.to_owned(), reason: reason.to_owned() };
        let erased = subject::decide(&Subject::default(), &command)?.remove(0);
        let commit = SubjectCommit {
            commit_id: Uuid::now_v7(),
            subject: record.subject,
            expected_version: 0,
            event_id: Uuid::now_v7(),
            occurred_at: Utc::now(),
            erased,
            command: CommandInfo { name: "EraseSubject".into(), ..Default::default() },
            metadata,
        };
        let offset = self.append(&commit).await?;
        self.keys.erase(record.subject, by, reason).await.map_err(|e| {
            tracing::warn!(error = %e, "the erasure is in the log but the key is not destroyed yet; retry");
            Refusal::Unavailable("the key could not be destroyed yet; retry the request".into())
        })?;
        info!(subject = %record.subject, offset, "data subject erased");
        let (erased_by, reason) = (commit.erased.by, commit.erased.reason);
        Ok(Erasure { subject: record.subject, erased_at: commit.occurred_at, erased_by, reason, already_erased: false })
    }

    /// Appends the commit to its partition; its offset once the broker has it.
    async fn append(&self, commit: &SubjectCommit) -> Result<i64, Refusal> {
        let (key, value, id) = (commit.key(), commit.encode(), commit.commit_id.to_string());
        let partition = events::partition_for(commit.subject, self.partitions);
        let record_headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header { key: headers::COMMIT_ID, value: Some(id.as_bytes()) })
            .insert(Header { key: headers::AGGREGATE_TYPE, value: Some(subject::AGGREGATE_TYPE.as_bytes()) })
            .insert(Header { key: headers::EVENT_TYPES, value: Some(subject::ERASED.as_bytes()) });
        let record =
            FutureRecord::to(&self.topic).partition(partition).key(&key).payload(&value).headers(record_headers);
        let producer = self.producer.get();
        match producer.send(record, std::time::Duration::from_secs(10)).await {
            Ok(delivery) => Ok(delivery.offset),
            Err((error, _)) => {
                tracing::warn!(%error, "the erasure could not be written to the log");
                self.producer.renew_if_fatal();
                Err(Refusal::Unavailable("the events log is unavailable".into()))
            }
        }
    }
}

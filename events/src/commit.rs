//! The commit: one Kafka record per accepted command.
//!
//! Key = aggregate id. Value = JSON:
//! `{commit_id, aggregate_type, aggregate_id, expected_version, events: [{event_id,
//! type, schema_version, sequence, occurred_at, data}], command: {name,
//! idempotency_key?, fingerprint?}, metadata: {correlation_id, causation_id, ...}}`.
//! A record is atomic, so a command's events are all in the log or none are.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::account::{AccountEvent, AccountFrozen, AccountOpened, Empty, MoneyMoved};
use crate::subject::{self, SubjectCommit};
use crate::transfer::{
    HoldPosted, HoldReleased, TransferCredited, TransferDebited, TransferHeld, TransferRefused, TransferReversed,
};

/// Header names carried by every commit record.
pub mod headers {
    pub const COMMIT_ID: &str = "ledger-commit-id";
    pub const AGGREGATE_TYPE: &str = "ledger-aggregate-type";
    pub const EVENT_TYPES: &str = "ledger-event-types";
    pub const TRACEPARENT: &str = "traceparent";
}

/// Why a record could not be read as a commit. Readers treat it as rejected.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not a commit: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown event type {event_type:?} version {schema_version}")]
    UnknownEvent { event_type: String, schema_version: u32 },
    #[error("malformed commit: {0}")]
    Shape(&'static str),
    /// A commit of another aggregate type that this reader knows (a subject's):
    /// not an account commit, so not for an account fold, and not a rejection.
    #[error("a {0} commit, not an account commit")]
    OtherAggregate(&'static str),
}

/// The command that produced a commit, kept so that retries are recognised from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// A digest of the command's content, so a reused key with another body is told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Tracing and audit data. Unknown fields are kept for forward compatibility.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// One event inside a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event_id: Uuid,
    /// The aggregate version this event creates (1 for the first event).
    pub sequence: u64,
    pub occurred_at: DateTime<Utc>,
    pub payload: AccountEvent,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RawEvent {
    pub(crate) event_id: Uuid,
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) schema_version: u32,
    pub(crate) sequence: u64,
    pub(crate) occurred_at: DateTime<Utc>,
    pub(crate) data: Value,
}

/// One command's worth of events for one aggregate, with the version it expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub commit_id: Uuid,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub expected_version: u64,
    /// The commit this one follows on its aggregate: the last one the writer saw
    /// accepted (`None` for the first commit, and in records older than the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_commit_id: Option<Uuid>,
    #[serde(with = "event_list")]
    pub events: Vec<Event>,
    pub command: CommandInfo,
    pub metadata: Metadata,
}

impl Commit {
    /// The aggregate version after this commit, if it is accepted.
    pub fn resulting_version(&self) -> u64 {
        self.expected_version + self.events.len() as u64
    }

    /// The record key: the aggregate id, hyphenated, lowercase.
    pub fn key(&self) -> String {
        self.aggregate_id.hyphenated().to_string()
    }

    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a commit always serialises")
    }

    /// Reads a record value. Any byte string either decodes or is refused; none panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw: RawCommit = serde_json::from_slice(bytes)?;
        if raw.aggregate_type == subject::AGGREGATE_TYPE {
            return Err(DecodeError::OtherAggregate(subject::AGGREGATE_TYPE));
        }
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawCommit) -> Result<Self, DecodeError> {
        let events = raw.events.into_iter().map(decode_event).collect::<Result<Vec<_>, _>>()?;
        Ok(Commit {
            commit_id: raw.commit_id,
            aggregate_type: raw.aggregate_type,
            aggregate_id: raw.aggregate_id,
            expected_version: raw.expected_version,
            previous_commit_id: raw.previous_commit_id,
            events,
            command: raw.command,
            metadata: raw.metadata,
        })
    }

    /// Comma-separated event types, for the record header.
    pub fn event_types(&self) -> String {
        let names: Vec<&str> = self.events.iter().map(|e| e.payload.type_name()).collect();
        names.join(",")
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RawCommit {
    pub(crate) commit_id: Uuid,
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: Uuid,
    pub(crate) expected_version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) previous_commit_id: Option<Uuid>,
    pub(crate) events: Vec<RawEvent>,
    pub(crate) command: CommandInfo,
    pub(crate) metadata: Metadata,
}

/// Any commit record: an account's, or a data subject's (its erasure).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Account(Commit),
    Subject(SubjectCommit),
}

impl Record {
    /// Reads a record value of either kind. Any byte string either decodes or is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw: RawCommit = serde_json::from_slice(bytes)?;
        if raw.aggregate_type == subject::AGGREGATE_TYPE {
            return SubjectCommit::from_raw(raw).map(Record::Subject);
        }
        Commit::from_raw(raw).map(Record::Account)
    }
}

/// The schema version written for each event type today.
pub fn schema_version(event: &AccountEvent) -> u32 {
    crate::upcast::current_version(event.type_name()).expect("every event type has a current version")
}

impl Event {
    /// The event's `data` object exactly as it is written on the wire.
    pub fn wire_data(&self) -> Value {
        encode_event(self).data
    }

    /// The schema version this event is written with.
    pub fn schema_version(&self) -> u32 {
        schema_version(&self.payload)
    }

    /// Reads one event as a table such as `event_archive` stores it, through
    /// the upcasters like any record of the log.
    pub fn from_stored(
        event_id: Uuid,
        event_type: &str,
        schema_version: u32,
        sequence: u64,
        occurred_at: DateTime<Utc>,
        data: Value,
    ) -> Result<Event, DecodeError> {
        decode_event(RawEvent {
            event_id,
            event_type: event_type.to_owned(),
            schema_version,
            sequence,
            occurred_at,
            data,
        })
    }
}

fn encode_event(event: &Event) -> RawEvent {
    let data = match &event.payload {
        AccountEvent::AccountOpened(e) => serde_json::to_value(e),
        AccountEvent::MoneyDeposited(e) | AccountEvent::MoneyWithdrawn(e) => serde_json::to_value(e),
        AccountEvent::AccountFrozen(e) => serde_json::to_value(e),
        AccountEvent::AccountUnfrozen | AccountEvent::AccountClosed => serde_json::to_value(Empty {}),
        AccountEvent::TransferDebited(e) => serde_json::to_value(e),
        AccountEvent::TransferHeld(e) => serde_json::to_value(e),
        AccountEvent::HoldPosted(e) => serde_json::to_value(e),
        AccountEvent::HoldVoided(e) | AccountEvent::HoldExpired(e) => serde_json::to_value(e),
        AccountEvent::TransferCredited(e) => serde_json::to_value(e),
        AccountEvent::TransferRefused(e) => serde_json::to_value(e),
        AccountEvent::TransferReversed(e) => serde_json::to_value(e),
    }
    .expect("event data always serialises");
    RawEvent {
        event_id: event.event_id,
        event_type: event.payload.type_name().to_owned(),
        schema_version: schema_version(&event.payload),
        sequence: event.sequence,
        occurred_at: event.occurred_at,
        data,
    }
}

fn decode_event(raw: RawEvent) -> Result<Event, DecodeError> {
    let RawEvent { event_id, event_type, schema_version, sequence, occurred_at, data } = raw;
    let unknown = |event_type: &str| DecodeError::UnknownEvent { event_type: event_type.to_owned(), schema_version };
    // Old versions are upcast first; the match below only knows current ones.
    let data = crate::upcast::upcast(&event_type, schema_version, data).ok_or_else(|| unknown(&event_type))?;
    let payload = match event_type.as_str() {
        "AccountOpened" => AccountEvent::AccountOpened(serde_json::from_value::<AccountOpened>(data)?),
        "MoneyDeposited" => AccountEvent::MoneyDeposited(serde_json::from_value::<MoneyMoved>(data)?),
        "MoneyWithdrawn" => AccountEvent::MoneyWithdrawn(serde_json::from_value::<MoneyMoved>(data)?),
        "AccountFrozen" => AccountEvent::AccountFrozen(serde_json::from_value::<AccountFrozen>(data)?),
        "AccountUnfrozen" => {
            serde_json::from_value::<Empty>(data)?;
            AccountEvent::AccountUnfrozen
        }
        "AccountClosed" => {
            serde_json::from_value::<Empty>(data)?;
            AccountEvent::AccountClosed
        }
        "TransferDebited" => AccountEvent::TransferDebited(serde_json::from_value::<TransferDebited>(data)?),
        "TransferHeld" => AccountEvent::TransferHeld(serde_json::from_value::<TransferHeld>(data)?),
        "HoldPosted" => AccountEvent::HoldPosted(serde_json::from_value::<HoldPosted>(data)?),
        "HoldVoided" => AccountEvent::HoldVoided(serde_json::from_value::<HoldReleased>(data)?),
        "HoldExpired" => AccountEvent::HoldExpired(serde_json::from_value::<HoldReleased>(data)?),
        "TransferCredited" => AccountEvent::TransferCredited(serde_json::from_value::<TransferCredited>(data)?),
        "TransferRefused" => AccountEvent::TransferRefused(serde_json::from_value::<TransferRefused>(data)?),
        "TransferReversed" => AccountEvent::TransferReversed(serde_json::from_value::<TransferReversed>(data)?),
        _ => return Err(unknown(&event_type)),
    };
    Ok(Event { event_id, sequence, occurred_at, payload })
}

mod event_list {
    use super::{encode_event, Event, RawEvent};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(events: &[Event], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(events.iter().map(encode_event))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Event>, D::Error> {
        let raw = Vec::<RawEvent>::deserialize(d)?;
        raw.into_iter().map(|r| super::decode_event(r).map_err(serde::de::Error::custom)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Commit {
        Commit {
            commit_id: Uuid::from_u128(1),
            aggregate_type: "account".into(),
            aggregate_id: Uuid::from_u128(2),
            expected_version: 1,
            previous_commit_id: Some(Uuid::from_u128(4)),
            events: vec![Event {
                event_id: Uuid::from_u128(3),
                sequence: 2,
                occurred_at: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
                payload: AccountEvent::MoneyDeposited(MoneyMoved {
                    amount: 500,
                    reference: Some("inv-1".into()),
                    balance_after: 500,
                }),
            }],
            command: CommandInfo {
                name: "Deposit".into(),
                idempotency_key: Some("k1".into()),
                fingerprint: Some("ab".into()),
            },
            metadata: Metadata { correlation_id: "c".into(), causation_id: None, extra: Default::default() },
        }
    }

    #[test]
    fn a_commit_reads_back_exactly_as_it_was_written() {
        let commit = sample();
        let decoded = Commit::decode(&commit.encode()).expect("decodes");
        assert_eq!(decoded, commit);
        assert_eq!(decoded.resulting_version(), 2);
    }

    #[test]
    fn the_wire_form_names_the_event_type_and_schema_version() {
        let value: Value = serde_json::from_slice(&sample().encode()).expect("json");
        assert_eq!(value["events"][0]["type"], "MoneyDeposited");
        assert_eq!(value["events"][0]["schema_version"], 2);
        assert_eq!(value["events"][0]["data"]["amount"], 500);
        assert_eq!(value["command"]["idempotency_key"], "k1");
    }

    #[test]
    fn a_v1_deposit_from_an_old_log_folds_through_the_upcaster() {
        let fixture = include_bytes!("../tests/fixtures/commit_money_deposited_v1.json");
        let commit = Commit::decode(fixture).expect("a v1 fixture decodes");
        match &commit.events[0].payload {
            AccountEvent::MoneyDeposited(m) => {
                assert_eq!((m.amount, m.reference.as_ref(), m.balance_after), (700, None, 700))
            }
            other => panic!("unexpected {other:?}"),
        }
        // Re-encoded, it is written as today's version.
        let value: Value = serde_json::from_slice(&commit.encode()).expect("json");
        assert_eq!(value["events"][0]["schema_version"], 2);
    }

    #[test]
    fn garbage_and_unknown_events_are_refused_not_panicked_on() {
        assert!(Commit::decode(b"").is_err());
        assert!(Commit::decode(b"\xff\xfe{").is_err());
        assert!(Commit::decode(b"{\"commit_id\": 1}").is_err());
        let mut value: Value = serde_json::from_slice(&sample().encode()).expect("json");
        value["events"][0]["type"] = "MoneyPrinted".into();
        let err = Commit::decode(&serde_json::to_vec(&value).expect("json")).expect_err("unknown type");
        assert!(err.to_string().contains("MoneyPrinted"), "{err}");
    }
}

#[cfg(test)]
#[path = "fuzz_tests.rs"]
mod fuzz_tests;

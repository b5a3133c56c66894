//! What a partner receives: each accepted event of the log as a webhook
//! message. Pure.
//!
//! A message is built once, when its commit is read, with the personal fields
//! as the log holds them (sealed for their data subject). They are opened
//! only when the message is sent, and only for an endpoint of the subject they
//! belong to; for any other endpoint, and once the subject is erased, they
//! are `null`.

use chrono::{DateTime, Utc};
use events::personal::Personal;
use events::{Account, AccountEvent, Commit};
use serde_json::{json, Value};
use uuid::Uuid;

/// The version of the payloads' shape, sent in every message.
pub const API_VERSION: &str = "2026-12-07";

/// Every message type, in the order the documents list them.
pub const TYPES: [&str; 14] = [
    "account.opened",
    "account.deposited",
    "account.withdrawn",
    "account.frozen",
    "account.unfrozen",
    "account.closed",
    "transfer.debited",
    "transfer.held",
    "transfer.posted",
    "transfer.voided",
    "transfer.expired",
    "transfer.completed",
    "transfer.refused",
    "transfer.reversed",
];

/// The signed ping of `POST …/{id}/test`; never from the log.
pub const TEST_TYPE: &str = "webhook.test";

/// Fields of `data` that hold personal text.
const PERSONAL_FIELDS: [&str; 3] = ["owner", "reference", "reason"];

/// The message type of an event.
pub fn message_type(event: &AccountEvent) -> &'static str {
    match event {
        AccountEvent::AccountOpened(_) => "account.opened",
        AccountEvent::MoneyDeposited(_) => "account.deposited",
        AccountEvent::MoneyWithdrawn(_) => "account.withdrawn",
        AccountEvent::AccountFrozen(_) => "account.frozen",
        AccountEvent::AccountUnfrozen => "account.unfrozen",
        AccountEvent::AccountClosed => "account.closed",
        AccountEvent::TransferDebited(_) => "transfer.debited",
        AccountEvent::TransferHeld(_) => "transfer.held",
        AccountEvent::HoldPosted(_) => "transfer.posted",
        AccountEvent::HoldVoided(_) => "transfer.voided",
        AccountEvent::HoldExpired(_) => "transfer.expired",
        // The destination's credit is the leg that completes a transfer.
        AccountEvent::TransferCredited(_) => "transfer.completed",
        AccountEvent::TransferRefused(_) => "transfer.refused",
        AccountEvent::TransferReversed(_) => "transfer.reversed",
    }
}

/// Whose account an event is about, as far as scopes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Sealed for this data subject (every commit since sealing began).
    Subject(Uuid),
    /// An owner in clear text (commits written before sealing).
    Clear(String),
}

impl Owner {
    fn of(owner: &Personal) -> Owner {
        match owner {
            Personal::Sealed(sealed) => Owner::Subject(sealed.subject),
            Personal::Clear(text) => Owner::Clear(text.clone()),
        }
    }
}

/// One accepted event, ready to be matched against endpoints and sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub account_id: Uuid,
    pub partition: i32,
    pub offset: i64,
    /// The event's index in its commit: `(offset, index)` is its place in the log.
    pub index: i32,
    pub occurred_at: DateTime<Utc>,
    pub owner: Option<Owner>,
    /// The payload, personal fields as the log holds them.
    pub body: Value,
}

/// The `webhook-id` of a message: the same on every attempt to every endpoint.
pub fn webhook_id(event_id: Uuid) -> String {
    format!("msg_{}", event_id.simple())
}

/// The messages of an accepted commit found at `(partition, offset)`, given
/// its account as it was before the commit.
pub fn messages(partition: i32, offset: i64, commit: &Commit, before: &Account) -> Vec<Message> {
    let mut account = before.clone();
    let mut out = Vec::with_capacity(commit.events.len());
    for (index, event) in commit.events.iter().enumerate() {
        events::apply(&mut account, &event.payload);
        let mut data = event.wire_data();
        if let Value::Object(map) = &mut data {
            map.entry("balance_after").or_insert(json!(account.balance));
            map.insert("held_after".into(), json!(account.held));
            map.insert("currency".into(), json!(account.currency));
        }
        let body = json!({
            "id": event.event_id,
            "type": message_type(&event.payload),
            "api_version": API_VERSION,
            "created_at": event.occurred_at,
            "account_id": commit.aggregate_id,
            "account_version": event.sequence,
            "position": ledger_runtime::contract::event_cursor(event.occurred_at, event.event_id),
            "log": { "partition": partition, "offset": offset, "index": index },
            "data": data,
        });
        out.push(Message {
            event_id: event.event_id,
            event_type: message_type(&event.payload),
            account_id: commit.aggregate_id,
            partition,
            offset,
            index: index as i32,
            occurred_at: event.occurred_at,
            owner: (account.version > 0).then(|| Owner::of(&account.owner)),
            body,
        });
    }
    out
}

/// The body as sent: each personal field opened by `open` (which answers
/// `None` for an endpoint the field does not belong to, or an erased subject).
pub fn render(body: &Value, open: impl Fn(&str, &Personal) -> Option<String>) -> Vec<u8> {
    let mut body = body.clone();
    if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
        for field in PERSONAL_FIELDS {
            if let Some(value) = data.get_mut(field) {
                let opened = serde_json::from_value::<Personal>(value.clone()).ok().and_then(|p| open(field, &p));
                *value = opened.map_or(Value::Null, Value::String);
            }
        }
    }
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

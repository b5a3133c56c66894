//! `verify --answers FILE`: every answer a client was given, checked against
//! the re-folded log (issue #30, §3 of docs/log-protocol.md).
//!
//! The file has one JSON object per line, as a client or a gateway logged it:
//! `{"account_id": "…", "idempotency_key": "…", "status": 200, "body": {…}}`,
//! where `body` is the answer's JSON body and `idempotency_key` is optional.
//! The rules, each a `FAIL` when broken:
//! - a 2xx with a `commit_id` names a commit the fold accepted, at the
//!   `position` it gives, and (with a key) the accepted commit of that key;
//! - a `409 write_conflict` names a commit the fold rejected, at the position
//!   it gives, and (with a key) no accepted commit carries that key, unless the
//!   file also holds a 2xx for it (a later retry decided afresh);
//! - any other refusal with a key: no accepted commit carries it, with the
//!   same exception.
//!
//! Pure: the caller reads the log; [`Log::record`] takes it in offset order.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// One answer as the client got it.
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub account_id: Uuid,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    pub status: u16,
    pub body: Value,
}

/// What the log says, per record and per idempotency key.
#[derive(Default)]
pub struct Log {
    /// Per `(partition, offset)`: the commit there and whether the fold accepted it.
    at: HashMap<(i32, i64), (Uuid, bool)>,
    /// Per accepted commit id, its position.
    accepted: HashMap<Uuid, (i32, i64)>,
    /// Per `(account, key)`: the accepted commit that carries it.
    keys: HashMap<(Uuid, String), Uuid>,
}

impl Log {
    /// Takes the fold's verdict on the commit at `(partition, offset)`.
    pub fn record(&mut self, partition: i32, offset: i64, commit: &events::Commit, accepted: bool) {
        self.at.insert((partition, offset), (commit.commit_id, accepted));
        if accepted {
            self.accepted.insert(commit.commit_id, (partition, offset));
            if let Some(key) = &commit.command.idempotency_key {
                self.keys.insert((commit.aggregate_id, key.clone()), commit.commit_id);
            }
        }
    }
}

fn uuid_of(value: &Value) -> Option<Uuid> {
    value.as_str().and_then(|s| s.parse().ok())
}

fn position_of(body: &Value) -> Option<(i32, i64)> {
    let position = &body["position"];
    Some((i32::try_from(position["partition"].as_i64()?).ok()?, position["offset"].as_i64()?))
}

/// Checks every answer; returns one line per broken rule.
pub fn check(log: &Log, answers: &[Answer]) -> Vec<String> {
    let acknowledged: HashSet<(Uuid, &str)> = answers
        .iter()
        .filter(|a| (200..300).contains(&a.status))
        .filter_map(|a| Some((a.account_id, a.idempotency_key.as_deref()?)))
        .collect();
    let mut failures = Vec::new();
    for (line, answer) in answers.iter().enumerate() {
        let line = line + 1;
        let key = answer.idempotency_key.as_deref();
        let in_log = key.and_then(|k| log.keys.get(&(answer.account_id, k.to_owned())));
        let code = answer.body["code"].as_str().unwrap_or("");
        if (200..300).contains(&answer.status) {
            let Some(commit_id) = uuid_of(&answer.body["commit_id"]) else { continue };
            match log.accepted.get(&commit_id) {
                None => {
                    failures.push(format!("answer {line}: {} names commit {commit_id}, not accepted", answer.status))
                }
                Some(at) if position_of(&answer.body).is_some_and(|p| p != *at) => failures.push(format!(
                    "answer {line}: commit {commit_id} is accepted at {at:?}, not where the answer says"
                )),
                Some(_) => {}
            }
            if let Some(other) = in_log.filter(|c| **c != commit_id) {
                failures.push(format!("answer {line}: key {key:?} is accepted as commit {other}, not {commit_id}"));
            }
            continue;
        }
        if code == "write_conflict" {
            let commit_id = uuid_of(&answer.body["commit_id"]);
            let judged = position_of(&answer.body).and_then(|p| log.at.get(&p));
            match (commit_id, judged) {
                (Some(id), Some((there, false))) if *there == id => {}
                (Some(id), Some((there, true))) if *there == id => {
                    failures.push(format!("answer {line}: write_conflict for commit {id}, which the fold accepted"))
                }
                _ => failures.push(format!("answer {line}: write_conflict names no rejected commit where it says")),
            }
        }
        if answer.status >= 400 && answer.status < 500 {
            if let (Some(commit), Some(key)) = (in_log, key) {
                if !acknowledged.contains(&(answer.account_id, key)) {
                    failures
                        .push(format!("answer {line}: {code} for key {key:?}, whose command is accepted as {commit}"));
                }
            }
        }
    }
    failures
}

#[cfg(test)]
#[path = "answers_tests.rs"]
mod tests;

//! Planning a batch: each request is decided against the state left by the
//! requests before it in the batch. Pure: no I/O, nothing mutated.

use std::collections::HashMap;

use chrono::Utc;
use events::account::AGGREGATE_TYPE;
use events::{apply, decide, Account, Command, CommandInfo, Commit, Event, Metadata};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::error::Refusal;
use crate::pending::View;
use crate::state::Receipt;
use crate::subjects::Subjects;

/// One command on its way to a partition writer.
pub struct Request {
    pub account_id: Uuid,
    pub command: Command,
    pub idempotency_key: Option<String>,
    pub if_match: Option<u64>,
    pub metadata: Metadata,
    /// The client the account must belong to (`None`: no ownership check).
    pub owner: Option<String>,
    pub reply: oneshot::Sender<Outcome>,
}

/// What the client is told.
#[derive(Clone, Debug)]
pub struct Reply {
    pub receipt: Receipt,
    /// The answer comes from an earlier request with the same idempotency key.
    pub replayed: bool,
}

pub type Outcome = Result<Reply, Refusal>;

/// What becomes of one request of the batch.
pub enum Decision {
    /// Answered without writing, whatever the log holds beyond the view: a
    /// replay of a proven key, a reused key, another client's account.
    Answer(Outcome),
    /// Refused on the strength of the view (a rule of `decide`, `If-Match`).
    /// Only valid once the view is proven to be the log as it stood after the
    /// request arrived.
    Refuse(Refusal),
    /// Answered by the fate of `commits[i]`.
    Send(usize),
    /// Same key and body as `commits[i]` earlier in this batch: shares its fate.
    Join(usize),
}

pub struct Plan {
    pub decisions: Vec<Decision>,
    pub commits: Vec<Commit>,
    /// Some request was refused on the strength of the writer's current view (a `Refuse`).
    pub has_refusals: bool,
    /// Some request carries the idempotency key of a commit still in flight:
    /// its answer is that commit's, not known yet.
    pub touches_pending_key: bool,
    /// Each account with a commit in this plan, as the plan leaves it.
    pub accounts: HashMap<Uuid, Account>,
}

impl Plan {
    /// The plan cannot go out behind unproven batches: it waits on an answer
    /// still in flight, or it refuses something and has no commit whose offset
    /// could prove the view it refused on.
    pub fn needs_proven_state(&self) -> bool {
        self.touches_pending_key || (self.has_refusals && self.commits.is_empty())
    }
}

/// The digest written before fingerprints were keyed: still matched, so a retry
/// of a command from before the upgrade is still recognised.
pub fn legacy_fingerprint(command: &Command) -> String {
    let bytes = serde_json::to_vec(command).expect("commands always serialise");
    let digest = Sha256::digest(&bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Decides each request of `batch` in order against `view` and the requests
/// before it, sealing personal fields with the keys in `subjects`.
pub fn plan(view: &View, batch: &[Request], subjects: &Subjects) -> Plan {
    let mut overlay: HashMap<Uuid, Account> = HashMap::new();
    let mut pending: HashMap<(Uuid, &str), (usize, String)> = HashMap::new();
    let mut plan = Plan {
        decisions: Vec::with_capacity(batch.len()),
        commits: Vec::new(),
        has_refusals: false,
        touches_pending_key: false,
        accounts: HashMap::new(),
    };
    for request in batch {
        let id = request.account_id;
        // Another client's account does not exist, as far as this one can tell:
        // checked before anything else, idempotent replays included.
        if let Some(owner) = request.owner.as_deref() {
            let current = overlay.get(&id).or_else(|| view.account(&id));
            if current.is_some_and(|a| a.status != events::account::Status::NotOpened && !subjects.owns(a, owner)) {
                plan.decisions.push(Decision::Answer(Err(Refusal::Domain(events::DomainError::NotFound))));
                continue;
            }
        }
        let print =
            request.idempotency_key.as_ref().map(|_| subjects.fingerprint(&request.command)).unwrap_or_default();
        if let Some(key) = request.idempotency_key.as_deref() {
            if let Some(record) = view.proven_key(&id, key) {
                let same = |stored: &str| stored == print || stored == legacy_fingerprint(&request.command);
                let outcome = if record.fingerprint.as_deref().is_some_and(same) {
                    Ok(Reply { receipt: record.receipt.clone(), replayed: true })
                } else {
                    Err(Refusal::IdempotencyKeyReused)
                };
                plan.decisions.push(Decision::Answer(outcome));
                continue;
            }
            if view.pending_key(&id, key) {
                plan.touches_pending_key = true;
                plan.decisions
                    .push(Decision::Answer(Err(Refusal::Unavailable("decided again on proven state".into()))));
                continue;
            }
            if let Some((index, earlier)) = pending.get(&(id, key)) {
                plan.decisions.push(if *earlier == print {
                    Decision::Join(*index)
                } else {
                    Decision::Answer(Err(Refusal::IdempotencyKeyReused))
                });
                continue;
            }
        }
        let account = overlay.get(&id).or_else(|| view.account(&id)).cloned().unwrap_or_default();
        if let Some(expected) = request.if_match {
            if expected != account.version {
                plan.has_refusals = true;
                let refusal = Refusal::VersionConflict { expected, actual: account.version };
                plan.decisions.push(Decision::Refuse(refusal));
                continue;
            }
        }
        match decide(&account, &request.command) {
            Err(error) => {
                plan.has_refusals = true;
                plan.decisions.push(Decision::Refuse(error.into()));
            }
            Ok(mut payloads) => {
                let mut metadata = request.metadata.clone();
                if let Err(erased) = subjects.seal(id, &account, &mut payloads, &mut metadata, request.owner.is_some())
                {
                    let refusal = match erased {
                        true => Refusal::Domain(events::DomainError::SubjectErased),
                        false => Refusal::Unavailable("the owner's key could not be read; retry".into()),
                    };
                    plan.decisions.push(Decision::Answer(Err(refusal)));
                    continue;
                }
                let previous_commit_id = account.head;
                let commit_id = Uuid::now_v7();
                let mut next = account;
                let now = Utc::now();
                let events = payloads
                    .into_iter()
                    .map(|payload| {
                        apply(&mut next, &payload);
                        Event { event_id: Uuid::now_v7(), sequence: next.version, occurred_at: now, payload }
                    })
                    .collect::<Vec<_>>();
                // What the fold will make of the account if the log accepts this commit.
                next.head = Some(commit_id);
                let commit = Commit {
                    commit_id,
                    aggregate_type: AGGREGATE_TYPE.to_owned(),
                    aggregate_id: id,
                    expected_version: next.version - events.len() as u64,
                    previous_commit_id,
                    events,
                    command: CommandInfo {
                        name: request.command.name().to_owned(),
                        idempotency_key: request.idempotency_key.clone(),
                        fingerprint: request.idempotency_key.as_ref().map(|_| print.clone()),
                    },
                    metadata,
                };
                overlay.insert(id, next);
                if let Some(key) = request.idempotency_key.as_deref() {
                    pending.insert((id, key), (plan.commits.len(), print));
                }
                plan.decisions.push(Decision::Send(plan.commits.len()));
                plan.commits.push(commit);
            }
        }
    }
    plan.accounts = overlay;
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
pub(crate) mod tests;

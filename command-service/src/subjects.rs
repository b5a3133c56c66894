//! The data subjects of a batch: whose keys its personal fields are sealed
//! with, fetched from the key store before the batch is planned, so that
//! planning stays pure.
//!
//! Every personal field of an account's commit (owner, reference, freeze
//! reason, and the actor of a client's own command) is sealed for the
//! account's owner. A transfer's reference is the source owner's text: the
//! destination's credit carries it rebound to the destination, still under
//! the source owner's key.

use std::collections::HashMap;

use events::personal::{self, DataKey, Personal};
use events::{Account, AccountEvent, Command, Metadata};
use hmac::{Hmac, Mac};
use ledger_runtime::keys::{KeyError, SubjectKeys};
use sha2::Sha256;
use uuid::Uuid;

use crate::pending::View;
use crate::plan::{plan, Plan, Request};

/// The keys a batch needs, by owner name and by subject id.
pub struct Subjects {
    /// Live subjects by name: owners (created on first use) and clients (looked up only).
    named: HashMap<String, (Uuid, DataKey)>,
    /// Keys by subject id; `None`: erased.
    by_id: HashMap<Uuid, Option<DataKey>>,
    /// Keys the fingerprint of a command, so the log holds no plain digest of personal text.
    fingerprint_key: [u8; 32],
}

impl Subjects {
    pub fn new(fingerprint_key: [u8; 32]) -> Self {
        Self { named: HashMap::new(), by_id: HashMap::new(), fingerprint_key }
    }

    pub fn insert_named(&mut self, name: &str, subject: Uuid, key: DataKey) {
        self.by_id.insert(subject, Some(key.clone()));
        self.named.insert(name.to_owned(), (subject, key));
    }

    /// A keyed digest of the command's content: a reused key with another body is refused.
    pub fn fingerprint(&self, command: &Command) -> String {
        let bytes = serde_json::to_vec(command).expect("commands always serialise");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.fingerprint_key).expect("HMAC takes any key length");
        mac.update(&bytes);
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("h1:{hex}")
    }

    /// Is `client` the owner of `account`? Compares subject ids for a sealed owner.
    pub fn owns(&self, account: &Account, client: &str) -> bool {
        match &account.owner {
            Personal::Clear(name) => name == client,
            Personal::Sealed(sealed) => self.named.get(client).is_some_and(|(subject, _)| *subject == sealed.subject),
        }
    }

    /// The owner's subject and key for events decided on `account` (before them).
    /// `Err(true)`: the owner is erased; `Err(false)`: not fetched (decide again).
    fn owner_key(&self, account: &Account, events: &[AccountEvent]) -> Result<(Uuid, &DataKey), bool> {
        let name = match (&account.owner, events.first()) {
            (_, Some(AccountEvent::AccountOpened(opened))) => opened.owner.clear(),
            (Personal::Sealed(sealed), _) => {
                return match self.by_id.get(&sealed.subject) {
                    Some(Some(key)) => Ok((sealed.subject, key)),
                    Some(None) => Err(true),
                    None => Err(false),
                }
            }
            (Personal::Clear(name), _) => Some(name.as_str()),
        };
        name.and_then(|n| self.named.get(n)).map(|(subject, key)| (*subject, key)).ok_or(false)
    }

    /// Seals every personal field of `events` (decided on `account`, the
    /// aggregate `aggregate`) and the client's actor in `metadata`. `Err` as
    /// [`Subjects::owner_key`], when something needs sealing.
    pub fn seal(
        &self,
        aggregate: Uuid,
        account: &Account,
        events: &mut [AccountEvent],
        metadata: &mut Metadata,
        client_actor: bool,
    ) -> Result<(), bool> {
        for event in events.iter_mut() {
            if let AccountEvent::TransferCredited(credit) = event {
                // The source's text, rebound here under the same key; gone if that key is.
                if let Some(Personal::Sealed(sealed)) = &credit.reference {
                    let key = self.by_id.get(&sealed.subject).cloned().flatten();
                    credit.reference = key
                        .and_then(|key| personal::rebind(&key, sealed, credit.from, aggregate, "reference"))
                        .map(Personal::Sealed);
                }
            }
        }
        let clear = events.iter_mut().any(|e| e.personal_mut().iter().any(|(_, f)| f.clear().is_some()));
        if !clear && !client_actor {
            return Ok(());
        }
        let (subject, key) = self.owner_key(account, events)?;
        for event in events.iter_mut() {
            personal::seal_all(event.personal_mut(), key, subject, aggregate);
        }
        if client_actor {
            if let Some(serde_json::Value::String(actor)) = metadata.extra.get("actor") {
                let sealed = personal::seal(key, subject, aggregate, "actor", actor);
                metadata.extra.insert("actor".into(), serde_json::to_value(sealed).expect("sealed serialises"));
            }
        }
        Ok(())
    }
}

/// Plans `batch` on `view`, with the keys it needs (`None`: the key store failed).
pub async fn plan_with_keys(
    keys: &SubjectKeys,
    fingerprint_key: [u8; 32],
    view: &View<'_>,
    batch: &[Request],
) -> Option<Plan> {
    match resolve(keys, fingerprint_key, view, batch).await {
        Ok(subjects) => Some(plan(view, batch, &subjects)),
        Err(error) => {
            tracing::warn!(%error, "cannot read the data subjects' keys");
            None
        }
    }
}

/// Fetches every key `batch` may need, as `view` stands.
pub async fn resolve(
    keys: &SubjectKeys,
    fingerprint_key: [u8; 32],
    view: &View<'_>,
    batch: &[Request],
) -> Result<Subjects, KeyError> {
    let mut subjects = Subjects::new(fingerprint_key);
    for request in batch {
        if let Some(client) = request.owner.as_deref() {
            if !subjects.named.contains_key(client) {
                if let Some((subject, key)) = keys.find(client).await? {
                    subjects.insert_named(client, subject, key);
                }
            }
        }
        let text = match &request.command {
            Command::OpenAccount { owner, .. } => {
                let (subject, key) = keys.subject(owner).await?;
                subjects.insert_named(owner, subject, key);
                continue;
            }
            Command::Deposit { reference, .. } | Command::Withdraw { reference, .. } => reference.is_some(),
            Command::InitiateTransfer { reference, .. } => reference.is_some(),
            Command::FreezeAccount { reason } => reason.is_some(),
            Command::CreditTransfer { reference, .. } => {
                if let Some(source) = reference.as_ref().and_then(Personal::subject) {
                    fetch(keys, &mut subjects, source).await?;
                }
                reference.is_some()
            }
            _ => false,
        };
        if !text && request.owner.is_none() {
            continue;
        }
        match view.account(&request.account_id).map(|a| &a.owner) {
            Some(Personal::Sealed(sealed)) => fetch(keys, &mut subjects, sealed.subject).await?,
            Some(Personal::Clear(name)) if !name.is_empty() && !subjects.named.contains_key(name) => {
                // An account opened before sealing: its owner gets a subject now.
                let (subject, key) = keys.subject(name).await?;
                subjects.insert_named(name, subject, key);
            }
            _ => {}
        }
    }
    Ok(subjects)
}

async fn fetch(keys: &SubjectKeys, subjects: &mut Subjects, subject: Uuid) -> Result<(), KeyError> {
    if let std::collections::hash_map::Entry::Vacant(entry) = subjects.by_id.entry(subject) {
        entry.insert(keys.key(subject).await?);
    }
    Ok(())
}

/// The fingerprint key: derived from the deployment's lookup key, the same in
/// every instance. Derived once per writer, not per batch.
pub fn fingerprint_key(keys: &SubjectKeys) -> [u8; 32] {
    keys.mac(b"command-fingerprint", b"").try_into().expect("HMAC-SHA256 is 32 bytes")
}

#[cfg(test)]
#[path = "subjects_tests.rs"]
mod tests;

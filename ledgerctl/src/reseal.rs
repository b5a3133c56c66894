//! `reseal`: a re-keying copy of a log written (partly) before sealing. Every
//! record goes to the same partition of a new topic, in the same order (so at
//! the same offset), with each clear personal field sealed for its subject;
//! everything else is unchanged. Run it with the command services stopped,
//! then replay the read models from the new topic and switch `EVENTS_TOPIC`
//! (docs/personal-data.md § Records written before sealing).

use std::collections::HashMap;

use events::personal::{self, DataKey, Personal};
use events::{AccountEvent, Commit, Record};
use ledger_runtime::kafka;
use ledger_runtime::keys::SubjectKeys;
use rdkafka::message::{Headers, Message};
use uuid::Uuid;

use crate::sink::{Outgoing, Sink};
use crate::{log, Sources};

/// What the copy did.
#[derive(Debug, Default)]
pub struct Resealed {
    pub records: u64,
    pub commits_changed: u64,
    pub fields_sealed: u64,
}

/// Copies `sources.events_topic` into `to_topic`, sealing clear personal fields.
pub async fn run(sources: &Sources, to_topic: &str, keys: &SubjectKeys) -> anyhow::Result<Resealed> {
    let ends = log::ends(sources).await?;
    let count = ends.len() as i32;
    let owners = owners(sources, &ends).await?;
    if kafka::log_ends(&sources.kafka_brokers, to_topic, 8).await.is_ok_and(|e| e.iter().any(|&end| end > 0)) {
        anyhow::bail!("{to_topic} is not empty: the copy must start at offset 0 of every partition");
    }
    kafka::ensure_topic(&sources.kafka_brokers, to_topic, count).await?;
    let mut sink = Sink::new(&sources.kafka_brokers, to_topic)?;
    let reader = kafka::reader(&sources.kafka_brokers)?;
    let mut sealer = Sealer { keys, owners, subjects: HashMap::new(), done: Resealed::default() };
    for (partition, &end) in ends.iter().enumerate() {
        let partition = partition as i32;
        let mut records = kafka::RangeReader::assign(&reader, &sources.events_topic, &[(partition, 0, end)])?;
        while let Some(message) = records.next().await? {
            let value = sealer.reseal(message.payload().unwrap_or_default()).await?;
            let headers = message.headers().into_iter().flat_map(|h| h.iter());
            sink.send(Outgoing {
                partition,
                key: message.key().unwrap_or_default(),
                value: &value,
                headers: headers.map(|h| (h.key, h.value.map(<[u8]>::to_vec))).collect(),
                timestamp_ms: message.timestamp().to_millis(),
                offset: Some(message.offset()),
            })
            .await?;
            sealer.done.records += 1;
        }
        sink.settle().await?;
    }
    let copied = kafka::log_ends(&sources.kafka_brokers, to_topic, 8).await?;
    anyhow::ensure!(copied == ends, "the copy ends at {copied:?}, the source at {ends:?}");
    Ok(sealer.done)
}

/// Every account's owner, from its `AccountOpened` (a credit's text is its source owner's).
async fn owners(sources: &Sources, ends: &[i64]) -> anyhow::Result<HashMap<Uuid, Personal>> {
    let mut owners = HashMap::new();
    for (partition, &end) in ends.iter().enumerate() {
        log::read(sources, partition as i32, end, |_, _, bytes| {
            let Ok(commit) = Commit::decode(bytes) else { return };
            for event in &commit.events {
                if let AccountEvent::AccountOpened(opened) = &event.payload {
                    owners.entry(commit.aggregate_id).or_insert_with(|| opened.owner.clone());
                }
            }
        })
        .await?;
    }
    Ok(owners)
}

struct Sealer<'a> {
    keys: &'a SubjectKeys,
    owners: HashMap<Uuid, Personal>,
    subjects: HashMap<String, (Uuid, DataKey)>,
    done: Resealed,
}

impl Sealer<'_> {
    /// The key of `account`'s owner (created for an owner who has none).
    async fn key_of(&mut self, account: Uuid) -> anyhow::Result<Option<(Uuid, DataKey)>> {
        match self.owners.get(&account).cloned() {
            Some(Personal::Clear(name)) => {
                if !self.subjects.contains_key(&name) {
                    let found = self.keys.subject(&name).await?;
                    self.subjects.insert(name.clone(), found);
                }
                Ok(self.subjects.get(&name).cloned())
            }
            Some(Personal::Sealed(sealed)) => Ok(self.keys.key(sealed.subject).await?.map(|k| (sealed.subject, k))),
            None => Ok(None),
        }
    }

    /// The record with its clear personal fields sealed (unchanged if it has none).
    async fn reseal(&mut self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let Ok(Record::Account(mut commit)) = Record::decode(bytes) else { return Ok(bytes.to_vec()) };
        let id = commit.aggregate_id;
        let owner_name = self.owners.get(&id).and_then(|o| o.clear().map(str::to_owned));
        let mut sealed = 0;
        for index in 0..commit.events.len() {
            let author = match &commit.events[index].payload {
                AccountEvent::TransferCredited(credit) => credit.from,
                _ => id,
            };
            if commit.events[index].payload.personal_mut().iter().all(|(_, f)| f.clear().is_none()) {
                continue;
            }
            let Some((subject, key)) = self.key_of(author).await? else { continue };
            let fields = commit.events[index].payload.personal_mut();
            sealed += fields.iter().filter(|(_, f)| f.clear().is_some()).count() as u64;
            personal::seal_all(fields, &key, subject, id);
        }
        let actor = commit.metadata.extra.get("actor").and_then(|a| a.as_str()).map(str::to_owned);
        if actor.is_some() && actor == owner_name {
            if let Some((subject, key)) = self.key_of(id).await? {
                let value = personal::seal(&key, subject, id, "actor", &actor.unwrap_or_default());
                commit.metadata.extra.insert("actor".into(), serde_json::to_value(value)?);
                sealed += 1;
            }
        }
        // An unkeyed fingerprint is a plain digest of the command's text: dropped.
        if commit.command.fingerprint.as_deref().is_some_and(|f| !f.starts_with("h1:")) {
            commit.command.fingerprint = None;
            sealed += 1;
        }
        if sealed == 0 {
            return Ok(bytes.to_vec());
        }
        self.done.commits_changed += 1;
        self.done.fields_sealed += sealed;
        Ok(commit.encode())
    }
}

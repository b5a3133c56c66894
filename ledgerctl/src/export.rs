//! `export`: the accepted events of the log, as NDJSON or CSV, streamed.
//!
//! Every record is folded with the fold rule from offset 0 (the verdict on a
//! commit depends on all before it); filters only choose what is written.
//! Partitions are exported one after another, each in offset order, so the
//! output is deterministic; per aggregate it is in sequence order. Memory
//! holds the fold state (one small entry per aggregate), never the events.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use events::subject::SubjectCommit;
use events::{partition_for, Commit, LogFold, Record, Verdict};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::Message;
use serde::Serialize;
use uuid::Uuid;

use crate::{log, Sources};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

/// What to export.
#[derive(Debug, clap::Args)]
pub struct Filters {
    /// Only these aggregates (repeat the flag for several).
    #[arg(long = "aggregate-id")]
    pub aggregate_ids: Vec<Uuid>,
    /// Only these event types, e.g. MoneyDeposited (repeat for several).
    #[arg(long = "type")]
    pub types: Vec<String>,
    /// Only events that occurred at or after this instant (RFC 3339).
    #[arg(long)]
    pub from: Option<DateTime<Utc>>,
    /// Only events that occurred before this instant (RFC 3339).
    #[arg(long)]
    pub to: Option<DateTime<Utc>>,
    /// Only records at or after this offset of each partition.
    #[arg(long)]
    pub from_offset: Option<i64>,
    /// Only records before this offset of each partition.
    #[arg(long)]
    pub to_offset: Option<i64>,
    /// Only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Also write the commits the fold rule rejected, with `accepted: false` and why.
    #[arg(long)]
    pub include_rejected: bool,
}

/// One line of the export: an event, or a record that is not a commit at all.
#[derive(Serialize)]
struct Line<'a> {
    partition: i32,
    offset: i64,
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    commit_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregate_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<Uuid>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    occurred_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    /// NDJSON: the event's data object (current schema version). CSV: the same, as JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

/// Writes lines in the chosen format.
enum Sink {
    Ndjson(Box<dyn Write>),
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

const CSV_HEADER: [&str; 14] = [
    "partition",
    "offset",
    "accepted",
    "rejection",
    "commit_id",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "command",
    "data",
];

fn text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl Sink {
    fn new(format: Format, out: Box<dyn Write>) -> anyhow::Result<Self> {
        Ok(match format {
            Format::Ndjson => Sink::Ndjson(out),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(CSV_HEADER)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    fn write(&mut self, line: &Line<'_>) -> anyhow::Result<()> {
        match self {
            Sink::Ndjson(out) => {
                serde_json::to_writer(&mut *out, line)?;
                out.write_all(b"\n")?;
            }
            Sink::Csv(writer) => writer.write_record([
                line.partition.to_string(),
                line.offset.to_string(),
                line.accepted.to_string(),
                text(line.rejection),
                text(line.commit_id),
                text(line.aggregate_type),
                text(line.aggregate_id),
                text(line.sequence),
                text(line.event_id),
                text(line.event_type),
                text(line.schema_version),
                text(line.occurred_at.map(|t| t.to_rfc3339())),
                text(line.command),
                text(line.data.as_ref()),
            ])?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Ndjson(mut out) => out.flush()?,
            Sink::Csv(mut writer) => writer.flush()?,
        }
        Ok(())
    }
}

impl Filters {
    fn wants(&self, commit: &Commit, event: &events::Event) -> bool {
        (self.aggregate_ids.is_empty() || self.aggregate_ids.contains(&commit.aggregate_id))
            && (self.types.is_empty() || self.types.iter().any(|t| t == event.payload.type_name()))
            && self.from.is_none_or(|from| event.occurred_at >= from)
            && self.to.is_none_or(|to| event.occurred_at < to)
    }

    fn wants_erasure(&self, erasure: &SubjectCommit) -> bool {
        self.aggregate_ids.is_empty()
            && (self.types.is_empty() || self.types.iter().any(|t| t == events::subject::ERASED))
            && self.from.is_none_or(|from| erasure.occurred_at >= from)
            && self.to.is_none_or(|to| erasure.occurred_at < to)
    }

    fn in_range(&self, offset: i64) -> bool {
        self.from_offset.is_none_or(|f| offset >= f) && self.to_offset.is_none_or(|t| offset < t)
    }
}

/// Streams the export to `out`; returns the number of lines written.
pub async fn run(
    sources: &Sources,
    filters: &Filters,
    opener: &crate::personal::Opener,
    format: Format,
    out: Box<dyn Write>,
) -> anyhow::Result<u64> {
    let ends = log::ends(sources).await?;
    let count = ends.len() as i32;
    // Only the partitions that can hold what is asked for are read.
    let wanted: HashSet<i32> = match (filters.partition, filters.aggregate_ids.is_empty()) {
        (Some(p), _) => HashSet::from([p]),
        (None, false) => filters.aggregate_ids.iter().map(|id| partition_for(*id, count)).collect(),
        (None, true) => (0..count).collect(),
    };
    let mut partitions: Vec<i32> = wanted.into_iter().filter(|p| (0..count).contains(p)).collect();
    partitions.sort_unstable();
    // The fold needs every record before the last one written.
    let stop = |p: i32| filters.to_offset.map_or(ends[p as usize], |t| t.clamp(0, ends[p as usize]));
    let total: i64 = partitions.iter().map(|&p| stop(p)).sum();
    let bar = progress_bar(total as u64);
    let mut sink = Sink::new(format, out)?;
    let mut lines = 0u64;
    let reader = ledger_runtime::kafka::reader(&sources.kafka_brokers)?;
    for partition in partitions {
        let mut fold = LogFold::default();
        let mut records = ledger_runtime::kafka::RangeReader::assign(
            &reader,
            &sources.events_topic,
            &[(partition, 0, stop(partition))],
        )?;
        while let Some(message) = records.next().await? {
            bar.inc(1);
            let offset = message.offset();
            let (record, verdict) = fold.fold_any(message.payload().unwrap_or_default());
            if !filters.in_range(offset) || (!verdict.is_accepted() && !filters.include_rejected) {
                continue;
            }
            let rejection = match &verdict {
                Verdict::Accepted => None,
                Verdict::Rejected(why) => Some(why.code()),
            };
            let commit = match record {
                Some(Record::Account(commit)) => commit,
                Some(Record::Subject(erasure)) => {
                    if filters.wants_erasure(&erasure) {
                        sink.write(&Line::erasure(partition, offset, &verdict, rejection, &erasure))?;
                        lines += 1;
                    }
                    continue;
                }
                None => {
                    if filters.aggregate_ids.is_empty() && filters.types.is_empty() {
                        let line = Line { partition, offset, accepted: false, rejection, ..Line::empty() };
                        sink.write(&line)?;
                        lines += 1;
                    }
                    continue;
                }
            };
            for event in commit.events.iter().filter(|e| filters.wants(&commit, e)) {
                let line = Line {
                    partition,
                    offset,
                    accepted: verdict.is_accepted(),
                    rejection,
                    commit_id: Some(commit.commit_id),
                    aggregate_type: Some(&commit.aggregate_type),
                    aggregate_id: Some(commit.aggregate_id),
                    sequence: Some(event.sequence),
                    event_id: Some(event.event_id),
                    event_type: Some(event.payload.type_name()),
                    schema_version: Some(event.schema_version()),
                    occurred_at: Some(event.occurred_at),
                    command: Some(&commit.command.name),
                    correlation_id: Some(&commit.metadata.correlation_id),
                    data: Some(opener.open(event.wire_data(), commit.aggregate_id).await?),
                };
                sink.write(&line)?;
                lines += 1;
            }
        }
    }
    sink.finish()?;
    bar.finish_and_clear();
    Ok(lines)
}

impl<'a> Line<'a> {
    fn empty() -> Self {
        Line {
            partition: 0,
            offset: 0,
            accepted: false,
            rejection: None,
            commit_id: None,
            aggregate_type: None,
            aggregate_id: None,
            sequence: None,
            event_id: None,
            event_type: None,
            schema_version: None,
            occurred_at: None,
            command: None,
            correlation_id: None,
            data: None,
        }
    }

    /// A subject's erasure: who and why, nothing personal.
    fn erasure(
        partition: i32,
        offset: i64,
        verdict: &Verdict,
        rejection: Option<&'static str>,
        erasure: &'a SubjectCommit,
    ) -> Self {
        Line {
            partition,
            offset,
            accepted: verdict.is_accepted(),
            rejection,
            commit_id: Some(erasure.commit_id),
            aggregate_type: Some(events::subject::AGGREGATE_TYPE),
            aggregate_id: Some(erasure.subject),
            sequence: Some(erasure.expected_version + 1),
            event_id: Some(erasure.event_id),
            event_type: Some(events::subject::ERASED),
            schema_version: Some(1),
            occurred_at: Some(erasure.occurred_at),
            command: Some(&erasure.command.name),
            correlation_id: Some(&erasure.metadata.correlation_id),
            data: Some(serde_json::to_value(&erasure.erased).expect("the erasure serialises")),
        }
    }
}

/// A bar on stderr when it is a terminal; hidden when piped or redirected.
pub fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} records  {per_sec}  eta {eta}  {msg}") {
        bar.set_style(style);
    }
    bar
}

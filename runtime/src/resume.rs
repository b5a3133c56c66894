//! Asking the log whether it proves positions saved outside it
//! ([`events::resume`]): the watermarks, then the record before each position.

use std::sync::Arc;
use std::time::Duration;

use events::resume::{self, Resume, Saved};
use rdkafka::consumer::{Consumer, StreamConsumer};
use tracing::{instrument, warn};

use crate::kafka::{self, Error};

const WATERMARK_TIMEOUT: Duration = Duration::from_secs(10);

/// Judges each `(partition, saved)` against the log, in order.
#[instrument(skip_all, fields(topic = topic, partitions = saved.len()))]
pub async fn prove(brokers: &str, topic: &str, saved: &[(i32, Saved)]) -> Result<Vec<(i32, Resume)>, Error> {
    if saved.iter().all(|(_, s)| s.next_offset == 0) {
        return Ok(saved.iter().map(|&(p, _)| (p, Resume::FromStart)).collect());
    }
    let consumer = Arc::new(kafka::reader(brokers)?);
    let mut plans = Vec::with_capacity(saved.len());
    for &(partition, position) in saved {
        let (low, high) = watermarks(&consumer, topic, partition).await?;
        plans.push((partition, position, resume::plan(position, low, high)));
    }
    let checks: Vec<(i32, i64, i64)> = plans
        .iter()
        .filter_map(|(p, _, r)| if let Resume::Check(o) = r { Some((*p, *o, o + 1)) } else { None })
        .collect();
    let mut found = std::collections::HashMap::new();
    kafka::read_ranges(&consumer, topic, &checks, |partition, _, bytes| {
        found.insert(partition, events::Commit::decode(bytes).ok().map(|c| c.commit_id));
    })
    .await?;
    Ok(plans
        .into_iter()
        .map(|(partition, position, plan)| match plan {
            Resume::Check(_) => (partition, resume::confirm(position, found.get(&partition).copied().flatten())),
            other => (partition, other),
        })
        .collect())
}

/// A partition's low and high watermarks, asked again while its leader moves.
async fn watermarks(consumer: &Arc<StreamConsumer>, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
    let (consumer, owned) = (Arc::clone(consumer), topic.to_owned());
    kafka::while_leader_moves(move || consumer.fetch_watermarks(&owned, partition, WATERMARK_TIMEOUT))
        .await
        .inspect_err(|error| warn!(partition, %error, "cannot read the partition's watermarks"))
}

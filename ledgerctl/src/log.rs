//! Reading the events topic partition by partition, in offset order.

use ledger_runtime::kafka;

use crate::Sources;

/// The end offset of every partition of the topic.
pub async fn ends(sources: &Sources) -> anyhow::Result<Vec<i64>> {
    Ok(kafka::log_ends(&sources.kafka_brokers, &sources.events_topic, sources.events_partitions).await?)
}

/// Streams `[0, end)` of one partition through `on_record(offset, value)`.
pub async fn read(
    sources: &Sources,
    partition: i32,
    end: i64,
    on_record: impl FnMut(i32, i64, &[u8]),
) -> anyhow::Result<()> {
    let reader = kafka::reader(&sources.kafka_brokers)?;
    kafka::read_ranges(&reader, &sources.events_topic, &[(partition, 0, end)], on_record).await?;
    Ok(())
}

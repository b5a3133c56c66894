//! The group consumer: a member of the projections group (see
//! `ledger_runtime::group`); the worker seeks to the stored checkpoints.

use tokio::sync::mpsc;

use crate::config::Config;
use crate::error::Error;
pub use ledger_runtime::group::{Change, GroupConsumer};
use ledger_runtime::kafka;

/// A consumer in the projections group. Kafka offsets are committed only for
/// lag tools; the checkpoints in Postgres are the truth.
pub fn group_consumer(config: &Config) -> Result<(GroupConsumer, mpsc::UnboundedReceiver<Change>), Error> {
    let mut client =
        kafka::group_config(&config.log.kafka_brokers, &config.group, "ledger-projections", config.session_timeout_ms);
    client.set("auto.offset.reset", "earliest").set("fetch.wait.max.ms", "20");
    Ok(ledger_runtime::group::consumer(&client, &config.log.events_topic)?)
}

//! Membership of the writers' consumer group, used for assignment and
//! liveness only: no record is ever fetched through it (assigned partitions
//! are paused at once), and no offset is committed.
//!
//! The consumer lives on its own thread, so that the revocation callback can
//! block until this instance's writers for the revoked partitions have proven
//! and answered what they had in flight. Under the eager protocol no member
//! gets a partition before every member has returned from its revocation, so
//! a graceful handover never has two writers.

use std::sync::mpsc as sync_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::Error;

/// Longest a revocation waits for the writers to hand over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A change of the partitions this instance owns.
#[derive(Debug)]
pub enum Change {
    Assigned(Vec<i32>),
    /// Stop serving these (all of them when the assignment was lost), then
    /// acknowledge on the sender.
    Revoked(Option<Vec<i32>>, sync_mpsc::SyncSender<()>),
}

struct Context {
    topic: String,
    changes: mpsc::UnboundedSender<Change>,
}

impl ClientContext for Context {}

impl Context {
    fn partitions(&self, list: &TopicPartitionList) -> Vec<i32> {
        list.elements().iter().filter(|e| e.topic() == self.topic).map(|e| e.partition()).collect()
    }

    /// Tells the ownership loop and waits until it has stopped the writers.
    fn hand_over(&self, partitions: Option<Vec<i32>>) {
        let (ack, done) = sync_mpsc::sync_channel(1);
        if self.changes.send(Change::Revoked(partitions, ack)).is_ok() && done.recv_timeout(HANDOVER_TIMEOUT).is_err() {
            warn!("the writers did not hand over within {HANDOVER_TIMEOUT:?}");
        }
    }
}

impl ConsumerContext for Context {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, list: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let assigned = self.partitions(list);
                info!(partitions = ?assigned, "the writers' group assigned partitions");
                if let Err(error) = consumer.assign(list).and_then(|()| consumer.pause(list)) {
                    warn!(%error, "assignment failed");
                }
                let _ = self.changes.send(Change::Assigned(assigned));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let revoked = self.partitions(list);
                info!(partitions = ?revoked, lost = consumer.assignment_lost(), "the writers' group revoked partitions");
                self.hand_over(Some(revoked));
                if let Err(error) = consumer.unassign() {
                    warn!(%error, "unassign failed");
                }
            }
            other => {
                warn!(error = ?other, "rebalance failed: dropping every partition");
                self.hand_over(None);
                let _ = consumer.unassign();
            }
        }
    }
}

/// Settings of the group membership.
pub struct GroupSettings {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub session_timeout_ms: u32,
    pub client_id: String,
    /// Static membership (`group.instance.id`, KIP-345): an instance that
    /// restarts under the same id within the session timeout takes its own
    /// partitions back without a rebalance. A static member does not leave
    /// the group when it stops: its partitions move only after the session
    /// timeout (docs/kafka.md, "Failover and handover").
    pub instance_id: Option<String>,
}

/// Joins the group on a thread of its own and reports every change of the
/// assignment. On `shutdown` it leaves the group (handing its partitions over
/// first) and the change stream ends.
pub fn join(
    settings: &GroupSettings,
    shutdown: CancellationToken,
) -> Result<(mpsc::UnboundedReceiver<Change>, JoinHandle<()>), Error> {
    let (changes, receiver) = mpsc::unbounded_channel();
    let context = Context { topic: settings.topic.clone(), changes };
    let mut group = ledger_runtime::kafka::group_config(
        &settings.brokers,
        &settings.group,
        &settings.client_id,
        settings.session_timeout_ms,
    );
    if let Some(id) = &settings.instance_id {
        group.set("group.instance.id", id);
    }
    let consumer: BaseConsumer<Context> = group
        .set("partition.assignment.strategy", "range")
        // Frequent heartbeats: a member learns of a rebalance (a peer died or
        // left) on its next heartbeat, so this bounds the handover's delay.
        .set("heartbeat.interval.ms", (settings.session_timeout_ms / 10).clamp(100, 1000).to_string())
        .create_with_context(context)
        .map_err(ledger_runtime::kafka::Error::from)?;
    consumer.subscribe(&[&settings.topic]).map_err(ledger_runtime::kafka::Error::from)?;
    let thread = std::thread::Builder::new().name("writers-group".into()).spawn(move || {
        while !shutdown.is_cancelled() {
            // Serves the group's callbacks; paused partitions yield no records.
            if let Some(Err(error)) = consumer.poll(Duration::from_millis(100)) {
                warn!(%error, "writers' group");
            }
        }
        // Leave: the revocation callback hands the partitions over first.
        if let Err(error) = leave(&consumer) {
            warn!(%error, "leaving the writers' group");
        }
        info!("left the writers' group");
    })?;
    Ok((receiver, thread))
}

/// `unsubscribe`, then polls until the revocation it triggers has been served.
fn leave(consumer: &BaseConsumer<Context>) -> Result<(), rdkafka::error::KafkaError> {
    consumer.unsubscribe();
    let deadline = Instant::now() + HANDOVER_TIMEOUT;
    while Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(50));
        if consumer.assignment()?.count() == 0 {
            break;
        }
    }
    Ok(())
}

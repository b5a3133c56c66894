//! Scenario 9, restart in place: an instance of a two-instance writers' group
//! is killed -9 and started again at once, under the same address; the time
//! until a deposit on one of its partitions is answered 2xx again. Without
//! static membership the restarted instance is a new member, and the group
//! waits for its dead predecessor's session to time out before it
//! rebalances; with `GROUP_INSTANCE_ID` (KIP-345) it takes its old member's
//! place, and its partitions, without a rebalance.

use std::time::Instant;

use anyhow::Context;
use testkit::Stack;

use super::cluster::{account_of, until_moved, Cluster};
use super::open_accounts;
use super::report::Row;

pub(super) async fn in_place(stack: &Stack, http: &reqwest::Client, static_members: bool) -> anyhow::Result<Row> {
    let kind = if static_members { "static" } else { "dynamic" };
    let topic = format!("{}-restart-{kind}", stack.topic);
    let mut cluster = Cluster { stack, topic, instances: Vec::new(), static_members };
    cluster.add().await?;
    cluster.add().await?;
    let ids = open_accounts(http, &cluster.instances[0].base, 64).await?;
    let owners = cluster.settled(http).await?;
    let account = account_of(&owners, &ids, &cluster.instances[1].base).context("an account on instance 2")?.clone();
    let started = Instant::now();
    cluster.instances[1].process.kill9();
    cluster.instances[1].process.restart();
    let took = until_moved(http, &cluster.instances[0].base, &account, None, started).await?;
    eprintln!("restart in place ({kind} membership): {} ms", took.as_millis());
    let mut row = Row::new(
        format!("9. restart in place ({kind} membership): kill -9 and start to the first 2xx on its partition"),
        format!("{:.0} ms", took.as_secs_f64() * 1000.0),
    );
    row.note = if static_members {
        "GROUP_INSTANCE_ID: the restarted instance takes its old member's place (SESSION_TIMEOUT_MS 10 s)".into()
    } else {
        "a new member: the group waits for the old one's session (SESSION_TIMEOUT_MS 10 s) to end".into()
    };
    Ok(row)
}

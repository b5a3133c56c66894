//! Scenario 9, restart in place: an instance of a two-instance writers' group
//! is killed -9 and started again at once, under the same address; the time
//! until a deposit on one of its partitions is answered 2xx again. Without
//! static membership the restarted instance is a new member, and the group
//! waits for its dead predecessor's session to time out before it
//! rebalances; with `GROUP_INSTANCE_ID` (KIP-345) it takes its old member's
//! place, and its partitions, without a rebalance. And failover and graceful
//! handover, the same way with either kind of membership.

use std::time::Instant;

use anyhow::Context;
use testkit::Stack;

use super::cluster::{account_of, moved, until_moved, Cluster};
use super::open_accounts;
use super::report::Row;

pub(super) async fn in_place(stack: &Stack, http: &reqwest::Client, static_members: bool) -> anyhow::Result<Row> {
    let kind = if static_members { "static" } else { "dynamic" };
    let topic = format!("{}-restart-{kind}", stack.topic);
    let mut cluster = Cluster { stack, topic, instances: Vec::new(), static_members };
    cluster.add().await?;
    cluster.add().await?;
    cluster.settled(http).await?;
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

/// Failover (kill -9 of the third instance, not restarted) and graceful
/// handover (it is restarted, then the first gets SIGTERM) in a group of
/// three, `kind` (`dynamic` or `static`) membership.
pub(super) async fn failover_and_handover(
    cluster: &mut Cluster<'_>,
    http: &reqwest::Client,
    ids: &[String],
    kind: &str,
) -> anyhow::Result<Vec<Row>> {
    let failover = moved(cluster, http, ids, 2, "-KILL").await?;
    eprintln!("failover ({kind} membership): {} ms", failover.as_millis());
    let mut first = Row::new(
        format!("9. failover ({kind} membership): kill -9 to the first 2xx on a moved partition"),
        format!("{:.0} ms", failover.as_secs_f64() * 1000.0),
    );
    first.note = "SESSION_TIMEOUT_MS default (10 s): the group notices the death, then the partition is loaded".into();
    cluster.instances[2].process.restart();
    let handover = moved(cluster, http, ids, 0, "-TERM").await?;
    eprintln!("handover ({kind} membership): {} ms", handover.as_millis());
    let mut second = Row::new(
        format!("9. graceful handover ({kind} membership): SIGTERM to the first 2xx on a moved partition"),
        format!("{:.0} ms", handover.as_secs_f64() * 1000.0),
    );
    second.note =
        "in-flight commits proven and answered, snapshot stored, group left, partitions loaded by the others".into();
    Ok(vec![first, second])
}

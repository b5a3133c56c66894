//! Scenario 9: the write side scaled out. Commands/s and p99 with 1, 2 and 3
//! command-service instances behind one entry point (requests spread
//! round-robin over the instances, as a load balancer does), the forwarding
//! hop (requests sent to each account's owner against requests sent to an
//! instance that does not own it), the failover time after a kill -9 and the
//! handover time after a SIGTERM (each until the first 2xx on a partition
//! that moved), and the memory each instance holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use testkit::{Process, Stack};

use super::load::{self, MakeRequest};
use super::report::Row;
use super::{open_accounts, service_with, sys};

const PARTITIONS: i64 = 8;
const CLIENTS: usize = 64;

pub(super) struct Instance {
    pub(super) process: Process,
    pub(super) base: String,
}

/// Instances of one writers' group on a topic of their own.
pub(super) struct Cluster<'a> {
    pub(super) stack: &'a Stack,
    pub(super) topic: String,
    pub(super) instances: Vec<Instance>,
    /// Each instance a static member (`GROUP_INSTANCE_ID`, the topic and its index).
    pub(super) static_members: bool,
}

impl Cluster<'_> {
    pub(super) async fn add(&mut self) -> anyhow::Result<()> {
        let mut env = vec![
            ("EVENTS_TOPIC".to_owned(), self.topic.clone()),
            ("WRITERS_GROUP".to_owned(), format!("{}.writers", self.topic)),
            // Failover is measured with the default session timeout.
            ("SESSION_TIMEOUT_MS".to_owned(), "10000".to_owned()),
            // The group's changes, in the process logs (testkit's log directory).
            ("RUST_LOG".to_owned(), "warn,command_service=info".to_owned()),
        ];
        if self.static_members {
            env.push(("GROUP_INSTANCE_ID".to_owned(), format!("{}-{}", self.topic, self.instances.len())));
        }
        let (process, base) = service_with("command-service", self.stack, env).await?;
        self.instances.push(Instance { process, base });
        Ok(())
    }

    fn bases(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.base.clone()).collect()
    }

    /// Waits until the instances own every partition once, each some; returns the owners.
    pub(super) async fn settled(&self, http: &reqwest::Client) -> anyhow::Result<HashMap<i64, String>> {
        let ops = testkit::client("bench-ops", &["ops"]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut owners = HashMap::new();
            let mut total = 0;
            for instance in &self.instances {
                let Ok(answer) = http.get(format!("{}/readyz", instance.base)).send().await else { continue };
                let Ok(ready) = answer.json::<Value>().await else { continue };
                for p in ready["partitions"].as_array().into_iter().flatten().filter_map(Value::as_i64) {
                    owners.insert(p, instance.base.clone());
                    total += 1;
                }
            }
            // Every instance owns some partitions (one that joined late would
            // otherwise be missed by a group that has not yet rebalanced).
            let owning: std::collections::HashSet<&String> = owners.values().collect();
            if owners.len() == PARTITIONS as usize && total == owners.len() && owning.len() == self.instances.len() {
                // Each instance's directory must say so too before load is sent.
                let mut agreed = true;
                for instance in &self.instances {
                    let view: Value = match ops.get(format!("{}/v1/cluster", instance.base)).send().await {
                        Ok(answer) => answer.json().await.unwrap_or_default(),
                        Err(_) => continue,
                    };
                    let claims = view["instances"].as_array().map_or(0, |all| {
                        all.iter().map(|i| i["partitions"].as_array().map_or(0, Vec::len)).sum::<usize>()
                    });
                    agreed &= claims == owners.len();
                }
                if agreed {
                    return Ok(owners);
                }
            }
            anyhow::ensure!(Instant::now() < deadline, "the cluster did not settle");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Deposits spread over `bases` round-robin.
fn deposits(http: &reqwest::Client, bases: Vec<String>, ids: &Arc<Vec<String>>) -> MakeRequest {
    let (http, ids, turn) = (http.clone(), ids.clone(), Arc::new(AtomicUsize::new(0)));
    Arc::new(move |k| {
        let base = &bases[turn.fetch_add(1, Ordering::Relaxed) % bases.len()];
        let id = &ids[(k >> 33) as usize % ids.len()];
        http.post(format!("{base}/v1/accounts/{id}/deposits")).json(&json!({"amount": k % 100 + 1}))
    })
}

/// Deposits each sent to its account's owner (`to_owner`) or to another instance.
fn routed(
    http: &reqwest::Client,
    owners: &HashMap<i64, String>,
    ids: &Arc<Vec<String>>,
    to_owner: bool,
) -> MakeRequest {
    let bases: Vec<String> = {
        let mut all: Vec<String> = owners.values().cloned().collect();
        all.sort();
        all.dedup();
        all
    };
    let target: Vec<String> = ids
        .iter()
        .map(|id| {
            let owner = &owners[&i64::from(events::partition_for(id.parse().unwrap_or_default(), PARTITIONS as i32))];
            if to_owner {
                owner.clone()
            } else {
                bases.iter().find(|b| *b != owner).cloned().unwrap_or_else(|| owner.clone())
            }
        })
        .collect();
    let (http, ids) = (http.clone(), ids.clone());
    Arc::new(move |k| {
        let n = (k >> 33) as usize % ids.len();
        http.post(format!("{}/v1/accounts/{}/deposits", target[n], ids[n])).json(&json!({"amount": k % 100 + 1}))
    })
}

/// From `started` until a deposit to `account`, sent to `via`, gets a 2xx
/// decided by an instance other than `old_owner` (by any instance when `None`).
pub(super) async fn until_moved(
    http: &reqwest::Client,
    via: &str,
    account: &str,
    old_owner: Option<&str>,
    started: Instant,
) -> anyhow::Result<Duration> {
    loop {
        let answer =
            http.post(format!("{via}/v1/accounts/{account}/deposits")).json(&json!({"amount": 1})).send().await;
        if let Ok(answer) = answer {
            let served_by = answer.headers().get("ledger-served-by").and_then(|v| v.to_str().ok()).unwrap_or_default();
            if answer.status().is_success() && Some(served_by) != old_owner {
                return Ok(started.elapsed());
            }
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "{account} not served again within 120 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `signal` to instance `victim` once the cluster is settled; returns
/// the time until a partition it owned is served by another instance.
pub(super) async fn moved(
    cluster: &Cluster<'_>,
    http: &reqwest::Client,
    ids: &[String],
    victim: usize,
    signal: &str,
) -> anyhow::Result<Duration> {
    let owners = cluster.settled(http).await?;
    let old_owner = &cluster.instances[victim].base;
    let account = account_of(&owners, ids, old_owner).context("an account on that instance")?;
    let survivor = &cluster.instances[(victim + 1) % cluster.instances.len()].base;
    let started = Instant::now();
    cluster.instances[victim].process.signal(signal);
    until_moved(http, survivor, account, Some(old_owner), started).await
}

/// An account whose partition `owner` owns.
pub(super) fn account_of<'a>(owners: &HashMap<i64, String>, ids: &'a [String], owner: &str) -> Option<&'a String> {
    ids.iter().find(|id| {
        owners[&i64::from(events::partition_for(id.parse().unwrap_or_default(), PARTITIONS as i32))] == owner
    })
}

pub(super) async fn scenario(
    stack: &Stack,
    http: &reqwest::Client,
    accounts: usize,
    secs: f64,
    aggregates: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let topic = format!("{}-cluster", stack.topic);
    let mut cluster = Cluster { stack, topic, instances: Vec::new(), static_members: false };
    cluster.add().await?;
    let ids = Arc::new(open_accounts(http, &cluster.instances[0].base, accounts).await?);
    for n in 1..=3 {
        while cluster.instances.len() < n {
            cluster.add().await?;
        }
        cluster.settled(http).await?;
        let ours = load::closed(CLIENTS, secs, deposits(http, cluster.bases(), &ids)).await;
        eprintln!("cluster of {n}: {:.0} cmd/s", ours.rate());
        let mut row =
            Row::new(format!("9. commands, {n} instance(s), {CLIENTS} clients"), format!("{:.0} cmd/s", ours.rate()))
                .latencies(&ours);
        row.note = "deposits round-robin over the instances (one entry point); 1/n decided where sent".into();
        rows.push(row);
    }

    let owners = cluster.settled(http).await?;
    for to_owner in [true, false] {
        let ours = load::closed(16, secs, routed(http, &owners, &ids, to_owner)).await;
        let name = if to_owner { "sent to the owner" } else { "sent to a non-owner (one forwarding hop)" };
        let row = Row::new(format!("9. commands {name}, 3 instances, 16 clients"), format!("{:.0} cmd/s", ours.rate()))
            .latencies(&ours);
        rows.push(row);
    }

    // Memory, on fresh clusters of their own (as scenario 7: memory kept from
    // the load above would hide the growth): one instance, then three.
    for n in [1, 3] {
        rows.extend(memory(stack, http, n, aggregates).await?);
    }

    rows.extend(super::restart::failover_and_handover(&mut cluster, http, &ids, "dynamic").await?);
    for static_members in [false, true] {
        rows.push(super::restart::in_place(stack, http, static_members).await?);
    }
    // The same failover and handover in a group of static members.
    let topic = format!("{}-cluster-static", stack.topic);
    let mut members = Cluster { stack, topic, instances: Vec::new(), static_members: true };
    for _ in 0..3 {
        members.add().await?;
    }
    members.settled(http).await?;
    let ids = open_accounts(http, &members.instances[0].base, 64).await?;
    rows.extend(super::restart::failover_and_handover(&mut members, http, &ids, "static").await?);
    Ok(rows)
}

/// RSS growth of `n` fresh instances while `aggregates` accounts per instance
/// are opened round-robin over them, per instance and in all.
async fn memory(stack: &Stack, http: &reqwest::Client, n: usize, aggregates: usize) -> anyhow::Result<Vec<Row>> {
    let mut cluster =
        Cluster { stack, topic: format!("{}-rss{n}", stack.topic), instances: Vec::new(), static_members: false };
    for _ in 0..n {
        cluster.add().await?;
    }
    cluster.settled(http).await?;
    open_round_robin(http, &cluster.bases(), 1_000).await?;
    let before: Vec<u64> = cluster.instances.iter().map(|i| rss(&i.process)).collect();
    let held_before = held(&cluster).await;
    // As many accounts per instance as the single instance gets: each should
    // grow as much as it did, whatever the cluster's size.
    let opened = open_round_robin(http, &cluster.bases(), aggregates * n).await?;
    let held_after = held(&cluster).await;
    let mut rows = Vec::new();
    let mut total = 0.0;
    for (k, (instance, before)) in cluster.instances.iter().zip(before).enumerate() {
        let grown = rss(&instance.process).saturating_sub(before) as f64 / 1024.0;
        let share = held_after[k].saturating_sub(held_before[k]);
        total += grown;
        let mut row = Row::new(
            format!("9. RSS growth, instance {} of {n}", k + 1),
            format!("{grown:.1} MiB for {share} accounts ({:.0} MiB per 1M held)", grown / share.max(1) as f64 * 1e6),
        );
        row.note = format!("fresh cluster; {opened} accounts opened round-robin over {n} instance(s)");
        rows.push(row);
    }
    let mut row = Row::new(
        format!("9. RSS per 1M aggregates, {n} instance(s) together"),
        format!("{:.0} MiB", total / opened as f64 * 1e6),
    );
    row.note = "sum of the instances' growth, per million accounts in the cluster".into();
    rows.push(row);
    Ok(rows)
}

/// Accounts each instance holds, as `/v1/cluster` says (in instance order).
async fn held(cluster: &Cluster<'_>) -> Vec<u64> {
    let ops = testkit::client("bench-ops", &["ops"]);
    let view: Value = match ops.get(format!("{}/v1/cluster", cluster.instances[0].base)).send().await {
        Ok(answer) => answer.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    };
    let held_by = |base: &str| {
        let instances = view["instances"].as_array().into_iter().flatten();
        instances.filter(|v| v["url"] == base).find_map(|v| v["aggregates"].as_u64()).unwrap_or(0)
    };
    cluster.instances.iter().map(|i| held_by(&i.base)).collect()
}

fn rss(process: &Process) -> u64 {
    process.pid().and_then(|pid| sys::status_kib(pid, "VmRSS:")).unwrap_or(0)
}

async fn open_round_robin(http: &reqwest::Client, bases: &[String], n: usize) -> anyhow::Result<usize> {
    let per = n.div_ceil(bases.len());
    let opens = bases.iter().map(|base| open_accounts(http, base, per));
    let mut opened = 0;
    for ids in futures::future::join_all(opens).await {
        opened += ids?.len();
    }
    Ok(opened)
}

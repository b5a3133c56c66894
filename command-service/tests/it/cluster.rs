//! Three command-service instances in one writers' group: each holds only its
//! share, any takes any request, and a kill -9 or a rolling restart under load
//! loses nothing, doubles nothing and fails no request after retries.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::client::Api;
use crate::cluster_load::{Load, Seen};
use crate::harness::Service;
use testkit::Stack;

const INSTANCES: usize = 3;
const PARTITIONS: i32 = 8;

struct Cluster {
    stack: Stack,
    nodes: Vec<Service>,
}

impl Cluster {
    async fn start() -> Cluster {
        let stack = Stack::new().await;
        let env = [("RATE_LIMIT_PER_SECOND", "1000000"), ("RATE_LIMIT_BURST", "1000000"), ("SNAPSHOT_EVERY", "300")];
        let mut nodes: Vec<Service> =
            (0..INSTANCES).map(|_| Service::start(&stack.broker, &stack.db, &stack.topic, &env)).collect();
        for node in &mut nodes {
            node.ready().await;
        }
        let cluster = Cluster { stack, nodes };
        cluster.settled(INSTANCES, Duration::from_secs(60)).await;
        cluster
    }

    fn bases(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base.clone()).collect()
    }

    /// Waits until `live` instances are ready and own the partitions between
    /// them, each exactly once, and every one of them says so in `GET
    /// /v1/cluster`. Returns that view and how long it took.
    async fn settled(&self, live: usize, within: Duration) -> (Value, Duration) {
        let started = Instant::now();
        let ops = testkit::client("ops", &["ops"]);
        loop {
            // What each live instance serves, by its own readiness report.
            let mut serving: Vec<(String, Vec<i64>)> = Vec::new();
            for node in &self.nodes {
                if let Ok(answer) =
                    ops.get(format!("{}/readyz", node.base)).timeout(Duration::from_secs(2)).send().await
                {
                    if let (200, Ok(ready)) = (answer.status().as_u16(), answer.json::<Value>().await) {
                        let partitions = ready["partitions"].as_array().cloned().unwrap_or_default();
                        serving.push((node.base.clone(), partitions.iter().filter_map(Value::as_i64).collect()));
                    }
                }
            }
            serving.sort();
            let owned: BTreeSet<i64> = serving.iter().flat_map(|(_, p)| p.iter().copied()).collect();
            let total: usize = serving.iter().map(|(_, p)| p.len()).sum();
            if serving.len() == live && owned.len() == PARTITIONS as usize && total == owned.len() {
                // Every live instance's directory says the same.
                let mut agreed = None;
                for (base, _) in &serving {
                    let view: Value =
                        match ops.get(format!("{base}/v1/cluster")).timeout(Duration::from_secs(2)).send().await {
                            Ok(answer) => answer.json().await.unwrap_or_default(),
                            Err(_) => Value::Null,
                        };
                    let mut said: Vec<(String, Vec<i64>)> = view["instances"]
                        .as_array()
                        .map(|all| {
                            all.iter()
                                .map(|i| {
                                    let partitions = i["partitions"].as_array().cloned().unwrap_or_default();
                                    (
                                        i["url"].as_str().unwrap_or_default().to_owned(),
                                        partitions.iter().filter_map(Value::as_i64).collect(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    said.sort();
                    agreed = if said == serving { Some(view) } else { None };
                    if agreed.is_none() {
                        break;
                    }
                }
                if let Some(view) = agreed {
                    return (view, started.elapsed());
                }
            }
            assert!(started.elapsed() < within, "the cluster did not settle on {live} instances: {serving:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn open_accounts(&self, count: usize) -> Vec<Uuid> {
        let bases = self.bases();
        let mut accounts = Vec::with_capacity(count);
        for n in 0..count {
            let api = Api::as_client(&bases[n % bases.len()], "bulk");
            accounts.push(api.open("EUR", 0).await);
        }
        accounts
    }
}

/// What the clients were told matches the log, folded by the fold rule.
async fn assert_log_matches(stack: &Stack, accounts: &[Uuid], seen: &Seen) {
    let mut expected: HashMap<Uuid, i64> = accounts.iter().map(|a| (*a, 0)).collect();
    let view = stack.fold().await;
    for done in &seen.done {
        assert_eq!(done.answer.status, 200, "a deposit ended in {:?}", done.answer);
        assert!(view.accepted(done.answer.commit_id()).is_some(), "acknowledged {:?} is not in the log", done.answer);
        *expected.get_mut(&done.account).expect("known account") += done.amount;
    }
    let deposits = view.records.iter().filter(|r| r.3.is_accepted() && r.2.command.name == "Deposit").count();
    assert_eq!(deposits, seen.done.len(), "every accepted deposit was acknowledged exactly once");
    for account in accounts {
        assert_eq!(view.fold.accounts[account].balance, expected[account], "log balance of {account}");
    }
}

fn assert_clean(seen: &Seen) {
    let unexpected: Vec<_> = seen.statuses.iter().filter(|(s, _)| !matches!(**s, 200 | 503)).collect();
    assert!(unexpected.is_empty(), "answers other than 200 and 503: {unexpected:?}");
    assert_eq!(seen.unavailable_without_retry_after, 0, "every 503 carries Retry-After");
    assert_eq!(seen.hangs, 0, "no request hung past the client timeout");
    assert_eq!(seen.failed, 0, "every deposit got a final answer within its retries");
    assert_eq!(seen.write_conflicts, 0, "no two writers");
}

#[tokio::test]
async fn after_a_rebalance_each_instance_holds_only_its_partitions_and_any_instance_takes_any_request() {
    let cluster = Cluster::start().await;
    let accounts = cluster.open_accounts(48).await;
    let (view, _) = cluster.settled(INSTANCES, Duration::from_secs(30)).await;
    let owner_of: HashMap<i64, String> = view["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .flat_map(|i| {
            let url = i["url"].as_str().expect("url").to_owned();
            i["partitions"].as_array().expect("partitions").iter().map(move |p| (p.as_i64().expect("p"), url.clone()))
        })
        .collect();

    // Every instance answers for every account; the owner of its partition decided it.
    for (n, account) in accounts.iter().enumerate() {
        let api = Api::as_client(&cluster.nodes[n % INSTANCES].base, "bulk");
        let answer = api.money(*account, "deposits", 10).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let partition = i64::from(events::partition_for(*account, PARTITIONS));
        assert_eq!(answer.served_by.as_deref(), Some(owner_of[&partition].as_str()), "{answer:?}");
    }

    // Each instance holds the state of its own partitions' accounts only, and the sum is the whole.
    let mut per_owner: HashMap<String, i64> = HashMap::new();
    for account in &accounts {
        *per_owner.entry(owner_of[&i64::from(events::partition_for(*account, PARTITIONS))].clone()).or_default() += 1;
    }
    let (view, _) = cluster.settled(INSTANCES, Duration::from_secs(30)).await;
    let mut total = 0;
    for instance in view["instances"].as_array().expect("instances") {
        let url = instance["url"].as_str().expect("url");
        let held = instance["aggregates"].as_i64().expect("aggregates");
        assert_eq!(held, per_owner.get(url).copied().unwrap_or(0), "{url} holds only its own accounts: {view}");
        total += held;
    }
    assert_eq!(total, accounts.len() as i64, "{view}");

    // The cluster view is for ops only.
    let client = testkit::client("bulk", &["client"]);
    let denied = client.get(format!("{}/v1/cluster", cluster.nodes[0].base)).send().await.expect("answer");
    assert_eq!(denied.status(), 403);
}

#[tokio::test]
async fn a_kill_9_of_one_instance_under_load_moves_its_partitions_and_loses_no_acknowledged_deposit() {
    let mut cluster = Cluster::start().await;
    let accounts = cluster.open_accounts(24).await;
    let load = Load::start(cluster.bases(), accounts.clone(), 6);
    tokio::time::sleep(Duration::from_secs(2)).await;

    cluster.nodes[1].kill9();
    let killed = Instant::now();
    let (_, moved) = cluster.settled(INSTANCES - 1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen = load.stop().await;
    let took = killed.elapsed();

    assert_clean(&seen);
    assert!(seen.done.len() > 100, "the load ran ({} deposits)", seen.done.len());
    assert_log_matches(&cluster.stack, &accounts, &seen).await;
    eprintln!(
        "failover: partitions moved {moved:.1?} after kill -9 (session timeout 3 s); {} deposits over {took:.1?}; \
         answers {:?}; {} connection errors retried",
        seen.done.len(),
        seen.statuses,
        seen.connection_errors
    );
}

#[tokio::test]
async fn a_rolling_restart_under_load_fails_no_request_after_retries_and_makes_no_write_conflict() {
    let mut cluster = Cluster::start().await;
    let accounts = cluster.open_accounts(24).await;
    let load = Load::start(cluster.bases(), accounts.clone(), 6);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut handovers = Vec::new();
    for n in 0..INSTANCES {
        let stopping = Instant::now();
        let status = cluster.nodes[n].terminate();
        assert!(status.success(), "instance {n} exited with {status} on SIGTERM");
        let (_, moved) = cluster.settled(INSTANCES - 1, Duration::from_secs(30)).await;
        handovers.push((stopping.elapsed(), moved));
        cluster.nodes[n].restart();
        cluster.nodes[n].ready().await;
        cluster.settled(INSTANCES, Duration::from_secs(30)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = load.stop().await;

    assert_clean(&seen);
    assert!(seen.done.len() > 100, "the load ran ({} deposits)", seen.done.len());
    assert_log_matches(&cluster.stack, &accounts, &seen).await;
    // The restarted cluster's state agrees with the log: a deposit through each instance.
    for node in &cluster.nodes {
        let api = Api::as_client(&node.base, "bulk");
        let answer = api.post(&format!("/v1/accounts/{}/deposits", accounts[0]), &json!({ "amount": 1 }), &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    eprintln!(
        "rolling restart: SIGTERM to partitions settled on the others {handovers:.1?}; {} deposits; answers {:?}",
        seen.done.len(),
        seen.statuses
    );
}

#[tokio::test]
async fn a_paused_instance_that_lost_its_session_stops_acknowledging_and_nothing_is_lost_or_doubled() {
    let cluster = Cluster::start().await;
    let accounts = cluster.open_accounts(24).await;
    let load = Load::start(cluster.bases(), accounts.clone(), 6);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // SIGSTOP past the session timeout (3 s): the group gives its partitions to the others.
    assert!(cluster.nodes[1].pid().is_some(), "the instance to pause is running");
    cluster.nodes[1].signal("-STOP");
    let (_, moved) = cluster.settled(INSTANCES - 1, Duration::from_secs(30)).await;
    // It wakes up believing it owns them, learns it does not, and rejoins.
    cluster.nodes[1].signal("-CONT");
    cluster.settled(INSTANCES, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = load.stop().await;

    // Requests sent to the frozen process may hang (the client gives up and
    // retries elsewhere). Woken, it may write once more before it learns it lost
    // the partitions: the fold rule rejects that, and its client gets a
    // `409 write_conflict` and retries. Every other answer is a 200 or a 503.
    let conflicts = seen.statuses.get(&409).copied().unwrap_or(0);
    assert_eq!(conflicts, seen.write_conflicts, "every 409 is a write_conflict");
    let unexpected: Vec<_> = seen.statuses.iter().filter(|(s, _)| !matches!(**s, 200 | 409 | 503)).collect();
    assert!(unexpected.is_empty(), "answers other than 200, 409 and 503: {unexpected:?}");
    assert_eq!(seen.failed, 0, "every deposit got a final answer within its retries");
    assert_log_matches(&cluster.stack, &accounts, &seen).await;
    eprintln!(
        "paused instance: partitions moved {moved:.1?} after SIGSTOP; {} deposits; answers {:?}; {} hung, {} write conflicts",
        seen.done.len(),
        seen.statuses,
        seen.hangs,
        seen.write_conflicts
    );
}

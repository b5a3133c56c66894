//! Transfers through a cluster of two command services whose source and
//! destination accounts live on different instances: any instance takes the
//! command, `Prefer: wait` sees the destination's leg on the other instance,
//! a currency mismatch is refused at once, and a post sent to the instance
//! that does not serve the source finds its way.

use std::collections::HashMap;

use serde_json::{json, Value};
use testkit::{Broker, Database};
use uuid::Uuid;

use crate::stack::{call, client, funded_account, Service};

struct Cluster {
    _broker: Broker,
    _db: Database,
    commands: Vec<Service>,
    _driver: Service,
}

impl Cluster {
    async fn start() -> Cluster {
        let broker = Broker::start();
        let db = Database::fresh().await;
        let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
        let env = |extra: &[(&str, &str)]| {
            let mut env: Vec<(String, String)> = vec![
                ("KAFKA_BROKERS".into(), broker.addr.clone()),
                ("EVENTS_TOPIC".into(), topic.clone()),
                ("JWT_SECRET".into(), ledger_runtime::TEST_JWT_SECRET.into()),
                ("SESSION_TIMEOUT_MS".into(), "3000".into()),
                ("DATABASE_URL".into(), db.url.clone()),
                ("RUST_LOG".into(), "info,rdkafka=warn".into()),
            ];
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            env
        };
        let mut commands =
            vec![Service::start("command-service", env(&[])), Service::start("command-service", env(&[]))];
        for service in &mut commands {
            service.ready().await;
        }
        let mut driver = Service::start("transfers", env(&[("COMMAND_URL", &commands[0].base)]));
        driver.ready().await;
        Cluster { _broker: broker, _db: db, commands, _driver: driver }
    }

    /// The URL of the instance that serves each partition, once both serve some.
    async fn owners(&self) -> HashMap<i32, String> {
        let ops = client("ops", &["ops"]);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (_, view) = call(ops.get(format!("{}/v1/cluster", self.commands[1].base))).await.expect("cluster");
            let owners: HashMap<i32, String> = view["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|i| {
                    let url = i["url"].as_str().unwrap_or_default().to_owned();
                    let partitions = i["partitions"].as_array().cloned().unwrap_or_default();
                    partitions.into_iter().filter_map(|p| p.as_i64()).map(move |p| (p as i32, url.clone()))
                })
                .collect();
            let serving: std::collections::HashSet<&String> = owners.values().collect();
            if owners.len() == 8 && serving.len() == 2 {
                return owners;
            }
            assert!(tokio::time::Instant::now() < deadline, "the two instances did not share the partitions: {view}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn owner(owners: &HashMap<i32, String>, account: Uuid) -> &str {
    &owners[&events::partition_for(account, 8)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_between_accounts_on_two_instances_completes_through_either_and_waits_for_the_other_leg() {
    let cluster = Cluster::start().await;
    let owners = cluster.owners().await;
    let alice = client("alice", &["client"]);
    let base = |n: usize| cluster.commands[n].base.clone();

    // A source on one instance, destinations on the other.
    let source = funded_account(&alice, &base(0), "EUR", 1_000).await;
    let mut elsewhere = Vec::new();
    while elsewhere.len() < 2 {
        let id = funded_account(&alice, &base(1), if elsewhere.is_empty() { "EUR" } else { "USD" }, 0).await;
        // An account on the source's own instance is not what this test is about.
        if owner(&owners, id) != owner(&owners, source) {
            elsewhere.push(id);
        }
    }
    let (euros, dollars) = (elsewhere[0], elsewhere[1]);
    let not_source_owner = if owner(&owners, source) == base(0) { base(1) } else { base(0) };

    // Sent to the instance that does not serve the source; it waits for the credit on the other.
    let send = |body: Value, wait: bool| {
        let mut request = alice.post(format!("{not_source_owner}/v1/transfers")).json(&body);
        if wait {
            request = request.header("prefer", "wait=20");
        }
        call(request)
    };
    let (status, body) = send(json!({"from": source, "to": euros, "amount": 300}), true).await.expect("transfer");
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")), "{body}");

    // The destination's currency is known to its instance: a mismatch is refused at once.
    let (status, body) = send(json!({"from": source, "to": dollars, "amount": 1}), false).await.expect("transfer");
    assert_eq!((status, body["code"].as_str()), (422, Some("currency_mismatch")), "{body}");

    // A hold, then its post sent to the instance that does not serve the source.
    let (status, held) =
        send(json!({"from": source, "to": euros, "amount": 200, "pending": true}), true).await.expect("hold");
    assert_eq!((status, held["status"].as_str()), (200, Some("held")), "{held}");
    let id = held["transfer_id"].as_str().expect("transfer id");
    let post = alice.post(format!("{not_source_owner}/v1/transfers/{id}/post")).header("prefer", "wait=20");
    let (status, posted) = call(post.json(&json!({}))).await.expect("post");
    assert_eq!((status, posted["status"].as_str()), (200, Some("completed")), "{posted}");

    // A transfer nobody knows is not found, whichever instance is asked.
    for n in 0..2 {
        let post = alice.post(format!("{}/v1/transfers/{}/post", base(n), Uuid::new_v4()));
        let (status, body) = call(post.json(&json!({}))).await.expect("post");
        assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");
    }
}

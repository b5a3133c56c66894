//! A command is charged to its client's rate limit once, at the instance
//! that first receives it: a forward to the owner carries a proof, and the
//! owner does not charge it again. A proof a client makes up is not taken.

use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::Stack;
use uuid::Uuid;

use crate::client::Api;
use crate::harness::Service;

const PARTITIONS: i32 = 8;

/// Each node's partitions, once two nodes serve all of them between them.
async fn settled(nodes: &[Service]) -> Vec<Vec<i64>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut serving = Vec::new();
        for node in nodes {
            let ready = reqwest::get(format!("{}/readyz", node.base)).await.ok();
            let body: Value = match ready {
                Some(r) if r.status() == 200 => r.json().await.unwrap_or_default(),
                _ => Value::Null,
            };
            serving.push(body["partitions"].as_array().map(|p| p.iter().filter_map(Value::as_i64).collect::<Vec<_>>()));
        }
        let all: Vec<Vec<i64>> = serving.into_iter().flatten().collect();
        if all.len() == nodes.len()
            && all.iter().all(|p| !p.is_empty())
            && all.iter().map(Vec::len).sum::<usize>() == PARTITIONS as usize
        {
            return all;
        }
        assert!(Instant::now() < deadline, "two instances did not share the partitions");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_command_is_charged_once_where_it_arrived_and_a_forged_proof_is_charged() {
    let stack = Stack::new().await;
    // 20 at once, then one a second: the refill is slow beside the test.
    let env = [("RATE_LIMIT_PER_SECOND", "1"), ("RATE_LIMIT_BURST", "20"), ("EVENTS_PARTITIONS", "8")];
    let mut nodes: Vec<Service> =
        (0..2).map(|_| Service::start(&stack.broker, &stack.db, &stack.topic, &env)).collect();
    for node in &mut nodes {
        node.ready().await;
    }
    let owned = settled(&nodes).await;
    let account: Uuid = Api::as_client(&nodes[0].base, "rl").open("EUR", 0).await;
    let partition = i64::from(events::partition_for(account, PARTITIONS));
    let owner = owned.iter().position(|p| p.contains(&partition)).expect("an owner");
    let (at_owner, elsewhere) =
        (Api::as_client(&nodes[owner].base, "rl"), Api::as_client(&nodes[1 - owner].base, "rl"));

    // 15 through the other instance (forwarded, charged there) and 15 at the
    // owner: 30 in all, but no instance charged more than 16 of its 20.
    for api in [&elsewhere, &at_owner] {
        for _ in 0..15 {
            let answer = api.money(account, "deposits", 1).await;
            assert_eq!(answer.status, 200, "charged twice? {answer:?}");
        }
    }
    let forwarded = elsewhere.money(account, "deposits", 1).await;
    assert_eq!(forwarded.served_by.as_deref(), Some(nodes[owner].base.as_str()), "decided by the owner: {forwarded:?}");

    // The limit still holds at the owner, and a proof made up by a client changes nothing.
    let forged = [(ledger_runtime::rate_limit::FORWARD_PROOF, "1765000000.00ff")];
    let mut refused = 0;
    for _ in 0..15 {
        let answer = at_owner
            .post(&format!("/v1/accounts/{account}/deposits"), &serde_json::json!({"amount": 1}), &forged)
            .await;
        if answer.status == 429 {
            assert_eq!(answer.code(), "rate_limited");
            refused += 1;
        }
    }
    assert!(refused > 0, "the owner's limit did not hold against a forged proof");
}

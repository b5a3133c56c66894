//! Deliveries end to end: real receivers (PyPI's and npm's `standardwebhooks`)
//! verify every message; each endpoint gets its scope only, in log order per
//! account; personal fields open only for their owner; a rotation signs with
//! both secrets for its overlap.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::stack::{call, client, command, deposit, endpoint, first_successes, open, Receiver, System};

const WITHIN: Duration = Duration::from_secs(60);

/// Every entry verified with exactly the secrets `with`, and every forgery refused.
fn all_verified(entries: &[Value], with: &[u64]) {
    for e in entries {
        let verified: Vec<u64> =
            e["verified_with"].as_array().expect("a list").iter().filter_map(Value::as_u64).collect();
        assert_eq!(verified, with, "{e}");
        for check in ["tamper_refused", "wrong_secret_refused", "old_timestamp_refused"] {
            assert_eq!(e[check], true, "{check}: {e}");
        }
    }
}

/// Per account, the first successes are the account's versions in order, with no gap.
fn in_log_order(entries: &[Value]) -> HashMap<String, Vec<u64>> {
    let mut versions: HashMap<String, Vec<u64>> = HashMap::new();
    for e in first_successes(entries) {
        let account = e["account_id"].as_str().unwrap_or_default().to_owned();
        versions.entry(account).or_default().push(e["account_version"].as_u64().expect("a version"));
    }
    for (account, seen) in &versions {
        let expected: Vec<u64> = (1..=seen.len() as u64).collect();
        assert_eq!(seen, &expected, "account {account}: first successes out of log order");
    }
    versions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_receivers_verify_every_delivery_each_endpoint_gets_its_scope_in_log_order_and_a_rotation_signs_twice() {
    let mut sys =
        System::start(&[("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1"), ("WEBHOOKS_RETRY_SCHEDULE", "200ms,500ms,1s")]).await;
    let (alice, bob, ops) = (client("alice", &["client"]), client("bob", &["client"]), client("treasury", &["ops"]));
    let (python, node) = (Receiver::python().await, Receiver::node().await);

    let (alices, secret) = endpoint(&alice, &sys, json!({"url": python.url, "description": "alice's books"})).await;
    python.trust(&[&secret]);
    let (_, ops_secret) = endpoint(&ops, &sys, json!({"url": node.url, "event_types": ["*"]})).await;
    node.trust(&[&ops_secret]);

    let a = open(&alice, &sys).await;
    let b = open(&bob, &sys).await;
    for amount in [100, 200, 300] {
        deposit(&alice, &sys, a, amount).await;
    }
    deposit(&bob, &sys, b, 500).await;
    let url = format!("{}/v1/transfers", sys.commands.base);
    let done = command(&bob, &url, json!({"from": b, "to": a, "amount": 50})).await;
    assert_eq!(done["status"], "completed", "{done}");

    // Alice's endpoint: her account only, bob's credit into it included: opened, 3 deposits, the credit.
    let entries = python.until(WITHIN, "alice's five messages", |e| first_successes(e).len() >= 5).await;
    all_verified(&entries, &[0]);
    let versions = in_log_order(&entries);
    assert_eq!(versions.keys().collect::<Vec<_>>(), vec![&a.to_string()], "only alice's account: {entries:#?}");
    let firsts = first_successes(&entries);
    let types: Vec<&str> = firsts.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        ["account.opened", "account.deposited", "account.deposited", "account.deposited", "transfer.completed"]
    );
    assert_eq!(firsts[0]["data"]["owner"], "alice", "her own personal field is opened for her");
    assert_eq!(firsts[4]["data"]["balance_after"], 650);
    assert_eq!(firsts[4]["data"]["from"], b.to_string());

    // The ops endpoint: every account, personal fields withheld.
    let entries = node.until(WITHIN, "every message", |e| first_successes(e).len() >= 8).await;
    all_verified(&entries, &[0]);
    let versions = in_log_order(&entries);
    assert_eq!((versions[&a.to_string()].len(), versions[&b.to_string()].len()), (5, 3), "{versions:?}");
    assert!(first_successes(&entries).iter().all(|e| e["data"]["owner"].is_null()), "no owner opened for ops");

    // A rotation: for its overlap, both secrets verify every delivery.
    let (status, rotated) = call(alice.post(format!("{}/{alices}/rotate-secret", sys.endpoints()))).await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().expect("a new secret");
    python.trust(&[new, &secret]);
    deposit(&alice, &sys, a, 1).await;
    let entries = python.until(WITHIN, "the delivery after the rotation", |e| first_successes(e).len() >= 6).await;
    let last = first_successes(&entries).last().copied().cloned().expect("a last one");
    assert_eq!(last["signatures"], 2, "{last}");
    all_verified(&[last], &[0, 1]);

    // The attempts are listed, newest first; another client sees no such endpoint.
    let (status, page) = call(alice.get(format!("{}/{alices}/attempts?limit=2", sys.endpoints()))).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["outcome"], "delivered");
    assert_eq!(page["items"][0]["status_code"], 200);
    assert!(page["next_cursor"].is_string(), "{page}");
    let (status, _) = call(bob.get(format!("{}/{alices}", sys.endpoints()))).await;
    assert_eq!(status, 404);
    let (status, problem) = call(bob.post(sys.endpoints()).json(&json!({"url": node.url, "scope": "all"}))).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")), "{problem}");
    sys.hooks.process.assert_running();
    let _ = Uuid::nil();
}

//! The restore drill: a system rebuilt from nothing but its backup and its
//! databases, after the broker and its storage are lost (issue 18).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use testkit::Broker;
use uuid::Uuid;

use crate::stack::{call, client, funded_account, System};

fn ledgerctl(system: &System, args: &[&str]) -> String {
    let (ok, text) = system.ledgerctl(args, &[]);
    assert!(ok, "ledgerctl {args:?} failed: {text}");
    text
}

/// `rounds` deposits of 1 to each account, 16 at a time; returns the last answer's consistency token.
async fn deposits(alice: &reqwest::Client, commands: &str, accounts: &[Uuid], rounds: usize) -> String {
    let mut token = String::new();
    for _ in 0..rounds {
        let sends = accounts.iter().map(|id| {
            let request = alice
                .post(format!("{commands}/v1/accounts/{id}/deposits"))
                .header("idempotency-key", Uuid::new_v4().to_string())
                .json(&json!({"amount": 1}));
            call(request)
        });
        for answer in futures::future::join_all(sends).await {
            let (status, body) = answer.expect("the command service answers");
            assert_eq!(status, 200, "{body}");
            token = body["consistency_token"].as_str().expect("a token").to_owned();
        }
    }
    token
}

/// Every account's balance and version, read with `token` (so at least as new as it).
async fn balances(analyst: &reqwest::Client, queries: &str, accounts: &[Uuid], token: &str) -> BTreeMap<Uuid, Value> {
    let mut seen = BTreeMap::new();
    for id in accounts {
        let read = analyst.get(format!("{queries}/v1/accounts/{id}")).header("consistency-token", token);
        let (status, body) = call(read).await.expect("the query service answers");
        assert_eq!(status, 200, "{body}");
        seen.insert(*id, json!([body["balance"], body["version"]]));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_restored_from_its_backup_after_losing_the_broker_serves_every_balance_and_old_token() {
    let mut system = System::on(Broker::durable(), &[]).await;
    let (commands, queries) = (system.commands.base.clone(), system.queries.base.clone());
    let (alice, analyst) = (client("alice", &["client"]), client("ana", &["analyst"]));
    let dir = std::env::temp_dir().join(format!("ledgerline-backup-{}", Uuid::new_v4().simple()));
    let dir_arg = dir.to_string_lossy().into_owned();

    // Given 16 accounts and 2 000 deposits, backed up; then 800 more, backed up again (incrementally)
    let mut accounts = Vec::new();
    for _ in 0..16 {
        accounts.push(funded_account(&alice, &commands, "EUR", 10).await);
    }
    deposits(&alice, &commands, &accounts, 125).await;
    let first = ledgerctl(&system, &["backup", "--out", &dir_arg]);
    let token = deposits(&alice, &commands, &accounts, 50).await;
    let second = ledgerctl(&system, &["backup", "--out", &dir_arg]);
    assert!(first.contains("backed up") && second.contains("backed up 800 new record(s)"), "{first}\n{second}");
    let before = balances(&analyst, &queries, &accounts, &token).await;
    let checked = ledgerctl(&system, &["backup", "verify", &dir_arg]);
    assert!(checked.contains("0 failure(s)"), "{checked}");

    // When the broker and its storage are lost, and the topic is restored into an empty broker
    for service in [&mut system.commands, &mut system.driver, &mut system.projections, &mut system.queries] {
        service.kill9();
    }
    system.broker.wipe();
    let restored = ledgerctl(&system, &["restore", "--from", &dir_arg]);
    assert!(restored.contains("every one at its offset"), "{restored}");
    // And the services start again on their old databases
    for service in [&mut system.commands, &mut system.driver, &mut system.projections, &mut system.queries] {
        service.restart();
    }
    system.all_ready().await;

    // Then every balance is what it was, a token from before the disaster reads its write,
    // the analysts' check passes, and new commands work
    assert_eq!(balances(&analyst, &queries, &accounts, &token).await, before);
    let verified = ledgerctl(&system, &["verify", "--max-open-secs", "120"]);
    assert!(verified.contains("0 difference"), "{verified}");
    let after = deposits(&alice, &commands, &accounts[..1], 1).await;
    let read = analyst.get(format!("{queries}/v1/accounts/{}", accounts[0])).header("consistency-token", after);
    let (status, body) = call(read).await.expect("the query service answers");
    assert_eq!(
        (status, body["balance"].clone()),
        (200, json!(before[&accounts[0]][0].as_i64().expect("a balance") + 1))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

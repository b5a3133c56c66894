//! `replay` rebuilds the read models while commands and reads keep flowing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{post, Ledgerctl, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_under_writes_and_reads_swaps_atomically_serves_no_5xx_and_verifies() {
    let mut system = System::start(true, None).await;
    // History to rebuild: 300 accounts x 40 deposits, and a few conflicting duplicates.
    testkit::prefill(&system.stack.broker.addr, &system.stack.topic, 300, 40, 10).await;
    system.caught_up().await;

    let client = testkit::client("ivy", &["client"]);
    let mut ids = Vec::new();
    for _ in 0..20 {
        let opened = post(&client, format!("{}/v1/accounts", system.commands), json!({"currency": "EUR"})).await;
        ids.push(opened["account_id"].as_str().expect("id").to_owned());
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let (writes, reads, failures) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let (client, stop, writes, reads, failures) =
            (client.clone(), stop.clone(), writes.clone(), reads.clone(), failures.clone());
        let (commands, queries, id) = (system.commands.clone(), system.queries.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                if n % 2 == 0 {
                    let r = client
                        .post(format!("{commands}/v1/accounts/{id}/deposits"))
                        .json(&json!({"amount": 3}))
                        .send()
                        .await;
                    if r.is_ok_and(|r| r.status().is_success()) {
                        writes.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    for path in ["", "/entries"] {
                        let r = client.get(format!("{queries}/v1/accounts/{id}{path}")).send().await.expect("read");
                        reads.fetch_add(1, Ordering::Relaxed);
                        if r.status().is_server_error() {
                            let status = r.status();
                            let body = r.text().await.unwrap_or_default();
                            eprintln!("a read during the replay answered {status}: {body}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = reads.load(Ordering::Relaxed);
    let (ok, out) = tokio::task::spawn_blocking({
        let args = ["replay", "--batch-max", "500"];
        let system_out = system.ledgerctl_command(&args);
        move || system_out()
    })
    .await
    .expect("replay");
    assert!(ok, "{out}");
    assert!(out.contains("swapped in atomically: accounts, erased_subjects, account_entries, event_archive"), "{out}");
    let during = reads.load(Ordering::Relaxed) - before;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    for task in tasks {
        task.await.expect("load task");
    }
    assert_eq!(failures.load(Ordering::Relaxed), 0, "reads failed with 5xx during the replay");
    assert!(during > 0, "no read was served while the replay ran");
    assert!(writes.load(Ordering::Relaxed) > 0, "no write went through during the replay");

    // The workers carried on, on the swapped tables, and the whole thing equals the log.
    system.caught_up().await;
    let (ok, out) = system.ledgerctl(&["verify"]);
    assert!(ok && out.contains(" 0 difference(s)"), "{out}");
    let account: Value = client
        .get(format!("{}/v1/accounts/{}", system.queries, ids[0]))
        .send()
        .await
        .expect("read")
        .json()
        .await
        .expect("json");
    assert!(account["balance"].as_i64().expect("balance") > 0, "{account}");
    system.stop_worker().await;
}

//! Exactly once, under scaling and under kill -9.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use testkit::{prefill, Stack};

use crate::common::{assert_read_models_equal_the_log, caught_up, command_service, Worker};

/// A short session, so the group gives a killed worker's partitions away quickly.
const KILL_LOOP_SESSION_MS: &str = "1500";
const SESSION_MS: &str = "6000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_joining_and_one_killed_under_load_leave_read_models_equal_to_the_log() {
    let stack = Stack::new().await;
    let base = command_service(&stack).await;
    let client = testkit::client("loader", &["client"]);
    let mut accounts = Vec::new();
    for _ in 0..24 {
        let answer =
            client.post(format!("{base}/v1/accounts")).json(&json!({"currency": "EUR"})).send().await.expect("open");
        let body: serde_json::Value = answer.json().await.expect("json");
        accounts.push(body["account_id"].as_str().expect("id").to_owned());
    }

    // Load: four clients moving money until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for c in 0..4u64 {
        let (client, base, accounts) = (client.clone(), base.clone(), accounts.clone());
        let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let account = &accounts[((c * 7 + n * 13) % accounts.len() as u64) as usize];
                let kind = if n % 4 == 0 { "withdrawals" } else { "deposits" };
                let url = format!("{base}/v1/accounts/{account}/{kind}");
                if client.post(url).json(&json!({"amount": n % 50 + 1})).send().await.is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let mut first = Worker::start(&stack, "500", SESSION_MS);
    first.ready().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut second = Worker::start(&stack, "500", SESSION_MS);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut third = Worker::start(&stack, "500", SESSION_MS);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    second.process.kill9();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.expect("load task");
    }

    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");
    caught_up(&stack, &pool).await;
    let view = stack.fold().await;
    assert_read_models_equal_the_log(&view, &pool).await;

    let unauthorised = reqwest::get(format!("{}/metrics", first.ops)).await.expect("metrics");
    assert_eq!(unauthorised.status(), 401, "metrics need a token");
    let ops = testkit::client("pager-duty", &["ops"]);
    let metrics = ops.get(format!("{}/metrics", first.ops)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("ledger_projection_lag_records{"), "{metrics}");
    assert!(metrics.contains("ledger_projection_events_applied_total{"), "{metrics}");

    // SIGTERM: finish, commit, leave the group, exit 0.
    assert!(third.process.terminate().success(), "a worker exits 0 on SIGTERM");
    assert!(first.process.terminate().success(), "a worker exits 0 on SIGTERM");
    eprintln!("scaling: {} commands sent, {} records in the log", sent.load(Ordering::Relaxed), view.records.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_worker_killed_mid_batch_twenty_times_leaves_read_models_equal_to_the_log() {
    let stack = Stack::new().await;
    // 300 accounts x 120 deposits, with conflicting duplicates the fold must reject.
    prefill(&stack.broker.addr, &stack.topic, 300, 120, 7).await;
    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");

    // Before the first worker has migrated, there is no table yet: nothing applied.
    let applied = || async {
        sqlx::query_as::<_, (Option<i64>,)>(
            "select sum(next_offset)::int8 from projection_checkpoints where projection = 'accounts'",
        )
        .fetch_one(&pool)
        .await
        .map_or(0, |(sum,)| sum.unwrap_or(0))
    };
    let mut progress = Vec::new();
    for round in 0..20u64 {
        let before = applied().await;
        let mut worker = Worker::start(&stack, "200", KILL_LOOP_SESSION_MS);
        // Kill it while it is applying: once it has committed a batch, a moment later.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while applied().await == before {
            worker.process.assert_running();
            assert!(std::time::Instant::now() < deadline, "round {round}: the worker made no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(5 + (round * 37) % 60)).await;
        worker.process.kill9();
        progress.push(applied().await);
    }
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "checkpoints never go back: {progress:?}");
    let mut last = Worker::start(&stack, "200", KILL_LOOP_SESSION_MS);
    last.ready().await;
    caught_up(&stack, &pool).await;
    let view = stack.fold().await;
    assert!(view.fold.rejected > 0, "the log holds rejected commits, so the fold rule was exercised");
    assert_read_models_equal_the_log(&view, &pool).await;
    eprintln!("kill loop: records applied after each kill -9: {progress:?} of {}", view.records.len());
}

//! Start-up after 100k commits: from a snapshot plus the tail, not from offset 0.

use std::time::Instant;

use testkit::{prefill, Stack};

use crate::client::Api;
use crate::harness::Service;

const ACCOUNTS: usize = 1_000;
const DEPOSITS: u64 = 99;
const COMMITS: u64 = ACCOUNTS as u64 * (DEPOSITS + 1);

#[tokio::test]
async fn a_restart_after_100k_commits_replays_from_the_snapshot_not_from_the_start() {
    let stack = Stack::new().await;
    let accounts = prefill(&stack.broker.addr, &stack.topic, ACCOUNTS, DEPOSITS, 0).await;

    let started = Instant::now();
    let mut service = Service::start(&stack.broker, &stack.db, &stack.topic, &[("SNAPSHOT_EVERY", "5000")]);
    let cold = service.ready().await;
    let cold_time = started.elapsed();
    assert_eq!(cold["records_replayed"], COMMITS, "{cold}");
    assert_eq!(cold["snapshots_used"], 0);

    // The writers snapshot once caught up; wait for all 8 partitions to be stored.
    // (Every 5000 records: a partition holds ~12 500 ± 1 000 of these 100 000, so
    // a threshold of 10 000 would leave an unlucky partition without a snapshot.)
    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (count,): (i64,) =
            sqlx::query_as("select count(*) from command_snapshots").fetch_one(&pool).await.expect("count");
        if count == 8 {
            break;
        }
        assert!(Instant::now() < deadline, "snapshots were not stored ({count} of 8)");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    service.restart();
    let started = Instant::now();
    let warm = service.ready().await;
    let warm_time = started.elapsed();
    assert_eq!(warm["snapshots_used"], 8, "{warm}");
    assert_eq!(warm["records_replayed"], 0, "{warm}");
    assert_eq!(warm["aggregates"], ACCOUNTS);

    // The state from the snapshot is the real one (the prefilled accounts belong to "bulk").
    let api = Api::as_client(&service.base, "bulk");
    let answer = api.money(accounts[0], "withdrawals", 99).await;
    assert_eq!((answer.status, answer.version()), (200, 101), "{answer:?}");
    let answer = api.money(accounts[1], "withdrawals", 100).await;
    assert_eq!(answer.code(), "insufficient_funds");

    eprintln!(
        "start-up after {COMMITS} commits: without snapshot {:.0?} (fold {} ms), with snapshot {:.0?} (fold {} ms)",
        cold_time, cold["elapsed_ms"], warm_time, warm["elapsed_ms"]
    );
}

#[tokio::test]
async fn a_snapshot_made_on_a_topic_that_was_created_again_is_ignored_and_the_new_log_folded_from_its_start() {
    let stack = Stack::new().await;
    prefill(&stack.broker.addr, &stack.topic, 200, 9, 0).await;
    let env = [("SNAPSHOT_EVERY", "100")];
    let mut service = Service::start(&stack.broker, &stack.db, &stack.topic, &env);
    service.ready().await;
    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while sqlx::query_as::<_, (i64,)>("select count(*) from command_snapshots").fetch_one(&pool).await.expect("count").0
        < 8
    {
        assert!(Instant::now() < deadline, "snapshots were not stored");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    service.kill9();

    // A new log under the old name, longer than the old one in every partition.
    testkit::topic::recreate(&stack.broker.addr, &stack.topic, 8).await;
    let accounts = prefill(&stack.broker.addr, &stack.topic, 300, 9, 0).await;
    service.restart();
    let report = service.ready().await;
    assert_eq!(report["snapshots_used"], 0, "{report}");
    assert_eq!(report["records_replayed"], 3_000, "{report}");
    assert_eq!(report["aggregates"], 300, "only the new log's accounts: {report}");
    let log = std::fs::read_to_string(service.log()).expect("log");
    assert_eq!(log.matches("snapshot ignored").count(), 8, "{log}");

    // Decided on the new log's history: opened and nine deposits, so version 11 next.
    let api = Api::as_client(&service.base, "bulk");
    let answer = api.money(accounts[0], "deposits", 1).await;
    assert_eq!((answer.status, answer.version()), (200, 11), "{answer:?}");
}

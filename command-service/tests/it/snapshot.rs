//! Start-up after 100k commits: from a snapshot plus the tail, not from offset 0.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use events::account::{AccountOpened, MoneyMoved, AGGREGATE_TYPE};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
use futures::future::join_all;
use uuid::Uuid;

use crate::client::Api;
use crate::harness::Service;
use testkit::Stack;

const ACCOUNTS: u64 = 1_000;
const COMMITS: u64 = 100_000;

fn commit(account: Uuid, expected_version: u64, payload: AccountEvent) -> Commit {
    Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: AGGREGATE_TYPE.into(),
        aggregate_id: account,
        expected_version,
        events: vec![Event {
            event_id: Uuid::now_v7(),
            sequence: expected_version + 1,
            occurred_at: Utc::now(),
            payload,
        }],
        command: CommandInfo { name: "Deposit".into(), idempotency_key: None, fingerprint: None },
        metadata: Metadata { correlation_id: "prefill".into(), ..Default::default() },
    }
}

/// Writes 100k valid commits straight to the topic: 1000 accounts, 99 deposits of 1 each.
async fn prefill(brokers: &str, topic: &str) -> Vec<Uuid> {
    let partitions = ledger_runtime::kafka::ensure_topic(brokers, topic, 8).await.expect("topic");
    let producer = Arc::new(ledger_runtime::kafka::producer(brokers, "ledger-prefill", 5).expect("producer"));
    let accounts: Vec<Uuid> = (0..ACCOUNTS).map(|_| Uuid::new_v4()).collect();
    let per_account = COMMITS / ACCOUNTS;
    for version in 0..per_account {
        let commits: Vec<Commit> = accounts
            .iter()
            .map(|id| {
                let payload = if version == 0 {
                    AccountEvent::AccountOpened(AccountOpened {
                        owner: "bulk".into(),
                        currency: "EUR".into(),
                        overdraft_limit: 0,
                    })
                } else {
                    AccountEvent::MoneyDeposited(MoneyMoved {
                        amount: 1,
                        reference: None,
                        balance_after: version as i64,
                    })
                };
                commit(*id, version, payload)
            })
            .collect();
        let mut by_partition: std::collections::HashMap<i32, Vec<Commit>> = Default::default();
        for c in commits {
            by_partition.entry(events::partition_for(c.aggregate_id, partitions)).or_default().push(c);
        }
        join_all(by_partition.into_iter().map(|(p, cs)| {
            let producer = Arc::clone(&producer);
            let topic = topic.to_owned();
            async move {
                for result in command_service::send::send_all(&producer, &topic, p, &cs).await {
                    result.expect("prefill delivered");
                }
            }
        }))
        .await;
    }
    accounts
}

#[tokio::test]
async fn a_restart_after_100k_commits_replays_from_the_snapshot_not_from_the_start() {
    let stack = Stack::new().await;
    let accounts = prefill(&stack.broker.addr, &stack.topic).await;

    let started = Instant::now();
    let mut service = Service::start(&stack.broker, &stack.db, &stack.topic, &[("SNAPSHOT_EVERY", "10000")]);
    let cold = service.ready().await;
    let cold_time = started.elapsed();
    assert_eq!(cold["records_replayed"], COMMITS, "{cold}");
    assert_eq!(cold["snapshots_used"], 0);

    // The writers snapshot once caught up; wait for all 8 partitions to be stored.
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

    // The state from the snapshot is the real one.
    let api = Api::new(&service.base);
    let answer = api.money(accounts[0], "withdrawals", 99).await;
    assert_eq!((answer.status, answer.version()), (200, 101), "{answer:?}");
    let answer = api.money(accounts[1], "withdrawals", 100).await;
    assert_eq!(answer.code(), "insufficient_funds");

    eprintln!(
        "start-up after {COMMITS} commits: without snapshot {:.0?} (fold {} ms), with snapshot {:.0?} (fold {} ms)",
        cold_time, cold["elapsed_ms"], warm_time, warm["elapsed_ms"]
    );
}

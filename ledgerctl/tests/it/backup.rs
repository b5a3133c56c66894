//! A damaged backup is found and refused; a repartitioned topic folds to the
//! same ledger (issue 18).

use std::collections::BTreeMap;

use serde_json::json;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::{post, Ledgerctl, System};

/// Opens `n` accounts with a few deposits and withdrawals each; waits for the worker.
async fn history(system: &System, n: usize) {
    let client = testkit::client("olga", &["client"]);
    for i in 0..n {
        let opened = post(&client, format!("{}/v1/accounts", system.commands), json!({"currency": "EUR"})).await;
        let id = opened["account_id"].as_str().expect("an account id").to_owned();
        for amount in [100 + i as i64, 7, 30] {
            post(&client, format!("{}/v1/accounts/{id}/deposits", system.commands), json!({ "amount": amount })).await;
        }
        post(&client, format!("{}/v1/accounts/{id}/withdrawals", system.commands), json!({"amount": 5})).await;
    }
    system.caught_up().await;
}

type Ledger = BTreeMap<Uuid, (i64, i64, i64)>;

/// Every account's balance, version and entry count in a read-model database
/// (none while its worker has not created the tables yet).
async fn ledger(url: &str) -> Ledger {
    let pool = PgPool::connect(url).await.expect("the database");
    let rows: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(
        "select a.id, a.balance, a.version, (select count(*) from account_entries e where e.account_id = a.id)
           from accounts a",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    rows.into_iter().map(|(id, balance, version, entries)| (id, (balance, version, entries))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_named_by_verify_and_refused_by_restore() {
    // Given a backup of a small history
    let system = System::start(true, None).await;
    history(&system, 6).await;
    let dir = std::env::temp_dir().join(format!("ledgerline-backup-{}", Uuid::new_v4().simple()));
    let dir_arg = dir.to_string_lossy().into_owned();
    let (ok, out) = system.ledgerctl(&["backup", "--out", &dir_arg]);
    assert!(ok, "{out}");
    let (ok, out) = system.ledgerctl(&["backup", "verify", &dir_arg]);
    assert!(ok && out.contains("0 failure(s)"), "{out}");

    // When one byte of one segment changes
    let segment = std::fs::read_dir(&dir)
        .expect("the backup")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".records.gz"))
        .expect("a segment");
    let mut bytes = std::fs::read(&segment).expect("the segment");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&segment, bytes).expect("damage");

    // Then verify fails naming the file and an offset, and restore writes nothing
    let name = segment.file_name().expect("a name").to_string_lossy().into_owned();
    let (ok, out) = system.ledgerctl(&["backup", "verify", &dir_arg]);
    assert!(!ok && out.contains(&name) && out.contains("offset"), "{out}");
    let target = format!("{}.restored", system.stack.topic);
    let (ok, out) = system.ledgerctl(&["restore", "--from", &dir_arg, "--events-topic", &target]);
    assert!(!ok && out.contains("damaged") && out.contains(&name), "{out}");
    let ends = ledger_runtime::kafka::log_ends(&system.stack.broker.addr, &target, 8).await.expect("ends");
    assert!(ends.iter().all(|&end| end == 0), "restore wrote {ends:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_repartitioned_from_8_to_24_partitions_folds_to_the_same_ledger() {
    // Given a history on 8 partitions, and its read models
    let system = System::start(true, None).await;
    history(&system, 40).await;
    let old = ledger(&system.stack.db.url).await;
    assert_eq!(old.len(), 40, "the old read models hold the history");

    // When it is repartitioned into 24, and a fresh worker and database fold the new topic
    let new_topic = format!("{}.p24", system.stack.topic);
    let (ok, out) = system.ledgerctl(&["repartition", "--to-topic", &new_topic, "--partitions", "24"]);
    assert!(ok && out.contains("copied 200 accepted commit(s)"), "{out}");
    let db = testkit::Database::fresh().await;
    let brokers = &system.stack.broker.addr;
    let config = projections::Config::local(brokers, &db.url, &new_topic, &format!("{new_topic}-workers"));
    let worker = projections::Application::build(config).await.expect("a worker");
    let stop = CancellationToken::new();
    let task = tokio::spawn(worker.run_until(stop.clone()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ledger(&db.url).await != old {
        assert!(std::time::Instant::now() < deadline, "the new topic's read models never equalled the old ones");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Then the new topic has 24 partitions, and verify passes on it
    let ends = ledger_runtime::kafka::log_ends(brokers, &new_topic, 8).await.expect("ends");
    assert_eq!(ends.len(), 24);
    let (ok, out) = system.ledgerctl(&["verify", "--events-topic", &new_topic, "--database-url", &db.url]);
    assert!(ok && out.contains("0 difference(s), 0 failure(s)"), "{out}");
    stop.cancel();
    let _ = task.await;
}

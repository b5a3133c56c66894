//! A topic deleted and created again under the same name is a new log: the
//! workers refuse to carry on from checkpoints made on the old one.

use testkit::{prefill, Stack};

use crate::common::{caught_up, Worker};

const SESSION_MS: &str = "6000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_refuse_checkpoints_made_on_a_topic_that_was_created_again_and_move_nothing() {
    let stack = Stack::new().await;
    prefill(&stack.broker.addr, &stack.topic, 40, 4, 0).await;
    let mut worker = Worker::start(&stack, "500", SESSION_MS);
    worker.ready().await;
    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");
    caught_up(&stack, &pool).await;
    assert!(worker.process.terminate().success(), "a worker exits 0 on SIGTERM");
    let checkpoints = || async {
        let rows: Vec<(String, i32, i64)> = sqlx::query_as(
            "select projection, partition, next_offset from projection_checkpoints order by projection, partition",
        )
        .fetch_all(&pool)
        .await
        .expect("checkpoints");
        rows
    };
    let before = checkpoints().await;
    let (accounts_before,): (i64,) =
        sqlx::query_as("select count(*) from accounts").fetch_one(&pool).await.expect("count");
    assert_eq!(accounts_before, 40);

    // A new log under the old name, longer than the old one: offsets alone do
    // not tell them apart, the commit before each checkpoint does.
    testkit::topic::recreate(&stack.broker.addr, &stack.topic, 8).await;
    prefill(&stack.broker.addr, &stack.topic, 60, 9, 0).await;

    let mut worker = Worker::start(&stack, "500", SESSION_MS);
    worker.process.wait_log("refusing to carry on").await;
    let log = std::fs::read_to_string(&worker.process.log).expect("log");
    assert_eq!(log.matches("refusing to carry on").count(), 8, "every partition is refused: {log}");
    assert!(log.contains("this is not the log it was made on"), "{log}");
    let ready = reqwest::get(format!("{}/readyz", worker.ops)).await.expect("readyz");
    assert_eq!(ready.status(), 503, "a worker that refuses its partitions is not ready");
    assert_eq!(checkpoints().await, before, "no checkpoint moved");
    let (accounts_after,): (i64,) =
        sqlx::query_as("select count(*) from accounts").fetch_one(&pool).await.expect("count");
    assert_eq!(accounts_after, 40, "nothing of the new log was written over the old read models");
}

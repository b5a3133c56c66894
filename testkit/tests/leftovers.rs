//! Test databases left by an interrupted run are dropped by the next one.

use sqlx::{Connection, Executor, PgConnection};
use testkit::Database;

#[tokio::test]
async fn a_test_database_older_than_a_day_is_dropped_when_the_next_one_is_created() {
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let mut conn = PgConnection::connect(admin).await.expect("postgres");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let old = format!("ledger_test_{}_{}", now - 2 * 24 * 3600, uuid::Uuid::new_v4().simple());
    let recent = format!("ledger_test_{}_{}", now - 3600, uuid::Uuid::new_v4().simple());
    for name in [&old, &recent] {
        conn.execute(format!("create database {name}").as_str()).await.expect("create");
    }
    let _fresh = Database::fresh().await;
    let exists = |name: String| {
        let admin = admin.to_owned();
        async move {
            let mut conn = PgConnection::connect(&admin).await.expect("postgres");
            let found: Option<(String,)> = sqlx::query_as("select datname from pg_database where datname = $1")
                .bind(name)
                .fetch_optional(&mut conn)
                .await
                .expect("query");
            found.is_some()
        }
    };
    assert!(!exists(old).await, "the leftover from two days ago is gone");
    assert!(exists(recent.clone()).await, "an hour-old database may belong to a run in progress");
    conn.execute(format!("drop database if exists {recent} with (force)").as_str()).await.expect("drop");
}

//! A replay's freeze against readers that lock the read models in another
//! order than it does: it must back off, never deadlock a reader.

use std::time::Duration;

use projections::store::{self, shadow};
use sqlx::{Connection, PgConnection};
use testkit::Database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_backs_off_instead_of_deadlocking_a_reader_that_takes_the_tables_in_another_order() {
    // Given the read models, and a reader part-way through a statement: it holds account_entries
    let db = Database::fresh().await;
    let mut setup = PgConnection::connect(&db.url).await.expect("connect");
    store::migrate_connection(&mut setup).await.expect("migrate");
    let mut reader = PgConnection::connect(&db.url).await.expect("connect");
    let mut reading = reader.begin().await.expect("begin");
    sqlx::query("lock table account_entries in access share mode").execute(&mut *reading).await.expect("lock");

    // When a replay freezes the live models for a swap (it takes erased_subjects before account_entries)
    let url = db.url.clone();
    let freeze = tokio::spawn(async move {
        let mut control = PgConnection::connect(&url).await.expect("connect");
        let mut tx = control.begin().await.expect("begin");
        let frozen = shadow::freeze(&mut tx, &["accounts", "erased_subjects", "account_entries"], true).await;
        tx.rollback().await.expect("rollback");
        frozen
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // and the reader then needs erased_subjects
    let read = sqlx::query("select count(*) from erased_subjects").execute(&mut *reading).await;

    // Then the reader is served, not picked as a deadlock's victim, and the freeze is had once it is done
    assert!(read.is_ok(), "the reader failed: {read:?}");
    reading.commit().await.expect("commit");
    let frozen = tokio::time::timeout(Duration::from_secs(30), freeze).await.expect("the freeze ends").expect("task");
    assert!(frozen.is_ok(), "the freeze failed: {frozen:?}");
}

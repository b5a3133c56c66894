//! The subject key store against a real Postgres: created once per subject,
//! found again by name, gone after erasure, re-sealed by a KEK rotation.

use ledger_runtime::keys::{migrate, Kek, KeyError, SubjectKeys};
use ledger_runtime::secret::Secret;
use sqlx::PgPool;
use testkit::Database;

async fn store(db: &Database, kek: Kek) -> SubjectKeys {
    let pool = PgPool::connect(&db.url).await.expect("postgres");
    migrate(&pool).await.expect("migrations");
    SubjectKeys::open(pool, kek).await.expect("key store")
}

fn kek(byte: u8) -> Kek {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    Kek::from_secret(&Secret::new(encoded)).expect("a KEK")
}

#[tokio::test]
async fn a_subject_gets_one_key_found_again_by_name_and_no_table_holds_the_name() {
    let db = Database::fresh().await;
    let keys = store(&db, kek(1)).await;
    let (alice, key) = keys.subject("Alice Gruber").await.expect("alice");
    let (again, same) = keys.subject("Alice Gruber").await.expect("alice again");
    assert_eq!((alice, &key), (again, &same));
    let (bob, _) = keys.subject("Bob").await.expect("bob");
    assert_ne!(alice, bob);
    assert_eq!(keys.key(alice).await.expect("key"), Some(key));
    // Another process with the same KEK finds the same subject.
    let other = store(&db, kek(1)).await;
    assert_eq!(other.subject("Alice Gruber").await.expect("alice").0, alice);

    let pool = PgPool::connect(&db.url).await.expect("postgres");
    let dump: Vec<(String,)> =
        sqlx::query_as("select row_to_json(k)::text from subject_keys k").fetch_all(&pool).await.expect("rows");
    assert!(dump.iter().all(|(row,)| !row.contains("Gruber")), "{dump:?}");
}

#[tokio::test]
async fn an_erased_subject_has_no_key_anywhere_and_its_name_makes_a_new_subject() {
    let db = Database::fresh().await;
    let keys = store(&db, kek(2)).await;
    let (alice, _) = keys.subject("Alice").await.expect("alice");
    assert!(keys.erase(alice, "ops-1", "GDPR art. 17 request #42").await.expect("erase"));
    assert!(!keys.erase(alice, "ops-1", "again").await.expect("erase again"), "erasing is idempotent");
    assert_eq!(keys.key(alice).await.expect("key"), None);
    // A process that cached the key before sees it gone after the erasure (or its cache expiry).
    let fresh = store(&db, kek(2)).await;
    assert_eq!(fresh.key(alice).await.expect("key"), None);
    let (reborn, _) = keys.subject("Alice").await.expect("a new subject");
    assert_ne!(reborn, alice);
    let pool = PgPool::connect(&db.url).await.expect("postgres");
    let (by, why, lookup): (String, String, Option<Vec<u8>>) =
        sqlx::query_as("select erased_by, erase_reason, lookup from subject_keys where subject_id = $1")
            .bind(alice)
            .fetch_one(&pool)
            .await
            .expect("the audit row");
    assert_eq!((by.as_str(), why.as_str(), lookup), ("ops-1", "GDPR art. 17 request #42", None));
}

#[tokio::test]
async fn a_kek_rotation_reseals_every_key_and_the_old_kek_no_longer_opens_them() {
    let db = Database::fresh().await;
    let old = store(&db, kek(3)).await;
    let (alice, key) = old.subject("Alice").await.expect("alice");
    assert_eq!(old.rotate(&kek(4)).await.expect("rotate"), 1);
    let new = store(&db, kek(4)).await;
    assert_eq!(new.key(alice).await.expect("key"), Some(key));
    assert_eq!(new.subject("Alice").await.expect("alice").0, alice, "lookups survive the rotation");
    let stale = PgPool::connect(&db.url).await.expect("postgres");
    assert!(matches!(SubjectKeys::open(stale, kek(3)).await, Err(KeyError::WrongKek(_))));
}

#[tokio::test]
async fn a_key_row_copied_onto_another_subject_does_not_open() {
    let db = Database::fresh().await;
    let keys = store(&db, kek(5)).await;
    let (alice, _) = keys.subject("Alice").await.expect("alice");
    let (bob, _) = keys.subject("Bob").await.expect("bob");
    let pool = PgPool::connect(&db.url).await.expect("postgres");
    sqlx::query("update subject_keys set wrapped_key = (select wrapped_key from subject_keys where subject_id = $1) where subject_id = $2")
        .bind(alice)
        .bind(bob)
        .execute(&pool)
        .await
        .expect("copy the row");
    let fresh = store(&db, kek(5)).await;
    assert!(matches!(fresh.key(bob).await, Err(KeyError::WrongKek(_))));
}

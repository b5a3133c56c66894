//! `verify`, `state-at` and `/history?as_of=` on a small, hand-checked history.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{post, Ledgerctl, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_true_read_models_and_names_every_tampered_row_and_state_at_folds_to_a_point() {
    let mut system = System::start(true, None).await;
    let base = system.commands.clone();
    let client = testkit::client("ana", &["client"]);
    let opened = post(&client, format!("{base}/v1/accounts"), json!({"currency": "EUR"})).await;
    let id = opened["account_id"].as_str().expect("id").to_owned();
    let mut instants = Vec::new();
    for amount in [100, 250, 400] {
        let written = post(&client, format!("{base}/v1/accounts/{id}/deposits"), json!({"amount": amount})).await;
        assert!(written["version"].is_u64(), "{written}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        instants.push((chrono::Utc::now(), written["position"]["offset"].as_i64().expect("offset")));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Once the worker has applied everything, the read models must verify.
    system.caught_up().await;
    let (ok, out) = system.ledgerctl(&["verify"]);
    assert!(ok, "verify must pass on untouched read models:\n{out}");
    assert!(out.contains("0 difference(s)"), "{out}");

    // State at each instant equals the hand fold (100, 350, 750), by time and by
    // offset, and the query service's history folds the archive to the same state.
    for ((at, offset), (balance, version)) in instants.iter().zip([(100, 2), (350, 3), (750, 4)]) {
        let (ok, out) = system.ledgerctl(&["state-at", &id, "--at", &at.to_rfc3339()]);
        assert!(ok, "{out}");
        let from_log: Value = serde_json::from_str(&out).expect("json");
        assert_eq!((&from_log["balance"], &from_log["version"]), (&json!(balance), &json!(version)), "{out}");
        let (_, out) = system.ledgerctl(&["state-at", &id, "--offset", &(offset + 1).to_string()]);
        let by_offset: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(by_offset["balance"], balance, "{out}");
        let url = format!("{}/v1/accounts/{id}/history", system.queries);
        let response = client.get(&url).query(&[("as_of", at.to_rfc3339())]).send().await.expect("history");
        assert_eq!(response.status(), 200);
        let from_archive: Value = response.json().await.expect("json");
        for field in ["balance", "version", "status", "owner", "currency", "overdraft_limit"] {
            assert_eq!(from_archive[field], from_log[field], "{field}: {from_archive} vs {from_log}");
        }
    }
    // Before the account was opened it did not exist; a bad instant is a 400.
    let url = format!("{}/v1/accounts/{id}/history", system.queries);
    let before = client.get(&url).query(&[("as_of", "2000-01-01T00:00:00Z")]).send().await.expect("history");
    assert_eq!(before.status(), 404);
    let bad = client.get(&url).query(&[("as_of", "yesterday")]).send().await.expect("history");
    assert_eq!(bad.status(), 400);

    // Stop the worker, then tamper with the read models: every difference is
    // named and the exit code is 1.
    system.stop_worker().await;
    let pool = sqlx::PgPool::connect(&system.stack.db.url).await.expect("db");
    sqlx::query("update accounts set balance = balance + 1 where id = $1::uuid")
        .bind(&id)
        .execute(&pool)
        .await
        .expect("tamper");
    sqlx::query("delete from account_entries where account_id = $1::uuid and sequence = 3")
        .bind(&id)
        .execute(&pool)
        .await
        .expect("tamper");
    let (ok, out) = system.ledgerctl(&["verify"]);
    assert!(!ok, "verify must fail on tampered read models:\n{out}");
    assert!(out.contains(&format!("DIFF accounts {id}")), "{out}");
    assert!(out.contains(&format!("DIFF account_entries {id}")), "{out}");
    assert!(out.contains("2 difference(s)"), "{out}");

    // A dry-run replay finds the same two rows; a real one repairs them.
    let (ok, out) = system.ledgerctl(&["replay", "--dry-run"]);
    assert!(!ok, "a dry run over tampered read models must fail:\n{out}");
    assert!(out.contains("DIFF accounts: 1 row(s) only in the live table, 1 only in the replay"), "{out}");
    assert!(out.contains("DIFF account_entries: 0 row(s) only in the live table, 1 only in the replay"), "{out}");
    let (ok, out) = system.ledgerctl(&["replay"]);
    assert!(ok, "{out}");
    let (ok, out) = system.ledgerctl(&["verify"]);
    assert!(ok && out.contains("0 difference(s)"), "replay must repair the read models:\n{out}");
}

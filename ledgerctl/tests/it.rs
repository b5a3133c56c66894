//! `ledgerctl` against a real broker, a real worker and real read models.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::{wait_url, Stack};
use tokio_util::sync::CancellationToken;

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client.post(url).json(&body).send().await.expect("command").json().await.expect("json")
}

fn ledgerctl(stack: &Stack, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledgerctl"))
        .args(args)
        .env("KAFKA_BROKERS", &stack.broker.addr)
        .env("EVENTS_TOPIC", &stack.topic)
        .env("DATABASE_URL", &stack.db.url)
        .output()
        .expect("run ledgerctl");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_on_true_read_models_and_names_every_tampered_row_and_state_at_folds_to_a_point() {
    let stack = Stack::new().await;
    let commands = command_service::Application::build(command_service::Config::local(
        &stack.broker.addr,
        &stack.db.url,
        &stack.topic,
    ))
    .await
    .expect("command service");
    let base = format!("http://{}", commands.local_addr().expect("addr"));
    tokio::spawn(commands.run_until_stopped());
    let group = format!("{}-workers", stack.topic);
    let worker = projections::Application::build(projections::Config::local(
        &stack.broker.addr,
        &stack.db.url,
        &stack.topic,
        &group,
    ))
    .await
    .expect("worker");
    let stop = CancellationToken::new();
    let worker_task = tokio::spawn(worker.run_until(stop.clone()));
    wait_url(&format!("{base}/readyz")).await;

    let client = reqwest::Client::new();
    let opened = post(&client, format!("{base}/v1/accounts"), json!({"owner": "ana", "currency": "EUR"})).await;
    let id = opened["account_id"].as_str().expect("id").to_owned();
    let mut instants = Vec::new();
    for amount in [100, 250, 400] {
        let written = post(&client, format!("{base}/v1/accounts/{id}/deposits"), json!({"amount": amount})).await;
        assert!(written["version"].is_u64(), "{written}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        instants.push((chrono::Utc::now(), written["position"]["offset"].as_i64().expect("offset")));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Wait until the worker has applied everything, then the read models must verify.
    let pool = sqlx::PgPool::connect(&stack.db.url).await.expect("db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let version: Option<(i64,)> = sqlx::query_as("select version from accounts where id = $1::uuid")
            .bind(&id)
            .fetch_optional(&pool)
            .await
            .unwrap_or(None);
        if version == Some((4,)) {
            break;
        }
        assert!(Instant::now() < deadline, "the worker did not apply the commands");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out) = ledgerctl(&stack, &["verify"]);
    assert!(ok, "verify must pass on untouched read models:\n{out}");
    assert!(out.contains("0 difference(s)"), "{out}");

    // State at each instant equals the hand fold: 100, 350, 750; by offset too.
    for ((at, offset), balance) in instants.iter().zip([100, 350, 750]) {
        let (ok, out) = ledgerctl(&stack, &["state-at", &id, "--at", &at.to_rfc3339()]);
        assert!(ok, "{out}");
        let state: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(state["balance"], balance, "{out}");
        let (_, out) = ledgerctl(&stack, &["state-at", &id, "--offset", &(offset + 1).to_string()]);
        let state: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(state["balance"], balance, "{out}");
    }

    // Stop the worker (while the broker is up), then tamper with the read
    // models: every difference is named and the exit code is 1.
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), worker_task).await;
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
    let (ok, out) = ledgerctl(&stack, &["verify"]);
    assert!(!ok, "verify must fail on tampered read models:\n{out}");
    assert!(out.contains(&format!("DIFF accounts {id}")), "{out}");
    assert!(out.contains(&format!("DIFF account_entries {id}")), "{out}");
    assert!(out.contains("2 difference(s)"), "{out}");
}

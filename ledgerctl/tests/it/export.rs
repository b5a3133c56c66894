//! An old log (v1 fixtures, a conflicting duplicate, a record that is no
//! commit) read through `export`, the workers, `replay`, `/v1/events` and `/history`.

use serde_json::Value;
use uuid::Uuid;

use crate::common::{produce, Ledgerctl, System};

const OPENED_V1: &[u8] = include_bytes!("../../../events/tests/fixtures/commit_account_opened_v1.json");
const DEPOSITED_V1: &[u8] = include_bytes!("../../../events/tests/fixtures/commit_money_deposited_v1.json");
const LEGACY: &str = "3872627f-69db-54c9-b2f9-af9389cbbae9";

fn lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_events_of_an_old_log_read_as_v2_in_the_export_the_workers_the_replay_and_the_api() {
    let mut system = System::start(false, None).await;
    let legacy = Uuid::parse_str(LEGACY).expect("id");
    let records = [
        (legacy, OPENED_V1.to_vec()),
        (legacy, DEPOSITED_V1.to_vec()),
        (legacy, DEPOSITED_V1.to_vec()), // a conflicting duplicate: the fold rejects it
        (legacy, b"not a commit".to_vec()),
    ];
    produce(&system, &records).await;
    system.caught_up().await;

    // export: the two accepted events, the deposit upcast to v2.
    let (ok, out) = system.ledgerctl(&["export"]);
    assert!(ok, "{out}");
    let exported = lines(&out);
    assert_eq!(exported.len(), 2, "{out}");
    assert_eq!(exported[0]["type"], "AccountOpened");
    assert_eq!(exported[0]["data"]["owner"], "legacy");
    assert_eq!(exported[1]["type"], "MoneyDeposited");
    assert_eq!(exported[1]["schema_version"], 2);
    assert_eq!(exported[1]["data"]["amount"], 700);
    // v2's optional reference, absent in v1: none (an absent optional is not written).
    assert!(exported[1]["data"]["reference"].is_null(), "{}", exported[1]);
    assert!(exported.iter().all(|l| l["accepted"] == true && l["aggregate_id"] == LEGACY));

    // --include-rejected marks the duplicate and the garbage, with why.
    let (ok, out) = system.ledgerctl(&["export", "--include-rejected"]);
    assert!(ok, "{out}");
    let all = lines(&out);
    assert_eq!(all.len(), 4, "{out}");
    assert_eq!((&all[2]["accepted"], &all[2]["rejection"]), (&Value::Bool(false), &Value::from("version_mismatch")));
    assert_eq!((&all[3]["accepted"], &all[3]["rejection"]), (&Value::Bool(false), &Value::from("malformed")));
    assert_eq!(all[3]["offset"], all[2]["offset"].as_i64().expect("offset") + 1);

    // Filters and CSV.
    let (ok, out) = system.ledgerctl(&["export", "--type", "MoneyDeposited", "--format", "csv"]);
    assert!(ok, "{out}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[0].starts_with("partition,offset,accepted,rejection,commit_id"), "{out}");
    assert!(rows[1].contains(",MoneyDeposited,2,2025-01-15T09:30:00+00:00,Deposit,"), "{out}");
    let (ok, out) = system.ledgerctl(&["export", "--aggregate-id", &Uuid::new_v4().to_string()]);
    assert!(ok && out.is_empty(), "{out}");
    let (ok, out) = system.ledgerctl(&["export", "--to", "2025-01-15T09:15:00Z"]);
    assert!(ok && lines(&out).len() == 1, "{out}");

    // The workers folded the v1 events; verify and a dry-run replay agree.
    let (ok, out) = system.ledgerctl(&["verify"]);
    assert!(ok && out.contains("verified 1 accounts, 2 accepted and 2 rejected commits: 0 difference(s)"), "{out}");
    let (ok, out) = system.ledgerctl(&["replay", "--dry-run"]);
    assert!(ok && out.contains("0 difference(s)"), "{out}");

    // The API: history and the archive, v2 shape.
    let client = testkit::client("auditor", &["analyst"]);
    let account: Value = client
        .get(format!("{}/v1/accounts/{LEGACY}/history", system.queries))
        .send()
        .await
        .expect("history")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&account["balance"], &account["owner"], &account["version"]),
        (&700.into(), &"legacy".into(), &2.into())
    );
    let page: Value = client
        .get(format!("{}/v1/events?aggregate_id={LEGACY}&limit=1", system.queries))
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"][0]["type"], "AccountOpened", "{page}");
    let cursor = page["next_cursor"].as_str().expect("a second page");
    let page: Value = client
        .get(format!("{}/v1/events", system.queries))
        .query(&[("aggregate_id", LEGACY), ("limit", "1"), ("after", cursor)])
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let deposit = &page["items"][0];
    assert_eq!((&deposit["type"], &deposit["schema_version"]), (&"MoneyDeposited".into(), &2.into()), "{page}");
    assert_eq!((&deposit["data"]["amount"], &deposit["data"]["balance_after"]), (&700.into(), &700.into()));
    assert!(deposit["data"]["reference"].is_null(), "{page}");
    assert!(page["next_cursor"].is_null(), "{page}");

    // A row archived by an older build, still at v1, is served as v2.
    let pool = sqlx::PgPool::connect(&system.stack.db.url).await.expect("db");
    let old = Uuid::new_v4();
    sqlx::query(
        "insert into event_archive (event_id, commit_id, aggregate_type, aggregate_id, sequence, event_type,
                                    schema_version, data, partition, \"offset\", occurred_at)
         values ($1, $1, 'account', $1, 2, 'MoneyDeposited', 1, '{\"amount\": 5, \"balance_after\": 5}', 0, 0, now())",
    )
    .bind(old)
    .execute(&pool)
    .await
    .expect("old row");
    let response = client
        .get(format!("{}/v1/events?aggregate_id={old}", system.queries))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("events");
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let streamed = lines(&response.text().await.expect("body"));
    assert_eq!(streamed.len(), 1);
    assert_eq!(streamed[0]["schema_version"], 2);
    assert_eq!(streamed[0]["data"]["reference"], Value::Null);
    system.stop_worker().await;
}

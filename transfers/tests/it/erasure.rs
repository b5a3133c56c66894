//! Personal data: sealed in the log and the read models, opened on read, and
//! gone everywhere once its subject is erased (issue 15).

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::stack::{call, client, final_transfer, funded_account, post_until_decided, System};

/// A KEK of the test's own (base64 of 32 bytes), so nothing relies on the development one.
const KEK: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
/// Texts that must never be found in clear in the log or the read models.
const SECRETS: [&str; 4] = ["alice", "rent for flat 3", "court order 42", "invoice 77"];

/// Every record of the topic, as text.
async fn raw_log(system: &System) -> String {
    let ends = ledger_runtime::kafka::log_ends(&system.broker.addr, &system.topic, 8).await.expect("log ends");
    let ranges: Vec<(i32, i64, i64)> = ends.iter().enumerate().map(|(p, end)| (p as i32, 0, *end)).collect();
    let reader = ledger_runtime::kafka::reader(&system.broker.addr).expect("a reader");
    let mut text = String::new();
    ledger_runtime::kafka::read_ranges(&reader, &system.topic, &ranges, |_, _, bytes| {
        text.push_str(&String::from_utf8_lossy(bytes));
        text.push('\n');
    })
    .await
    .expect("the log reads");
    text
}

/// Every personal column of the read models, as text.
async fn read_models(system: &System) -> String {
    let pool = sqlx::PgPool::connect(system.database_url()).await.expect("the database");
    let (text,): (String,) = sqlx::query_as(
        "select concat_ws(' ', (select string_agg(owner::text, ' ') from accounts),
                               (select string_agg(reference::text, ' ') from account_entries),
                               (select string_agg(reference::text, ' ') from transfers),
                               (select string_agg(data::text, ' ') from event_archive))",
    )
    .fetch_one(&pool)
    .await
    .expect("the read models");
    text
}

/// GETs `url` until `done` holds for its body (at most 20 s).
async fn until(client: &reqwest::Client, url: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call(client.get(url)).await.expect("the query service answers");
        if status == 200 && done(&body) {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{url}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ledgerctl(system: &System, args: &[&str]) -> String {
    let keys = [("KEYS_DATABASE_URL", system.database_url()), ("KEY_ENCRYPTION_KEY", KEK)];
    let (ok, text) = system.ledgerctl(args, &keys);
    assert!(ok, "ledgerctl {args:?} failed: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_sealed_at_rest_opened_on_read_and_gone_everywhere_after_an_erasure() {
    let system = System::start_with(&[("KEY_ENCRYPTION_KEY", KEK)]).await;
    let (commands, queries) = (system.commands.base.clone(), system.queries.base.clone());
    let (alice, bob, ops) =
        (client("alice", &["client"]), client("bob", &["client"]), client("ops-ana", &["client", "ops"]));
    let analyst = client("ana-lyst", &["analyst"]);

    // Given alice's account with a referenced deposit, a freeze with a reason, and a transfer to bob
    let account = funded_account(&alice, &commands, "EUR", 0).await;
    let to_bob = funded_account(&bob, &commands, "EUR", 0).await;
    let url = format!("{commands}/v1/accounts/{account}");
    let key = || Uuid::new_v4().to_string();
    let deposit = json!({"amount": 500, "reference": "rent for flat 3"});
    assert_eq!(post_until_decided(&alice, &format!("{url}/deposits"), &key(), &deposit).await.0, 200);
    let freeze = json!({"reason": "court order 42"});
    assert_eq!(post_until_decided(&alice, &format!("{url}/freeze"), &key(), &freeze).await.0, 200);
    assert_eq!(post_until_decided(&alice, &format!("{url}/unfreeze"), &key(), &json!({})).await.0, 200);
    let transfer = json!({"from": account, "to": to_bob, "amount": 200, "reference": "invoice 77"});
    let (status, sent) = post_until_decided(&alice, &format!("{commands}/v1/transfers"), &key(), &transfer).await;
    assert_eq!(status, 202, "{sent}");
    let transfer_id = sent["transfer_id"].as_str().expect("a transfer id").to_owned();
    final_transfer(&analyst, &queries, &transfer_id, Duration::from_secs(30)).await;

    // Then no personal text is in the log or the read models in clear
    let (log, models) = (raw_log(&system).await, read_models(&system).await);
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret:?} in clear in the log");
        assert!(!models.contains(secret), "{secret:?} in clear in the read models");
    }
    // And every reader opens it: the account, its entries, the transfer, bob's credit
    let opened = until(&alice, &format!("{queries}/v1/accounts/{account}"), |a| a["balance"] == 300).await;
    assert_eq!((opened["owner"].clone(), opened["erased"].clone()), (json!("alice"), json!(false)));
    let entries = until(&analyst, &format!("{queries}/v1/accounts/{account}/entries"), |e| {
        e["items"].as_array().is_some_and(|i| i.len() == 2)
    })
    .await;
    assert_eq!(entries["items"][1]["reference"], "rent for flat 3", "{entries}");
    let transfer_url = format!("{queries}/v1/transfers/{transfer_id}");
    assert_eq!(until(&analyst, &transfer_url, |_| true).await["reference"], "invoice 77");
    let bobs = format!("{queries}/v1/accounts/{to_bob}/entries");
    assert_eq!(until(&bob, &bobs, |e| e["items"][0]["reference"] == "invoice 77").await["items"][0]["amount"], 200);
    let export = ledgerctl(&system, &["export", "--aggregate-id", &account.to_string()]);
    assert!(export.contains("rent for flat 3") && export.contains("court order 42"), "{export}");

    // When an operator erases alice (twice: the second answers the first)
    let erase = format!("{commands}/v1/subjects/alice?reason=gdpr_art17");
    let (status, erased) = call(ops.delete(&erase)).await.expect("the command service answers");
    assert_eq!(
        (status, erased["already_erased"].clone(), erased["erased_by"].clone()),
        (200, json!(false), json!("ops-ana"))
    );
    let subject = erased["subject"].as_str().expect("the subject id").to_owned();
    let (status, again) = call(ops.delete(format!("{commands}/v1/subjects/{subject}?reason=gdpr_art17")))
        .await
        .expect("the service answers");
    assert_eq!((status, again["already_erased"].clone()), (200, json!(true)), "{again}");
    let (status, problem) = call(alice.delete(&erase)).await.expect("the service answers");
    assert_eq!((status, problem["code"].clone()), (403, json!("forbidden")));
    let (status, problem) =
        call(ops.delete(format!("{commands}/v1/subjects/nobody?reason=x"))).await.expect("the service answers");
    assert_eq!((status, problem["code"].clone()), (404, json!("subject_not_found")));

    // Then every read shows null where alice's data was, with the money as it was
    let account_url = format!("{queries}/v1/accounts/{account}");
    let gone = until(&analyst, &account_url, |a| a["erased"] == true).await;
    assert_eq!((gone["owner"].clone(), gone["balance"].clone()), (Value::Null, json!(300)), "{gone}");
    let entries = until(&analyst, &format!("{queries}/v1/accounts/{account}/entries"), |_| true).await;
    assert!(entries["items"].as_array().expect("items").iter().all(|e| e["reference"].is_null()), "{entries}");
    assert_eq!(until(&analyst, &transfer_url, |_| true).await["reference"], Value::Null);
    assert_eq!(until(&bob, &bobs, |_| true).await["items"][0]["reference"], Value::Null, "alice wrote it");
    let (status, _) = call(alice.get(&account_url)).await.expect("the service answers");
    assert_eq!(status, 404, "an erased owner's account belongs to no client token any more");
    // And money still moves into her account: bob's transfer, his reference sealed for him
    let back = json!({"from": to_bob, "to": account, "amount": 1, "reference": "thanks"});
    let (status, sent) = post_until_decided(&bob, &format!("{commands}/v1/transfers"), &key(), &back).await;
    assert_eq!(status, 202, "{sent}");
    let back_id = sent["transfer_id"].as_str().expect("a transfer id").to_owned();
    let done = final_transfer(&analyst, &queries, &back_id, Duration::from_secs(30)).await;
    assert_eq!((done["status"].clone(), done["reference"].clone()), (json!("completed"), json!("thanks")));

    // And the analysts' tools agree: the export has the erasure and nulls, the replay equals the live models
    let export = ledgerctl(&system, &["export"]);
    assert!(export.contains("\"type\":\"SubjectErased\"") && export.contains("\"reason\":\"gdpr_art17\""));
    for secret in SECRETS {
        assert!(!export.contains(secret), "{secret:?} still exported after the erasure");
    }
    until(&analyst, &account_url, |a| a["balance"] == 301).await;
    let replayed = ledgerctl(&system, &["replay", "--dry-run"]);
    assert!(replayed.contains("nothing swapped: 0 difference(s)"), "{replayed}");
}

//! Endpoints that stop listening: a 410 disables at once; days (here: two
//! seconds) of nothing but failures disable too; what was given up stays in
//! the attempts and is delivered by a replay, in log order.

use std::time::Duration;

use serde_json::{json, Value};

use crate::stack::{call, client, deposit, endpoint, first_successes, open, Receiver, System};

async fn disabled(c: &reqwest::Client, url: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(c.get(url)).await;
        assert_eq!(status, 200, "{body}");
        if body["enabled"] == false {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "not disabled within 60 s: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_an_endpoint_and_so_do_persistent_failures_and_a_replay_delivers_what_was_given_up() {
    let env = [
        ("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1"),
        ("WEBHOOKS_RETRY_SCHEDULE", "100ms,100ms,100ms"),
        ("WEBHOOKS_DISABLE_AFTER", "2s"),
    ];
    let sys = System::start(&env).await;
    let (alice, bob) = (client("alice", &["client"]), client("bob", &["client"]));
    let (gone, failing) = (Receiver::python().await, Receiver::python().await);
    gone.behave(json!({"mode": "gone"}));
    failing.behave(json!({"mode": "fail"}));
    let (g, g_secret) = endpoint(&alice, &sys, json!({"url": gone.url})).await;
    gone.trust(&[&g_secret]);
    let (f, f_secret) = endpoint(&bob, &sys, json!({"url": failing.url})).await;
    failing.trust(&[&f_secret]);

    // 410: disabled after its first answer, and nothing more is sent.
    let a = open(&alice, &sys).await;
    deposit(&alice, &sys, a, 5).await;
    let body = disabled(&alice, &format!("{}/{g}", sys.endpoints())).await;
    assert!(body["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{body}");
    deposit(&alice, &sys, a, 6).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(gone.entries().len(), 1, "one attempt, then nothing: {:#?}", gone.entries());

    // Nothing but 500s for over two seconds: disabled, each message given up after four attempts.
    let b = open(&bob, &sys).await;
    for amount in 1..=6 {
        deposit(&bob, &sys, b, amount).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let body = disabled(&bob, &format!("{}/{f}", sys.endpoints())).await;
    assert!(body["disabled_reason"].as_str().is_some_and(|r| r.contains("every attempt failed")), "{body}");
    let (_, page) = call(bob.get(format!("{}/{f}/attempts?limit=100", sys.endpoints()))).await;
    let items = page["items"].as_array().expect("attempts");
    assert!(!items.is_empty() && items.iter().all(|a| a["outcome"] == "failed" && a["status_code"] == 500), "{page}");
    assert!(items.iter().any(|a| a["attempt"] == 4), "given up after the fourth attempt: {page}");

    // Listening again: replay from the start, then enable; every message arrives, in log order.
    failing.behave(json!({"mode": "ok"}));
    let replay = json!({"since": "2000-01-01T00:00:00Z"});
    let (status, replayed) = call(bob.post(format!("{}/{f}/replay", sys.endpoints())).json(&replay)).await;
    assert_eq!(status, 202, "{replayed}");
    assert!(replayed["replayed"].as_u64().is_some_and(|n| n >= 7), "{replayed}");
    let (status, body) = call(bob.patch(format!("{}/{f}", sys.endpoints())).json(&json!({"enabled": true}))).await;
    assert_eq!((status, &body["enabled"], &body["disabled_reason"]), (200, &json!(true), &Value::Null), "{body}");
    let entries = failing.until(Duration::from_secs(60), "the replay", |e| first_successes(e).len() >= 7).await;
    let versions: Vec<u64> = first_successes(&entries).iter().filter_map(|e| e["account_version"].as_u64()).collect();
    assert_eq!(versions, (1..=7).collect::<Vec<u64>>());
}

//! Every path of a transfer end to end, through the real processes: accepted,
//! refused at once, refused by the destination (reversed), held and posted,
//! voided, expired, and a post racing the expiry.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::stack::{call, client, final_transfer, funded_account, post_until_decided, System};

const FINAL_WITHIN: Duration = Duration::from_secs(60);

async fn transfer(c: &reqwest::Client, sys: &System, body: Value, wait: Option<u64>) -> (u16, Value) {
    let mut request = c.post(format!("{}/v1/transfers", sys.commands.base)).json(&body);
    if let Some(seconds) = wait {
        request = request.header("prefer", format!("wait={seconds}"));
    }
    call(request).await.expect("transfer request")
}

async fn account(c: &reqwest::Client, sys: &System, id: Uuid) -> Value {
    let (status, body) = call(c.get(format!("{}/v1/accounts/{id}", sys.queries.base))).await.expect("read");
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until the account read model shows `balance` and `held`.
async fn settles_to(c: &reqwest::Client, sys: &System, id: Uuid, balance: i64, held: i64) {
    let deadline = tokio::time::Instant::now() + FINAL_WITHIN;
    loop {
        let body = account(c, sys, id).await;
        if body["balance"] == balance && body["held"] == held {
            assert_eq!(body["available"], balance - held);
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} is {body}, expected balance {balance} held {held}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_of_a_transfer_ends_in_exactly_one_final_state_and_the_money_adds_up() {
    let sys = System::start().await;
    let alice = client("alice", &["client"]);
    let bob = client("bob", &["client"]);
    let base = sys.commands.base.clone();
    let a = funded_account(&alice, &base, "EUR", 1_000).await;
    let b = funded_account(&bob, &base, "EUR", 0).await;
    let usd = funded_account(&bob, &base, "USD", 0).await;

    // One-phase, waited for: 200 completed.
    let (status, done) = transfer(&alice, &sys, json!({"from": a, "to": b, "amount": 100}), Some(20)).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("completed")), "{done}");

    // Refused at once: nothing written.
    for (body, code, expected) in [
        (json!({"from": a, "to": b, "amount": 10_000}), 409, "insufficient_funds"),
        (json!({"from": a, "to": a, "amount": 1}), 422, "validation_failed"),
        (json!({"from": a, "to": usd, "amount": 1}), 422, "currency_mismatch"),
        (json!({"from": b, "to": a, "amount": 1}), 404, "not_found"),
    ] {
        let (status, problem) = transfer(&alice, &sys, body, None).await;
        assert_eq!((status, problem["code"].as_str()), (code, Some(expected)), "{problem}");
    }

    // An ops token moves money between anyone's accounts.
    let ops = client("treasury", &["ops"]);
    let (status, moved) = transfer(&ops, &sys, json!({"from": a, "to": b, "amount": 1}), Some(20)).await;
    assert_eq!((status, moved["status"].as_str()), (200, Some("completed")), "{moved}");

    // A client-chosen id is the idempotency key: a retry is replayed, other fields are refused.
    let chosen = Uuid::now_v7();
    let body = json!({"transfer_id": chosen, "from": a, "to": b, "amount": 5});
    let (first, accepted) = transfer(&alice, &sys, body.clone(), None).await;
    let (again, replayed) = transfer(&alice, &sys, body, None).await;
    assert_eq!((first, again), (202, 202), "{accepted} {replayed}");
    assert_eq!(accepted["commit_id"], replayed["commit_id"]);
    let (reused, problem) =
        transfer(&alice, &sys, json!({"transfer_id": chosen, "from": a, "to": b, "amount": 6}), None).await;
    assert_eq!((reused, problem["code"].as_str()), (422, Some("idempotency_key_reused")));

    // The destination is closed: the money goes back.
    let closed = funded_account(&bob, &base, "EUR", 0).await;
    let (status, body) = post_until_decided(
        &bob,
        &format!("{base}/v1/accounts/{closed}/close"),
        &Uuid::new_v4().to_string(),
        &json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, reversed) = transfer(&alice, &sys, json!({"from": a, "to": closed, "amount": 50}), Some(20)).await;
    assert_eq!((status, reversed["status"].as_str()), (200, Some("reversed")), "{reversed}");
    let id = reversed["transfer_id"].as_str().expect("id").to_owned();
    // The refusal is on the destination's partition, the reversal on the
    // source's: the read model may show the final status before the refusal.
    let deadline = tokio::time::Instant::now() + FINAL_WITHIN;
    let view = loop {
        let view = final_transfer(&alice, &sys.queries.base, &id, FINAL_WITHIN).await;
        if view["steps"].as_array().is_some_and(|s| s.len() >= 3) || tokio::time::Instant::now() > deadline {
            break view;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let steps: Vec<&str> = view["steps"].as_array().expect("steps").iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(steps, ["TransferDebited", "TransferRefused", "TransferReversed"], "{view}");
    assert_eq!(view["refused_reason"], "account_closed");

    // Two-phase: held, then a partial post captures 30 of 80 and releases the rest.
    let (status, held) =
        transfer(&alice, &sys, json!({"from": a, "to": b, "amount": 80, "pending": true}), Some(20)).await;
    assert_eq!((status, held["status"].as_str()), (200, Some("held")), "{held}");
    let hold = held["transfer_id"].as_str().expect("id").to_owned();
    let post =
        alice.post(format!("{base}/v1/transfers/{hold}/post")).header("prefer", "wait=20").json(&json!({"amount": 30}));
    let (status, posted) = call(post).await.expect("post");
    assert_eq!((status, posted["status"].as_str()), (200, Some("completed")), "{posted}");
    let (status, problem) =
        call(alice.post(format!("{base}/v1/transfers/{hold}/void")).json(&json!({}))).await.expect("void");
    assert_eq!((status, problem["code"].as_str()), (409, Some("transfer_already_posted")));
    let view = final_transfer(&alice, &sys.queries.base, &hold, FINAL_WITHIN).await;
    assert_eq!((view["amount"].as_i64(), view["posted_amount"].as_i64()), (Some(80), Some(30)), "{view}");

    // Two-phase, voided.
    let (_, held) = transfer(&alice, &sys, json!({"from": a, "to": b, "amount": 20, "pending": true}), Some(20)).await;
    let voided = held["transfer_id"].as_str().expect("id").to_owned();
    let (status, body) =
        call(alice.post(format!("{base}/v1/transfers/{voided}/void")).header("prefer", "wait=20")).await.expect("void");
    assert_eq!((status, body["status"].as_str()), (200, Some("voided")), "{body}");

    // Two-phase, left alone: it expires by itself and the hold is released.
    let (_, held) =
        transfer(&alice, &sys, json!({"from": a, "to": b, "amount": 40, "pending": true, "timeout_secs": 1}), Some(20))
            .await;
    let expiring = held["transfer_id"].as_str().expect("id").to_owned();
    let view = final_transfer(&alice, &sys.queries.base, &expiring, FINAL_WITHIN).await;
    assert_eq!(view["status"], "expired", "{view}");
    let (status, problem) = call(alice.post(format!("{base}/v1/transfers/{expiring}/post"))).await.expect("post");
    assert_eq!((status, problem["code"].as_str()), (409, Some("transfer_expired")));

    // 1000 - 100 (completed) - 1 (ops) - 5 (chosen id) - 30 (posted); the refusal, the void and the expiry gave back all.
    let chosen_final = final_transfer(&alice, &sys.queries.base, &chosen.to_string(), FINAL_WITHIN).await;
    assert_eq!(chosen_final["status"], "completed");
    settles_to(&alice, &sys, a, 864, 0).await;
    settles_to(&bob, &sys, b, 136, 0).await;
    let analyst = client("auditor", &["analyst"]);
    let (status, totals) =
        call(analyst.get(format!("{}/v1/ledger/totals?currency=EUR", sys.queries.base))).await.expect("totals");
    assert_eq!(status, 200, "{totals}");
    assert_eq!(
        (totals["balances"].as_i64(), totals["in_transit"].as_i64(), totals["held"].as_i64()),
        (Some(1_000), Some(0), Some(0)),
        "{totals}"
    );
    assert_eq!(totals["deposits"].as_i64(), Some(1_000));

    // The analysts' tools agree: a replay rebuilds the same transfer read models, and verify passes.
    for args in [&["replay", "--dry-run"][..], &["verify"][..]] {
        let (ok, text) = sys.ledgerctl(args, &[]);
        assert!(ok, "ledgerctl {args:?} failed:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_a_post_racing_the_expiry_exactly_one_wins_in_the_log_the_read_models_and_the_answer() {
    let sys = System::start().await;
    let alice = client("alice", &["client"]);
    let base = sys.commands.base.clone();
    let a = funded_account(&alice, &base, "EUR", 1_000).await;
    let b = funded_account(&alice, &base, "EUR", 0).await;
    let mut holds = Vec::new();
    for _ in 0..8 {
        let body = json!({"from": a, "to": b, "amount": 10, "pending": true, "timeout_secs": 2});
        let (status, held) = transfer(&alice, &sys, body, None).await;
        assert_eq!(status, 202, "{held}");
        holds.push(held["transfer_id"].as_str().expect("id").to_owned());
    }
    // Post each around its timeout, a little before and a little after.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let mut answers = Vec::new();
    for (i, hold) in holds.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(if i % 2 == 0 { 20 } else { 90 })).await;
        let (status, body) = call(alice.post(format!("{base}/v1/transfers/{hold}/post"))).await.expect("post");
        answers.push((hold.clone(), status, body));
    }
    let log = testkit::fold_topic(&sys.broker.addr, &sys.topic).await;
    let posted = answers.iter().filter(|(_, status, _)| *status == 202).count() as i64;
    for (hold, status, body) in answers {
        let view = final_transfer(&alice, &sys.queries.base, &hold, FINAL_WITHIN).await;
        let id: Uuid = hold.parse().expect("uuid");
        let legs: Vec<&str> = log
            .records
            .iter()
            .filter(|r| r.3.is_accepted())
            .flat_map(|r| r.2.events.iter())
            .filter(|e| events::ledger::transfer_of(&e.payload) == Some(id))
            .map(|e| e.payload.type_name())
            .filter(|t| *t == "HoldPosted" || *t == "HoldExpired")
            .collect();
        match status {
            202 => assert_eq!((legs.as_slice(), view["status"].as_str()), (&["HoldPosted"][..], Some("completed"))),
            409 => {
                assert_eq!(body["code"], "transfer_expired", "{body}");
                // The expiry may not be in the log yet when it was read: the read model waited for it.
                assert!(legs.iter().all(|l| *l == "HoldExpired"), "{legs:?}");
                assert_eq!(view["status"], "expired");
            }
            other => panic!("post of {hold}: {other} {body}"),
        }
    }
    settles_to(&alice, &sys, a, 1_000 - 10 * posted, 0).await;
    settles_to(&alice, &sys, b, 10 * posted, 0).await;
}

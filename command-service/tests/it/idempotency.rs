//! Idempotency keys: a retry yields the original answer and no new event,
//! also across a restart and when the retries race each other.

use futures::future::join_all;
use serde_json::json;
use uuid::Uuid;

use crate::client::Api;
use crate::harness::service;
use testkit::Stack;

#[tokio::test]
async fn a_retried_request_returns_the_original_answer_and_writes_one_event_even_across_a_restart() {
    let stack = Stack::new().await;
    let mut service = service(&stack, &[]).await;
    let api = Api::new(&service.base);

    let open_body = json!({"currency": "GBP"});
    let first_open = api.post("/v1/accounts", &open_body, &[("idempotency-key", "open-carol")]).await;
    assert_eq!((first_open.status, first_open.replayed), (201, false), "{first_open:?}");
    let again = api.post("/v1/accounts", &open_body, &[("idempotency-key", "open-carol")]).await;
    assert_eq!((again.status, again.replayed), (201, true));
    assert_eq!(again.body, first_open.body, "same key, same body: same answer");
    let other = api.post("/v1/accounts", &json!({"currency": "EUR"}), &[("idempotency-key", "open-carol")]).await;
    assert_eq!((other.status, other.code()), (422, "idempotency_key_reused"));

    let id: Uuid = first_open.body["account_id"].as_str().expect("id").parse().expect("uuid");
    let path = format!("/v1/accounts/{id}/deposits");
    let deposit = api.post(&path, &json!({"amount": 700}), &[("idempotency-key", "dep-1")]).await;
    assert_eq!(deposit.status, 200);
    let reused = api.post(&path, &json!({"amount": 701}), &[("idempotency-key", "dep-1")]).await;
    assert_eq!((reused.status, reused.code()), (422, "idempotency_key_reused"));

    service.restart();
    service.ready().await;
    let after_restart = api.post(&path, &json!({"amount": 700}), &[("idempotency-key", "dep-1")]).await;
    assert_eq!((after_restart.status, after_restart.replayed), (200, true), "{after_restart:?}");
    assert_eq!(after_restart.body, deposit.body);
    let open_after_restart = api.post("/v1/accounts", &open_body, &[("idempotency-key", "open-carol")]).await;
    assert_eq!(open_after_restart.body, first_open.body);

    // Ten copies of one request, racing: one commit, ten identical answers.
    let racing = join_all((0..10).map(|_| {
        let api = api.clone();
        let path = path.clone();
        async move { api.post(&path, &json!({"amount": 5}), &[("idempotency-key", "dep-race")]).await }
    }))
    .await;
    let commit_ids: std::collections::HashSet<Uuid> = racing.iter().map(|a| a.commit_id()).collect();
    assert_eq!(commit_ids.len(), 1, "{racing:?}");
    assert_eq!(racing.iter().filter(|a| !a.replayed).count(), 1, "exactly one answer is the original");

    let view = stack.fold().await;
    let account = &view.fold.accounts[&id];
    assert_eq!((account.balance, account.version), (705, 3), "open + one 700 deposit + one 5 deposit");
    assert_eq!(view.records.len(), 3, "no retry wrote anything");
}

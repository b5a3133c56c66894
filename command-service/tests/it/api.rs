//! The command API over real HTTP, against a real broker and Postgres.

use serde_json::json;
use uuid::Uuid;

use crate::client::Api;
use crate::harness::service;
use testkit::Stack;

#[tokio::test]
async fn an_account_can_be_opened_funded_drained_and_closed_over_http() {
    let stack = Stack::new().await;
    let service = service(&stack, &[]).await;
    let api = Api::new(&service.base);

    let opened = api.post("/v1/accounts", &json!({"owner": "tester", "currency": "EUR"}), &[]).await;
    assert_eq!(opened.status, 201, "{opened:?}");
    assert_eq!(opened.version(), 1);
    let id: Uuid = opened.body["account_id"].as_str().expect("id").parse().expect("uuid");
    assert!(opened.body["consistency_token"].as_str().is_some_and(|t| t.starts_with("v1.")));
    assert_eq!(opened.body["position"]["partition"], events::partition_for(id, 8));

    let deposited =
        api.post(&format!("/v1/accounts/{id}/deposits"), &json!({"amount": 1500, "reference": "salary"}), &[]).await;
    assert_eq!((deposited.status, deposited.version()), (200, 2), "{deposited:?}");
    let withdrawn = api.money(id, "withdrawals", 1500).await;
    assert_eq!((withdrawn.status, withdrawn.version()), (200, 3), "{withdrawn:?}");
    let closed = api.post(&format!("/v1/accounts/{id}/close"), &json!({}), &[]).await;
    assert_eq!((closed.status, closed.version()), (200, 4), "{closed:?}");

    let view = stack.fold().await;
    let account = &view.fold.accounts[&id];
    assert_eq!((account.balance, account.version, account.status), (0, 4, events::Status::Closed));
    for answer in [&opened, &deposited, &withdrawn, &closed] {
        let (partition, offset) = view.accepted(answer.commit_id()).expect("acknowledged commit is in the log");
        assert_eq!(answer.body["position"], json!({"partition": partition, "offset": offset}));
    }
}

#[tokio::test]
async fn every_rule_answers_with_its_own_status_and_code() {
    let stack = Stack::new().await;
    let service = service(&stack, &[]).await;
    let api = Api::new(&service.base);
    let id = api.open("USD", 100).await;
    api.money(id, "deposits", 50).await;

    let cases = [
        (api.money(id, "withdrawals", 151).await, 409, "insufficient_funds"),
        (api.money(id, "deposits", 0).await, 422, "validation_failed"),
        (api.money(id, "deposits", -5).await, 422, "validation_failed"),
        (api.money(Uuid::new_v4(), "deposits", 5).await, 404, "not_found"),
        (api.post("/v1/accounts/not-a-uuid/deposits", &json!({"amount": 1}), &[]).await, 404, "not_found"),
        (api.post("/v1/accounts", &json!({"currency": "XYZ"}), &[]).await, 422, "validation_failed"),
        (api.post("/v1/accounts", &json!({"currency": "EUR", "colour": "red"}), &[]).await, 400, "validation_failed"),
        (
            api.post(&format!("/v1/accounts/{id}/deposits"), &json!({"amount": 1.5}), &[]).await,
            400,
            "validation_failed",
        ),
        (
            api.post(&format!("/v1/accounts/{id}/deposits"), &json!({"amount": 1}), &[("if-match", "\"7\"")]).await,
            412,
            "version_conflict",
        ),
        (api.post(&format!("/v1/accounts/{id}/unfreeze"), &json!({}), &[]).await, 409, "account_not_frozen"),
        (api.post(&format!("/v1/accounts/{id}/close"), &json!({}), &[]).await, 409, "nonzero_balance"),
    ];
    for (answer, status, code) in &cases {
        assert_eq!((answer.status, answer.code()), (*status, *code), "{answer:?}");
        assert_eq!(answer.content_type, "application/problem+json", "{answer:?}");
    }

    let malformed =
        api.raw(&format!("/v1/accounts/{id}/deposits"), Some("application/json"), b"{\"amount\":".to_vec()).await;
    assert_eq!((malformed.status, malformed.code()), (400, "validation_failed"));
    let not_utf8 =
        api.raw(&format!("/v1/accounts/{id}/deposits"), Some("application/json"), vec![0xff, 0xfe, 0x7b]).await;
    assert_eq!((not_utf8.status, not_utf8.code()), (400, "validation_failed"));
    let too_big = api.raw("/v1/accounts", Some("application/json"), vec![b' '; 64 * 1024]).await;
    assert_eq!((too_big.status, too_big.code()), (413, "payload_too_large"));
    let not_json = api.raw("/v1/accounts", Some("text/plain"), b"hello".to_vec()).await;
    assert_eq!((not_json.status, not_json.code()), (415, "unsupported_media_type"));
    let long_key = "k".repeat(256);
    let bad_key = api
        .post(&format!("/v1/accounts/{id}/deposits"), &json!({"amount": 1}), &[("idempotency-key", &long_key)])
        .await;
    assert_eq!((bad_key.status, bad_key.code()), (400, "validation_failed"));

    // Freeze: deposits yes, withdrawals no; then unfreeze, drain and close; then nothing.
    let frozen = api.post(&format!("/v1/accounts/{id}/freeze"), &json!({"reason": "kyc"}), &[]).await;
    assert_eq!(frozen.status, 200, "{frozen:?}");
    assert_eq!(api.money(id, "deposits", 10).await.status, 200);
    let refused = api.money(id, "withdrawals", 10).await;
    assert_eq!((refused.status, refused.code()), (409, "account_frozen"));
    let version = api.post(&format!("/v1/accounts/{id}/unfreeze"), &json!({}), &[]).await.version();
    let etag = format!("\"{version}\"");
    let drained =
        api.post(&format!("/v1/accounts/{id}/withdrawals"), &json!({"amount": 60}), &[("if-match", &etag)]).await;
    assert_eq!(drained.status, 200, "{drained:?}");
    assert_eq!(api.post(&format!("/v1/accounts/{id}/close"), &json!({}), &[]).await.status, 200);
    let closed = api.money(id, "deposits", 1).await;
    assert_eq!((closed.status, closed.code()), (409, "account_closed"));

    // No refusal wrote anything: the log holds exactly the accepted commands.
    let view = stack.fold().await;
    assert_eq!(
        view.commits_for(id).count(),
        7,
        "open, deposit, freeze, deposit, unfreeze, withdraw, close; nothing else"
    );
    assert_eq!(view.fold.rejected, 0);
}

#[tokio::test]
async fn an_unknown_route_or_method_is_a_problem_not_a_bare_error() {
    let stack = Stack::new().await;
    let service = service(&stack, &[]).await;
    let api = Api::new(&service.base);
    let unknown = api.post("/v2/nothing", &json!({}), &[]).await;
    assert_eq!((unknown.status, unknown.code()), (404, "not_found"));
    let health = reqwest::get(format!("{}/healthz", service.base)).await.expect("healthz");
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let stack = Stack::new().await;
    let service = service(&stack, &[]).await;
    let served: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", service.base)).await.expect("spec").json().await.expect("json");
    assert!(served["paths"]["/v1/accounts/{id}/withdrawals"]["post"].is_object());
    testkit::assert_openapi_is_committed(&served, "command-service");
    assert_eq!(ledger_runtime::contract::dangling_links(&served), Vec::<String>::new(), "links name real operations");
}

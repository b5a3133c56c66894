//! The endpoints API's contract: the served OpenAPI document is the committed
//! one, and bad input gets problem+json with a stable code, never a partial write.

use serde_json::json;

use crate::stack::{call, client, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_committed_and_bad_input_gets_the_right_problem() {
    let sys = System::start(&[("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let served: serde_json::Value =
        reqwest::get(format!("{}/openapi.json", sys.hooks.base)).await.expect("served").json().await.expect("JSON");
    testkit::assert_openapi_is_committed(&served, "webhooks");

    let alice = client("alice", &["client"]);
    let url = sys.endpoints();
    let ok = json!({"url": "http://127.0.0.1:9/hook"});
    let cases = [
        (alice.post(&url).body("{}"), 415, "unsupported_media_type"),
        (alice.post(&url).header("content-type", "application/json").body("{"), 400, "validation_failed"),
        (alice.post(&url).json(&json!({"url": "http://127.0.0.1:9/", "colour": "red"})), 400, "validation_failed"),
        (
            alice.post(&url).json(&json!({"url": "http://127.0.0.1:9/", "event_types": ["money.printed"]})),
            422,
            "validation_failed",
        ),
        (alice.post(&url).json(&json!({"url": "http://127.0.0.1:9/", "event_types": []})), 422, "validation_failed"),
        (
            alice.post(&url).json(&json!({"url": "http://127.0.0.1:9/", "description": "a\u{7}b"})),
            422,
            "validation_failed",
        ),
        (alice.post(&url).json(&json!({"url": "https://10.0.0.1/"})), 422, "url_address_refused"),
        (reqwest::Client::new().post(&url).json(&ok), 401, "unauthorized"),
        (client("eve", &["analyst"]).post(&url).json(&ok), 403, "forbidden"),
        (alice.get(format!("{url}/not-an-id")), 404, "not_found"),
        (alice.get(format!("{url}/{}", uuid::Uuid::new_v4())), 404, "not_found"),
        (alice.get(format!("{url}?cursor=zz")), 400, "bad_cursor"),
        (alice.get(format!("{url}?limit=0")), 422, "validation_failed"),
        (alice.get(format!("{url}?colour=red")), 400, "validation_failed"),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.expect("answered");
        let got = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        assert_eq!((got, body["code"].as_str()), (status, Some(code)), "{body}");
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    }
    let (status, page) = call(alice.get(&url)).await;
    assert_eq!((status, page["items"].as_array().map(Vec::len)), (200, Some(0)), "nothing was written: {page}");
}

//! The endpoints API's contract: the served OpenAPI document is the committed
//! one, and bad input gets problem+json with a stable code, never a partial write.

use serde_json::json;

use crate::stack::{call, client, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_committed_and_bad_input_gets_the_right_problem() {
    let sys =
        System::start(&[("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1"), ("CORS_ALLOWED_ORIGINS", "http://app.test:5173")])
            .await;
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

    // CORS (CORS_ALLOWED_ORIGINS): a preflight from the allowed origin is answered
    // before authentication; another origin gets no CORS header.
    for (origin, allowed) in [("http://app.test:5173", true), ("http://evil.test", false)] {
        let preflight = reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization,content-type")
            .send()
            .await
            .expect("answered");
        let allow = preflight.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok());
        assert_eq!(allow, allowed.then_some(origin), "{origin}: {:?}", preflight.headers());
    }
}

//! Reads: read-your-writes, ETags, pagination, and errors.

use serde_json::{json, Value};

use crate::stack::system;

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.expect("command");
    assert!(response.status().is_success(), "{:?}", response.status());
    response.json().await.expect("json")
}

const CURRENCIES: [&str; 5] = ["EUR", "USD", "GBP", "CHF", "JPY"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_the_token_of_a_write_always_shows_that_write() {
    let sys = system(2000).await;
    let client = testkit::client("ryw", &["client"]);
    let mut accounts = Vec::new();
    for currency in CURRENCIES {
        let opened = post(&client, format!("{}/v1/accounts", sys.commands), json!({ "currency": currency })).await;
        accounts.push(opened["account_id"].as_str().expect("id").to_owned());
    }
    let mut stale = 0;
    for n in 0..1000usize {
        let id = &accounts[n % accounts.len()];
        let written = post(&client, format!("{}/v1/accounts/{id}/deposits", sys.commands), json!({"amount": 1})).await;
        let token = written["consistency_token"].as_str().expect("token");
        let request = client.get(format!("{}/v1/accounts/{id}", sys.queries));
        // Half the reads carry the token as a header, half as `after=`.
        let request =
            if n % 2 == 0 { request.header("consistency-token", token) } else { request.query(&[("after", token)]) };
        let response = request.send().await.expect("read");
        assert_eq!(response.status(), 200);
        let read: Value = response.json().await.expect("json");
        if read["version"].as_u64() < written["version"].as_u64() {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "reads that did not show their own write");
    // Each read is counted under its route template, for ops only.
    let ops = testkit::client("ops", &["ops"]);
    let metrics = ops.get(format!("{}/metrics", sys.queries)).send().await.expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    let reads = r#"ledger_http_requests_total{route="/v1/accounts/{id}",method="GET",status="2xx"} 1000"#;
    assert!(text.lines().any(|l| l == reads), "{text}");
    let denied = client.get(format!("{}/metrics", sys.queries)).send().await.expect("answer");
    assert_eq!(denied.status(), 403);
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_have_etags_pages_and_problem_errors() {
    let sys = system(300).await;
    let client = testkit::client("pager", &["client"]);
    let mut last = Value::Null;
    let mut tokens = Vec::new();
    for i in 0..7 {
        last =
            post(&client, format!("{}/v1/accounts", sys.commands), json!({"owner": "pager", "currency": "USD"})).await;
        let id = last["account_id"].as_str().expect("id").to_owned();
        for amount in [10, 20, 30] {
            last = post(&client, format!("{}/v1/accounts/{id}/deposits", sys.commands), json!({"amount": amount + i}))
                .await;
        }
        tokens.push((id, last["consistency_token"].as_str().expect("token").to_owned()));
    }
    // Every account's last write is visible before the list is read.
    for (id, token) in &tokens {
        let read =
            client.get(format!("{}/v1/accounts/{id}", sys.queries)).header("consistency-token", token).send().await;
        assert_eq!(read.expect("read").status(), 200);
    }
    let token = last["consistency_token"].as_str().expect("token").to_owned();
    let id = last["account_id"].as_str().expect("id").to_owned();

    // ETag and If-None-Match.
    let one = client
        .get(format!("{}/v1/accounts/{id}", sys.queries))
        .header("consistency-token", &token)
        .send()
        .await
        .expect("read");
    assert_eq!(one.headers()["etag"], "\"4\"");
    let body: Value = one.json().await.expect("json");
    assert_eq!((body["balance"].as_i64(), body["status"].as_str()), (Some(60 + 18), Some("open")));
    assert_eq!((body["held"].as_i64(), body["available"].as_i64()), (Some(0), Some(60 + 18)), "{body}");
    let not_modified = client
        .get(format!("{}/v1/accounts/{id}", sys.queries))
        .header("if-none-match", "\"4\"")
        .send()
        .await
        .expect("read");
    assert_eq!(not_modified.status(), 304);
    assert!(not_modified.headers().contains_key("read-lag-records"), "a read without a token reports its staleness");

    // Pages of accounts, by owner, with an opaque cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request =
            client.get(format!("{}/v1/accounts", sys.queries)).query(&[("owner", "pager"), ("limit", "3")]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let page: Value = request.send().await.expect("page").json().await.expect("json");
        seen.extend(page["items"].as_array().expect("items").iter().map(|a| a["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_by_key(|v| v.as_str().map(str::to_owned));
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no account appears on two pages");

    // Entries, newest first, two per page.
    let page: Value = client
        .get(format!("{}/v1/accounts/{id}/entries", sys.queries))
        .query(&[("limit", "2"), ("after", token.as_str())])
        .send()
        .await
        .expect("entries")
        .json()
        .await
        .expect("json");
    let sequences: Vec<i64> =
        page["items"].as_array().expect("items").iter().filter_map(|e| e["sequence"].as_i64()).collect();
    assert_eq!(sequences, vec![4, 3]);
    assert!(page["items"][0]["transfer_id"].is_null(), "a deposit is no transfer leg: {page}");
    let next = page["next_cursor"].as_str().expect("more entries").to_owned();
    let page: Value = client
        .get(format!("{}/v1/accounts/{id}/entries", sys.queries))
        .query(&[("limit", "2"), ("cursor", next.as_str())])
        .send()
        .await
        .expect("entries")
        .json()
        .await
        .expect("json");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert!(page["next_cursor"].is_null());

    // Errors are problem+json with stable codes. A signed token for a position the
    // workers have not reached times out; a forged one is refused at once.
    let key = query_service::config::DEV_TOKEN_KEY.as_bytes();
    let future = events::ConsistencyToken(events::Position { partition: 0, offset: 99_999_999 }).sign(key);
    let forged =
        token.rsplit_once('.').map(|(head, _)| format!("{head}.00000000000000000000000000000000")).expect("token");
    let cases = [
        (format!("{}/v1/accounts/{}", sys.queries, uuid::Uuid::new_v4()), 404, "not_found"),
        (format!("{}/v1/accounts/not-a-uuid", sys.queries), 404, "not_found"),
        (format!("{}/v1/accounts?cursor=bogus", sys.queries), 400, "bad_cursor"),
        (format!("{}/v1/accounts?limit=0", sys.queries), 400, "validation_failed"),
        (format!("{}/v1/accounts?status=sleeping", sys.queries), 400, "validation_failed"),
        (format!("{}/v1/accounts?colour=red", sys.queries), 400, "validation_failed"),
        (format!("{}/v1/accounts/{id}?after={future}", sys.queries), 504, "not_yet_consistent"),
        (format!("{}/v1/accounts/{id}?after={forged}", sys.queries), 400, "validation_failed"),
        (format!("{}/v1/accounts/{id}?after=garbage", sys.queries), 400, "validation_failed"),
    ];
    for (url, status, code) in cases {
        let response = client.get(&url).send().await.expect("answer");
        assert_eq!(response.status().as_u16(), status, "{url}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{url}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], code, "{url}");
    }
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_openapi_document_is_the_committed_one() {
    let sys = system(300).await;
    let served: Value =
        reqwest::get(format!("{}/openapi.json", sys.queries)).await.expect("spec").json().await.expect("json");
    assert!(served["paths"]["/v1/accounts/{id}/entries"]["get"].is_object());
    testkit::assert_openapi_is_committed(&served, "query-service");
    assert_eq!(ledger_runtime::contract::dangling_links(&served), Vec::<String>::new(), "links name real operations");
    sys.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_listed_before_its_first_account_sees_that_account_listed_at_once() {
    let sys = system(2000).await;
    let client = testkit::client("lists-first", &["client"]);
    let before: Value =
        client.get(format!("{}/v1/accounts", sys.queries)).send().await.expect("list").json().await.expect("json");
    assert_eq!(before["items"], json!([]), "{before}");
    let opened = post(&client, format!("{}/v1/accounts", sys.commands), json!({"currency": "EUR"})).await;
    let token = opened["consistency_token"].as_str().expect("token");
    let listed: Value = client
        .get(format!("{}/v1/accounts", sys.queries))
        .header("consistency-token", token)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let ids: Vec<&str> = listed["items"].as_array().expect("items").iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(ids, vec![opened["account_id"].as_str().expect("id")], "{listed}");
    sys.stop().await;
}

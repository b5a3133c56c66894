//! A small HTTP client for the command API.

use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub replayed: bool,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// The `Ledger-Served-By` header, if any: the instance that decided the command.
    pub served_by: Option<String>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    pub fn commit_id(&self) -> Uuid {
        self.body["commit_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no commit id in {self:?}"))
    }

    pub fn version(&self) -> u64 {
        self.body["version"].as_u64().unwrap_or_else(|| panic!("no version in {self:?}"))
    }
}

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    pub base: String,
    /// The token's subject: the owner of the accounts this client opens.
    pub sub: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api::as_client(base, "tester")
    }

    /// An API client acting as the `client` whose token `sub` is `sub`.
    pub fn as_client(base: &str, sub: &str) -> Api {
        Api { client: testkit::client(sub, &["client"]), base: base.to_owned(), sub: sub.to_owned() }
    }

    /// An API client on `client` (which carries the token of `sub`).
    pub fn with_client(client: reqwest::Client, base: &str, sub: &str) -> Api {
        Api { client, base: base.to_owned(), sub: sub.to_owned() }
    }

    /// POSTs JSON; `Err` only when no HTTP answer came back (connection refused or reset).
    pub async fn try_post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Result<Answer, reqwest::Error> {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let replayed = response.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (retry_after, served_by) = (header("retry-after"), header("ledger-served-by"));
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body, content_type, replayed, retry_after, served_by })
    }

    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        self.try_post(path, body, headers).await.unwrap_or_else(|e| panic!("POST {path} got no answer: {e}"))
    }

    /// A raw body on a fresh connection: the server may close a connection whose
    /// body it refused unread (413), so these never share the pool.
    pub async fn raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Answer {
        let fresh = testkit::client(&self.sub, &["client"]);
        let mut request = fresh.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("answer");
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Answer { status, body, content_type, replayed: false, retry_after: None, served_by: None }
    }

    /// Opens an account owned by this client.
    pub async fn open(&self, currency: &str, overdraft_limit: i64) -> Uuid {
        let answer =
            self.post("/v1/accounts", &json!({"currency": currency, "overdraft_limit": overdraft_limit}), &[]).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["account_id"].as_str().and_then(|s| s.parse().ok()).expect("account id")
    }

    pub async fn money(&self, account: Uuid, kind: &str, amount: i64) -> Answer {
        self.post(&format!("/v1/accounts/{account}/{kind}"), &json!({ "amount": amount }), &[]).await
    }
}

//! The whole system as separate processes on free ports, each of which a test
//! can kill -9 and restart: command service, transfer driver, projection
//! worker, query service; on the shared broker, or on a broker of the test's
//! own ([`System::on`]) when it kills or wipes it.

use std::time::Duration;

use serde_json::Value;
use testkit::{free_port, wait_ready, workspace_bin, Broker, Database, Process};
use uuid::Uuid;

pub struct System {
    pub broker: Broker,
    /// Held for its drop: the test database goes with the system.
    _db: Database,
    pub topic: String,
    pub commands: Service,
    pub driver: Service,
    pub projections: Service,
    pub queries: Service,
}

/// One service process and its base URL.
pub struct Service {
    pub process: Process,
    pub base: String,
}

impl Service {
    pub fn start(bin: &str, mut env: Vec<(String, String)>) -> Service {
        let port = free_port();
        env.push(("HTTP_ADDR".into(), format!("127.0.0.1:{port}")));
        let bin = if bin == "transfers" { env!("CARGO_BIN_EXE_transfers").into() } else { workspace_bin(bin) };
        Service { process: Process::start(bin, env), base: format!("http://127.0.0.1:{port}") }
    }

    pub async fn ready(&mut self) {
        wait_ready(&mut self.process, &format!("{}/readyz", self.base)).await;
    }

    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    pub fn restart(&mut self) {
        self.process.restart();
    }
}

impl System {
    /// Starts everything on the shared broker and waits until each is ready.
    pub async fn start() -> System {
        System::start_with(&[]).await
    }

    /// The same, with `shared` added to every service's environment.
    pub async fn start_with(shared: &[(&str, &str)]) -> System {
        System::on(Broker::start(), shared).await
    }

    /// Everything on `broker` (one the test may kill: [`Broker::own`], [`Broker::cluster`]).
    pub async fn on(broker: Broker, shared: &[(&str, &str)]) -> System {
        let db = Database::fresh().await;
        let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
        let common = |extra: &[(&str, &str)]| {
            let mut env: Vec<(String, String)> = vec![
                ("KAFKA_BROKERS".into(), broker.addr.clone()),
                ("EVENTS_TOPIC".into(), topic.clone()),
                ("EVENTS_PARTITIONS".into(), "4".into()),
                ("JWT_SECRET".into(), ledger_runtime::TEST_JWT_SECRET.into()),
                ("SESSION_TIMEOUT_MS".into(), "3000".into()),
                ("WRITERS_GROUP".into(), format!("{topic}.writers")),
                ("RUST_LOG".into(), "info,rdkafka=warn".into()),
            ];
            env.extend(extra.iter().chain(shared).map(|(k, v)| (k.to_string(), v.to_string())));
            env
        };
        let mut commands = Service::start(
            "command-service",
            common(&[("DATABASE_URL", &db.url), ("RATE_LIMIT_PER_SECOND", "100000"), ("RATE_LIMIT_BURST", "100000")]),
        );
        commands.ready().await;
        let mut projections = Service::start(
            "projections",
            common(&[
                ("DATABASE_URL", &db.url),
                ("PROJECTIONS_GROUP", &format!("{topic}.projections")),
                ("BATCH_WAIT_MS", "5"),
            ]),
        );
        projections.ready().await;
        let mut driver = Service::start(
            "transfers",
            common(&[("COMMAND_URL", &commands.base), ("TRANSFERS_GROUP", &format!("{topic}.transfers"))]),
        );
        driver.ready().await;
        let query_db = db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
        let mut queries = Service::start("query-service", common(&[("DATABASE_URL", &query_db)]));
        queries.ready().await;
        System { broker, _db: db, topic, commands, driver, projections, queries }
    }

    pub fn database_url(&self) -> &str {
        &self._db.url
    }

    /// `ledgerctl args` against this system (plus `env`): whether it succeeded, and what it printed.
    pub fn ledgerctl(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let out = std::process::Command::new(workspace_bin("ledgerctl"))
            .args(args)
            .env("KAFKA_BROKERS", &self.broker.addr)
            .env("EVENTS_TOPIC", &self.topic)
            .env("DATABASE_URL", self.database_url())
            .envs(env.iter().copied())
            .output()
            .expect("ledgerctl runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    /// Waits until every process answers `/readyz` again (after a restart).
    pub async fn all_ready(&mut self) {
        self.commands.ready().await;
        self.projections.ready().await;
        self.driver.ready().await;
        self.queries.ready().await;
    }
}

/// An HTTP client acting as `sub` with `roles`, with a request timeout.
pub fn client(sub: &str, roles: &[&str]) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {}", testkit::token(sub, roles));
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().expect("a token is a valid header value"));
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .expect("an HTTP client")
}

/// A response's status and JSON body (problem+json included).
pub async fn call(request: reqwest::RequestBuilder) -> Result<(u16, Value), reqwest::Error> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// POSTs until the answer is not 503/429/a network error (the same key every time).
pub async fn post_until_decided(client: &reqwest::Client, url: &str, key: &str, body: &Value) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let request = client.post(url).header("idempotency-key", key).json(body);
        match call(request).await {
            // 409 write_conflict is "another writer got there first": safe to retry.
            Ok((status, body)) if ![502, 503, 429].contains(&status) && body["code"] != "write_conflict" => {
                return (status, body)
            }
            _ => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "{url} undecided after 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens an account for `client` and deposits `amount` into it.
pub async fn funded_account(client: &reqwest::Client, base: &str, currency: &str, amount: i64) -> Uuid {
    let key = Uuid::new_v4().to_string();
    let body = serde_json::json!({ "currency": currency });
    let (status, opened) = post_until_decided(client, &format!("{base}/v1/accounts"), &key, &body).await;
    assert_eq!(status, 201, "{opened}");
    let id: Uuid = opened["account_id"].as_str().and_then(|s| s.parse().ok()).expect("account id");
    if amount > 0 {
        let url = format!("{base}/v1/accounts/{id}/deposits");
        let key = Uuid::new_v4().to_string();
        let (status, body) = post_until_decided(client, &url, &key, &serde_json::json!({ "amount": amount })).await;
        assert_eq!(status, 200, "{body}");
    }
    id
}

/// Polls the query service until the transfer has a final status; returns its body.
pub async fn final_transfer(client: &reqwest::Client, queries: &str, id: &str, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok((200, body)) = call(client.get(format!("{queries}/v1/transfers/{id}"))).await {
            let status = body["status"].as_str().unwrap_or_default();
            if ["completed", "reversed", "voided", "expired"].contains(&status) {
                return body;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "transfer {id} not final within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

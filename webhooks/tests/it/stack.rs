//! The services a webhook test needs as processes of their own (command
//! service, transfer driver, webhooks), on free ports with a fresh database,
//! and receivers verifying with the Standard Webhooks libraries of PyPI and npm.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use testkit::{free_port, wait_ready, workspace_bin, Broker, Database, Process};
use uuid::Uuid;

pub struct System {
    pub broker: Broker,
    pub topic: String,
    /// Held for their drop: the test database, the driver process.
    _db: Database,
    _driver: Service,
    pub commands: Service,
    pub hooks: Service,
}

pub struct Service {
    pub process: Process,
    pub base: String,
}

impl Service {
    fn start(bin: &str, mut env: Vec<(String, String)>) -> Service {
        let port = free_port();
        env.push(("HTTP_ADDR".into(), format!("127.0.0.1:{port}")));
        let bin = if bin == "webhooks" { env!("CARGO_BIN_EXE_webhooks").into() } else { workspace_bin(bin) };
        Service { process: Process::start(bin, env), base: format!("http://127.0.0.1:{port}") }
    }

    pub async fn ready(&mut self) {
        wait_ready(&mut self.process, &format!("{}/readyz", self.base)).await;
    }
}

impl System {
    /// Everything on the shared broker; `hooks_env` is added to the webhooks service's environment.
    pub async fn start(hooks_env: &[(&str, &str)]) -> System {
        System::on(Broker::start(), hooks_env).await
    }

    /// The same on `broker` (one the test may kill: [`Broker::own`]).
    pub async fn on(broker: Broker, hooks_env: &[(&str, &str)]) -> System {
        let db = Database::fresh().await;
        let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
        let common = |extra: &[(&str, &str)]| {
            let mut env: Vec<(String, String)> = vec![
                ("KAFKA_BROKERS".into(), broker.addr.clone()),
                ("EVENTS_TOPIC".into(), topic.clone()),
                ("EVENTS_PARTITIONS".into(), "4".into()),
                ("JWT_SECRET".into(), ledger_runtime::TEST_JWT_SECRET.into()),
                ("SESSION_TIMEOUT_MS".into(), "3000".into()),
                ("DATABASE_URL".into(), db.url.clone()),
                ("RUST_LOG".into(), "info,rdkafka=warn".into()),
            ];
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            env
        };
        let mut commands = Service::start(
            "command-service",
            common(&[
                ("WRITERS_GROUP", &format!("{topic}.writers")),
                ("RATE_LIMIT_PER_SECOND", "100000"),
                ("RATE_LIMIT_BURST", "100000"),
            ]),
        );
        commands.ready().await;
        let mut driver = Service::start(
            "transfers",
            common(&[("COMMAND_URL", &commands.base), ("TRANSFERS_GROUP", &format!("{topic}.transfers"))]),
        );
        driver.ready().await;
        let group = format!("{topic}.webhooks");
        let mut env = vec![("WEBHOOKS_GROUP", group.as_str())];
        env.extend_from_slice(hooks_env);
        let mut hooks = Service::start("webhooks", common(&env));
        hooks.ready().await;
        System { broker, topic, _db: db, _driver: driver, commands, hooks }
    }

    pub fn endpoints(&self) -> String {
        format!("{}/v1/webhooks/endpoints", self.hooks.base)
    }
}

/// An HTTP client acting as `sub` with `roles`.
pub fn client(sub: &str, roles: &[&str]) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {}", testkit::token(sub, roles));
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().expect("a header value"));
    reqwest::Client::builder().default_headers(headers).timeout(Duration::from_secs(30)).build().expect("a client")
}

/// A response's status and JSON body.
pub async fn call(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    (status, response.json::<Value>().await.unwrap_or(Value::Null))
}

/// Sends a command until it is decided (not 429/503/`write_conflict`), with one idempotency key.
pub async fn command(c: &reqwest::Client, url: &str, body: Value) -> Value {
    let key = Uuid::new_v4().to_string();
    for _ in 0..600 {
        let request = c.post(url).header("idempotency-key", &key).header("prefer", "wait=20").json(&body);
        if let Ok(response) = request.send().await {
            let status = response.status().as_u16();
            let value = response.json::<Value>().await.unwrap_or(Value::Null);
            if ![429, 502, 503].contains(&status) && value["code"] != "write_conflict" {
                assert!(status < 300, "{url} {body}: {status} {value}");
                return value;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} not decided in 60 s");
}

/// Opens an account for `c` and returns its id.
pub async fn open(c: &reqwest::Client, sys: &System) -> Uuid {
    let opened = command(c, &format!("{}/v1/accounts", sys.commands.base), json!({"currency": "EUR"})).await;
    opened["account_id"].as_str().and_then(|s| s.parse().ok()).expect("an account id")
}

pub async fn deposit(c: &reqwest::Client, sys: &System, account: Uuid, amount: i64) {
    command(c, &format!("{}/v1/accounts/{account}/deposits", sys.commands.base), json!({"amount": amount})).await;
}

/// Creates an endpoint as `c`; returns its id and secret.
pub async fn endpoint(c: &reqwest::Client, sys: &System, body: Value) -> (String, String) {
    let (status, created) = call(c.post(sys.endpoints()).json(&body)).await;
    assert_eq!(status, 201, "{created}");
    (created["id"].as_str().expect("an id").to_owned(), created["secret"].as_str().expect("a secret").to_owned())
}

/// A receiver process and the files it reads and writes.
pub struct Receiver {
    _process: Process,
    pub url: String,
    log: PathBuf,
    secrets: PathBuf,
    behaviour: PathBuf,
}

fn receivers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/receivers")
}

impl Receiver {
    /// The Python receiver (PyPI's `standardwebhooks`), from the workspace's `.data/venv`.
    pub async fn python() -> Receiver {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run `. scripts/lib.sh && ensure_receivers` (scripts/test.sh does)",
            python.display()
        );
        Receiver::start(python, receivers_dir().join("receiver.py")).await
    }

    /// The Node receiver (npm's `standardwebhooks`, installed by `npm ci`).
    pub async fn node() -> Receiver {
        let module = receivers_dir().join("node_modules/standardwebhooks");
        assert!(module.exists(), "{} is missing: run `. scripts/lib.sh && ensure_receivers`", module.display());
        Receiver::start("node".into(), receivers_dir().join("receiver.mjs")).await
    }

    /// The Python receiver with `env` (`RECEIVER_SEED`, `RECEIVER_TIMEOUT_S`).
    pub async fn python_with(env: &[(&str, &str)]) -> Receiver {
        let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.data/venv/bin/python");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Receiver::start_with(python, receivers_dir().join("receiver.py"), env).await
    }

    async fn start(program: PathBuf, script: PathBuf) -> Receiver {
        Receiver::start_with(program, script, Vec::new()).await
    }

    async fn start_with(program: PathBuf, script: PathBuf, env: Vec<(String, String)>) -> Receiver {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("ledgerline-receiver-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a receiver dir");
        let (log, secrets, behaviour) = (dir.join("log.jsonl"), dir.join("secrets.json"), dir.join("behaviour.json"));
        let args = [port.to_string(), path(&log), path(&secrets), path(&behaviour)];
        let process = Process::start_with_args(program, [vec![path(&script)], args.to_vec()].concat(), env);
        let url = format!("http://127.0.0.1:{port}/hook");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the receiver did not listen; see {}",
                process.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Receiver { _process: process, url, log, secrets, behaviour }
    }

    pub fn trust(&self, secrets: &[&str]) {
        std::fs::write(&self.secrets, serde_json::to_vec(secrets).expect("JSON")).expect("the secrets file");
    }

    pub fn behave(&self, behaviour: Value) {
        std::fs::write(&self.behaviour, behaviour.to_string()).expect("the behaviour file");
    }

    /// Every request received so far, in arrival order.
    pub fn entries(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Waits until `done` holds for the entries (at most `within`), and returns them.
    pub async fn until(&self, within: Duration, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let entries = self.entries();
            if done(&entries) {
                return entries;
            }
            assert!(tokio::time::Instant::now() < deadline, "{what}: not within {within:?}; got {entries:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The ids of the messages answered 2xx, first success per id, in arrival order.
pub fn first_successes(entries: &[Value]) -> Vec<&Value> {
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .filter(|e| e["answer"].as_u64().is_some_and(|s| (200..300).contains(&s)))
        .filter(|e| seen.insert(e["webhook_id"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

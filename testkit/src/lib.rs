//! Test support for Ledgerline's integration tests.
//!
//! It owns what every integration test needs and nothing of any service (but,
//! with the feature `system`, how to start them all in-process): Apache Kafka
//! (the shared broker, or nodes of a test's own), a fresh Postgres database, a
//! child process with its log in a file, and a re-fold of the whole topic with
//! the fold rule. Missing infrastructure FAILS the test with instructions;
//! nothing is skipped.
//!
//! # Layout
//! - [`broker`]: [`Broker`] (shared, one node of a test's own in a [`Mode`], or a three-node cluster).
//! - here: [`Database`], [`Process`], [`workspace_bin`], [`Stack`], [`fold_topic`],
//!   and [`token`] / [`client`]: bearer tokens signed with `TEST_JWT_SECRET`, the
//!   key `Config::local` of every service checks (tests never turn auth off).
//! - [`system`], with the feature `system`: every service in-process.
//! - [`topic`]: a topic deleted and created again under its name (a new log).

pub mod broker;
#[cfg(feature = "system")]
pub mod system;
pub mod topic;

pub use broker::{Broker, Mode, BROKER_HINT};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::{Commit, Verdict};
use ledger_runtime::kafka;
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use uuid::Uuid;

/// A bearer token for `sub` with `roles`, valid for an hour, signed with the
/// secret `Config::local` of every service checks.
pub fn token(sub: &str, roles: &[&str]) -> String {
    let claims = ledger_runtime::auth::claims(sub, roles, 3600);
    ledger_runtime::auth::mint_hs256(ledger_runtime::TEST_JWT_SECRET, &claims)
}

/// An HTTP client that sends `token(sub, roles)` on every request.
pub fn client(sub: &str, roles: &[&str]) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {}", token(sub, roles));
    headers.insert(reqwest::header::AUTHORIZATION, value.parse().expect("a token is a valid header value"));
    reqwest::Client::builder().default_headers(headers).build().expect("an HTTP client")
}

pub const POSTGRES_HINT: &str = "PostgreSQL is required on 127.0.0.1:5432 (trust auth): start it with \
`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or set TEST_DATABASE_ADMIN_URL";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

pub fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("ledgerline-it-logs");
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

pub fn wait_for_port(addr: SocketAddr, child: &mut Child, what: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited with {status} before listening; see {}", log.display());
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {addr} within 30 s; see {}", log.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A binary of this workspace, next to the running test's own directory
/// (`target/<profile>/`). `scripts/test.sh` builds them all (`--workspace`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace --bins`, which \
         `scripts/test.sh` does)",
        bin.display()
    );
    bin
}

const TEST_DB_PREFIX: &str = "ledger_test_";
/// Test databases older than this were left by an interrupted run.
const LEFTOVER_AFTER_SECS: u64 = 24 * 3600;

/// Drops the test databases an interrupted run left (older than a day, by
/// the time in their names; older names without one are left alone).
async fn drop_leftovers(conn: &mut PgConnection, now: u64) {
    let pattern = format!("{TEST_DB_PREFIX}%");
    let names: Vec<(String,)> = sqlx::query_as("select datname from pg_database where datname like $1")
        .bind(pattern)
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for (name,) in names {
        let created = name.strip_prefix(TEST_DB_PREFIX).and_then(|rest| rest.split('_').next()?.parse::<u64>().ok());
        if created.is_some_and(|at| now.saturating_sub(at) > LEFTOVER_AFTER_SECS) {
            let _ = conn.execute(format!("drop database if exists {name} with (force)").as_str()).await;
        }
    }
}

/// A fresh, uniquely named database, dropped at the end of the test.
pub struct Database {
    pub url: String,
    name: String,
    admin_url: String,
}

impl Database {
    pub async fn fresh() -> Database {
        let admin_url = std::env::var("TEST_DATABASE_ADMIN_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        // The creation time is in the name: a run killed before its drops ran
        // (Ctrl-C, kill -9) leaves databases that the next run can tell are old.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("{TEST_DB_PREFIX}{now}_{}", Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach Postgres at {admin_url} ({e}): {POSTGRES_HINT}"));
        drop_leftovers(&mut conn, now).await;
        conn.execute(format!("create database {name}").as_str()).await.expect("create test database");
        let url = format!("{}/{name}", admin_url.rsplit_once('/').expect("admin url has a database").0);
        Database { url, name, admin_url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = conn.execute(format!("drop database if exists {name} with (force)").as_str()).await;
                }
            });
        })
        .join();
    }
}

/// A child process with its output in a log file, SIGKILLed on drop.
pub struct Process {
    child: Option<Child>,
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl Process {
    pub fn start(bin: impl Into<PathBuf>, env: Vec<(String, String)>) -> Process {
        Process::start_with_args(bin, Vec::new(), env)
    }

    /// Starts `bin` (a path, or a program found on `PATH`) with `args`.
    pub fn start_with_args(bin: impl Into<PathBuf>, args: Vec<String>, env: Vec<(String, String)>) -> Process {
        let mut process = Process { child: None, bin: bin.into(), args, env, log: PathBuf::new() };
        process.spawn();
        process
    }

    fn spawn(&mut self) {
        let name = self.bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.log = log_dir().join(format!("{name}-{}.log", Uuid::new_v4().simple()));
        let out = std::fs::File::create(&self.log).expect("process log");
        let child = Command::new(&self.bin)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    /// Fails the test if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("{} exited with {status}; see {}", self.bin.display(), self.log.display());
        }
    }

    /// SIGKILL: no shutdown hooks, no flush.
    /// The child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (`-STOP`, `-CONT`, …) with kill(1), while the process runs.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([signal, &pid.to_string()]).status();
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("running");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let status = child.wait().expect("wait");
        self.child = None;
        status
    }

    /// Waits until the process's log holds `needle` (at most 60 s).
    pub async fn wait_log(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(&self.log).unwrap_or_default().contains(needle) {
            self.assert_running();
            assert!(Instant::now() < deadline, "{needle:?} not logged in 60 s; see {}", self.log.display());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts the same program again with the same environment.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until `url` answers 200 (a service running in this process).
pub async fn wait_url(url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(url).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(Instant::now() < deadline, "{url} not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `url` answers 200 and returns its JSON body.
pub async fn wait_ready(process: &mut Process, url: &str) -> Value {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        process.assert_running();
        if let Ok(response) = client.get(url).send().await {
            if response.status() == 200 {
                return response.json::<Value>().await.unwrap_or(Value::Null);
            }
        }
        assert!(Instant::now() < deadline, "{url} not ready in 120 s; see {}", process.log.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything a full infrastructure test needs.
pub struct Stack {
    pub broker: Broker,
    pub db: Database,
    pub topic: String,
}

impl Stack {
    pub async fn new() -> Stack {
        Stack::on(Broker::start()).await
    }

    /// A stack on `broker` (e.g. [`Broker::durable`]).
    pub async fn on(broker: Broker) -> Stack {
        Stack { broker, db: Database::fresh().await, topic: format!("ledger.events.{}", Uuid::new_v4().simple()) }
    }

    /// Reads the whole topic and folds it with the fold rule, as any reader would.
    pub async fn fold(&self) -> LogView {
        fold_topic(&self.broker.addr, &self.topic).await
    }
}

/// A topic folded by the fold rule, with every record's verdict.
pub struct LogView {
    pub fold: events::LogFold,
    pub records: Vec<(i32, i64, Commit, Verdict)>,
}

impl LogView {
    pub fn accepted(&self, commit_id: Uuid) -> Option<(i32, i64)> {
        self.records.iter().find(|r| r.2.commit_id == commit_id && r.3.is_accepted()).map(|r| (r.0, r.1))
    }

    pub fn commits_for(&self, account: Uuid) -> impl Iterator<Item = &(i32, i64, Commit, Verdict)> {
        self.records.iter().filter(move |r| r.2.aggregate_id == account)
    }
}

pub async fn fold_topic(brokers: &str, topic: &str) -> LogView {
    let producer = Arc::new(kafka::producer(brokers, "ledger-test", 0).expect("producer"));
    let partitions = kafka::ensure_topic(brokers, topic, 8).await.expect("topic");
    let mut ranges = Vec::new();
    for p in 0..partitions {
        ranges.push((p, 0, kafka::end_offset(&producer, topic, p).await.expect("end offset")));
    }
    let consumer = kafka::reader(brokers).expect("reader");
    let mut raw = Vec::new();
    kafka::read_ranges(&consumer, topic, &ranges, |p, o, bytes| raw.push((p, o, bytes.to_vec()))).await.expect("read");
    // Partitions are independent; fold each in offset order.
    raw.sort_by_key(|(p, o, _)| (*p, *o));
    let mut view = LogView { fold: events::LogFold::default(), records: Vec::new() };
    for (p, o, bytes) in raw {
        if let (Some(commit), verdict) = view.fold.fold_record(&bytes) {
            view.records.push((p, o, commit, verdict));
        }
    }
    view
}

/// Writes commits straight to the topic, as a fast writer would: `accounts`
/// accounts, each opened and then given `deposits` deposits of 1. Every
/// `conflict_every`-th deposit is followed by a conflicting duplicate (same
/// expected version) that the fold rule must reject. Returns the account ids.
pub async fn prefill(brokers: &str, topic: &str, accounts: usize, deposits: u64, conflict_every: u64) -> Vec<Uuid> {
    use events::account::{AccountOpened, MoneyMoved, AGGREGATE_TYPE};
    use events::{AccountEvent, CommandInfo, Event, Metadata};
    use rdkafka::producer::FutureRecord;

    let partitions = kafka::ensure_topic(brokers, topic, 8).await.expect("topic");
    let producer = kafka::producer(brokers, "ledger-prefill", 5).expect("producer");
    let ids: Vec<Uuid> = (0..accounts).map(|_| Uuid::new_v4()).collect();
    let commit = |id: Uuid, expected_version: u64, payload: AccountEvent| Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: AGGREGATE_TYPE.into(),
        aggregate_id: id,
        expected_version,
        previous_commit_id: None,
        events: vec![Event {
            event_id: Uuid::now_v7(),
            sequence: expected_version + 1,
            occurred_at: chrono::Utc::now(),
            payload,
        }],
        command: CommandInfo { name: "Prefill".into(), idempotency_key: None, fingerprint: None },
        metadata: Metadata { correlation_id: "prefill".into(), ..Default::default() },
    };
    for version in 0..=deposits {
        let mut pending = Vec::with_capacity(ids.len() * 2);
        for id in &ids {
            let mut commits = Vec::with_capacity(2);
            if version == 0 {
                let opened = AccountOpened { owner: "bulk".into(), currency: "EUR".into(), overdraft_limit: 0 };
                commits.push(commit(*id, 0, AccountEvent::AccountOpened(opened)));
            } else {
                let moved = MoneyMoved { amount: 1, reference: None, balance_after: version as i64 };
                commits.push(commit(*id, version, AccountEvent::MoneyDeposited(moved.clone())));
                if conflict_every > 0 && version % conflict_every == 0 {
                    commits.push(commit(*id, version, AccountEvent::MoneyDeposited(moved)));
                }
            }
            let partition = events::partition_for(*id, partitions);
            let key = id.to_string();
            for c in commits {
                let value = c.encode();
                let record = FutureRecord::to(topic).partition(partition).key(&key).payload(&value);
                pending.push(producer.send_result(record).map_err(|(e, _)| e).expect("queued"));
            }
        }
        for delivery in pending {
            delivery.await.expect("delivered").map_err(|(e, _)| e).expect("delivered");
        }
    }
    ids
}

/// Fails unless `served` equals the committed `docs/openapi/<name>.json`, so an
/// endpoint cannot change without its spec. `UPDATE_OPENAPI=1` rewrites the file.
pub fn assert_openapi_is_committed(served: &Value, name: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi").join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(served).expect("json") + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("docs/openapi");
        std::fs::write(&path, pretty).expect("write spec");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        &committed == served,
        "the served OpenAPI document differs from {}: review the change, then run \
         `UPDATE_OPENAPI=1 scripts/test.sh` and commit the file",
        path.display()
    );
}

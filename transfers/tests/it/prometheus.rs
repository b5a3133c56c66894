//! A real Prometheus (Debian's package) scrapes every service with the repo's
//! own scrape config (`docker/prometheus/prometheus.yml`, verbatim; only the
//! target files and the token file are this test's), and its HTTP API agrees
//! with what the test did.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use testkit::{free_port, Process};
use uuid::Uuid;

use crate::stack::{call, client, funded_account, System};

const COMMANDS: usize = 200;
const READS: usize = 100;
/// The four jobs of the shipped config.
const JOBS: &str = r#"job=~"command-service|query-service|projections|transfers""#;

/// Prometheus on a free port, reading a copy of `docker/prometheus/` that
/// points at `system`'s processes.
struct Prometheus {
    _process: Process,
    _dir: TempDir,
    base: String,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

fn start_prometheus(system: &System) -> Prometheus {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker/prometheus");
    let dir = std::env::temp_dir().join(format!("ledger-prometheus-{}", Uuid::new_v4().simple()));
    for sub in ["targets", "secrets", "data"] {
        std::fs::create_dir_all(dir.join(sub)).expect("prometheus directories");
    }
    for file in ["prometheus.yml", "alerts.yml"] {
        std::fs::copy(shipped.join(file), dir.join(file)).expect("the shipped prometheus config");
    }
    let targets = [
        ("command-service", &system.commands.base),
        ("query-service", &system.queries.base),
        ("projections", &system.projections.base),
        ("transfers", &system.driver.base),
    ];
    for (job, base) in targets {
        let file = format!("- targets: ['{}']\n", host(base));
        std::fs::write(dir.join("targets").join(format!("{job}.yml")), file).expect("a target file");
    }
    std::fs::write(dir.join("secrets/ops.token"), testkit::token("prometheus", &["ops"])).expect("token file");
    let port = free_port();
    let which = std::process::Command::new("sh").args(["-c", "command -v prometheus"]).output();
    assert!(
        which.is_ok_and(|o| o.status.success()),
        "prometheus is not installed: `apt-get install prometheus` (scripts/test.sh and .ci/run do)"
    );
    let args = vec![
        format!("--config.file={}", dir.join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
    ];
    let process = Process::start_with_args("prometheus", args, Vec::new());
    Prometheus { _process: process, _dir: TempDir(dir), base: format!("http://127.0.0.1:{port}") }
}

impl Prometheus {
    async fn ready(&mut self) {
        testkit::wait_ready(&mut self._process, &format!("{}/-/ready", self.base)).await;
    }

    /// The result vector of an instant query.
    async fn query(&self, promql: &str) -> Vec<Value> {
        let url = format!("{}/api/v1/query", self.base);
        let body: Value = reqwest::Client::new()
            .get(url)
            .query(&[("query", promql)])
            .send()
            .await
            .expect("prometheus answers")
            .json()
            .await
            .expect("prometheus answers JSON");
        assert_eq!(body["status"], "success", "{promql}: {body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of a query that sums to one series (none: `None`).
    async fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql).await;
        result.first().and_then(|r| r["value"][1].as_str()).and_then(|v| v.parse().ok())
    }

    /// Polls until `promql` has the value `want` (at most 60 s); returns the last value seen.
    async fn settle(&self, promql: &str, want: f64) -> Option<f64> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.value(promql).await;
            if seen == Some(want) || tokio::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scraping_every_service_counts_exactly_the_commands_and_reads_sent() {
    let system = System::start().await;
    let mut prometheus = start_prometheus(&system);
    prometheus.ready().await;

    // Every service is a target, and every target is up.
    let up = prometheus.settle(&format!("count(up{{{JOBS}}} == 1)"), 4.0).await;
    assert_eq!(up, Some(4.0), "targets: {:?}", prometheus.query("up").await);

    let alice = client("alice", &["client"]);
    let (commands, queries) = (&system.commands.base, &system.queries.base);
    let id = funded_account(&alice, commands, "EUR", 0).await;
    let mut token = String::new();
    for n in 1..COMMANDS {
        let deposit =
            alice.post(format!("{commands}/v1/accounts/{id}/deposits")).json(&serde_json::json!({ "amount": n }));
        let (status, body) = call(deposit).await.expect("the command service answers");
        assert_eq!(status, 200, "{body}");
        token = body["consistency_token"].as_str().expect("a consistency token").to_owned();
    }
    for n in 0..READS {
        // Half the reads wait for the last deposit (read-your-writes), half do not.
        let mut read = alice.get(format!("{queries}/v1/accounts/{id}"));
        if n % 2 == 0 {
            read = read.header("consistency-token", &token);
        }
        let (status, body) = call(read).await.expect("the query service answers");
        assert_eq!(status, 200, "{body}");
    }

    let sent = COMMANDS as f64;
    let commands_seen = r#"sum(ledger_http_requests_total{job="command-service",method="POST"})"#;
    assert_eq!(prometheus.settle(commands_seen, sent).await, Some(sent), "commands counted by Prometheus");
    let timed = r#"sum(ledger_http_request_duration_seconds_count{job="command-service",method="POST"})"#;
    assert_eq!(prometheus.settle(timed, sent).await, Some(sent), "latency observations");
    let accepted = r#"sum(ledger_writer_commits_accepted_total{job="command-service"})"#;
    assert_eq!(prometheus.settle(accepted, sent).await, Some(sent), "commits accepted");
    let reads = r#"sum(ledger_http_requests_total{job="query-service",route="/v1/accounts/{id}",status="2xx"})"#;
    assert_eq!(prometheus.settle(reads, READS as f64).await, Some(READS as f64), "reads");
    let waits = r#"sum(ledger_query_consistency_wait_seconds_count{job="query-service"})"#;
    assert_eq!(prometheus.settle(waits, (READS / 2) as f64).await, Some((READS / 2) as f64), "consistency waits");
    let lag = r#"max(ledger_projection_lag_records{job="projections"})"#;
    assert_eq!(prometheus.settle(lag, 0.0).await, Some(0.0), "projection lag drops to 0");
    let rss = format!("count(process_resident_memory_bytes{{{JOBS}}} > 0)");
    assert_eq!(prometheus.settle(&rss, 4.0).await, Some(4.0), "every service reports its memory");
    // The shipped alert rules load and none fires on a healthy system.
    let rules: Value =
        reqwest::get(format!("{}/api/v1/rules", prometheus.base)).await.expect("rules").json().await.expect("json");
    let groups = rules["data"]["groups"].as_array().cloned().unwrap_or_default();
    assert!(groups.iter().any(|g| g["name"] == "ledgerline"), "alert rules loaded: {rules}");
    let firing = prometheus.query(r#"ALERTS{alertstate="firing"}"#).await;
    assert!(firing.is_empty(), "alerts firing on a healthy system: {firing:?}");
}

//! The whole system, in-process, on free ports.

use testkit::{wait_url, Stack};
use tokio_util::sync::CancellationToken;

pub struct System {
    pub stack: Stack,
    pub commands: String,
    pub queries: String,
    worker: CancellationToken,
    worker_task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl System {
    /// Stops the projection worker while the broker is still up: a Kafka
    /// consumer dropped after its broker is gone can block in close forever.
    pub async fn stop(self) {
        self.worker.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), self.worker_task).await;
    }
}

pub async fn system(consistency_wait_ms: u64) -> System {
    let stack = Stack::new().await;
    let commands = command_service::Application::build(command_service::Config::local(
        &stack.broker.addr,
        &stack.db.url,
        &stack.topic,
    ))
    .await
    .expect("command service");
    let commands_url = format!("http://{}", commands.local_addr().expect("addr"));
    tokio::spawn(commands.run_until_stopped());

    let group = format!("{}-workers", stack.topic);
    let mut worker_config = projections::Config::local(&stack.broker.addr, &stack.db.url, &stack.topic, &group);
    worker_config.batch_wait_ms = 2;
    let worker = projections::Application::build(worker_config).await.expect("projections");
    let worker_url = format!("http://{}", worker.local_addr().expect("addr"));
    let worker_stop = CancellationToken::new();
    let worker_task = tokio::spawn(worker.run_until(worker_stop.clone()));
    wait_url(&format!("{worker_url}/readyz")).await;

    // The read-only role the migrations created, on the test database.
    let query_db = stack.db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
    let mut query_config = query_service::Config::local(&query_db, &stack.topic);
    query_config.consistency_wait_ms = consistency_wait_ms;
    let queries = query_service::Application::build(query_config).await.expect("query service");
    let queries_url = format!("http://{}", queries.local_addr().expect("addr"));
    tokio::spawn(queries.run_until(CancellationToken::new()));
    wait_url(&format!("{commands_url}/readyz")).await;
    wait_url(&format!("{queries_url}/readyz")).await;
    System { stack, commands: commands_url, queries: queries_url, worker: worker_stop, worker_task }
}

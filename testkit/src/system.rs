//! The whole system in-process on free ports (feature `system`): the command
//! service (when asked), a projection worker and the query service, on a
//! [`Stack`] of their own. The one harness for tests that need all of them
//! but not as separate processes.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::{wait_url, Stack};

pub struct System {
    pub stack: Stack,
    /// The command service's base URL; empty when it was not started.
    pub commands: String,
    pub queries: String,
    worker: CancellationToken,
    /// Fires when the worker's thread has finished.
    worker_task: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl System {
    /// Starts a projection worker and the query service (reads wait at most
    /// `consistency_wait_ms` for a token, or the default), and the command
    /// service if `with_commands`; returns when all are ready.
    pub async fn start(with_commands: bool, consistency_wait_ms: Option<u64>) -> System {
        // The services' warnings and errors (a 5xx's cause, say) go to the test's output.
        let filter = tracing_subscriber::EnvFilter::new("warn,rdkafka=error");
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
        let stack = Stack::new().await;
        let mut commands = String::new();
        if with_commands {
            let app = command_service::Application::build(command_service::Config::local(
                &stack.broker.addr,
                &stack.db.url,
                &stack.topic,
            ))
            .await
            .expect("command service");
            commands = format!("http://{}", app.local_addr().expect("addr"));
            tokio::spawn(app.run_until_stopped());
        }
        // The projection worker runs on a thread and runtime of its own: when
        // its broker is gone, dropping its consumer blocks that thread (librdkafka
        // waits for a close that never comes), and it must not block the test's
        // runtime, whose timers bound every wait.
        let group = format!("{}-workers", stack.topic);
        let mut config = projections::Config::local(&stack.broker.addr, &stack.db.url, &stack.topic, &group);
        config.batch_wait_ms = 2;
        let stop = CancellationToken::new();
        let (ready, started) = tokio::sync::oneshot::channel();
        let (done, worker_task) = tokio::sync::oneshot::channel();
        let worker_stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
            let runtime = runtime.expect("the projection worker's runtime");
            runtime.block_on(async move {
                let worker = projections::Application::build(config).await.expect("projection worker");
                let _ = ready.send(format!("http://{}", worker.local_addr().expect("addr")));
                if let Err(error) = worker.run_until(worker_stop).await {
                    eprintln!("the projection worker stopped: {error:#}");
                }
            });
            let _ = done.send(());
        });
        let worker_url = started.await.expect("the projection worker started");
        // The read-only role the projections' migrations create, on the test database.
        let query_db = stack.db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
        let mut query_config = query_service::Config::local(&query_db, &stack.topic);
        if let Some(wait) = consistency_wait_ms {
            query_config.consistency_wait_ms = wait;
        }
        let queries = query_service::Application::build(query_config).await.expect("query service");
        let queries_url = format!("http://{}", queries.local_addr().expect("addr"));
        tokio::spawn(queries.run_until(CancellationToken::new()));
        for url in [&worker_url, &queries_url].into_iter().chain(with_commands.then_some(&commands)) {
            wait_url(&format!("{url}/readyz")).await;
        }
        System { stack, commands, queries: queries_url, worker: stop, worker_task: Some(worker_task) }
    }

    /// Stops the projection worker while the broker is still up: a Kafka
    /// consumer dropped after its broker is gone can block in close for ever.
    pub async fn stop_worker(&mut self) {
        self.worker.cancel();
        if let Some(task) = self.worker_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
    }

    /// Stops what must stop before the broker does.
    pub async fn stop(mut self) {
        self.stop_worker().await;
    }

    /// Waits until the worker's checkpoints reach the end of every partition.
    pub async fn caught_up(&self) {
        let pool = sqlx::PgPool::connect(&self.stack.db.url).await.expect("db");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let ends = ledger_runtime::kafka::log_ends(&self.stack.broker.addr, &self.stack.topic, 8).await;
            let end: i64 = ends.expect("log ends").iter().sum();
            let (applied,): (Option<i64>,) = sqlx::query_as(
                "select sum(next_offset)::int8 from projection_checkpoints where projection = 'accounts'",
            )
            .fetch_one(&pool)
            .await
            .expect("checkpoints");
            if applied == Some(end) {
                return;
            }
            assert!(Instant::now() < deadline, "the worker did not catch up: {applied:?} of {end}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

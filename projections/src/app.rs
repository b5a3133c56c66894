//! Wiring: build a worker from its config and run it until shutdown.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::consumer::group_consumer;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::worker::Worker;
use crate::{projector, store};
use ledger_runtime::retry::until_ok;
use ledger_runtime::{kafka, ops, shutdown};

pub struct Application {
    config: Config,
    listener: TcpListener,
    pool: PgPool,
    auth: ledger_runtime::auth::Authenticator,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let pool = until_ok("the database", || async {
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&config.database_url)
                .await?;
            store::migrate(&pool).await?;
            Ok::<_, Error>(pool)
        })
        .await;
        until_ok("the events topic", || {
            kafka::ensure_topic(&config.kafka_brokers, &config.events_topic, config.events_partitions)
        })
        .await;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, pool, auth })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Runs until `shutdown` is cancelled: finishes the current batch, commits,
    /// leaves the group. Needs a multi-threaded tokio runtime (the worker asks
    /// the broker for log ends with a blocking call in `block_in_place`).
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = Arc::new(Metrics::new());
        let ready = Arc::new(AtomicBool::new(false));
        let (consumer, changes) = group_consumer(&self.config)?;
        let projectors = projector::all();
        let names = projectors.iter().map(|p| p.name()).collect();
        let worker = Worker {
            consumer,
            changes,
            pool: self.pool.clone(),
            topic: self.config.events_topic.clone(),
            projectors,
            names,
            batch_max: self.config.batch_max.max(1),
            batch_wait: Duration::from_millis(self.config.batch_wait_ms),
            metrics: Arc::clone(&metrics),
            ready: Arc::clone(&ready),
        };
        info!(addr = %self.listener.local_addr()?, group = %self.config.group, "projection worker starting");
        let render = Arc::clone(&metrics);
        let ops = ops::router(ops::Ops {
            ready,
            waiting_for: "waiting for a partition assignment",
            render: Arc::new(move || render.render()),
            auth: self.auth.clone(),
        });
        let server = ledger_runtime::serve::serve(
            self.listener,
            ops,
            self.config.serve.clone(),
            Arc::clone(&metrics.connections),
            shutdown.clone(),
        );
        let server = tokio::spawn(server);
        let result = worker.run(shutdown.clone()).await;
        shutdown.cancel();
        let _ = server.await;
        self.pool.close().await;
        info!("projection worker stopped");
        Ok(result?)
    }
}

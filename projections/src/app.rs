//! Wiring: build a worker from its config and run it until shutdown.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::consumer::group_consumer;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::worker::Worker;
use crate::{projector, store};
use ledger_runtime::boot::{wait_for, Gate};
use ledger_runtime::{kafka, ops, shutdown};

pub struct Application {
    config: Config,
    listener: TcpListener,
    auth: ledger_runtime::auth::Authenticator,
}

impl Application {
    /// Checks the configuration and binds the listener; waits for nothing.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, auth })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves `/healthz` at once, waits for Postgres and the broker (retried
    /// with back-off), then runs until `shutdown` is cancelled: finishes the
    /// current batch, commits, leaves the group. Needs a multi-threaded tokio
    /// runtime (the worker asks the broker for log ends with a blocking call in
    /// `block_in_place`).
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = Arc::new(Metrics::new());
        info!(addr = %self.listener.local_addr()?, group = %self.config.group, "projection worker starting");
        let gate = Gate::new();
        let server = tokio::spawn(ledger_runtime::serve::serve(
            self.listener,
            gate.router(),
            self.config.serve.clone(),
            Arc::clone(&metrics.connections),
            shutdown.clone(),
        ));
        let url = self.config.db.database_url.clone();
        let pool = wait_for("the database", &gate, &shutdown, move || {
            let url = url.clone();
            async move {
                let pool = PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(&url)
                    .await?;
                store::migrate(&pool).await?;
                Ok::<_, Error>(pool)
            }
        })
        .await;
        let (brokers, topic, count) = (
            self.config.log.kafka_brokers.clone(),
            self.config.log.events_topic.clone(),
            self.config.log.events_partitions,
        );
        let topic = match &pool {
            Some(_) => {
                wait_for("the events topic", &gate, &shutdown, move || {
                    let (brokers, topic) = (brokers.clone(), topic.clone());
                    async move { kafka::ensure_topic(&brokers, &topic, count).await }
                })
                .await
            }
            None => None,
        };
        let (Some(pool), Some(_)) = (pool, topic) else {
            let _ = server.await;
            return Ok(());
        };
        let ready = Arc::new(AtomicBool::new(false));
        let (consumer, changes) = group_consumer(&self.config)?;
        let projectors = projector::all();
        let names = projectors.iter().map(|p| p.name()).collect();
        let worker = Worker {
            consumer,
            changes,
            pool: pool.clone(),
            brokers: self.config.log.kafka_brokers.clone(),
            topic: self.config.log.events_topic.clone(),
            projectors,
            names,
            batch_max: self.config.batch_max.max(1),
            batch_wait: Duration::from_millis(self.config.batch_wait_ms),
            metrics: Arc::clone(&metrics),
            ready: Arc::clone(&ready),
        };
        let render = Arc::clone(&metrics);
        gate.open(ops::router(ops::Ops {
            ready,
            waiting_for: "waiting for a partition assignment",
            render: Arc::new(move || render.render()),
            auth: self.auth.clone(),
        }));
        let result = worker.run(shutdown.clone()).await;
        shutdown.cancel();
        let _ = server.await;
        pool.close().await;
        info!("projection worker stopped");
        Ok(result?)
    }
}

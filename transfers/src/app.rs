//! Wiring: build a driver from its config and run it until shutdown.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::consumer::{group_consumer, Checkpoints};
use crate::dispatch::Dispatcher;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::steps::StepClient;
use crate::token::Token;
use crate::worker::Worker;
use ledger_runtime::{kafka, shutdown};

/// Wait between attempts to reach the broker at start.
const TOPIC_RETRY: Duration = Duration::from_secs(2);

pub struct Application {
    config: Config,
    listener: TcpListener,
    auth: ledger_runtime::auth::Authenticator,
    client: StepClient,
    metrics: Arc<Metrics>,
}

impl Application {
    /// Checks the configuration and binds the ops port. Contacts neither Kafka
    /// nor the command service: missing dependencies are waited for in `run`.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let metrics = Arc::new(Metrics::new());
        let client = StepClient::new(&config.command_url, Token::from_config(&config)?, Arc::clone(&metrics))?;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, auth, client, metrics })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Runs until `shutdown` is cancelled: stops taking records, lets steps in
    /// flight finish (up to 10 s), commits, leaves the group. Needs a
    /// multi-threaded tokio runtime (broker look-ups run in `block_in_place`).
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ready = Arc::new(AtomicBool::new(false));
        let addr = self.listener.local_addr()?;
        let render = Arc::clone(&self.metrics);
        let ops = ledger_runtime::ops::router(ledger_runtime::ops::Ops {
            ready: Arc::clone(&ready),
            waiting_for: "folding the assigned partitions",
            render: Arc::new(move || render.render()),
            auth: self.auth,
        });
        let server = ledger_runtime::serve::serve(
            self.listener,
            ops,
            self.config.serve.clone(),
            Arc::clone(&self.metrics.connections),
            shutdown.clone(),
        );
        let server = tokio::spawn(server);
        info!(%addr, group = %self.config.group, command_url = %self.config.command_url, "transfer driver starting");
        let result = if wait_for_topic(&self.config, &shutdown).await {
            let checkpoints = Checkpoints::default();
            let (consumer, changes) = group_consumer(&self.config, Arc::clone(&checkpoints))?;
            let worker = Worker {
                consumer,
                changes,
                checkpoints,
                topic: self.config.log.events_topic.clone(),
                dispatcher: Dispatcher::new(self.client, self.config.concurrency, Arc::clone(&self.metrics)),
                metrics: self.metrics,
                ready,
            };
            worker.run(shutdown.clone()).await
        } else {
            Ok(())
        };
        shutdown.cancel();
        let _ = server.await;
        info!("transfer driver stopped");
        Ok(result?)
    }
}

/// Makes sure the events topic exists, retrying while the broker is away.
/// False if shutdown came first.
async fn wait_for_topic(config: &Config, shutdown: &CancellationToken) -> bool {
    loop {
        match kafka::ensure_topic(&config.log.kafka_brokers, &config.log.events_topic, config.log.events_partitions)
            .await
        {
            Ok(partitions) => {
                info!(partitions, topic = %config.log.events_topic, "events topic found");
                return true;
            }
            Err(error) => warn!(%error, "cannot reach the events topic yet: retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep(TOPIC_RETRY) => {}
        }
    }
}

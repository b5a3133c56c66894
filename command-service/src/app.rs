//! Wiring: build the service from its config, recover, run until shutdown.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use events::{partition_for, Command};
use rdkafka::producer::{FutureProducer, Producer};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};
use uuid::Uuid;

use crate::config::Config;
use crate::directory::Directory;
use crate::error::{Error, Refusal};
use crate::http::{router, CommandHeaders};
use crate::plan::{Reply, Request};
use crate::recovery::{recover, RecoveryReport};
use crate::snapshot::Snapshotter;
use crate::store;
use crate::writer::{Writer, WriterConfig};
use ledger_runtime::kafka;
use ledger_runtime::shutdown;

/// Requests queued per partition before callers wait.
const QUEUE_DEPTH: usize = 4096;

/// Routes each command to the writer of its partition. Empty until recovery is done.
#[derive(Default)]
pub struct Writers {
    ready: OnceLock<(Vec<mpsc::Sender<Request>>, RecoveryReport)>,
}

impl Writers {
    pub fn recovery(&self) -> Option<&RecoveryReport> {
        self.ready.get().map(|(_, report)| report)
    }

    pub async fn submit(&self, account_id: Uuid, command: Command, headers: CommandHeaders) -> Result<Reply, Refusal> {
        let Some((senders, _)) = self.ready.get() else {
            return Err(Refusal::Unavailable("catching up with the events log".into()));
        };
        let partition = partition_for(account_id, senders.len() as i32) as usize;
        let (reply, answer) = oneshot::channel();
        let request = Request {
            account_id,
            command,
            idempotency_key: headers.idempotency_key,
            if_match: headers.if_match,
            metadata: headers.metadata,
            owner: headers.owner,
            reply,
        };
        let shutting_down = || Refusal::Unavailable("the service is shutting down".into());
        senders[partition].send(request).await.map_err(|_| shutting_down())?;
        answer.await.map_err(|_| shutting_down())?
    }
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub writers: Arc<Writers>,
    /// Currencies, transfer sources and statuses, across partitions.
    pub directory: Arc<Directory>,
    pub max_body_bytes: usize,
    /// Signs the consistency tokens handed to clients.
    pub token_key: Arc<[u8]>,
    /// Checks bearer tokens.
    pub auth: ledger_runtime::auth::Authenticator,
    /// Commands per client.
    pub rate_limit: ledger_runtime::rate_limit::RateLimit,
}

/// A built, not yet running, command service.
pub struct Application {
    config: Config,
    listener: TcpListener,
    pool: PgPool,
    producer: Arc<FutureProducer>,
    partitions: i32,
    auth: ledger_runtime::auth::Authenticator,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&config.database_url)
            .await?;
        store::migrate(&pool).await?;
        let partitions =
            kafka::ensure_topic(&config.kafka_brokers, &config.events_topic, config.events_partitions).await?;
        let producer =
            Arc::new(kafka::producer(&config.kafka_brokers, "ledger-command-service", config.kafka_linger_ms)?);
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, pool, producer, partitions, auth })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves HTTP at once (health, and 503 while recovering), recovers the
    /// state, then starts the partition writers. Returns on SIGTERM/SIGINT.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = shutdown::signal();
        let writers = Arc::new(Writers::default());
        let directory = Arc::new(Directory::default());
        if self.config.consistency_token_key.expose() == crate::config::DEV_TOKEN_KEY {
            warn!("CONSISTENCY_TOKEN_KEY is not set: using the development key; set it in any shared deployment");
        }
        let state = AppState {
            writers: Arc::clone(&writers),
            directory: Arc::clone(&directory),
            max_body_bytes: self.config.max_body_bytes,
            token_key: self.config.consistency_token_key.expose().as_bytes().into(),
            auth: self.auth.clone(),
            rate_limit: ledger_runtime::rate_limit::RateLimit::per_second(
                self.config.rate_limit_per_second,
                self.config.rate_limit_burst,
            ),
        };
        tokio::spawn(state.rate_limit.clone().sweep(shutdown.clone()));
        info!(addr = %self.listener.local_addr()?, partitions = self.partitions, "command service listening");
        let server =
            axum::serve(self.listener, router(state)).with_graceful_shutdown(shutdown.clone().cancelled_owned());
        let server = tokio::spawn(async move { server.await });

        let (states, report) = tokio::select! {
            result = recover(
                &self.config.kafka_brokers,
                &self.config.events_topic,
                self.partitions,
                &self.pool,
                &self.producer,
                !self.config.ignore_snapshots,
            ) => result?,
            () = shutdown.cancelled() => return Ok(()),
        };
        let writer_config = Arc::new(WriterConfig {
            brokers: self.config.kafka_brokers.clone(),
            topic: self.config.events_topic.clone(),
            batch_max: self.config.batch_max,
            pipeline_depth: usize::from(self.config.pipeline_depth),
        });
        directory.load(states.iter().map(|(state, _)| state));
        let mut senders = Vec::with_capacity(states.len());
        let mut tasks = Vec::with_capacity(states.len());
        for (partition_state, snapshot_offset) in states {
            let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
            let snapshots = Snapshotter::new(
                self.pool.clone(),
                self.config.events_topic.clone(),
                self.config.snapshot_every,
                self.config.idempotency_window(),
                snapshot_offset,
            );
            let writer = Writer::new(
                Arc::clone(&writer_config),
                partition_state,
                Arc::clone(&self.producer),
                snapshots,
                Arc::clone(&directory),
            );
            tasks.push(tokio::spawn(writer.run(receiver, shutdown.clone())));
            senders.push(sender);
        }
        let _ = writers.ready.set((senders, report));
        info!("command service ready");

        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "http server failed"),
            Err(e) => error!(error = %e, "http server task failed"),
        }
        shutdown.cancel();
        for task in tasks {
            let _ = task.await;
        }
        let producer = Arc::clone(&self.producer);
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await??;
        info!("command service stopped");
        Ok(())
    }
}

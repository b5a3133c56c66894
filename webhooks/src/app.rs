//! Wiring: build the service from its config; serve the API at once, wait
//! for Postgres and the broker, then run the intake and the dispatcher.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::{Config, Delivery};
use crate::dispatch::{Deliverer, Owned};
use crate::error::Error;
use crate::http::router;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::secrets::Vault;
use crate::send::Sender;
use crate::state::AppState;
use crate::store;
use ledger_runtime::boot::{wait_for, Gate};
use ledger_runtime::{kafka, shutdown};

/// How long attempts in flight may finish after a shutdown request.
const DRAIN: Duration = Duration::from_secs(10);

pub struct Application {
    config: Config,
    delivery: Delivery,
    listener: TcpListener,
    auth: ledger_runtime::auth::Authenticator,
    kek: ledger_runtime::keys::Kek,
    cors: ledger_runtime::cors::Cors,
}

impl Application {
    /// Checks the configuration and binds the listener; waits for nothing.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let kek = config.keys.kek()?;
        let delivery = config.delivery()?;
        let cors = ledger_runtime::cors::Cors::from_args(&config.cors)?;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, delivery, listener, auth, kek, cors })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Runs until `shutdown`: stops reading the log, lets attempts in flight
    /// finish (up to 10 s), leaves the group. Needs a multi-threaded runtime.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics = Arc::new(Metrics::new());
        info!(addr = %self.listener.local_addr()?, group = %self.config.group, "webhooks service listening");
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
                let pool = store::pool_options().connect(&url).await?;
                store::migrate(&pool).await?;
                Ok::<_, Error>(pool)
            }
        })
        .await;
        let Some(pool) = pool else {
            server.await??;
            return Ok(());
        };
        let log = self.config.log.clone();
        let topic = wait_for("the events topic", &gate, &shutdown, move || {
            let log = log.clone();
            async move { kafka::ensure_topic(&log.kafka_brokers, &log.events_topic, log.events_partitions).await }
        })
        .await;
        if topic.is_none() {
            server.await??;
            return Ok(());
        }
        let vault = Vault::new(pool.clone(), self.kek);
        let bell = Arc::new(tokio::sync::Notify::new());
        let deliverer = Deliverer {
            pool: pool.clone(),
            vault: vault.clone(),
            sender: Arc::new(Sender::new(&self.delivery, self.config.resolve_file.clone())?),
            delivery: self.delivery,
            metrics: Arc::clone(&metrics),
            bell: Arc::clone(&bell),
            replayed: Default::default(),
            endpoints_version: Default::default(),
        };
        let (owned, fresh) = Owned::new(bell);
        let ready = Arc::new(AtomicBool::new(false));
        let mut client = kafka::group_config(
            &self.config.log.kafka_brokers,
            &self.config.group,
            "ledger-webhooks",
            self.config.session_timeout_ms,
        );
        // Positions are kept in Postgres, never committed: a member always
        // reads an assigned partition from its start (and folds it).
        client.set("auto.offset.reset", "earliest").set("fetch.wait.max.ms", "20");
        let (consumer, changes) = ledger_runtime::group::consumer(&client, &self.config.log.events_topic)?;
        let intake = Intake {
            consumer,
            changes,
            brokers: self.config.log.kafka_brokers.clone(),
            topic: self.config.log.events_topic.clone(),
            pool: pool.clone(),
            vault: vault.clone(),
            owned: owned.clone(),
            ready: Arc::clone(&ready),
            endpoints_version: Arc::clone(&deliverer.endpoints_version),
            endpoints: Default::default(),
        };
        let intake = tokio::spawn(intake.run(shutdown.clone()));
        tokio::spawn(crate::dispatch::listen_for_changes(deliverer.clone(), shutdown.clone()));
        let dispatcher = tokio::spawn(crate::dispatch::run(deliverer.clone(), owned, fresh, shutdown.clone(), DRAIN));
        let state = AppState { pool, vault, deliverer, auth: self.auth, metrics, ready, cors: self.cors };
        gate.open(router(state));
        let intake = intake.await?;
        dispatcher.await?;
        server.await??;
        info!("webhooks service stopped");
        Ok(intake?)
    }
}

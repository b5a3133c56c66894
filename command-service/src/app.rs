//! Wiring: build the service from its config, join the writers' group, run until shutdown.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::Producer;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::cluster::membership::{self, GroupSettings};
use crate::cluster::registry::Registry;
use crate::config::Config;
use crate::directory::Directory;
use crate::erasure::Eraser;
use crate::error::Error;
use crate::http::{router, Forwarder};
use crate::metrics::Metrics;
use crate::ownership::Ownership;
use crate::partitions::Partitions;
use crate::send::SharedProducer;
use crate::store;
use crate::writer::WriterConfig;
use ledger_runtime::boot::{wait_for, Gate};
use ledger_runtime::kafka;
use ledger_runtime::keys::SubjectKeys;
use ledger_runtime::shutdown;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The routing table: which partitions are served here, and their writers.
    pub partitions: Arc<Partitions>,
    /// Forwards to other instances; knows the cluster.
    pub forwarder: Forwarder,
    /// Currencies, transfer sources and statuses, across partitions.
    pub directory: Arc<Directory>,
    pub max_body_bytes: usize,
    /// Signs the consistency tokens handed to clients.
    pub token_key: Arc<[u8]>,
    /// Checks bearer tokens.
    pub auth: ledger_runtime::auth::Authenticator,
    /// Commands per client.
    pub rate_limit: ledger_runtime::rate_limit::RateLimit,
    /// Which browser origins may call the API.
    pub cors: ledger_runtime::cors::Cors,
    /// Rendered on `/metrics` (role `ops`).
    pub metrics: Arc<Metrics>,
    /// Erases data subjects (`DELETE /v1/subjects/{subject}`).
    pub eraser: Arc<Eraser>,
}

/// A built, not yet running, command service: its listener is bound, nothing else is touched.
pub struct Application {
    config: Config,
    listener: TcpListener,
    auth: ledger_runtime::auth::Authenticator,
    kek: ledger_runtime::keys::Kek,
    cors: ledger_runtime::cors::Cors,
}

/// What the service needs from outside before it can take commands.
struct Dependencies {
    pool: PgPool,
    keys: Arc<SubjectKeys>,
    partitions: i32,
    producer: Arc<SharedProducer>,
}

impl Application {
    /// Checks the configuration and binds the listener; waits for nothing.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let auth = ledger_runtime::auth::Authenticator::new(&config.auth)?;
        let kek = config.keys.kek()?;
        let cors = ledger_runtime::cors::Cors::from_args(&config.cors)?;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, auth, kek, cors })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Waits for Postgres, the key store and the broker (each retried with back-off).
    async fn connect_with(
        config: &Config,
        kek: &ledger_runtime::keys::Kek,
        gate: &Gate,
        shutdown: &CancellationToken,
    ) -> Option<Dependencies> {
        let url = config.db.database_url.clone();
        let pool = wait_for("the database", gate, shutdown, move || {
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
        .await?;
        let (store, kek) = (pool.clone(), kek.clone());
        let keys =
            wait_for("the key store", gate, shutdown, move || SubjectKeys::open(store.clone(), kek.clone())).await?;
        let (brokers, topic, count) =
            (config.log.kafka_brokers.clone(), config.log.events_topic.clone(), config.log.events_partitions);
        let partitions = wait_for("the events topic", gate, shutdown, move || {
            let (brokers, topic) = (brokers.clone(), topic.clone());
            async move { kafka::ensure_topic(&brokers, &topic, count).await }
        })
        .await?;
        let client_id = format!("ledger-command-service-{}", std::process::id());
        let (brokers, linger) = (config.log.kafka_brokers.clone(), config.kafka_linger_ms);
        let producer = wait_for("a Kafka producer", gate, shutdown, move || {
            let made = SharedProducer::new(&brokers, &client_id, linger);
            async move { made }
        })
        .await?;
        Some(Dependencies { pool, keys: Arc::new(keys), partitions, producer: Arc::new(producer) })
    }

    /// Serves HTTP at once (health; 503 while its dependencies come up and its
    /// partitions load), joins the writers' group and serves the partitions it
    /// assigns. On SIGTERM/SIGINT it hands its partitions over (in-flight
    /// commits proven and answered), leaves the group, then stops serving HTTP.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let shutdown = shutdown::signal();
        if self.config.consistency_token_key.expose() == crate::config::DEV_TOKEN_KEY {
            warn!("CONSISTENCY_TOKEN_KEY is not set: using the development key; set it in any shared deployment");
        }
        // Charged once, where a request first arrives: forwards carry a proof
        // under a key derived from the secret every instance shares.
        let proof = ledger_runtime::rate_limit::PeerProof::from_shared_secret(
            self.config.consistency_token_key.expose().as_bytes(),
        );
        let rate_limit = ledger_runtime::rate_limit::RateLimit::per_second(
            self.config.rate_limit_per_second,
            self.config.rate_limit_burst,
        )
        .charged_once(proof.clone());
        let metrics = Arc::new(Metrics::new(&rate_limit));
        let url = advertised_url(&self.config, self.listener.local_addr()?);
        info!(addr = %self.listener.local_addr()?, %url, "command service listening");
        // HTTP outlives the handover, so requests keep being forwarded to the new owners.
        let (gate, http_stop) = (Gate::new(), CancellationToken::new());
        let server = tokio::spawn(ledger_runtime::serve::serve(
            self.listener,
            gate.router(),
            self.config.serve.clone(),
            Arc::clone(&metrics.connections),
            http_stop.clone(),
        ));
        let Some(deps) = Self::connect_with(&self.config, &self.kek, &gate, &shutdown).await else {
            http_stop.cancel();
            let _ = server.await;
            return Ok(());
        };
        let partitions = Arc::new(Partitions::new(deps.partitions));
        let directory = Arc::new(Directory::new(deps.partitions));
        let registry = Arc::new(Registry::new(
            deps.pool.clone(),
            self.config.log.events_topic.clone(),
            url,
            Duration::from_millis(u64::from(self.config.session_timeout_ms)),
        ));
        let eraser = Arc::new(Eraser {
            keys: Arc::clone(&deps.keys),
            producer: Arc::clone(&deps.producer),
            topic: self.config.log.events_topic.clone(),
            partitions: deps.partitions,
        });
        let state = AppState {
            eraser,
            metrics: Arc::clone(&metrics),
            partitions: Arc::clone(&partitions),
            forwarder: Forwarder::new(Arc::clone(&registry), deps.partitions, self.config.max_body_bytes, proof),
            directory: Arc::clone(&directory),
            max_body_bytes: self.config.max_body_bytes,
            token_key: self.config.consistency_token_key.expose().as_bytes().into(),
            auth: self.auth.clone(),
            rate_limit,
            cors: self.cors.clone(),
        };
        tokio::spawn(state.rate_limit.clone().sweep(shutdown.clone()));
        gate.open(router(state));
        info!(partitions = deps.partitions, "command service connected");

        let registry_stop = CancellationToken::new();
        let publisher = tokio::spawn(Arc::clone(&registry).run(Arc::clone(&partitions), registry_stop.clone()));
        let settings = GroupSettings {
            brokers: self.config.log.kafka_brokers.clone(),
            topic: self.config.log.events_topic.clone(),
            group: self.config.writers_group.clone(),
            session_timeout_ms: self.config.session_timeout_ms,
            client_id: format!("ledger-command-service-{}", registry.instance_id),
            instance_id: self.config.group_instance_id.clone(),
        };
        let (changes, membership) = membership::join(&settings, shutdown.clone())?;
        let writers = WriterConfig::new(&self.config, Arc::clone(&metrics.writers), Arc::clone(&deps.keys));
        let ownership = Ownership::new(
            self.config.clone(),
            deps.pool.clone(),
            Arc::clone(&deps.producer),
            partitions,
            directory,
            registry,
            Arc::new(writers),
        );
        ownership.run(changes).await;
        shutdown.cancel();
        let _ = tokio::task::spawn_blocking(move || membership.join()).await;
        registry_stop.cancel();
        let _ = publisher.await;
        http_stop.cancel();
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error!(error = %e, "http server failed"),
            Err(e) => error!(error = %e, "http server task failed"),
        }
        let producer = deps.producer.get();
        tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(10))).await??;
        info!("command service stopped");
        Ok(())
    }
}

/// `ADVERTISED_URL`, or `http://` and the listening address.
fn advertised_url(config: &Config, local: std::net::SocketAddr) -> String {
    if let Some(url) = &config.advertised_url {
        return url.trim_end_matches('/').to_owned();
    }
    if local.ip().is_unspecified() {
        warn!(%local, "listening on every interface and ADVERTISED_URL is not set: peers cannot forward to this instance");
    }
    format!("http://{local}")
}

//! Wiring: build the service from its config, listen for checkpoints, serve.

use std::time::Duration;

use axum::http::HeaderMap;
use events::ConsistencyToken;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::config::Config;
use crate::consistency::Checkpoints;
use crate::error::Error;
use crate::http::{router, TOKEN_HEADER};
use crate::store;
use ledger_runtime::boot::{wait_for, Gate};
use ledger_runtime::shutdown;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub checkpoints: Checkpoints,
    pub topic: String,
    pub consistency_wait: Duration,
    /// Checks the signature of consistency tokens.
    pub token_key: std::sync::Arc<[u8]>,
    /// Checks bearer tokens.
    pub auth: ledger_runtime::auth::Authenticator,
    /// Recent `Read-Lag-Records` values, per set of projections.
    pub lag_cache: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, i64)>>>,
    /// Requests by route, rendered on `/metrics` (role `ops`).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Opens the personal fields of what is read.
    pub opener: crate::personal::Opener,
    /// Which browser origins may call the API.
    pub cors: ledger_runtime::cors::Cors,
}

/// How long a `Read-Lag-Records` value is reused. The header reports staleness,
/// so 100 ms of its own costs nothing, and it saves a query on most reads.
const LAG_TTL: Duration = Duration::from_millis(100);

impl AppState {
    /// With a consistency token (header or `after=`), waits until `projections`
    /// have applied its position. Without one, returns the lag to report.
    pub async fn fresh_enough(
        &self,
        headers: &HeaderMap,
        after: Option<&str>,
        projections: &[&str],
    ) -> Result<Option<i64>, Error> {
        let header = headers.get(TOKEN_HEADER).map(|v| v.to_str().unwrap_or("\u{0}"));
        let Some(raw) = header.or(after) else {
            let key = projections.join(",");
            let cached = self.lag_cache.lock().ok().and_then(|c| c.get(&key).copied());
            if let Some((_, lag)) = cached.filter(|(at, _)| at.elapsed() < LAG_TTL) {
                return Ok(Some(lag));
            }
            let lag = store::lag_records(&self.pool, &self.topic, projections).await?;
            if let Ok(mut cache) = self.lag_cache.lock() {
                cache.insert(key, (std::time::Instant::now(), lag));
            }
            self.metrics.read_lag.set(lag);
            return Ok(Some(lag));
        };
        let token = ConsistencyToken::verify(raw, &self.token_key)
            .map_err(|_| Error::Validation("malformed or forged consistency token".into()))?;
        let started = std::time::Instant::now();
        let waited = self.checkpoints.wait_for(&self.pool, token.0, projections, self.consistency_wait).await;
        self.metrics.consistency_wait.observe(started.elapsed().as_secs_f64());
        if let Err(Error::NotYetConsistent(_)) = &waited {
            self.metrics.not_yet_consistent.inc();
        }
        waited.map(|()| None)
    }
}

pub struct Application {
    config: Config,
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
        let cors = ledger_runtime::cors::Cors::from_args(&config.cors)?;
        let listener = TcpListener::bind(config.http_addr).await?;
        Ok(Self { config, listener, auth, kek, cors })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown::signal()).await
    }

    /// Serves `/healthz` at once, waits for Postgres (retried with back-off),
    /// then serves reads until `shutdown`.
    pub async fn run_until(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let metrics: std::sync::Arc<crate::metrics::Metrics> = Default::default();
        info!(addr = %self.listener.local_addr()?, "query service listening");
        let gate = Gate::new();
        let server = tokio::spawn(ledger_runtime::serve::serve(
            self.listener,
            gate.router(),
            self.config.serve.clone(),
            std::sync::Arc::clone(&metrics.connections),
            shutdown.clone(),
        ));
        let url = self.config.database_url.clone();
        let pool = wait_for("the database", &gate, &shutdown, move || {
            let url = url.clone();
            let options = store::pool_options();
            async move { options.connect(&url).await }
        })
        .await;
        let Some(pool) = pool else {
            server.await??;
            return Ok(());
        };
        let checkpoints = Checkpoints::new(self.config.events_topic.clone());
        tokio::spawn(checkpoints.clone().listen(pool.clone(), shutdown.clone()));
        let state = AppState {
            pool: pool.clone(),
            checkpoints,
            topic: self.config.events_topic.clone(),
            consistency_wait: self.config.consistency_wait(),
            token_key: self.config.consistency_token_key.expose().as_bytes().into(),
            auth: self.auth.clone(),
            lag_cache: Default::default(),
            metrics,
            opener: crate::personal::Opener::new(pool, self.kek),
            cors: self.cors,
        };
        if self.config.consistency_token_key.expose() == crate::config::DEV_TOKEN_KEY {
            tracing::warn!(
                "CONSISTENCY_TOKEN_KEY is not set: using the development key; set it in any shared deployment"
            );
        }
        gate.open(router(state));
        server.await??;
        info!("query service stopped");
        Ok(())
    }
}

//! What the HTTP handlers share.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use sqlx::PgPool;

use crate::dispatch::Deliverer;
use crate::metrics::Metrics;
use crate::secrets::Vault;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub vault: Vault,
    /// Sends the signed pings of `POST …/test`, as deliveries are sent.
    pub deliverer: Deliverer,
    pub auth: ledger_runtime::auth::Authenticator,
    pub metrics: Arc<Metrics>,
    /// Every assigned partition has its cursor and is folded to its end.
    pub ready: Arc<AtomicBool>,
    /// Which browser origins may call the API.
    pub cors: ledger_runtime::cors::Cors,
}

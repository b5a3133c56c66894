//! `ledgerctl`: Ledgerline's tool for analysts and ops.
//!
//! Every subcommand reads the Kafka log itself and folds it with the fold
//! rule of `events`, so its answers do not depend on any read model.
//!
//! - `verify`: re-folds the whole log and compares it with the read models;
//!   exits 1 and names every difference.
//! - `state-at`: an account's state as of a time or a log position.

use clap::{Parser, Subcommand};

mod log;
mod state_at;
mod verify;

/// Where the log and the read models are.
#[derive(Clone, Debug, clap::Args)]
pub struct Sources {
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The events topic.
    #[arg(long, env = "EVENTS_TOPIC", default_value = "ledger.events")]
    pub events_topic: String,
}

#[derive(Parser)]
#[command(name = "ledgerctl", version, about = "Ledgerline tools for analysts and ops")]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Subcommand)]
enum Tool {
    /// Re-fold the whole log and compare it with every read model (exit 1 on any difference).
    Verify {
        #[command(flatten)]
        sources: Sources,
        /// Postgres URL of the read models.
        #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/ledger")]
        database_url: String,
    },
    /// An account's state as of a time or a log position, folded from the log.
    StateAt {
        #[command(flatten)]
        sources: Sources,
        /// The account id.
        account: uuid::Uuid,
        /// Fold the commits that happened at or before this instant (RFC 3339).
        #[arg(long, conflicts_with = "offset")]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Fold the commits of the account's partition below this offset.
        #[arg(long)]
        offset: Option<i64>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Tool::Verify { sources, database_url } => {
            let differences = verify::run(&sources, &database_url).await?;
            if differences > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Tool::StateAt { sources, account, at, offset } => state_at::run(&sources, account, at, offset).await,
    }
}

//! `ledgerctl`: Ledgerline's tool for analysts and ops.
//!
//! Every subcommand reads the Kafka log itself and folds it with the fold
//! rule of `events`, so its answers do not depend on any read model.
//!
//! # Layout
//! - [`export`] — accepted (and, if asked, rejected) events as NDJSON or CSV, streamed.
//! - [`replay`] — rebuild read models in a shadow schema; swap atomically or compare.
//! - [`verify`] — re-fold the whole log and compare it with the read models; check the
//!   money identity per currency, each transfer's legs, and transfers left open.
//! - [`state_at`] — an account's state as of a time or a log position.
//! - `token` — mints a development bearer token (HS256, `JWT_SECRET`).
//! - [`log`] — reading the events topic.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod archive;
mod backup;
mod export;
mod log;
mod personal;
mod replay;
mod reseal;
mod restore;
mod sink;
mod state_at;
mod verify;

/// Where the log is (`KAFKA_BROKERS`, `EVENTS_TOPIC`): the services' own flags.
pub type Sources = ledger_runtime::args::LogArgs;

/// Where the read models are (`DATABASE_URL`): the services' own flag.
pub type Database = ledger_runtime::args::DatabaseArgs;

#[derive(Parser)]
#[command(name = "ledgerctl", version, about = "Ledgerline tools for analysts and ops")]
struct Cli {
    #[command(subcommand)]
    command: Tool,
}

#[derive(Subcommand)]
enum Tool {
    /// Stream the events of the log as NDJSON or CSV, folded by the fold rule.
    Export {
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        filters: export::Filters,
        #[command(flatten)]
        keys: personal::KeySource,
        /// Output format.
        #[arg(long, value_enum, default_value = "ndjson")]
        format: export::Format,
        /// Write here instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Rebuild read models from the log in a shadow schema, then swap them in atomically.
    Replay {
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        database: Database,
        /// Projectors to rebuild (repeat; default: all). `accounts` is always folded, as the fold state.
        #[arg(long = "projector")]
        projectors: Vec<String>,
        /// Compare the rebuilt tables with the live ones and print the differences; swap nothing.
        #[arg(long)]
        dry_run: bool,
        /// Keep the swapped-out tables in the `ledger_retired` schema.
        #[arg(long)]
        keep_retired: bool,
        /// Records per shadow transaction.
        #[arg(long, default_value_t = 2000)]
        batch_max: usize,
    },
    /// Re-fold the whole log and compare it with every read model; check the money identity
    /// per currency, that no transfer leg is recorded twice, and that no transfer stays open
    /// too long (exit 1 on any difference or failure).
    Verify {
        #[command(flatten)]
        sources: Sources,
        #[command(flatten)]
        database: Database,
        /// A transfer pending longer than this (since its first leg, or the post of its hold),
        /// or held longer than this past its expiry, is a failure.
        #[arg(long, default_value_t = 300)]
        max_open_secs: u32,
        /// A file of answers clients were given (JSON lines: account_id, idempotency_key, status,
        /// body), each checked against the re-folded log.
        #[arg(long)]
        answers: Option<PathBuf>,
    },
    /// Mint a development bearer token (HS256 with JWT_SECRET) and print it.
    Token {
        /// The subject: for a client, the owner of its accounts.
        #[arg(long)]
        sub: String,
        /// A role to grant (repeat for several).
        #[arg(long = "role", required = true, value_parser = ["client", "analyst", "ops"])]
        roles: Vec<String>,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
        /// The HS256 secret the services check.
        #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
        jwt_secret: ledger_runtime::secret::Secret,
        /// `iss` (must match the services' JWT_ISSUER).
        #[arg(long, env = "JWT_ISSUER", default_value = "ledgerline")]
        issuer: String,
        /// `aud` (must match the services' JWT_AUDIENCE).
        #[arg(long, env = "JWT_AUDIENCE", default_value = "ledgerline")]
        audience: String,
    },
    /// Re-seal every data subject's key under a new key-encryption key, in one transaction.
    /// Then restart every service with KEY_ENCRYPTION_KEY set to the new key.
    RotateKek {
        /// Postgres URL of the key store (the command service's database).
        #[arg(long, env = "KEYS_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/ledger")]
        keys_database_url: String,
        /// The current KEK.
        #[command(flatten)]
        current: ledger_runtime::keys::KeyArgs,
        /// The new KEK: base64 of 32 random bytes (`openssl rand -base64 32`).
        #[arg(long, env = "NEW_KEY_ENCRYPTION_KEY", hide_env_values = true)]
        new_key_encryption_key: ledger_runtime::secret::Secret,
    },
    /// Back the events topic up into a directory, incrementally (`backup --out DIR`), or check a
    /// backup without any broker (`backup verify DIR`).
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(subcommand)]
        check: Option<BackupCheck>,
        #[command(flatten)]
        sources: Sources,
        /// The backup directory: created on the first run; later runs add only what is new.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Restore a backup into the (new, empty) topic named by EVENTS_TOPIC, every record at the
    /// offset it had.
    Restore {
        #[command(flatten)]
        sources: Sources,
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Copy the accepted history into a new topic with another partition count, each aggregate
    /// on murmur2(id) % N, in order (docs/operations.md: the cut-over).
    Repartition {
        #[command(flatten)]
        sources: Sources,
        /// The new topic (created with --partitions; must be empty).
        #[arg(long)]
        to_topic: String,
        /// Its partition count.
        #[arg(long)]
        partitions: i32,
    },
    /// Copy the log into a new topic, same partitions and offsets, with every personal field
    /// that commits written before sealing hold in clear sealed for its subject.
    Reseal {
        #[command(flatten)]
        sources: Sources,
        /// The new topic (created with the source's partition count; must be empty).
        #[arg(long)]
        to_topic: String,
        /// Postgres URL of the key store (the command service's database).
        #[arg(long, env = "KEYS_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/ledger")]
        keys_database_url: String,
        #[command(flatten)]
        kek: ledger_runtime::keys::KeyArgs,
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
        #[command(flatten)]
        keys: personal::KeySource,
    },
}

#[derive(Subcommand)]
enum BackupCheck {
    /// Check every checksum and offset of a backup and re-fold it (money identity), without any broker.
    Verify {
        /// The backup directory.
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Tool::Export { sources, filters, keys, format, output } => {
            let opener = personal::Opener::new(&keys).await?;
            let out: Box<dyn Write> = match output {
                Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            match export::run(&sources, &filters, &opener, format, out).await {
                Ok(lines) => {
                    eprintln!("exported {lines} line(s)");
                    Ok(())
                }
                // The reader went away (`| head`): that is the end, not a failure.
                Err(e)
                    if e.downcast_ref::<std::io::Error>()
                        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
                {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
        Tool::Replay { sources, database, projectors, dry_run, keep_retired, batch_max } => {
            let differences = replay::run(projections::replay::Replay {
                kafka_brokers: sources.kafka_brokers,
                events_topic: sources.events_topic,
                database_url: database.database_url,
                projectors,
                dry_run,
                keep_retired,
                batch_max,
            })
            .await?;
            exit_on(differences)
        }
        Tool::Verify { sources, database, max_open_secs, answers } => {
            let max_open = chrono::Duration::seconds(max_open_secs.into());
            exit_on(verify::run(&sources, &database.database_url, max_open, answers.as_deref()).await?)
        }
        Tool::RotateKek { keys_database_url, current, new_key_encryption_key } => {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&keys_database_url).await?;
            let keys = ledger_runtime::keys::SubjectKeys::open(pool, current.kek()?).await?;
            let new = ledger_runtime::keys::Kek::from_secret(&new_key_encryption_key)?;
            let rotated = keys.rotate(&new).await?;
            println!("re-sealed {rotated} subject key(s) and the lookup key under kek {}", new.id());
            Ok(())
        }
        Tool::Backup { check: Some(BackupCheck::Verify { dir }), .. } => {
            let checked = backup::verify(&dir)?;
            for failure in &checked.failures {
                println!("FAIL {failure}");
            }
            for (partition, start, end) in &checked.ranges {
                println!("partition {partition}: offsets {start}..{end}");
            }
            println!(
                "{} record(s): {} accepted, {} rejected; {} failure(s)",
                checked.records,
                checked.accepted,
                checked.rejected,
                checked.failures.len()
            );
            exit_on(checked.failures.len() as u64)
        }
        Tool::Backup { check: None, sources, out } => {
            let out = out.ok_or_else(|| anyhow::anyhow!("backup needs --out DIR (or: backup verify DIR)"))?;
            let added = backup::run(&sources, &out).await?;
            println!(
                "backed up {} new record(s) of {} into {} ({} segment(s), {} bytes)",
                added.records,
                sources.events_topic,
                out.display(),
                added.segments,
                added.bytes
            );
            Ok(())
        }
        Tool::Restore { sources, from } => {
            let written = restore::restore(&sources, &from).await?;
            println!("restored {written} record(s) into {}, every one at its offset", sources.events_topic);
            Ok(())
        }
        Tool::Repartition { sources, to_topic, partitions } => {
            let done = restore::repartition(&sources, &to_topic, partitions).await?;
            println!(
                "copied {} accepted commit(s) into {to_topic} ({partitions} partitions); {} rejected or malformed record(s) left out",
                done.copied, done.dropped
            );
            Ok(())
        }
        Tool::Reseal { sources, to_topic, keys_database_url, kek } => {
            let pool = sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&keys_database_url).await?;
            let keys = ledger_runtime::keys::SubjectKeys::open(pool, kek.kek()?).await?;
            let done = reseal::run(&sources, &to_topic, &keys).await?;
            println!(
                "copied {} record(s) to {to_topic}: {} commit(s) changed, {} field(s) sealed or dropped",
                done.records, done.commits_changed, done.fields_sealed
            );
            Ok(())
        }
        Tool::StateAt { sources, account, at, offset, keys } => {
            state_at::run(&sources, &personal::Opener::new(&keys).await?, account, at, offset).await
        }
        Tool::Token { sub, roles, ttl_secs, jwt_secret, issuer, audience } => {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let mut claims = ledger_runtime::auth::claims(&sub, &roles, ttl_secs);
            (claims.iss, claims.aud) = (issuer, audience);
            println!("{}", ledger_runtime::auth::mint_hs256(jwt_secret.expose(), &claims));
            Ok(())
        }
    }
}

/// Exit 1 when differences were found.
fn exit_on(differences: u64) -> anyhow::Result<()> {
    if differences > 0 {
        std::process::exit(1);
    }
    Ok(())
}

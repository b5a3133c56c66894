//! What the projection tests share: workers as processes, an in-process
//! command service for load, and the equality check against the log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use events::{Effect, Legs};
use ledger_runtime::kafka;
use sqlx::PgPool;
use testkit::{free_port, wait_ready, wait_url, LogView, Process, Stack};
use uuid::Uuid;

/// A projection worker process.
pub struct Worker {
    pub process: Process,
    pub ops: String,
}

impl Worker {
    pub fn start(stack: &Stack, batch_max: &str, session_timeout_ms: &str) -> Worker {
        let port = free_port();
        let env = vec![
            ("KAFKA_BROKERS".to_owned(), stack.broker.addr.clone()),
            ("DATABASE_URL".to_owned(), stack.db.url.clone()),
            ("EVENTS_TOPIC".to_owned(), stack.topic.clone()),
            ("PROJECTIONS_GROUP".to_owned(), format!("{}-workers", stack.topic)),
            ("HTTP_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            ("SESSION_TIMEOUT_MS".to_owned(), session_timeout_ms.to_owned()),
            ("BATCH_MAX".to_owned(), batch_max.to_owned()),
            ("RUST_LOG".to_owned(), "info,projections=debug".to_owned()),
            ("JWT_SECRET".to_owned(), ledger_runtime::TEST_JWT_SECRET.to_owned()),
        ];
        let process = Process::start(env!("CARGO_BIN_EXE_projections"), env);
        Worker { process, ops: format!("http://127.0.0.1:{port}") }
    }

    pub async fn ready(&mut self) {
        wait_ready(&mut self.process, &format!("{}/readyz", self.ops)).await;
    }
}

/// Starts the command service in this process, on a free port.
pub async fn command_service(stack: &Stack) -> String {
    let config = command_service::Config::local(&stack.broker.addr, &stack.db.url, &stack.topic);
    let app = command_service::Application::build(config).await.expect("command service builds");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped());
    wait_url(&format!("{base}/readyz")).await;
    base
}

/// Waits until every projection's checkpoint has reached the end of every partition.
pub async fn caught_up(stack: &Stack, pool: &PgPool) {
    let producer = std::sync::Arc::new(kafka::producer(&stack.broker.addr, "ledger-test", 0).expect("producer"));
    let mut ends = HashMap::new();
    for p in 0..8 {
        ends.insert(p, kafka::end_offset(&producer, &stack.topic, p).await.expect("end"));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows: Vec<(i32, i64)> = sqlx::query_as(
            "select partition, min(next_offset) from projection_checkpoints where topic = $1 group by partition",
        )
        .bind(&stack.topic)
        .fetch_all(pool)
        .await
        .expect("checkpoints");
        let done: HashMap<i32, i64> = rows.into_iter().collect();
        if ends.iter().all(|(p, end)| *end == 0 || done.get(p) == Some(end)) {
            return;
        }
        assert!(Instant::now() < deadline, "workers did not catch up: checkpoints {done:?}, log ends {ends:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The read models equal the fold of the whole log: every account's balance,
/// holds, version and status, its entry count, the archive, every transfer's
/// status and steps, and the ledger totals, with nothing extra.
pub async fn assert_read_models_equal_the_log(view: &LogView, pool: &PgPool) {
    let rows: Vec<(Uuid, i64, i64, i64, String)> =
        sqlx::query_as("select id, balance, held, version, status from accounts")
            .fetch_all(pool)
            .await
            .expect("accounts");
    assert_eq!(rows.len(), view.fold.accounts.len(), "account rows vs accounts in the log");
    for (id, balance, held, version, status) in rows {
        let account = view.fold.accounts.get(&id).unwrap_or_else(|| panic!("account {id} is not in the log"));
        assert_eq!(
            (balance, held, version as u64, status.as_str()),
            (account.balance, account.held, account.version, account.status.as_str()),
            "account {id}"
        );
    }
    let mut money: HashMap<Uuid, i64> = HashMap::new();
    let mut events = 0i64;
    let mut legs: HashMap<Uuid, Legs> = HashMap::new();
    let mut steps = 0i64;
    let mut totals: HashMap<String, Effect> = HashMap::new();
    for (_, _, commit, verdict) in &view.records {
        if !verdict.is_accepted() {
            continue;
        }
        events += commit.events.len() as i64;
        let currency = view.fold.accounts.get(&commit.aggregate_id).map(|a| a.currency.clone()).unwrap_or_default();
        for event in &commit.events {
            let effect = Effect::of(&event.payload);
            if effect.balances != 0 {
                *money.entry(commit.aggregate_id).or_default() += 1;
            }
            totals.entry(currency.clone()).or_default().add(effect);
            if let Some(transfer) = events::ledger::transfer_of(&event.payload) {
                legs.entry(transfer).or_default().record(&event.payload);
                steps += 1;
            }
        }
    }
    let entries: Vec<(Uuid, i64)> =
        sqlx::query_as("select account_id, count(*) from account_entries group by account_id")
            .fetch_all(pool)
            .await
            .expect("entries");
    let entries: HashMap<Uuid, i64> = entries.into_iter().collect();
    assert_eq!(entries, money, "entries per account vs balance changes in the log");
    let (archived,): (i64,) =
        sqlx::query_as("select count(*) from event_archive").fetch_one(pool).await.expect("archive");
    assert_eq!(archived, events, "archive rows vs accepted events");

    let transfers: Vec<(Uuid, String)> =
        sqlx::query_as("select id, status from transfers").fetch_all(pool).await.expect("transfers");
    let transfers: HashMap<Uuid, String> = transfers.into_iter().collect();
    let expected: HashMap<Uuid, String> =
        legs.iter().map(|(id, legs)| (*id, legs.status().as_str().to_owned())).collect();
    assert_eq!(transfers, expected, "transfer statuses vs the legs in the log");
    let (stepped,): (i64,) =
        sqlx::query_as("select count(*) from transfer_steps").fetch_one(pool).await.expect("steps");
    assert_eq!(stepped, steps, "transfer steps vs transfer legs in the log");

    let (unbalanced,): (i64,) =
        sqlx::query_as("select count(*) from ledger_totals where balances + in_transit <> deposits - withdrawals")
            .fetch_one(pool)
            .await
            .expect("totals");
    assert_eq!(unbalanced, 0, "every ledger_totals row keeps the money identity");
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "select currency, sum(balances)::int8, sum(held)::int8, sum(in_transit)::int8, sum(deposits)::int8,
                sum(withdrawals)::int8
           from ledger_totals group by currency",
    )
    .fetch_all(pool)
    .await
    .expect("totals");
    let stored: HashMap<String, Effect> = rows
        .into_iter()
        .map(|(currency, balances, held, in_transit, deposits, withdrawals)| {
            (currency, Effect { balances, held, in_transit, deposits, withdrawals })
        })
        .filter(|(_, effect)| *effect != Effect::default())
        .collect();
    totals.retain(|_, effect| *effect != Effect::default());
    assert_eq!(stored, totals, "ledger totals per currency vs the effects of the log");
}

//! Chaos: clients move money while the receivers fail at random (500, 429
//! with Retry-After, resets, timeouts, slow answers), and the webhooks
//! service and the broker are killed -9 meanwhile. At the end every accepted
//! event each endpoint's scope and filter admit was answered 2xx at least
//! once, first successes are in log order per account, duplicates are
//! counted, and nothing reached an endpoint outside its scope.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::{Broker, Mode};
use uuid::Uuid;

use crate::stack::{client, command, deposit, endpoint, first_successes, open, Receiver, System};

/// Retries enough that a message fails 31 times in a row with odds of about 1e-7.
const SCHEDULE: &str =
    "50ms,100ms,200ms,400ms,800ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s";
const TRANSFER_TYPES: [&str; 3] = ["transfer.debited", "transfer.completed", "transfer.reversed"];

struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Each client sends transfers from its own accounts to anyone's until `stop`.
async fn move_money(
    sys_commands: String,
    who: &'static str,
    own: Vec<Uuid>,
    all: Vec<Uuid>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> usize {
    let c = client(who, &["client"]);
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ who.len() as u64 ^ std::process::id() as u64);
    let mut sent = 0;
    while !*stop.borrow() {
        let from = own[dice.roll(own.len() as u64) as usize];
        let to = all
            .iter()
            .copied()
            .filter(|a| *a != from)
            .nth(dice.roll(all.len() as u64 - 1) as usize)
            .expect("a destination");
        let body = json!({"from": from, "to": to, "amount": 1 + dice.roll(20) as i64});
        command(&c, &format!("{sys_commands}/v1/transfers"), body).await;
        sent += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_failing_receivers_and_kill_9_of_the_worker_and_the_broker_every_event_in_scope_arrives_in_order() {
    let env = [
        ("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1"),
        ("WEBHOOKS_RETRY_SCHEDULE", SCHEDULE),
        ("WEBHOOKS_REQUEST_TIMEOUT", "1s"),
    ];
    let mut sys = System::on(Broker::own(Mode::Single), &env).await;
    let mut chaotic = Vec::new();
    for seed in ["1", "2", "3"] {
        chaotic.push(Receiver::python_with(&[("RECEIVER_SEED", seed), ("RECEIVER_TIMEOUT_S", "1.5")]).await);
    }
    let (to_ops, to_bob, to_alice) = (chaotic.pop().expect("3"), chaotic.pop().expect("2"), chaotic.pop().expect("1"));
    let mut endpoints = Vec::new();
    for (who, roles, r, body) in [
        ("alice", "client", &to_alice, json!({"url": to_alice.url})),
        ("bob", "client", &to_bob, json!({"url": to_bob.url})),
        ("treasury", "ops", &to_ops, json!({"url": to_ops.url, "event_types": TRANSFER_TYPES})),
    ] {
        let (_, secret) = endpoint(&client(who, &[roles]), &sys, body).await;
        r.trust(&[&secret]);
        endpoints.push(who);
    }
    let mut owners: HashMap<Uuid, &str> = HashMap::new();
    let mut accounts: HashMap<&str, Vec<Uuid>> = HashMap::new();
    for who in ["alice", "bob", "carol"] {
        let c = client(who, &["client"]);
        for _ in 0..2 {
            let id = open(&c, &sys).await;
            deposit(&c, &sys, id, 10_000).await;
            owners.insert(id, who);
            accounts.entry(who).or_default().push(id);
        }
    }
    for r in [&to_alice, &to_bob, &to_ops] {
        r.behave(json!({"mode": "chaos"}));
    }

    let all: Vec<Uuid> = owners.keys().copied().collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|who| {
            tokio::spawn(move_money(
                sys.commands.base.clone(),
                who,
                accounts[who].clone(),
                all.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sys.hooks.process.kill9();
    tokio::time::sleep(Duration::from_millis(700)).await;
    sys.hooks.process.restart();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sys.broker.kill9();
    tokio::time::sleep(Duration::from_millis(700)).await;
    tokio::task::block_in_place(|| sys.broker.restart());
    tokio::time::sleep(Duration::from_secs(3)).await;
    sys.hooks.process.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sys.hooks.process.restart();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = stop.send(true);
    let mut transfers = 0;
    for w in workers {
        transfers += w.await.expect("a client");
    }
    sys.hooks.ready().await;
    for r in [&to_alice, &to_bob, &to_ops] {
        r.behave(json!({"mode": "ok"}));
    }

    // What each endpoint must get: the log's accepted events, by scope and filter.
    let log = testkit::fold_topic(&sys.broker.addr, &sys.topic).await;
    let mut expected: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut events = 0;
    for (_, _, commit, verdict) in &log.records {
        if !verdict.is_accepted() {
            continue;
        }
        for event in &commit.events {
            events += 1;
            let id = webhooks::payload::webhook_id(event.event_id);
            let kind = webhooks::payload::message_type(&event.payload);
            if let Some(owner) = owners.get(&commit.aggregate_id).filter(|o| **o != "carol") {
                expected.entry(owner).or_default().insert(id.clone());
            }
            if TRANSFER_TYPES.contains(&kind) {
                expected.entry("treasury").or_default().insert(id);
            }
        }
    }
    let mut report = Vec::new();
    for (who, r) in [("alice", &to_alice), ("bob", &to_bob), ("treasury", &to_ops)] {
        let want = &expected[who];
        let entries = r
            .until(Duration::from_secs(180), who, |e| {
                let got: HashSet<&str> = first_successes(e).iter().filter_map(|x| x["webhook_id"].as_str()).collect();
                want.iter().all(|id| got.contains(id.as_str()))
            })
            .await;
        let firsts = first_successes(&entries);
        let successes = entries.iter().filter(|e| e["answer"].as_u64().is_some_and(|s| s < 300)).count();
        // Nothing outside the scope or the filter.
        for e in &entries {
            let id = e["webhook_id"].as_str().unwrap_or_default();
            assert!(want.contains(id), "{who} got a message outside its scope or filter: {e}");
            assert_eq!(e["verified_with"], json!([0]), "{e}");
        }
        // First successes in log order per account.
        let mut last: HashMap<String, u64> = HashMap::new();
        for e in &firsts {
            let account = e["account_id"].as_str().unwrap_or_default().to_owned();
            let version = e["account_version"].as_u64().expect("a version");
            let before = last.insert(account.clone(), version).unwrap_or(0);
            assert!(version > before, "{who}: account {account} version {version} after {before}");
        }
        let failures = entries.len() - successes;
        report.push(format!(
            "{who}: {} messages, {} requests ({failures} failed or cut), {} duplicates",
            firsts.len(),
            entries.len(),
            successes - firsts.len()
        ));
    }
    eprintln!("chaos: {transfers} transfers, {events} accepted events; {}", report.join("; "));
    sys.hooks.process.assert_running();
    let _: Option<Value> = None;
}

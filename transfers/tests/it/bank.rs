//! Jepsen's bank test, under chaos: concurrent clients move money between a
//! dozen accounts (one- and two-phase transfers, deposits, withdrawals, with
//! idempotent retries) on a three-node Kafka cluster, while a chaos loop
//! (chaos.rs) kill -9s the command service, the transfer driver, the
//! projection worker, the broker leading the busiest partition, another
//! broker, and a broker that loses its disk, and a reader checks the ledger
//! totals and every balance.
//!
//! `BANK_SECONDS` sets how long the load runs (default 40: part of the test
//! command; `scripts/bench.sh bank` runs a long one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use events::{Effect, Legs};
use serde_json::{json, Value};
use uuid::Uuid;

use testkit::Broker;

use crate::chaos::{Chaos, Dice};
use crate::stack::{call, client, final_transfer, funded_account, post_until_decided, System};

const ACCOUNTS: usize = 12;
const OPENING_BALANCE: i64 = 10_000;
const CLIENTS: usize = 8;

/// What the clients were told.
#[derive(Default)]
struct Told {
    /// Per account: the sum of deposits minus withdrawals answered 200.
    cash: HashMap<Uuid, i64>,
    /// Transfers answered 202/200, with their accounts.
    transfers: Vec<(Uuid, Uuid, Uuid)>,
    /// The commit of every acknowledged command: each must be accepted in the log.
    commits: Vec<Uuid>,
    /// Every definite answer (2xx or a refusal).
    answers: u64,
}

fn commit_of(answer: &Value) -> Uuid {
    answer["commit_id"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no commit_id in {answer}"))
}

fn seconds() -> u64 {
    std::env::var("BANK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40)
}

async fn one_client(n: usize, base: String, accounts: Vec<Uuid>, told: Arc<Mutex<Told>>, stop: Arc<AtomicBool>) {
    let c = client("bank", &["client"]);
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (n as u64 + 1));
    let mut holds: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let from = accounts[dice.roll(ACCOUNTS as u64) as usize];
        let mut to = accounts[dice.roll(ACCOUNTS as u64) as usize];
        if to == from {
            to = accounts[(accounts.iter().position(|a| *a == from).unwrap_or(0) + 1) % ACCOUNTS];
        }
        let amount = 1 + dice.roll(300) as i64;
        let key = Uuid::new_v4().to_string();
        match dice.roll(10) {
            0 | 1 => {
                let (kind, sign) = if dice.roll(2) == 0 { ("deposits", 1) } else { ("withdrawals", -1) };
                let url = format!("{base}/v1/accounts/{from}/{kind}");
                let (status, body) = post_until_decided(&c, &url, &key, &json!({ "amount": amount })).await;
                told.lock().expect("told").answers += 1;
                match status {
                    200 => {
                        let mut told = told.lock().expect("told");
                        *told.cash.entry(from).or_default() += sign * amount;
                        told.commits.push(commit_of(&body));
                    }
                    409 => assert_eq!(body["code"], "insufficient_funds", "{body}"),
                    other => panic!("{kind}: {other} {body}"),
                }
            }
            choice => {
                let pending = choice >= 6;
                let mut body = json!({ "transfer_id": Uuid::now_v7(), "from": from, "to": to, "amount": amount });
                if pending {
                    body["pending"] = true.into();
                    body["timeout_secs"] = (1 + dice.roll(4)).into();
                }
                let (status, answer) = post_until_decided(&c, &format!("{base}/v1/transfers"), &key, &body).await;
                told.lock().expect("told").answers += 1;
                match status {
                    202 | 200 => {
                        let id: Uuid = body["transfer_id"].as_str().and_then(|s| s.parse().ok()).expect("id");
                        let mut told = told.lock().expect("told");
                        told.transfers.push((id, from, to));
                        told.commits.push(commit_of(&answer));
                        if pending {
                            holds.push(id.to_string());
                        }
                    }
                    409 => assert_eq!(answer["code"], "insufficient_funds", "{answer}"),
                    other => panic!("transfer: {other} {answer}"),
                }
            }
        }
        // Now and then resolve a hold: post all, post part, or void (or let it expire).
        if holds.len() > 3 {
            let hold = holds.remove(0);
            let (path, body) = match dice.roll(3) {
                0 => ("post", json!({})),
                1 => ("post", json!({ "amount": 1 })),
                _ => ("void", json!({})),
            };
            let url = format!("{base}/v1/transfers/{hold}/{path}");
            let (status, answer) = post_until_decided(&c, &url, &Uuid::new_v4().to_string(), &body).await;
            told.lock().expect("told").answers += 1;
            let settled = ["transfer_expired", "transfer_already_posted", "transfer_already_voided", "account_frozen"];
            if status == 202 {
                told.lock().expect("told").commits.push(commit_of(&answer));
            }
            assert!(
                status == 202 || (status == 409 && settled.contains(&answer["code"].as_str().unwrap_or_default())),
                "{path} {hold}: {status} {answer}"
            );
        }
    }
}

/// Reads the totals and the accounts until `stop`; every read must hold the identity.
async fn reader(queries: String, stop: Arc<AtomicBool>, reads: Arc<AtomicU64>) {
    let c = client("auditor", &["analyst"]);
    while !stop.load(Ordering::Relaxed) {
        if let Ok((200, t)) = call(c.get(format!("{queries}/v1/ledger/totals?currency=EUR"))).await {
            let field = |k: &str| t[k].as_i64().unwrap_or_else(|| panic!("totals without {k}: {t}"));
            assert_eq!(
                field("balances") + field("in_transit"),
                field("deposits") - field("withdrawals"),
                "a totals read broke the money identity: {t}"
            );
            reads.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok((200, page)) = call(c.get(format!("{queries}/v1/accounts?limit=500"))).await {
            for a in page["items"].as_array().into_iter().flatten() {
                let limit = a["overdraft_limit"].as_i64().unwrap_or(0);
                assert!(a["balance"].as_i64().unwrap_or(0) >= -limit, "balance below the overdraft limit: {a}");
                assert!(a["available"].as_i64().unwrap_or(0) >= -limit, "available below the overdraft limit: {a}");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_is_conserved_and_every_transfer_is_final_exactly_once_while_anything_is_killed_or_a_broker_loses_its_disk(
) {
    let mut sys = System::on(Broker::cluster(), &[]).await;
    let bank = client("bank", &["client"]);
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(funded_account(&bank, &sys.commands.base, "EUR", OPENING_BALANCE).await);
    }
    let told = Arc::new(Mutex::new(Told::default()));
    for a in &accounts {
        told.lock().expect("told").cash.insert(*a, OPENING_BALANCE);
    }
    let (stop, reads) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for n in 0..CLIENTS {
        let args = (sys.commands.base.clone(), accounts.clone(), Arc::clone(&told), Arc::clone(&stop));
        tasks.push(tokio::spawn(one_client(n, args.0, args.1, args.2, args.3)));
    }
    let read_stop = Arc::new(AtomicBool::new(false));
    let reader_task = tokio::spawn(reader(sys.queries.base.clone(), Arc::clone(&read_stop), Arc::clone(&reads)));

    let mut chaos = Chaos::new(&sys);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds());
    while tokio::time::Instant::now() < deadline || !chaos.covered() {
        chaos.strike(&mut sys).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a client failed");
    }
    eprintln!("kills: {:?}", chaos.kills);

    // Every transfer the clients were told about reaches a final state.
    let told = std::mem::take(&mut *told.lock().expect("told"));
    let analyst = client("auditor", &["analyst"]);
    let mut finals = HashMap::new();
    for (id, _, _) in &told.transfers {
        let view = final_transfer(&analyst, &sys.queries.base, &id.to_string(), Duration::from_secs(120)).await;
        finals.insert(*id, view);
    }
    read_stop.store(true, Ordering::Relaxed);
    reader_task.await.expect("the reader found a broken read");
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 0, "no totals read succeeded");

    // The re-folded log: no leg twice, every transfer final, money conserved.
    let log = testkit::fold_topic(&sys.broker.addr, &sys.topic).await;
    let (mut legs, mut counts, mut total) = (HashMap::<Uuid, Legs>::new(), HashMap::new(), Effect::default());
    for (_, _, commit, verdict) in &log.records {
        if !verdict.is_accepted() {
            continue;
        }
        for event in &commit.events {
            total.add(Effect::of(&event.payload));
            if let Some(id) = events::ledger::transfer_of(&event.payload) {
                legs.entry(id).or_default().record(&event.payload);
                *counts.entry((id, event.payload.type_name())).or_insert(0u32) += 1;
            }
        }
    }
    let accepted: std::collections::HashSet<Uuid> =
        log.records.iter().filter(|r| r.3.is_accepted()).map(|r| r.2.commit_id).collect();
    let lost: Vec<&Uuid> = told.commits.iter().filter(|c| !accepted.contains(c)).collect();
    assert!(lost.is_empty(), "{} acknowledged commits are not accepted in the log: {lost:?}", lost.len());
    assert!(
        counts.values().all(|n| *n == 1),
        "a leg recorded twice: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert!(total.conserves_money(), "the log does not conserve money: {total:?}");
    assert_eq!((total.in_transit, total.held), (0, 0), "money left in transit or held: {total:?}");
    for (id, _, _) in &told.transfers {
        let status = legs.get(id).map(Legs::status);
        assert!(status.is_some_and(|s| s.is_final()), "{id} is {status:?} in the log");
        assert_eq!(finals[id]["status"].as_str(), status.map(|s| s.as_str()), "read model and log disagree on {id}");
    }

    // Balances: the log, the read model and what the clients were told agree.
    let mut expected = told.cash.clone();
    for (id, from, to) in &told.transfers {
        let moved = finals[id]["posted_amount"].as_i64().or(finals[id]["amount"].as_i64()).unwrap_or(0);
        if finals[id]["status"] == "completed" {
            *expected.entry(*from).or_default() -= moved;
            *expected.entry(*to).or_default() += moved;
        }
    }
    for a in &accounts {
        let folded = log.fold.accounts[a].balance;
        let url = format!("{}/v1/accounts/{a}", sys.queries.base);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let read = loop {
            let (_, body) = call(analyst.get(&url)).await.expect("read");
            if body["balance"].as_i64() == Some(folded) || tokio::time::Instant::now() > deadline {
                break body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!((read["balance"].as_i64(), read["held"].as_i64()), (Some(folded), Some(0)), "read model of {a}");
        assert_eq!(expected[a], folded, "what clients were told about {a} differs from the log");
    }
    let (_, totals) =
        call(analyst.get(format!("{}/v1/ledger/totals?currency=EUR", sys.queries.base))).await.expect("totals");
    assert_eq!(totals["balances"].as_i64(), Some(total.balances), "{totals}");
    eprintln!(
        "{} answers, {} transfers, {} totals reads, {} accepted commits",
        told.answers,
        told.transfers.len(),
        reads,
        log.fold.accepted
    );
    let _: Value = totals;

    // The analysts' own check agrees: `ledgerctl verify` (read models = re-fold,
    // money identity, no leg twice, nothing open too long) passes once the
    // projections have caught up with the log end.
    let mut last = String::new();
    for _ in 0..30 {
        let (ok, text) = sys.ledgerctl(&["verify", "--max-open-secs", "120"], &[]);
        last = text;
        if ok {
            eprintln!("{last}");
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("ledgerctl verify did not pass within 30 s:\n{last}");
}

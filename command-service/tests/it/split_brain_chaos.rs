//! Split brain under faults (issue #30): two command services, each in a
//! writers' group of its own, so both write every partition; six clients move
//! money on sixteen accounts, each request with a fresh Idempotency-Key,
//! retried with the same key (at either writer) until a definite answer; and
//! meanwhile each writer is killed with SIGKILL and restarted, or paused with
//! SIGSTOP for 1–8 s. At the end every answer is checked against the re-folded
//! log: a 2xx names the accepted commit of its command, a `write_conflict`
//! names a commit the fold rejected where it says, the command of a refusal is
//! in no accepted commit, and each account's balance in the log is what the
//! clients were told. `SPLIT_BRAIN_CHAOS_SECONDS` (default 40) sets the length.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::AccountEvent;
use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::client::{Answer, Api};
use crate::harness::service;
use testkit::Stack;

const CLIENTS: u64 = 6;
const ACCOUNTS: usize = 16;
/// Longer than the longest pause: a paused writer answers its own requests when it wakes.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
struct Op {
    key: String,
    account: Uuid,
    deposit: bool,
    amount: i64,
}

/// A tiny deterministic generator (xorshift): the run is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Sends `op` until a definite answer: anything but no answer, 503 or 429.
/// Each attempt goes to a writer picked at random, as a load balancer would; after
/// a lost connection, to the other one.
async fn definite(apis: &[Api; 2], op: &Op, rng: &mut Rng) -> Answer {
    let path = format!("/v1/accounts/{}/{}", op.account, if op.deposit { "deposits" } else { "withdrawals" });
    let body = json!({"amount": op.amount});
    let headers = [("idempotency-key", op.key.as_str())];
    let mut writer = rng.below(2) as usize;
    loop {
        let sent = apis[writer].try_post(&path, &body, &headers);
        match tokio::time::timeout(ANSWER_TIMEOUT, sent).await {
            Ok(Ok(answer)) if ![503, 429].contains(&answer.status) => return answer,
            // No answer (the writer died under the request): at once to the other writer.
            Ok(Err(_)) => writer = 1 - writer,
            _ => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                writer = rng.below(2) as usize;
            }
        }
    }
}

#[tokio::test]
async fn two_writers_in_two_groups_under_kill_9_and_pauses_give_only_answers_the_log_proves() {
    let seconds: u64 = std::env::var("SPLIT_BRAIN_CHAOS_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(40);
    let stack = Stack::new().await;
    // A producer linger of 20 ms (a common production setting) keeps each writer's
    // view of the other's appends a little behind, as a slower broker does.
    let common = [
        ("SNAPSHOT_EVERY", "300"),
        ("RATE_LIMIT_PER_SECOND", "1000000"),
        ("RATE_LIMIT_BURST", "1000000"),
        ("KAFKA_LINGER_MS", "20"),
    ];
    let with_group = |group| {
        let mut env = vec![("WRITERS_GROUP", group)];
        env.extend(common);
        env
    };
    let writers = [service(&stack, &with_group("chaos-a")).await, service(&stack, &with_group("chaos-b")).await];
    let apis = [Api::new(&writers[0].base), Api::new(&writers[1].base)];
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for _ in 0..ACCOUNTS {
        accounts.push(apis[0].open("EUR", 0).await);
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let answered: Arc<Mutex<Vec<(Op, Answer)>>> = Arc::default();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (apis, accounts, answered) = (apis.clone(), accounts.clone(), Arc::clone(&answered));
        clients.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (client + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
            let mut n = 0;
            while Instant::now() < deadline {
                let op = Op {
                    key: format!("chaos-c{client}-op{n}"),
                    account: accounts[rng.below(ACCOUNTS as u64) as usize],
                    deposit: rng.below(2) == 0,
                    amount: rng.below(500) as i64 + 1,
                };
                let answer = definite(&apis, &op, &mut rng).await;
                answered.lock().await.push((op, answer));
                n += 1;
            }
        }));
    }

    // The faults: kill -9 and restart, or SIGSTOP for 1-8 s, of either writer, one at a time.
    let mut writers = writers;
    // Kills and pauses alternate, so a short run has both.
    let (mut kills, mut pauses, mut rng) = ([0u32; 2], [0u32; 2], Rng(0x5eed_cafe));
    let mut fault = 0;
    while Instant::now() + Duration::from_secs(9) < deadline {
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1000))).await;
        let which = rng.below(2) as usize;
        fault += 1;
        if fault % 2 == 1 {
            writers[which].kill9();
            tokio::time::sleep(Duration::from_millis(200 + rng.below(800))).await;
            writers[which].restart();
            kills[which] += 1;
        } else {
            writers[which].signal("-STOP");
            tokio::time::sleep(Duration::from_millis(1000 + rng.below(7000))).await;
            writers[which].signal("-CONT");
            pauses[which] += 1;
        }
    }
    for client in clients {
        client.await.expect("client task");
    }
    let answered = std::mem::take(&mut *answered.lock().await);

    let view = stack.fold().await;
    let at: HashMap<(i32, i64), usize> = view.records.iter().enumerate().map(|(i, r)| ((r.0, r.1), i)).collect();
    // Per (account, key): the accepted commit that carries it.
    let mut accepted_key: HashMap<(Uuid, String), Uuid> = HashMap::new();
    for record in view.records.iter().filter(|r| r.3.is_accepted()) {
        if let Some(key) = &record.2.command.idempotency_key {
            let earlier = accepted_key.insert((record.2.aggregate_id, key.clone()), record.2.commit_id);
            assert!(earlier.is_none(), "key {key} is in two accepted commits: the command was applied twice");
        }
    }
    let mut told: HashMap<Uuid, i64> = accounts.iter().map(|a| (*a, 0)).collect();
    let (mut acknowledged, mut conflicts, mut refused) = (0, 0, 0);
    for (op, answer) in &answered {
        let in_log = accepted_key.get(&(op.account, op.key.clone()));
        match (answer.status, answer.code()) {
            (200, _) => {
                acknowledged += 1;
                assert_eq!(
                    in_log,
                    Some(&answer.commit_id()),
                    "{} answered {answer:?}, the log says {in_log:?}",
                    op.key
                );
                *told.get_mut(&op.account).expect("known account") += if op.deposit { op.amount } else { -op.amount };
            }
            (409, "write_conflict") => {
                conflicts += 1;
                assert_eq!(in_log, None, "{} answered write_conflict, but its command is accepted in the log", op.key);
                let commit_id: Uuid =
                    answer.body["commit_id"].as_str().and_then(|s| s.parse().ok()).expect("commit_id");
                let position = &answer.body["position"];
                let (partition, offset) = (position["partition"].as_i64(), position["offset"].as_i64());
                let record = partition
                    .zip(offset)
                    .and_then(|(p, o)| at.get(&(p as i32, o)))
                    .map(|i| &view.records[*i])
                    .unwrap_or_else(|| panic!("write_conflict for {} names no record: {answer:?}", op.key));
                assert_eq!(record.2.commit_id, commit_id, "the position of {} holds another commit", op.key);
                assert!(!record.3.is_accepted(), "{} answered write_conflict for commit {commit_id}, accepted", op.key);
            }
            (409, "insufficient_funds") => {
                refused += 1;
                assert_eq!(in_log, None, "{} was refused, but its command is accepted in the log", op.key);
            }
            _ => panic!("unexpected answer for {}: {answer:?}", op.key),
        }
    }
    for account in &accounts {
        let mut balance = 0;
        for event in view.commits_for(*account).filter(|r| r.3.is_accepted()).flat_map(|r| &r.2.events) {
            if let AccountEvent::MoneyDeposited(m) | AccountEvent::MoneyWithdrawn(m) = &event.payload {
                balance = m.balance_after;
            }
        }
        assert_eq!(view.fold.accounts[account].balance, balance, "account {account}: the log's balances chain");
        assert_eq!(
            balance, told[account],
            "account {account}: the log holds {balance}, clients were told {}",
            told[account]
        );
    }
    eprintln!(
        "split brain under faults: {} answers ({acknowledged} 2xx, {conflicts} write_conflict, {refused} \
         insufficient_funds), kill -9 {kills:?}, pauses {pauses:?}, {} commits rejected by the fold",
        answered.len(),
        view.fold.rejected
    );
    assert!(kills.iter().sum::<u32>() >= 2 && pauses.iter().sum::<u32>() >= 1, "too few faults to prove anything");
    assert!(acknowledged > 100, "too little load to prove anything");
    assert!(view.fold.rejected > 0, "the writers never raced: the test proved nothing");
}

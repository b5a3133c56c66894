//! kill -9 under load: nothing acknowledged is lost, nothing is doubled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::client::{Answer, Api};
use crate::harness::service;
use testkit::Stack;

#[derive(Clone)]
struct Op {
    key: String,
    account: Uuid,
    kind: &'static str,
    amount: i64,
}

impl Op {
    fn path(&self) -> String {
        format!("/v1/accounts/{}/{}", self.account, self.kind)
    }
}

async fn send(api: &Api, op: &Op) -> Result<Answer, reqwest::Error> {
    api.try_post(&op.path(), &json!({"amount": op.amount, "reference": op.key}), &[("idempotency-key", &op.key)]).await
}

#[tokio::test]
async fn a_kill_9_under_load_loses_no_acknowledged_commit_and_doubles_none() {
    let stack = Stack::new().await;
    // One client identity sends all the load: the per-client rate limit is not what this tests.
    let unlimited = [("SNAPSHOT_EVERY", "200"), ("RATE_LIMIT_PER_SECOND", "1000000"), ("RATE_LIMIT_BURST", "1000000")];
    let mut service = service(&stack, &unlimited).await;
    let api = Api::new(&service.base);
    let mut accounts = Vec::new();
    for _ in 0..6 {
        accounts.push(api.open("EUR", 0).await);
    }

    // Six clients send deposits and withdrawals until the service dies under them.
    let answered: Arc<Mutex<Vec<(Op, Answer)>>> = Arc::default();
    let unanswered: Arc<Mutex<Vec<Op>>> = Arc::default();
    let mut clients = Vec::new();
    for client in 0..6u64 {
        let (api, accounts) = (api.clone(), accounts.clone());
        let (answered, unanswered) = (Arc::clone(&answered), Arc::clone(&unanswered));
        clients.push(tokio::spawn(async move {
            for n in 0..100_000u64 {
                let seed = client * 1_000_003 + n * 7919;
                let op = Op {
                    key: format!("c{client}-op{n}"),
                    account: accounts[(seed % accounts.len() as u64) as usize],
                    kind: if seed % 3 == 0 { "withdrawals" } else { "deposits" },
                    amount: (seed % 97 + 1) as i64,
                };
                match send(&api, &op).await {
                    Ok(answer) => answered.lock().await.push((op, answer)),
                    Err(_) => {
                        unanswered.lock().await.push(op);
                        return;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    service.kill9();
    for client in clients {
        client.await.expect("client task");
    }
    let before_kill = answered.lock().await.len();
    assert!(before_kill > 100, "the load ran before the kill ({before_kill} answers)");

    // Restart, then every client retries its unanswered request with the same key.
    service.restart();
    let report = service.ready().await;
    let mut answered = std::mem::take(&mut *answered.lock().await);
    for op in unanswered.lock().await.drain(..) {
        let answer = send(&api, &op).await.expect("the restarted service answers");
        assert!(answer.status < 500, "{answer:?}");
        answered.push((op, answer));
    }

    // Expected balances from what clients were told.
    let mut expected: HashMap<Uuid, i64> = accounts.iter().map(|a| (*a, 0)).collect();
    let mut acknowledged = 0;
    for (op, answer) in &answered {
        match answer.status {
            200 => {
                acknowledged += 1;
                let sign = if op.kind == "deposits" { 1 } else { -1 };
                *expected.get_mut(&op.account).expect("known account") += sign * op.amount;
            }
            409 => assert_eq!(answer.code(), "insufficient_funds", "{answer:?}"),
            _ => panic!("unexpected answer {answer:?} for {}", op.key),
        }
    }

    let view = stack.fold().await;
    for (op, answer) in answered.iter().filter(|(_, a)| a.status == 200) {
        assert!(view.accepted(answer.commit_id()).is_some(), "acknowledged {} is not in the log", op.key);
    }
    let accepted_money = view.records.iter().filter(|r| r.3.is_accepted() && r.2.command.name != "OpenAccount").count();
    assert_eq!(accepted_money, acknowledged, "every accepted money commit was acknowledged exactly once");
    for account in &accounts {
        assert_eq!(view.fold.accounts[account].balance, expected[account], "log balance of {account}");
    }

    // The restarted service's own state agrees: draining the expected balance and closing works.
    for account in &accounts {
        let balance = expected[account];
        if balance > 0 {
            let drained = api.money(*account, "withdrawals", balance).await;
            assert_eq!(drained.status, 200, "{drained:?}");
        }
        let closed = api.post(&format!("/v1/accounts/{account}/close"), &json!({}), &[]).await;
        assert_eq!(closed.status, 200, "service state of {account} disagrees with the acknowledgements: {closed:?}");
    }
    eprintln!(
        "crash test: {before_kill} answers before kill -9, {acknowledged} acknowledged money commands, recovery {report}"
    );
}

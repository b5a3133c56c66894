//! Split brain: two command services write the same partitions at once, each
//! believing it owns them, each pipelining batches (here: each in a writers'
//! group of its own, as an instance cut off from its group would be). The
//! fold rule keeps the money right, and every 2xx names an accepted commit.

use events::AccountEvent;
use futures::future::join_all;
use serde_json::json;

use crate::client::Api;
use crate::harness::service;
use testkit::Stack;

#[tokio::test]
async fn two_writers_racing_on_one_account_never_overdraw_it_the_money_adds_up_and_every_2xx_is_accepted() {
    let stack = Stack::new().await;
    let a = service(&stack, &[("WRITERS_GROUP", "split-a")]).await;
    let b = service(&stack, &[("WRITERS_GROUP", "split-b")]).await;
    let (api_a, api_b) = (Api::new(&a.base), Api::new(&b.base));

    let mut rejected_in_log = 0;
    let mut acknowledged = Vec::new();
    let mut accounts = Vec::new();
    for round in 0..8 {
        let id = api_a.open("EUR", 0).await;
        assert_eq!(api_a.money(id, "deposits", 1000).await.status, 200);
        // B learns the account from the log: a refusal is only given after checking the log end.
        // A partition still loading answers 503 with Retry-After: a client retries.
        let mut too_much = api_b.money(id, "withdrawals", 5000).await;
        for _ in 0..50 {
            if too_much.code() != "unavailable" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            too_much = api_b.money(id, "withdrawals", 5000).await;
        }
        assert_eq!(too_much.code(), "insufficient_funds", "B must see A's deposit before refusing: {too_much:?}");

        // Forty withdrawals of 50 to 90 against a balance of 1000, split over both
        // writers, all at once. Unequal amounts: a commit accepted on top of a state
        // its writer never saw would leave a balance that is not 1000 minus the sum.
        let answers = join_all((0..40).map(|i| {
            let api = if i % 2 == 0 { api_a.clone() } else { api_b.clone() };
            async move { api.money(id, "withdrawals", 50 + 10 * (i % 5)).await }
        }))
        .await;
        for answer in &answers {
            match answer.status {
                200 => acknowledged.push((id, answer.commit_id())),
                409 => assert!(
                    ["insufficient_funds", "write_conflict"].contains(&answer.code()),
                    "unexpected refusal {answer:?}"
                ),
                _ => panic!("unexpected answer {answer:?}"),
            }
        }
        accounts.push(id);
        let view = stack.fold().await;
        rejected_in_log = view.fold.rejected;
        if rejected_in_log > 0 && round >= 2 {
            break;
        }
    }

    let view = stack.fold().await;
    for (id, commit_id) in &acknowledged {
        assert!(
            view.accepted(*commit_id).is_some(),
            "a 2xx for {id} names commit {commit_id}, which the fold rejected"
        );
    }
    for id in &accounts {
        let account = &view.fold.accounts[id];
        assert!(account.balance >= 0, "account {id} overdrawn to {}", account.balance);
        let accepted: Vec<_> = view.commits_for(*id).filter(|r| r.3.is_accepted()).collect();
        let withdrawals = accepted.iter().filter(|r| r.2.command.name == "Withdraw").count();
        let acked_withdrawals = acknowledged.iter().filter(|(a, _)| a == id).count();
        assert_eq!(withdrawals, acked_withdrawals, "every accepted withdrawal was acknowledged, once");
        // The money adds up: each accepted event's balance is the one before it, moved by its amount.
        let mut balance = 0;
        for event in accepted.iter().flat_map(|r| &r.2.events) {
            let (delta, after) = match &event.payload {
                AccountEvent::MoneyDeposited(m) => (m.amount, m.balance_after),
                AccountEvent::MoneyWithdrawn(m) => (-m.amount, m.balance_after),
                _ => (0, balance),
            };
            assert_eq!(balance + delta, after, "account {id}: event {} was decided on another history", event.sequence);
            balance = after;
        }
        assert_eq!(account.balance, balance);
    }
    assert!(rejected_in_log > 0, "the writers never actually raced: the test proved nothing");
    eprintln!(
        "split brain: {} acknowledged withdrawals, {rejected_in_log} commits rejected by the fold rule",
        acknowledged.len()
    );

    // Both writers end with the same view of the account: each can take what is left.
    let last = accounts[accounts.len() - 1];
    let left = view.fold.accounts[&last].balance;
    if left > 0 {
        let answer = api_b.post(&format!("/v1/accounts/{last}/withdrawals"), &json!({"amount": left}), &[]).await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
}

//! The planner: which steps a partition's log calls for.

use chrono::{DateTime, Duration, Utc};
use events::account::{AccountOpened, MoneyMoved};
use events::transfer::{HoldPosted, HoldReleased, TransferDebited, TransferHeld, TransferRefused};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
use uuid::Uuid;

use super::*;

/// Writes commits for one account the way a writer that saw every earlier one would.
struct Writer {
    account: Uuid,
    version: u64,
    head: Option<Uuid>,
}

impl Writer {
    fn new(account: u128) -> Self {
        Writer { account: Uuid::from_u128(account), version: 0, head: None }
    }

    /// The next commit, chained on the last one.
    fn next(&mut self, payload: AccountEvent) -> Commit {
        let commit = self.at(self.version, payload);
        self.version += 1;
        self.head = Some(commit.commit_id);
        commit
    }

    /// A commit expecting `version`, whatever the account is at.
    fn at(&self, version: u64, payload: AccountEvent) -> Commit {
        Commit {
            commit_id: Uuid::new_v4(),
            aggregate_type: "account".into(),
            aggregate_id: self.account,
            expected_version: version,
            previous_commit_id: self.head,
            events: vec![Event { event_id: Uuid::new_v4(), sequence: version + 1, occurred_at: t0(), payload }],
            command: CommandInfo::default(),
            metadata: Metadata::default(),
        }
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).expect("valid time")
}

fn opened(currency: &str) -> AccountEvent {
    AccountEvent::AccountOpened(AccountOpened { owner: "o".into(), currency: currency.into(), overdraft_limit: 0 })
}

fn deposited(amount: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited(MoneyMoved { amount, reference: None, balance_after: amount })
}

fn debited(id: u128, to: &Writer, amount: i64, balance_after: i64) -> AccountEvent {
    let reference = Some("rent".into());
    let transfer_id = Uuid::from_u128(id);
    AccountEvent::TransferDebited(TransferDebited { transfer_id, to: to.account, amount, reference, balance_after })
}

fn held(id: u128, to: &Writer, amount: i64, expires_at: DateTime<Utc>) -> AccountEvent {
    let (transfer_id, reference) = (Uuid::from_u128(id), Some("deposit".into()));
    AccountEvent::TransferHeld(TransferHeld { transfer_id, to: to.account, amount, reference, expires_at })
}

/// A funded EUR source (offsets 0 and 1) and an open EUR destination (offset 2), in one partition.
fn funded(planner: &mut Planner) -> (Writer, Writer) {
    let (mut source, mut destination) = (Writer::new(1), Writer::new(2));
    assert!(planner.commit(0, &source.next(opened("EUR"))).is_empty());
    assert!(planner.commit(1, &source.next(deposited(1000))).is_empty());
    assert!(planner.commit(2, &destination.next(opened("EUR"))).is_empty());
    (source, destination)
}

#[test]
fn an_accepted_debit_calls_for_a_credit_in_the_sources_currency() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    let steps = planner.commit(3, &source.next(debited(9, &destination, 300, 700)));
    let expected = Step::Credit {
        transfer_id: Uuid::from_u128(9),
        from: source.account,
        to: destination.account,
        amount: 300,
        currency: "EUR".into(),
        reference: Some("rent".into()),
    };
    assert_eq!(steps, [expected]);
}

#[test]
fn a_debit_the_fold_rejected_calls_for_nothing() {
    let mut planner = Planner::new(0);
    let (source, destination) = funded(&mut planner);
    // Decided on version 1, but the deposit took version 1 first.
    let stale = source.at(1, debited(9, &destination, 300, 700));
    assert!(planner.commit(3, &stale).is_empty());
    assert!(planner.record(4, b"not a commit").is_empty());
}

#[test]
fn a_debit_read_from_its_record_bytes_calls_for_its_credit() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    let steps = planner.record(3, &source.next(debited(9, &destination, 300, 700)).encode());
    assert_eq!(steps.iter().map(Step::kind).collect::<Vec<_>>(), [crate::steps::Kind::Credit]);
}

#[test]
fn a_refusal_on_the_destination_calls_for_a_reversal_on_the_source() {
    let mut planner = Planner::new(0);
    let mut destination = Writer::new(2);
    planner.commit(0, &destination.next(opened("USD")));
    let (transfer_id, from) = (Uuid::from_u128(9), Uuid::from_u128(1));
    let refused = TransferRefused { transfer_id, from, amount: 300, reason: "currency_mismatch".into() };
    let steps = planner.commit(1, &destination.next(AccountEvent::TransferRefused(refused)));
    assert_eq!(steps, [Step::Reverse { transfer_id, from }]);
}

#[test]
fn a_posted_hold_calls_for_a_credit_of_the_posted_amount_and_no_expiry() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    let expires_at = t0() + Duration::hours(1);
    assert!(planner.commit(3, &source.next(held(9, &destination, 500, expires_at))).is_empty());
    let (transfer_id, to) = (Uuid::from_u128(9), destination.account);
    let posted = HoldPosted { transfer_id, to, amount: 200, hold_amount: 500, balance_after: 800 };
    let steps = planner.commit(4, &source.next(AccountEvent::HoldPosted(posted)));
    let expected = Step::Credit {
        transfer_id,
        from: source.account,
        to,
        amount: 200,
        currency: "EUR".into(),
        reference: Some("deposit".into()),
    };
    assert_eq!(steps, [expected]);
    assert_eq!((planner.next_expiry(), planner.open_holds()), (None, 0));
    assert!(planner.due(expires_at + Duration::days(1)).is_empty());
}

#[test]
fn a_hold_left_open_is_expired_once_at_its_expiry_time() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    let expires_at = t0() + Duration::hours(1);
    assert!(planner.commit(3, &source.next(held(9, &destination, 500, expires_at))).is_empty());
    assert_eq!((planner.next_expiry(), planner.open_holds()), (Some(expires_at), 1));
    assert!(planner.due(expires_at - Duration::seconds(1)).is_empty());
    let expiry = Step::Expire { transfer_id: Uuid::from_u128(9), from: source.account };
    assert_eq!(planner.due(expires_at), [expiry]);
    assert!(planner.due(expires_at + Duration::hours(1)).is_empty(), "issued once");
    assert_eq!(planner.open_holds(), 1, "open until the log says otherwise");
}

#[test]
fn a_voided_or_expired_hold_cancels_its_timer() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    let expires_at = t0() + Duration::hours(1);
    planner.commit(3, &source.next(held(9, &destination, 100, expires_at)));
    planner.commit(4, &source.next(held(10, &destination, 100, expires_at)));
    let void = HoldReleased { transfer_id: Uuid::from_u128(9), amount: 100 };
    let expired = HoldReleased { transfer_id: Uuid::from_u128(10), amount: 100 };
    assert!(planner.commit(5, &source.next(AccountEvent::HoldVoided(void))).is_empty());
    assert!(planner.commit(6, &source.next(AccountEvent::HoldExpired(expired))).is_empty());
    assert_eq!((planner.next_expiry(), planner.open_holds()), (None, 0));
}

#[test]
fn events_before_the_committed_offset_call_for_nothing_but_their_holds_stay_open() {
    let mut planner = Planner::new(10);
    let (mut source, destination) = funded(&mut planner);
    assert!(planner.commit(3, &source.next(debited(8, &destination, 100, 900))).is_empty());
    assert!(planner.commit(4, &source.next(held(9, &destination, 100, t0()))).is_empty());
    assert_eq!(planner.due(t0()).len(), 1);
    assert_eq!(planner.commit(10, &source.next(debited(11, &destination, 100, 800))).len(), 1);
}

#[test]
fn the_open_holds_are_the_held_legs_left_in_the_fold() {
    let mut planner = Planner::new(0);
    let (mut source, destination) = funded(&mut planner);
    for id in 20..25 {
        planner.commit(id as i64, &source.next(held(id, &destination, 10, t0())));
    }
    let void = HoldReleased { transfer_id: Uuid::from_u128(21), amount: 10 };
    planner.commit(30, &source.next(AccountEvent::HoldVoided(void)));
    let in_fold: BTreeSet<(Uuid, Uuid)> = planner
        .fold()
        .accounts
        .iter()
        .flat_map(|(account, state)| state.transfers.iter().map(move |(id, leg)| (account, id, leg)))
        .filter(|(_, _, leg)| matches!(leg, Leg::Held { .. }))
        .map(|(account, id, _)| (*account, *id))
        .collect();
    let tracked: BTreeSet<(Uuid, Uuid)> = planner.holds().keys().copied().collect();
    assert_eq!((tracked.len(), tracked), (4, in_fold));
}

#[test]
fn a_leg_the_fold_already_shows_is_recognised_as_recorded() {
    let mut planner = Planner::new(0);
    let (mut source, mut destination) = funded(&mut planner);
    let credit = planner.commit(3, &source.next(debited(9, &destination, 300, 700))).remove(0);
    assert!(!planner.is_recorded(&credit));
    let credited = events::transfer::TransferCredited {
        transfer_id: Uuid::from_u128(9),
        from: source.account,
        amount: 300,
        reference: None,
        balance_after: 300,
    };
    planner.commit(4, &destination.next(AccountEvent::TransferCredited(credited)));
    assert!(planner.is_recorded(&credit));
    let elsewhere = Step::Credit {
        transfer_id: Uuid::from_u128(9),
        from: source.account,
        to: Uuid::from_u128(99),
        amount: 300,
        currency: "EUR".into(),
        reference: None,
    };
    assert!(!planner.is_recorded(&elsewhere), "an account of another partition is never known here");
}

#[test]
fn the_checkpoint_is_the_lowest_offset_with_a_step_not_done() {
    let mut outstanding = Outstanding::default();
    assert_eq!(outstanding.checkpoint(5, 3), 5, "never below the offset committed at assignment");
    for offset in [7, 9, 9, 12] {
        outstanding.add(offset);
    }
    assert_eq!(outstanding.checkpoint(5, 20), 7);
    outstanding.done(9);
    outstanding.done(7);
    assert_eq!(outstanding.checkpoint(5, 20), 9, "one step of offset 9 is still out");
    outstanding.done(9);
    outstanding.done(12);
    assert_eq!((outstanding.checkpoint(5, 20), outstanding.is_empty()), (20, true));
}

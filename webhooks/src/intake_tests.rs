use chrono::Utc;
use events::account::{AccountOpened, MoneyMoved};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};

use super::*;

const ACCOUNT: Uuid = Uuid::from_u128(7);

fn record(expected_version: u64, payload: AccountEvent) -> Vec<u8> {
    Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: "account".into(),
        aggregate_id: ACCOUNT,
        expected_version,
        previous_commit_id: None,
        events: vec![Event {
            event_id: Uuid::now_v7(),
            sequence: expected_version + 1,
            occurred_at: Utc::now(),
            payload,
        }],
        command: CommandInfo::default(),
        metadata: Metadata::default(),
    }
    .encode()
}

fn opened() -> Vec<u8> {
    record(
        0,
        AccountEvent::AccountOpened(AccountOpened {
            owner: "alice".into(),
            currency: "EUR".into(),
            overdraft_limit: 0,
        }),
    )
}

fn deposit(expected_version: u64, balance_after: i64) -> Vec<u8> {
    record(expected_version, AccountEvent::MoneyDeposited(MoneyMoved { amount: 1, reference: None, balance_after }))
}

fn parts(cursor: Option<i64>) -> HashMap<i32, Part> {
    HashMap::from([(0, Part { cursor, ..Part::default() })])
}

#[test]
fn given_a_cursor_when_the_partition_is_folded_from_its_start_then_only_events_at_or_past_it_become_messages() {
    let mut parts = parts(Some(2));
    for (offset, value) in [opened(), deposit(1, 1), deposit(2, 2), deposit(3, 3)].iter().enumerate() {
        on_record(&mut parts, 0, offset as i64, value);
    }
    let part = &parts[&0];
    let offsets: Vec<i64> = part.batch.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, vec![2, 3]);
    assert_eq!(part.batch[1].body["account_version"], 4, "folded from the start: the version is the log's");
    assert_eq!(part.next, 4);
}

#[test]
fn given_a_commit_the_fold_rejects_then_it_becomes_no_message() {
    let mut parts = parts(Some(0));
    on_record(&mut parts, 0, 0, &opened());
    on_record(&mut parts, 0, 1, &deposit(0, 1));
    on_record(&mut parts, 0, 2, b"not a commit");
    assert_eq!(
        parts[&0].batch.len(),
        1,
        "only the opening: the stale-version deposit and the garbage are not accepted"
    );
    assert_eq!(parts[&0].next, 3);
}

#[test]
fn when_a_record_comes_again_it_is_skipped_and_a_gap_asks_for_a_seek_back_then_is_taken_if_it_is_real() {
    let mut parts = parts(Some(0));
    on_record(&mut parts, 0, 0, &opened());
    assert!(matches!(on_record(&mut parts, 0, 0, &opened()), Taken::Folded));
    assert_eq!(parts[&0].batch.len(), 1, "a record folded already is skipped");
    assert!(matches!(on_record(&mut parts, 0, 5, &deposit(1, 1)), Taken::SeekTo(1)));
    assert_eq!(parts[&0].next, 1, "records 1 to 4 were not folded");
    assert!(matches!(on_record(&mut parts, 0, 5, &deposit(1, 1)), Taken::Folded), "5 again right after the seek");
    assert_eq!((parts[&0].next, parts[&0].batch.len()), (6, 2));
}

#[test]
fn given_no_cursor_yet_then_messages_are_kept_until_it_is_read() {
    let mut parts = parts(None);
    on_record(&mut parts, 0, 0, &opened());
    on_record(&mut parts, 0, 1, &deposit(1, 1));
    assert_eq!(parts[&0].batch.len(), 2, "kept: start_pending drops those before the cursor");
}

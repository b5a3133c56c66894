use chrono::Duration;

use super::*;

const E: Uuid = Uuid::from_u128(1);
const A: Uuid = Uuid::from_u128(10);
const B: Uuid = Uuid::from_u128(11);

fn pending(id: u128, due: DateTime<Utc>) -> Pending {
    Pending {
        event_id: Uuid::from_u128(id),
        attempts: 0,
        due,
        partition: 0,
        event_type: Arc::from("account.deposited"),
        body: Arc::new(Value::Null),
    }
}

fn ids(sends: &[Send]) -> Vec<u128> {
    let mut ids: Vec<u128> = sends.iter().map(|s| s.pending.event_id.as_u128()).collect();
    ids.sort();
    ids
}

#[test]
fn given_a_lane_then_only_its_first_delivery_is_sent_and_the_next_once_the_first_is_done() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (5, 0), pending(2, now));
    lanes.add((E, A), (3, 0), pending(1, now));
    let first = lanes.take_due(now, 16, 256);
    assert_eq!(ids(&first), vec![1], "log order, whatever the fetch order");
    assert!(lanes.take_due(now, 16, 256).is_empty(), "the second waits for the first");
    lanes.back(&first[0], None);
    assert_eq!(ids(&lanes.take_due(now, 16, 256)), vec![2]);
}

#[test]
fn given_a_failing_first_delivery_then_its_lane_waits_and_other_lanes_flow() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (1, 0), pending(1, now));
    lanes.add((E, A), (2, 0), pending(2, now));
    lanes.add((E, B), (1, 1), pending(3, now));
    let sent = lanes.take_due(now, 16, 256);
    assert_eq!(ids(&sent), vec![1, 3]);
    let failed = sent.iter().find(|s| s.key.1 == A).expect("A's").clone();
    lanes.back(&failed, Some(now + Duration::seconds(5)));
    lanes.back(sent.iter().find(|s| s.key.1 == B).expect("B's"), None);
    assert!(lanes.take_due(now, 16, 256).is_empty(), "A waits for its retry; nothing else of A goes first");
    let retried = lanes.take_due(now + Duration::seconds(5), 16, 256);
    assert_eq!((ids(&retried), retried[0].pending.attempts), (vec![1], 1));
}

#[test]
fn given_a_delivery_done_but_not_stored_then_a_fetch_from_before_does_not_bring_it_back() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (1, 0), pending(1, now));
    let sent = lanes.take_due(now, 16, 256);
    lanes.back(&sent[0], None);
    lanes.add((E, A), (1, 0), pending(1, now));
    assert!(lanes.take_due(now, 16, 256).is_empty(), "not sent twice");
    lanes.stored(&[((E, A), (1, 0))]);
    assert_eq!(lanes.queued() + lanes.in_flight(), 0, "the lane is gone once stored");
    lanes.add((E, A), (1, 0), pending(1, now));
    assert_eq!(ids(&lanes.take_due(now, 16, 256)), vec![1], "a replay after it was stored is sent again");
}

#[test]
fn given_an_endpoint_limit_then_no_more_than_it_are_in_flight_to_that_endpoint() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    for account in 0..10u128 {
        lanes.add((E, Uuid::from_u128(100 + account)), (account as i64, 0), pending(account, now));
    }
    lanes.add((Uuid::from_u128(2), A), (0, 0), pending(99, now));
    let sent = lanes.take_due(now, 3, 256);
    assert_eq!(sent.iter().filter(|s| s.key.0 == E).count(), 3);
    assert_eq!(sent.iter().filter(|s| s.key.0 != E).count(), 1, "a slow endpoint does not take the others' slots");
    assert_eq!(lanes.take_due(now, 3, 4).len(), 0, "and the total is bounded too");
}

#[test]
fn a_partition_no_longer_owned_loses_what_is_queued_for_it() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (1, 0), pending(1, now));
    lanes.retain(|partition| partition != 0);
    assert_eq!(lanes.queued(), 0);
}

#[test]
fn a_disabled_endpoint_loses_what_is_queued_for_it() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (1, 0), pending(1, now));
    lanes.drop_endpoint(E);
    assert!(lanes.take_due(now, 16, 256).is_empty());
    assert_eq!(lanes.next_due(), None);
}

#[test]
fn a_new_delivery_joins_a_complete_lane_but_an_incomplete_one_waits_for_a_fetch() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    assert!(!lanes.add_new((E, A), (1, 0), pending(1, now), false), "the partition was not fetched whole yet");
    assert!(lanes.add_new((E, A), (1, 0), pending(1, now), true), "nothing older can be pending");
    lanes.add((E, B), (2, 0), pending(2, now));
    lanes.mark_complete((E, B), false);
    assert!(!lanes.add_new((E, B), (9, 0), pending(3, now), true), "older ones may be behind its window");
    lanes.mark_complete((E, B), true);
    assert!(lanes.add_new((E, B), (9, 0), pending(3, now), true));
    assert_eq!(ids(&lanes.take_due(now, 16, 256)), vec![1, 2], "each lane's first, in log order");
}

#[test]
fn a_lane_fetched_in_part_asks_for_more_once_it_has_sent_what_it_holds() {
    let (now, mut lanes) = (Utc::now(), Lanes::default());
    lanes.add((E, A), (1, 0), pending(1, now));
    lanes.mark_complete((E, A), false);
    assert!(!lanes.starving(), "it still holds one");
    let sent = lanes.take_due(now, 16, 256);
    assert!(!lanes.starving(), "one in flight");
    lanes.back(&sent[0], None);
    assert!(lanes.starving());
    lanes.mark_complete((E, A), true);
    assert!(!lanes.starving(), "a complete lane has nothing more to fetch");
}

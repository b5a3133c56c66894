//! What each answer of the command service means for a step.

use super::*;

const ALL: [Kind; 3] = [Kind::Credit, Kind::Reverse, Kind::Expire];

#[test]
fn any_success_is_done_for_every_kind() {
    for kind in ALL {
        assert_eq!(classify(kind, Some(200), None), Outcome::Done);
        assert_eq!(classify(kind, Some(201), None), Outcome::Done);
    }
}

#[test]
fn a_credit_or_reversal_recorded_earlier_is_done() {
    assert_eq!(classify(Kind::Credit, Some(409), Some("transfer_leg_recorded")), Outcome::Done);
    assert_eq!(classify(Kind::Reverse, Some(409), Some("transfer_leg_recorded")), Outcome::Done);
}

#[test]
fn a_hold_resolved_otherwise_is_done_for_its_expiry() {
    for code in ["transfer_already_posted", "transfer_already_voided", "transfer_expired"] {
        assert_eq!(classify(Kind::Expire, Some(409), Some(code)), Outcome::Done, "{code}");
    }
}

#[test]
fn a_hold_not_yet_expired_on_the_command_services_clock_is_retried_later() {
    assert_eq!(classify(Kind::Expire, Some(409), Some("transfer_not_expired")), Outcome::RetryLater);
}

#[test]
fn no_answer_unavailability_throttling_and_write_conflicts_are_retried_soon() {
    for kind in ALL {
        assert_eq!(classify(kind, None, None), Outcome::RetrySoon);
        assert_eq!(classify(kind, Some(503), Some("unavailable")), Outcome::RetrySoon);
        assert_eq!(classify(kind, Some(500), Some("internal")), Outcome::RetrySoon);
        assert_eq!(classify(kind, Some(502), None), Outcome::RetrySoon);
        assert_eq!(classify(kind, Some(429), Some("rate_limited")), Outcome::RetrySoon);
        assert_eq!(classify(kind, Some(409), Some("write_conflict")), Outcome::RetrySoon);
    }
}

#[test]
fn any_other_refusal_is_a_bug_never_a_done() {
    for kind in ALL {
        assert_eq!(classify(kind, Some(400), Some("validation_failed")), Outcome::Bug);
        assert_eq!(classify(kind, Some(401), Some("unauthorized")), Outcome::Bug);
        assert_eq!(classify(kind, Some(403), Some("forbidden")), Outcome::Bug);
        assert_eq!(classify(kind, Some(404), Some("not_found")), Outcome::Bug);
        assert_eq!(classify(kind, Some(422), Some("idempotency_key_reused")), Outcome::Bug);
        assert_eq!(classify(kind, Some(409), Some("transfer_not_pending")), Outcome::Bug);
        assert_eq!(classify(kind, Some(409), None), Outcome::Bug);
    }
}

#[test]
fn the_codes_of_one_kind_do_not_finish_another() {
    assert_eq!(classify(Kind::Expire, Some(409), Some("transfer_leg_recorded")), Outcome::Bug);
    assert_eq!(classify(Kind::Credit, Some(409), Some("transfer_already_posted")), Outcome::Bug);
    assert_eq!(classify(Kind::Reverse, Some(409), Some("transfer_not_expired")), Outcome::Bug);
}

#[test]
fn the_back_off_doubles_from_50_ms_and_stops_at_2_s() {
    let waits: Vec<u128> = (0..8).map(|n| backoff(n).as_millis()).collect();
    assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}

#[test]
fn a_credit_is_sent_where_and_as_the_command_service_expects() {
    let (id, from, to) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
    let step = Step::Credit { transfer_id: id, from, to, amount: 150, currency: "EUR".into(), reference: None };
    assert_eq!(step.path(), format!("/v1/internal/transfers/{id}/credit"));
    assert_eq!(step.body(), json!({"from": from, "to": to, "amount": 150, "currency": "EUR", "reference": null}));
    let expire = Step::Expire { transfer_id: id, from };
    assert_eq!((expire.path(), expire.body()), (format!("/v1/internal/transfers/{id}/expire"), json!({"from": from})));
}

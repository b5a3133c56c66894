use chrono::DateTime;
use uuid::Uuid;

use super::*;
use crate::commit::Record;

fn erase(reason: &str) -> SubjectCommand {
    SubjectCommand::Erase { by: "ops-ana".into(), reason: reason.into() }
}

fn commit(expected_version: u64) -> SubjectCommit {
    SubjectCommit {
        commit_id: Uuid::from_u128(expected_version as u128 + 10),
        subject: Uuid::from_u128(7),
        expected_version,
        event_id: Uuid::from_u128(8),
        occurred_at: DateTime::from_timestamp(1_700_000_000, 0).expect("valid time"),
        erased: SubjectErased { by: "ops-ana".into(), reason: "gdpr_art17".into() },
        command: CommandInfo { name: "EraseSubject".into(), ..Default::default() },
        metadata: Metadata { correlation_id: "c".into(), ..Default::default() },
    }
}

#[test]
fn a_live_subject_is_erased_with_the_operator_and_the_reason_code() {
    // Given a subject never erased, when an operator erases it for a reason code
    let events = decide(&Subject::default(), &erase("gdpr_art17")).expect("erased");
    // Then the one event records who and why, and nothing else
    assert_eq!(events, vec![SubjectErased { by: "ops-ana".into(), reason: "gdpr_art17".into() }]);
}

#[test]
fn an_erased_subject_cannot_be_erased_again() {
    let mut state = Subject::default();
    apply(&mut state, &SubjectErased { by: "a".into(), reason: "x".into() });
    assert_eq!(decide(&state, &erase("gdpr_art17")), Err(DomainError::SubjectErased));
}

#[test]
fn a_free_text_reason_is_refused_because_the_log_keeps_it_forever() {
    for reason in ["", "Asked by Mrs Gruber", "gdpr art17", &"x".repeat(65)] {
        assert!(matches!(decide(&Subject::default(), &erase(reason)), Err(DomainError::Validation(_))), "{reason:?}");
    }
}

#[test]
fn a_subject_commit_reads_back_as_a_record_and_is_no_account_commit() {
    let bytes = commit(0).encode();
    assert_eq!(Record::decode(&bytes).expect("decodes"), Record::Subject(commit(0)));
    assert!(matches!(crate::Commit::decode(&bytes), Err(DecodeError::OtherAggregate("subject"))));
}

#[test]
fn the_first_erasure_in_the_log_is_accepted_and_a_repeat_is_rejected() {
    // Given two erasure commits of one subject, as a retried request may write
    let (first, again) = (commit(0), SubjectCommit { commit_id: Uuid::from_u128(99), ..commit(0) });
    let mut state = Subject::default();
    // When both are folded in log order, then only the first counts
    assert!(fold_commit(&mut state, &first).is_accepted());
    assert!(!fold_commit(&mut state, &again).is_accepted());
    assert_eq!((state.version, state.head), (1, Some(first.commit_id)));
}

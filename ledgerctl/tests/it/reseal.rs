//! `reseal`: a log written before sealing, copied into a new topic with its
//! personal fields sealed, reads the same through the keys.

use events::account::{AccountOpened, MoneyMoved};
use events::{AccountEvent, CommandInfo, Commit, Event, Metadata};
use uuid::Uuid;

use crate::common::{produce, Ledgerctl, System};

const KEK: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const NEW_KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A commit as the writer wrote them before sealing: owner, reference and actor in clear.
fn old_commit(account: Uuid, version: u64, payload: AccountEvent) -> Vec<u8> {
    let mut metadata = Metadata { correlation_id: format!("c{version}"), ..Default::default() };
    metadata.extra.insert("actor".into(), "Mrs Gruber".into());
    let event = Event { event_id: Uuid::now_v7(), sequence: version + 1, occurred_at: chrono::Utc::now(), payload };
    let command = CommandInfo {
        name: "Old".into(),
        idempotency_key: Some(format!("k{version}")),
        fingerprint: Some("0a1b".into()),
    };
    Commit {
        commit_id: Uuid::now_v7(),
        aggregate_type: "account".into(),
        aggregate_id: account,
        expected_version: version,
        previous_commit_id: None,
        events: vec![event],
        command,
        metadata,
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_before_sealing_is_copied_sealed_reads_the_same_through_the_keys_and_survives_a_kek_rotation() {
    // Given an old log: an account of Mrs Gruber's with a referenced deposit, and a record that is no commit
    let system = System::start(false, None).await;
    let account = Uuid::new_v4();
    let opened = AccountOpened { owner: "Mrs Gruber".into(), currency: "EUR".into(), overdraft_limit: 0 };
    let deposit = MoneyMoved { amount: 70, reference: Some("rent, flat 3".into()), balance_after: 70 };
    let records = [
        (account, old_commit(account, 0, AccountEvent::AccountOpened(opened))),
        (account, old_commit(account, 1, AccountEvent::MoneyDeposited(deposit))),
        (account, b"not a commit".to_vec()),
    ];
    produce(&system, &records).await;
    let new_topic = format!("{}.sealed", system.stack.topic);
    let keys = [("KEYS_DATABASE_URL", system.stack.db.url.as_str()), ("KEY_ENCRYPTION_KEY", KEK)];

    // When it is resealed into a new topic
    let (ok, out) = system.ledgerctl_with(&["reseal", "--to-topic", &new_topic], &keys);
    assert!(ok, "{out}");
    assert!(out.contains("copied 3 record(s)") && out.contains("2 commit(s) changed"), "{out}");

    // Then the new topic has every record at the same offset and no clear text
    let brokers = &system.stack.broker.addr;
    let old_ends = ledger_runtime::kafka::log_ends(brokers, &system.stack.topic, 8).await.expect("ends");
    assert_eq!(ledger_runtime::kafka::log_ends(brokers, &new_topic, 8).await.expect("ends"), old_ends);
    let no_keys = [("KEYS_DATABASE_URL", "")];
    let (ok, sealed) = system.ledgerctl_with(&["export", "--events-topic", &new_topic, "--include-rejected"], &no_keys);
    assert!(ok, "{sealed}");
    assert!(!sealed.contains("Gruber") && !sealed.contains("flat 3"), "{sealed}");
    // And opened with the keys, its export is exactly the old log's
    let (ok, old) = system.ledgerctl_with(&["export", "--include-rejected"], &no_keys);
    assert!(ok && old.contains("rent, flat 3"), "{old}");
    let (ok, opened) = system.ledgerctl_with(&["export", "--events-topic", &new_topic, "--include-rejected"], &keys);
    assert!(ok, "{opened}");
    assert_eq!(opened, old);
    // And a second copy into a topic that is not empty is refused
    let (ok, out) = system.ledgerctl_with(&["reseal", "--to-topic", &new_topic], &keys);
    assert!(!ok && out.contains("not empty"), "{out}");

    // When the KEK is rotated, the same export opens with the new KEK and not with the old one
    let rotate = [keys[0], keys[1], ("NEW_KEY_ENCRYPTION_KEY", NEW_KEK)];
    let (ok, out) = system.ledgerctl_with(&["rotate-kek"], &rotate);
    assert!(ok && out.contains("re-sealed 1 subject key(s)"), "{out}");
    let rotated = [keys[0], ("KEY_ENCRYPTION_KEY", NEW_KEK)];
    let (ok, reopened) =
        system.ledgerctl_with(&["export", "--events-topic", &new_topic, "--include-rejected"], &rotated);
    assert!(ok, "{reopened}");
    assert_eq!(reopened, old);
    let (ok, out) = system.ledgerctl_with(&["export", "--events-topic", &new_topic], &keys);
    assert!(!ok && out.contains("KEY_ENCRYPTION_KEY"), "the old KEK opens nothing any more: {out}");
}

use std::collections::HashSet;

use uuid::Uuid;

use super::*;

fn place() -> (DataKey, Uuid, Uuid) {
    (DataKey::generate(), Uuid::new_v4(), Uuid::new_v4())
}

#[test]
fn a_sealed_field_opens_as_the_same_field_of_the_same_account() {
    // Given a reference sealed for an account
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "reference", "rent for Mrs Gruber, flat 3");
    // When it is opened in its place, then the text comes back; and the commit holds no trace of it
    assert_eq!(open(&key, account, "reference", &sealed), Ok("rent for Mrs Gruber, flat 3".to_owned()));
    assert!(!serde_json::to_string(&sealed).expect("json").contains("Gruber"));
}

#[test]
fn a_ciphertext_moved_to_another_field_does_not_open() {
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "reference", "Gruber");
    assert_eq!(open(&key, account, "reason", &sealed), Err(SealError::Rejected));
    assert_eq!(open(&key, account, "owner", &sealed), Err(SealError::Rejected));
}

#[test]
fn a_ciphertext_moved_to_another_account_or_subject_does_not_open() {
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "owner", "Gruber");
    assert_eq!(open(&key, Uuid::new_v4(), "owner", &sealed), Err(SealError::Rejected));
    let relabelled = Sealed { subject: Uuid::new_v4(), ..sealed };
    assert_eq!(open(&key, account, "owner", &relabelled), Err(SealError::Rejected));
}

#[test]
fn a_tampered_ciphertext_or_nonce_does_not_open() {
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "reason", "suspected fraud by Gruber");
    let bytes = BASE64.decode(&sealed.data).expect("base64");
    for position in [0, NONCE_LEN - 1, NONCE_LEN, bytes.len() / 2, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[position] ^= 0x01;
        let tampered = Sealed { data: BASE64.encode(tampered), ..sealed.clone() };
        assert_eq!(open(&key, account, "reason", &tampered), Err(SealError::Rejected), "byte {position}");
    }
    let truncated = Sealed { data: BASE64.encode(&bytes[..NONCE_LEN + 3]), ..sealed.clone() };
    assert_eq!(open(&key, account, "reason", &truncated), Err(SealError::Rejected));
    let garbage = Sealed { data: "not base64!".into(), ..sealed.clone() };
    assert_eq!(open(&key, account, "reason", &garbage), Err(SealError::Malformed));
}

#[test]
fn another_key_does_not_open_it_and_an_unknown_scheme_is_refused() {
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "owner", "Gruber");
    assert_eq!(open(&DataKey::generate(), account, "owner", &sealed), Err(SealError::Rejected));
    let future = Sealed { scheme: "aes256gcmsiv".into(), ..sealed };
    assert_eq!(open(&key, account, "owner", &future), Err(SealError::Scheme("aes256gcmsiv".into())));
}

#[test]
fn nonces_never_repeat_for_one_key_across_a_million_encryptions() {
    // Given one key and one place, when a million fields are sealed (the path
    // `seal` takes, without the base64), then no nonce repeats
    let (key, subject, account) = place();
    let (cipher, aad) = (key.cipher(), associated_data(account, subject, "reference"));
    let mut seen: HashSet<[u8; NONCE_LEN]> = HashSet::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let data = seal_bytes(&cipher, &aad, b"x");
        let nonce: [u8; NONCE_LEN] = data[..NONCE_LEN].try_into().expect("a nonce");
        assert!(seen.insert(nonce), "a nonce repeated");
    }
}

#[test]
fn a_key_never_prints() {
    assert_eq!(format!("{:?}", DataKey::generate()), "DataKey(<redacted>)");
}

#[test]
fn a_personal_field_reads_as_clear_text_from_an_old_log_and_as_sealed_from_a_new_one() {
    // Given a clear reference (old log) and a sealed one (new log)
    let (key, subject, account) = place();
    let sealed = seal(&key, subject, account, "reference", "rent");
    // When each is read back from JSON, then its shape tells which it is
    let old: Personal = serde_json::from_value(serde_json::json!("rent")).expect("clear");
    let new: Personal = serde_json::from_value(serde_json::to_value(&sealed).expect("json")).expect("sealed");
    assert_eq!((old.clear(), old.subject()), (Some("rent"), None));
    assert_eq!((new.clear(), new.subject()), (None, Some(subject)));
}

#[test]
fn sealing_an_event_seals_its_clear_fields_and_opening_gives_them_back() {
    // Given an account's fields in clear
    let (key, subject, account) = place();
    let (mut owner, mut reference) = (Personal::from("Mrs Gruber"), Personal::from("rent, flat 3"));
    // When they are sealed for the owner
    seal_all([("owner", &mut owner), ("reference", &mut reference)], &key, subject, account);
    let mut data = serde_json::json!({"owner": owner, "reference": reference, "amount": 5});
    assert!(!data.to_string().contains("Gruber") && !data.to_string().contains("flat"));
    assert_eq!(subjects_in(&data), vec![subject, subject]);
    // Then a reader with the key opens them in place, money fields untouched
    let erased = open_in(&mut data, account, &|s| (s == subject).then(|| key.clone()));
    assert!(!erased);
    assert_eq!(data, serde_json::json!({"owner": "Mrs Gruber", "reference": "rent, flat 3", "amount": 5}));
}

#[test]
fn once_the_key_is_gone_a_sealed_field_opens_as_null_and_says_it_was_erased() {
    let (key, subject, account) = place();
    let mut data =
        serde_json::json!({"reason": seal(&key, subject, account, "reason", "fraud suspicion"), "amount": 1});
    assert!(open_in(&mut data, account, &|_| None));
    assert_eq!(data, serde_json::json!({"reason": null, "amount": 1}));
}

#[test]
fn a_reference_rebound_to_the_destination_opens_there_and_not_at_the_source() {
    // Given a source's reference sealed for its owner
    let (key, subject, source) = place();
    let destination = Uuid::new_v4();
    let sealed = seal(&key, subject, source, "reference", "invoice 42");
    // When it is rebound onto the destination's credit
    let rebound = rebind(&key, &sealed, source, destination, "reference").expect("opens at the source");
    // Then it is still the source owner's data, and opens only at the destination
    assert_eq!(rebound.subject, subject);
    assert_eq!(open(&key, destination, "reference", &rebound), Ok("invoice 42".into()));
    assert_eq!(open(&key, source, "reference", &rebound), Err(SealError::Rejected));
}

//! The commit decoder against hostile bytes: it rejects or decodes every byte
//! string, never panics, and whatever it decodes reads back identically.

use proptest::prelude::*;

use crate::commit::Commit;

const OPENED: &[u8] = include_bytes!("../tests/fixtures/commit_account_opened_v1.json");
const DEPOSITED: &[u8] = include_bytes!("../tests/fixtures/commit_money_deposited_v1.json");

/// Cases per property; `PROPTEST_CASES` overrides it (CI runs the default).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(20_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn decodes_without_panic(bytes: &[u8]) {
    if let Ok(commit) = Commit::decode(bytes) {
        let again = Commit::decode(&commit.encode()).expect("an encoded commit decodes");
        assert_eq!(again, commit);
    }
}

/// A valid record with some bytes overwritten, some removed and some inserted.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (prop::bool::ANY, prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)).prop_map(
        |(which, edits)| {
            let mut bytes = if which { OPENED.to_vec() } else { DEPOSITED.to_vec() };
            for (at, byte, kind) in edits {
                let i = at.index(bytes.len().max(1));
                match kind {
                    0 if !bytes.is_empty() => bytes[i] = byte,
                    1 if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i.min(bytes.len()), byte),
                }
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_byte_string_is_decoded_or_refused_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decodes_without_panic(&bytes);
    }

    #[test]
    fn mutated_commits_are_decoded_or_refused_without_a_panic(bytes in mutated()) {
        decodes_without_panic(&bytes);
    }

    #[test]
    fn commit_shaped_json_with_hostile_values_is_decoded_or_refused_without_a_panic(
        version in any::<u64>(),
        sequence in any::<u64>(),
        schema in any::<u32>(),
        kind in "[A-Za-z]{0,20}",
        amount in any::<i64>(),
        text in ".{0,40}",
    ) {
        let record = serde_json::json!({
            "commit_id": "01a20a24-898b-70bf-ac29-7b1c83cc9600",
            "aggregate_type": "account",
            "aggregate_id": "3872627f-69db-54c9-b2f9-af9389cbbae9",
            "expected_version": version,
            "events": [{"event_id": "01a20a24-898b-70bf-ac29-7b1c83cc9601", "type": kind, "schema_version": schema,
                        "sequence": sequence, "occurred_at": "2025-01-15T09:00:00Z",
                        "data": {"amount": amount, "balance_after": amount, "reference": text, "owner": text}}],
            "command": {"name": text},
            "metadata": {"correlation_id": text}
        });
        decodes_without_panic(record.to_string().as_bytes());
    }
}

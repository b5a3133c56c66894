//! The published patterns are exact: every value one admits is a value the
//! service reads, and it reads no other. Checked on the document as served,
//! against the parsers, over structured and pseudo-random candidates.

use events::{ConsistencyToken, Position};
use regex::Regex;
use serde_json::Value;
use uuid::Uuid;

use crate::cursor;

fn pattern(document: &Value, path: &str, parameter: &str) -> Regex {
    let parameters = document["paths"][path]["get"]["parameters"].as_array().expect("parameters");
    let found = parameters.iter().find(|p| p["name"] == parameter).expect("the parameter is published");
    Regex::new(found["schema"]["pattern"].as_str().expect("a pattern")).expect("the pattern compiles")
}

/// Cursors and near misses: every shape the parsers know, each slightly wrong,
/// and strings drawn from their alphabet.
fn candidates() -> Vec<String> {
    let id = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let hexes = [
        "0",
        "1",
        "00",
        "01",
        "a",
        "A",
        "fff",
        "7fffffffffffffff",
        "fffffffffffffff",
        "1000000000000000",
        "-1",
        "g",
        "",
    ];
    let uuids =
        [id.simple().to_string(), id.simple().to_string().to_uppercase(), id.hyphenated().to_string(), "0".repeat(32)];
    let mut all = Vec::new();
    for kind in ["a1.", "e1.", "x1.", "t1.", "v1.", "A1.", ""] {
        all.extend(hexes.iter().map(|h| format!("{kind}{h}")));
        all.extend(uuids.iter().map(|u| format!("{kind}{u}")));
        all.extend(uuids.iter().map(|u| format!("{kind}{u}0")));
        for h in hexes {
            all.extend(uuids.iter().map(|u| format!("{kind}{h}.{u}")));
        }
    }
    // A fixed-seed generator over the cursors' alphabet: the same cases every run.
    let alphabet: Vec<char> = "0123456789abcdefAF.-aext1v ".chars().collect();
    let mut seed: u64 = 0x5eed;
    for _ in 0..20_000 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let len = (seed >> 58) as usize;
        let text: String =
            (0..len).map(|i| alphabet[((seed >> (i % 50)) as usize ^ i.wrapping_mul(31)) % alphabet.len()]).collect();
        all.push(format!("{}{text}", ["a1.", "e1.", "x1.", "t1.", ""][(seed % 5) as usize]));
    }
    all
}

/// Whether the service reads a value.
type Reads = fn(&str) -> bool;

#[test]
fn every_cursor_the_spec_admits_is_one_the_service_reads_and_no_other() {
    let document = super::document();
    let cases: [(&str, &str, Reads); 4] = [
        ("/v1/accounts", "cursor", |c| cursor::parse_account(c).is_ok()),
        ("/v1/accounts/{id}/entries", "cursor", |c| cursor::parse_entry(c).is_ok()),
        ("/v1/accounts/{id}/transfers", "cursor", |c| cursor::parse_transfer(c).is_ok()),
        ("/v1/events", "after", |c| cursor::parse_event(c).is_ok()),
    ];
    let candidates = candidates();
    for (path, parameter, reads) in cases {
        let pattern = pattern(&document, path, parameter);
        let mut admitted = 0;
        for candidate in &candidates {
            assert_eq!(pattern.is_match(candidate), reads(candidate), "{path} {parameter}: {candidate:?}");
            admitted += usize::from(reads(candidate));
        }
        assert!(admitted > 0, "{path} {parameter}: no candidate was a cursor");
    }
}

#[test]
fn every_issued_consistency_token_matches_the_pattern_and_no_unmatched_one_verifies() {
    let document = super::document();
    let key = b"a key";
    for (path, parameter) in [("/v1/accounts/{id}", "after"), ("/v1/accounts/{id}", "Consistency-Token")] {
        let pattern = pattern(&document, path, parameter);
        for (partition, offset) in [(0, 0), (1, 9), (7, 1_234_567), (255, i64::MAX)] {
            let token = ConsistencyToken(Position { partition, offset }).sign(key);
            assert!(pattern.is_match(&token), "{token} is issued but not admitted");
            for broken in
                [token.replacen("v1.", "v1.0", 1), token.to_uppercase(), format!("{token}0"), token.replace('.', "-")]
            {
                if !pattern.is_match(&broken) {
                    assert!(ConsistencyToken::verify(&broken, key).is_err(), "{broken} verifies but is not admitted");
                }
            }
        }
        let marked = &document["paths"][path]["get"]["parameters"];
        assert!(
            marked.as_array().into_iter().flatten().any(|p| p["name"] == parameter
                && p["schema"][ledger_runtime::contract::OPAQUE] == "consistency_token"),
            "{parameter} is marked as issued by the command service"
        );
    }
}

#[test]
fn an_owner_filter_the_spec_admits_is_a_name_an_account_can_have_and_no_other() {
    let pattern = pattern(&super::document(), "/v1/accounts", "owner");
    let specials = (0u32..0x100)
        .chain([0x1680, 0x2000, 0x200a, 0x200b, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff])
        .filter_map(char::from_u32);
    let mut names = vec![String::new(), "alice".into(), "  bob  ".into(), "Zoë Ünal".into(), "名前".into()];
    for c in specials {
        names.extend([c.to_string(), format!("{c}{c}"), format!("a{c}"), format!("{c}b"), format!("x{c}y")]);
    }
    for name in names {
        assert_eq!(pattern.is_match(&name), events::account::check_owner(&name).is_ok(), "{name:?}");
    }
}

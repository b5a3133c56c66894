//! Opaque keyset cursors: `<kind>.<hex>[.<hex>]`; anything else is `bad_cursor`.
//!
//! Every string the published patterns admit is a cursor these parsers read,
//! and nothing else: lowercase hex, numbers without leading zeros. A cursor
//! names a position, not a row, so any such value is a valid place to start.

use ledger_runtime::contract::{self, hex_number, hex_uuid};
use uuid::Uuid;

use crate::error::Error;

/// A cursor over accounts: the last id of the previous page.
pub fn account(id: Uuid) -> String {
    format!("a1.{}", id.simple())
}

pub fn parse_account(cursor: &str) -> Result<Uuid, Error> {
    cursor.strip_prefix("a1.").and_then(hex_uuid).ok_or(Error::BadCursor)
}

/// A cursor over an account's transfers: the last transfer id of the previous page.
pub fn transfer(id: Uuid) -> String {
    format!("x1.{}", id.simple())
}

pub fn parse_transfer(cursor: &str) -> Result<Uuid, Error> {
    cursor.strip_prefix("x1.").and_then(hex_uuid).ok_or(Error::BadCursor)
}

/// A cursor over an account's entries: the last sequence of the previous page.
pub fn entry(sequence: i64) -> String {
    format!("e1.{sequence:x}")
}

pub fn parse_entry(cursor: &str) -> Result<i64, Error> {
    cursor.strip_prefix("e1.").and_then(hex_number).filter(|s| *s > 0).ok_or(Error::BadCursor)
}

/// A cursor over events: the `(occurred_at, event_id)` of the last one served.
pub fn event(occurred_at: chrono::DateTime<chrono::Utc>, id: Uuid) -> String {
    contract::event_cursor(occurred_at, id)
}

pub fn parse_event(cursor: &str) -> Result<(chrono::DateTime<chrono::Utc>, Uuid), Error> {
    contract::parse_event_cursor(cursor).ok_or(Error::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_strangers_are_refused() {
        let id = Uuid::new_v4();
        assert_eq!(parse_account(&account(id)).ok(), Some(id));
        assert_eq!(parse_entry(&entry(42)).ok(), Some(42));
        assert_eq!(parse_transfer(&transfer(id)).ok(), Some(id));
        for bad in ["", "x1.", "x1.zz", &format!("a1.{}", id.simple()), &format!("x1.{}0", id.simple())] {
            assert!(matches!(parse_transfer(bad), Err(Error::BadCursor)), "{bad}");
        }
        for bad in ["", "a1.", "a1.zz", "e1.5", "x", "a1.' or 1=1 --"] {
            assert!(matches!(parse_account(bad), Err(Error::BadCursor)), "{bad}");
        }
        for bad in ["", "e1.", "e1.-1", "e1.zz", "a1.5"] {
            assert!(matches!(parse_entry(bad), Err(Error::BadCursor)), "{bad}");
        }
        let at = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        assert_eq!(parse_event(&event(at, id)).ok(), Some((at, id)));
        for bad in ["", "t1.", "t1.zz.00", "t1.5", &format!("t1.5.{}x", id.simple()), "a1.5"] {
            assert!(matches!(parse_event(bad), Err(Error::BadCursor)), "{bad}");
        }
    }
}

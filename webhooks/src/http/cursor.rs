//! Opaque cursors: `w1.<id>` over endpoints, `n1.<hex>` over attempts, and
//! a message's `position` (`t1.<hex micros>.<event id>`, as `/v1/events` reads it).

use chrono::{DateTime, Utc};
use ledger_runtime::contract::{self, hex_number, hex_uuid};
use uuid::Uuid;

use crate::error::Error;

pub fn endpoint(id: Uuid) -> String {
    format!("w1.{}", id.simple())
}

pub fn parse_endpoint(cursor: &str) -> Result<Uuid, Error> {
    cursor.strip_prefix("w1.").and_then(hex_uuid).ok_or(Error::BadCursor)
}

pub fn attempt(id: i64) -> String {
    format!("n1.{id:x}")
}

pub fn parse_attempt(cursor: &str) -> Result<i64, Error> {
    cursor.strip_prefix("n1.").and_then(hex_number).ok_or(Error::BadCursor)
}

/// The instant of a message's `position`.
pub fn parse_position(cursor: &str) -> Result<DateTime<Utc>, Error> {
    contract::parse_event_cursor(cursor).map(|(at, _)| at).ok_or(Error::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_strangers_are_refused() {
        let id = Uuid::new_v4();
        assert_eq!(parse_endpoint(&endpoint(id)).ok(), Some(id));
        assert_eq!(parse_attempt(&attempt(300)).ok(), Some(300));
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("an instant");
        assert_eq!(parse_position(&contract::event_cursor(at, id)).ok(), Some(at));
        for bad in ["", "w1.", "w1.zz", "n1.0f", "n1.", "t1.5", "t1.5.zz", "a1.00"] {
            assert!(
                parse_endpoint(bad).is_err() && parse_attempt(bad).is_err() && parse_position(bad).is_err(),
                "{bad}"
            );
        }
    }
}

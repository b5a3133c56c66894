//! Opaque keyset cursors: `<kind>.<hex>`; anything else is `bad_cursor`.

use uuid::Uuid;

use crate::error::Error;

/// A cursor over accounts: the last id of the previous page.
pub fn account(id: Uuid) -> String {
    format!("a1.{}", id.simple())
}

pub fn parse_account(cursor: &str) -> Result<Uuid, Error> {
    let hex = cursor.strip_prefix("a1.").ok_or(Error::BadCursor)?;
    if hex.len() != 32 {
        return Err(Error::BadCursor);
    }
    Uuid::try_parse(hex).map_err(|_| Error::BadCursor)
}

/// A cursor over an account's entries: the last sequence of the previous page.
pub fn entry(sequence: i64) -> String {
    format!("e1.{sequence:x}")
}

pub fn parse_entry(cursor: &str) -> Result<i64, Error> {
    let hex = cursor.strip_prefix("e1.").ok_or(Error::BadCursor)?;
    i64::from_str_radix(hex, 16).ok().filter(|s| *s > 0).ok_or(Error::BadCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_strangers_are_refused() {
        let id = Uuid::new_v4();
        assert_eq!(parse_account(&account(id)).ok(), Some(id));
        assert_eq!(parse_entry(&entry(42)).ok(), Some(42));
        for bad in ["", "a1.", "a1.zz", "e1.5", "x", "a1.' or 1=1 --"] {
            assert!(matches!(parse_account(bad), Err(Error::BadCursor)), "{bad}");
        }
        for bad in ["", "e1.", "e1.-1", "e1.zz", "a1.5"] {
            assert!(matches!(parse_entry(bad), Err(Error::BadCursor)), "{bad}");
        }
    }
}

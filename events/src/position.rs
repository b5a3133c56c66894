//! Positions in the log and the consistency token handed to clients.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a commit sits in the events topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    pub partition: i32,
    pub offset: i64,
}

/// An opaque token naming a log position: a reader that has applied the
/// partition past `offset` has seen the write that returned it.
///
/// Its text form is `v1.<partition>.<offset>`; clients must treat it as opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsistencyToken(pub Position);

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v1.{}.{}", self.0.partition, self.0.offset)
    }
}

/// The token was not one this system handed out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed consistency token")]
pub struct BadToken;

impl FromStr for ConsistencyToken {
    type Err = BadToken;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.split('.');
        let (Some("v1"), Some(p), Some(o), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(BadToken);
        };
        let partition: i32 = p.parse().map_err(|_| BadToken)?;
        let offset: i64 = o.parse().map_err(|_| BadToken)?;
        if partition < 0 || offset < 0 {
            return Err(BadToken);
        }
        Ok(Self(Position { partition, offset }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_the_position_it_was_made_from() {
        let token = ConsistencyToken(Position { partition: 3, offset: 42 });
        assert_eq!(token.to_string().parse::<ConsistencyToken>(), Ok(token));
    }

    #[test]
    fn a_token_that_was_not_handed_out_is_refused() {
        for bad in ["", "v1", "v1.1", "v2.1.2", "v1.-1.2", "v1.a.2", "v1.1.2.3"] {
            assert_eq!(bad.parse::<ConsistencyToken>(), Err(BadToken), "{bad}");
        }
    }
}

//! Upcasters: old event versions read as the current one.
//!
//! The log is immutable, so an event type's schema only ever gains versions.
//! Every reader decodes through [`upcast`], which walks an event's `data` from
//! the version it was written with up to the current one, one step at a time.
//! See `docs/event-evolution.md` for the rule.

use serde_json::{Map, Value};

/// The current schema version of each event type: what writers write today.
pub fn current_version(event_type: &str) -> Option<u32> {
    match event_type {
        "MoneyDeposited" => Some(2),
        "AccountOpened" | "MoneyWithdrawn" | "AccountFrozen" | "AccountUnfrozen" | "AccountClosed" => Some(1),
        "TransferDebited" | "TransferHeld" | "HoldPosted" | "HoldVoided" | "HoldExpired" | "TransferCredited"
        | "TransferRefused" | "TransferReversed" => Some(1),
        _ => None,
    }
}

/// Brings `data` written at `version` up to the current version of `event_type`.
/// Returns `None` for a type or version this code does not know (newer than us,
/// or never existed): readers then reject the commit, they never guess.
pub fn upcast(event_type: &str, mut version: u32, mut data: Value) -> Option<Value> {
    let current = current_version(event_type)?;
    if version == 0 || version > current {
        return None;
    }
    while version < current {
        data = step(event_type, version, data)?;
        version += 1;
    }
    Some(data)
}

/// One step: `version` → `version + 1`.
fn step(event_type: &str, version: u32, data: Value) -> Option<Value> {
    match (event_type, version) {
        // v1 had no reference; v2 carries an optional one. Records written
        // while v1 already allowed it keep theirs.
        ("MoneyDeposited", 1) => {
            let mut object: Map<String, Value> = match data {
                Value::Object(object) => object,
                _ => return None,
            };
            object.entry("reference").or_insert(Value::Null);
            Some(Value::Object(object))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v1_deposit_reads_as_v2_with_no_reference() {
        let v1 = json!({"amount": 500, "balance_after": 500});
        assert_eq!(
            upcast("MoneyDeposited", 1, v1),
            Some(json!({"amount": 500, "balance_after": 500, "reference": null}))
        );
    }

    #[test]
    fn the_current_version_passes_through_untouched() {
        let v2 = json!({"amount": 5, "reference": "x", "balance_after": 5});
        assert_eq!(upcast("MoneyDeposited", 2, v2.clone()), Some(v2));
    }

    #[test]
    fn unknown_types_and_versions_from_the_future_are_not_guessed() {
        assert_eq!(upcast("MoneyDeposited", 3, json!({})), None);
        assert_eq!(upcast("MoneyDeposited", 0, json!({})), None);
        assert_eq!(upcast("MoneyPrinted", 1, json!({})), None);
    }
}

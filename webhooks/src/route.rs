//! Which endpoints receive a message: its type is in the endpoint's filter,
//! and its account is in the endpoint's scope. Pure.

use uuid::Uuid;

use crate::payload::{Message, Owner};
use crate::store::endpoints::Endpoint;

/// An enabled endpoint, with the data subject of its owner (for a client
/// endpoint: `None` while the owner has no account, or once erased).
pub struct Target<'a> {
    pub endpoint: &'a Endpoint,
    pub subject: Option<Uuid>,
}

/// Is `message` for `target`? A client endpoint (`own`) gets the events of
/// the accounts its owner owns, whoever caused them (a credit from someone
/// else's transfer included); an ops endpoint (`all`) gets every account's.
pub fn admits(target: &Target<'_>, message: &Message) -> bool {
    let e = target.endpoint;
    if !e.enabled || !e.wants(message.event_type) {
        return false;
    }
    match (e.scope.as_str(), &message.owner) {
        ("all", _) => true,
        ("own", Some(Owner::Subject(s))) => target.subject == Some(*s),
        ("own", Some(Owner::Clear(name))) => *name == e.owner_sub,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn endpoint(scope: &str, owner: &str, types: &[&str]) -> Endpoint {
        Endpoint {
            id: Uuid::new_v4(),
            owner_sub: owner.into(),
            scope: scope.into(),
            url: "https://example.com/".into(),
            description: String::new(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            enabled: true,
            disabled_reason: None,
            secret_sealed: String::new(),
            kek_id: String::new(),
            previous_sealed: None,
            previous_until: None,
            failing_since: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn message(event_type: &'static str, owner: Option<Owner>) -> Message {
        Message {
            event_id: Uuid::new_v4(),
            event_type,
            account_id: Uuid::new_v4(),
            partition: 0,
            offset: 0,
            index: 0,
            occurred_at: Utc::now(),
            owner,
            body: json!({}),
        }
    }

    #[test]
    fn given_a_client_endpoint_then_it_gets_only_the_accounts_of_its_own_subject() {
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let e = endpoint("own", "alice", &["*"]);
        let target = Target { endpoint: &e, subject: Some(alice) };
        assert!(admits(&target, &message("transfer.completed", Some(Owner::Subject(alice)))));
        assert!(!admits(&target, &message("transfer.completed", Some(Owner::Subject(bob)))));
        assert!(admits(&target, &message("account.opened", Some(Owner::Clear("alice".into())))), "an old log's owner");
        assert!(!admits(&target, &message("account.opened", Some(Owner::Clear("bob".into())))));
        assert!(!admits(&target, &message("account.opened", None)));
    }

    #[test]
    fn given_a_client_whose_subject_is_unknown_or_erased_then_nothing_sealed_reaches_it() {
        let e = endpoint("own", "alice", &["*"]);
        let target = Target { endpoint: &e, subject: None };
        assert!(!admits(&target, &message("account.deposited", Some(Owner::Subject(Uuid::from_u128(1))))));
    }

    #[test]
    fn given_an_ops_endpoint_then_it_gets_every_account_but_only_the_types_it_asked_for() {
        let e = endpoint("all", "treasury", &["transfer.completed", "transfer.reversed"]);
        let target = Target { endpoint: &e, subject: None };
        assert!(admits(&target, &message("transfer.completed", Some(Owner::Subject(Uuid::from_u128(9))))));
        assert!(!admits(&target, &message("account.deposited", Some(Owner::Subject(Uuid::from_u128(9))))));
    }

    #[test]
    fn given_a_disabled_endpoint_then_it_gets_nothing() {
        let mut e = endpoint("all", "treasury", &["*"]);
        e.enabled = false;
        assert!(!admits(&Target { endpoint: &e, subject: None }, &message("account.opened", None)));
    }
}

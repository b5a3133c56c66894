//! The published text patterns are exact: a text the document admits is one
//! the domain accepts, and it accepts no other (within the length limit).

use events::{apply, decide, Account, AccountEvent, Command};
use regex::Regex;

fn property_pattern(schema: &str, property: &str) -> Regex {
    let document = super::document();
    let pattern = document["components"]["schemas"][schema]["properties"][property]["pattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{schema}.{property} has a pattern"));
    Regex::new(pattern).expect("the pattern compiles")
}

/// Every control character, every kind of blank, and ordinary text around them.
fn candidates() -> Vec<String> {
    let specials = (0u32..0x100)
        .chain([0x1680, 0x2000, 0x2007, 0x200a, 0x200b, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff])
        .filter_map(char::from_u32);
    let mut all = vec![String::new(), "alice".into(), "  bob  ".into(), "Zoë Ünal".into(), "名前".into()];
    for c in specials {
        all.extend([
            c.to_string(),
            format!("{c}{c}"),
            format!("a{c}"),
            format!("{c}b"),
            format!(" {c} "),
            format!("x{c}y"),
        ]);
    }
    all
}

fn opened() -> Account {
    let mut account = Account::default();
    let open = Command::OpenAccount { owner: "alice".into(), currency: "EUR".into(), overdraft_limit: 0 };
    for event in decide(&account, &open).expect("opens") {
        apply(&mut account, &event);
    }
    account
}

#[test]
fn an_owner_the_spec_admits_is_one_an_account_opens_with_and_no_other() {
    let pattern = property_pattern("OpenAccountBody", "owner");
    for owner in candidates() {
        let command = Command::OpenAccount { owner: owner.clone(), currency: "EUR".into(), overdraft_limit: 0 };
        assert_eq!(pattern.is_match(&owner), decide(&Account::default(), &command).is_ok(), "{owner:?}");
    }
}

#[test]
fn a_reference_or_reason_the_spec_admits_is_one_the_domain_takes_and_no_other() {
    let account = opened();
    let (reference, reason) = (property_pattern("MoneyBody", "reference"), property_pattern("FreezeBody", "reason"));
    for text in candidates() {
        let deposit = Command::Deposit { amount: 1, reference: Some(text.clone()) };
        assert_eq!(reference.is_match(&text), decide(&account, &deposit).is_ok(), "reference {text:?}");
        let freeze = Command::FreezeAccount { reason: Some(text.clone()) };
        let frozen = decide(&account, &freeze);
        assert_eq!(reason.is_match(&text), frozen.is_ok(), "reason {text:?}");
        assert!(frozen.map_or(true, |events| matches!(events[..], [AccountEvent::AccountFrozen(_)])));
    }
}

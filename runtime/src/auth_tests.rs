//! Who a request is when auth is disabled, and with a token.

use super::*;

fn disabled() -> Authenticator {
    let args = AuthArgs { auth_disabled: true, ..AuthArgs::hs256("unused") };
    Authenticator::new(&args).expect("authenticator")
}

#[test]
fn with_auth_disabled_a_request_without_a_token_gets_every_role_the_system_role_included() {
    let principal = disabled().authenticate(&axum::http::HeaderMap::new()).expect("let in");
    for role in [Role::Client, Role::Analyst, Role::Ops, Role::System] {
        assert!(principal.has(role), "{role:?} missing: {principal:?}");
    }
    assert!(!principal.restricted, "no ownership checks either");
}

#[test]
fn with_auth_on_a_request_without_a_token_is_refused() {
    let auth = Authenticator::new(&AuthArgs::hs256("a-secret-of-enough-length-for-hs256")).expect("authenticator");
    assert!(matches!(auth.authenticate(&axum::http::HeaderMap::new()), Err(AuthError::Missing)));
}

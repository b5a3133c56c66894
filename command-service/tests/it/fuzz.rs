//! Hostile command bodies against the real router, in-process (no broker: the
//! writers never become ready, so a body that passes every check is a 503).
//! Whatever the bytes, the answer is a problem+json 4xx (or that 503), never a
//! 500 and never a panic.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use command_service::app::AppState;
use command_service::cluster::registry::Registry;
use command_service::directory::Directory;
use command_service::http::Forwarder;
use command_service::partitions::Partitions;
use ledger_runtime::auth::{AuthArgs, Authenticator};
use ledger_runtime::rate_limit::RateLimit;
use proptest::prelude::*;
use serde_json::Value;
use tower::ServiceExt;

const ROUTES: [&str; 6] = ["", "/deposits", "/withdrawals", "/freeze", "/unfreeze", "/close"];

fn router() -> axum::Router {
    let auth = Authenticator::new(&AuthArgs::hs256(ledger_runtime::TEST_JWT_SECRET)).expect("auth");
    let rate_limit = RateLimit::per_second(u32::MAX, u32::MAX);
    command_service::http::router(AppState {
        metrics: Arc::new(command_service::metrics::Metrics::new(&rate_limit)),
        partitions: Arc::new(Partitions::new(8)),
        forwarder: Forwarder::new(
            Arc::new(detached_registry()),
            8,
            16 * 1024,
            ledger_runtime::rate_limit::PeerProof::from_shared_secret(b"fuzz"),
        ),
        directory: Arc::new(Directory::new(8)),
        max_body_bytes: 16 * 1024,
        token_key: Arc::from(&b"fuzz"[..]),
        auth,
        rate_limit,
        cors: Default::default(),
        eraser: Arc::new(command_service::erasure::Eraser {
            keys: Arc::new(ledger_runtime::keys::SubjectKeys::detached(
                lazy_pool(),
                ledger_runtime::keys::Kek::development(),
                events::personal::DataKey::generate(),
            )),
            producer: Arc::new(
                command_service::send::SharedProducer::new("127.0.0.1:1", "fuzz", 1).expect("a producer"),
            ),
            topic: "fuzz".into(),
            partitions: 8,
        }),
    })
}

/// A pool that never connects.
fn lazy_pool() -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(1))
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("a lazy pool")
}

/// A cluster directory that never connects: no instance owns anything.
fn detached_registry() -> Registry {
    Registry::new(lazy_pool(), "fuzz".into(), "http://127.0.0.1:1".into(), std::time::Duration::from_secs(3))
}

/// Cases per property; `PROPTEST_CASES` overrides it.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(3_000);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        ".{0,300}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(
                ("(amount|reference|owner|currency|overdraft_limit|reason|[a-z_]{0,12})", inner),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Bodies shaped like commands, with hostile values.
fn command_like() -> impl Strategy<Value = Vec<u8>> {
    let amount = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e400".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("-0".to_owned()),
        Just("1.5".to_owned()),
        Just("\"100\"".to_owned()),
    ];
    let text = prop_oneof![".{0,300}", Just("'; drop table accounts; --".to_owned()), Just("\u{0}\u{7}".to_owned())];
    (amount, text.clone(), text, "[A-Z]{0,4}").prop_map(|(amount, reference, owner, currency)| {
        format!(
            r#"{{"amount": {amount}, "reference": {}, "owner": {}, "currency": {}}}"#,
            Value::from(reference),
            Value::from(owner),
            Value::from(currency)
        )
        .into_bytes()
    })
}

fn check(runtime: &tokio::runtime::Runtime, route: usize, body: Vec<u8>) -> Result<(), TestCaseError> {
    let path = match ROUTES[route] {
        "" => "/v1/accounts".to_owned(),
        kind => format!("/v1/accounts/{}{kind}", uuid::Uuid::new_v4()),
    };
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", testkit::token("fuzzer", &["client"])))
        .body(Body::from(body))
        .expect("request");
    // One router for every case: each holds a Kafka producer, which is not free to create.
    static ROUTER: std::sync::OnceLock<axum::Router> = std::sync::OnceLock::new();
    let response =
        runtime.block_on(async { ROUTER.get_or_init(router).clone().oneshot(request).await }).expect("infallible");
    let status = response.status().as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).expect("body");
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    prop_assert!((400..500).contains(&status) || status == 503, "status {status}: {problem}");
    prop_assert_eq!(content_type.as_ref().and_then(|v| v.to_str().ok()), Some("application/problem+json"));
    prop_assert!(problem["code"].is_string(), "{}", problem);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_json_body_gets_a_problem_never_a_500(route in 0..ROUTES.len(), body in json()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        check(&runtime, route, body.to_string().into_bytes())?;
    }

    #[test]
    fn any_bytes_get_a_problem_never_a_500(route in 0..ROUTES.len(), body in prop::collection::vec(any::<u8>(), 0..2048)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        check(&runtime, route, body)?;
    }

    #[test]
    fn command_shaped_bodies_with_hostile_values_get_a_problem_never_a_500(route in 0..ROUTES.len(), body in command_like()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        check(&runtime, route, body)?;
    }
}

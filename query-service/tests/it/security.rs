//! Every row of the table in docs/security.md: the attack, and the status and
//! code it gets. The system runs with auth on, as everywhere in the tests.

use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ledger_runtime::auth::{claims, mint_hs256, Claims};
use ledger_runtime::TEST_JWT_SECRET;
use reqwest::{Client, Method, Response};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::stack::{system, System};

const RS_PRIVATE: &[u8] = include_bytes!("../../../testkit/fixtures/jwt-rs256-private.pem");
const RS_PUBLIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/jwt-rs256-public.pem");
const ES_PRIVATE: &[u8] = include_bytes!("../../../testkit/fixtures/jwt-es256-private.pem");
const ES_PUBLIC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testkit/fixtures/jwt-es256-public.pem");

fn hs(claims: &Claims) -> String {
    mint_hs256(TEST_JWT_SECRET, claims)
}

fn signed(algorithm: Algorithm, key: &EncodingKey, claims: &Claims) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).expect("sign")
}

/// `alg: none`: a header and claims with an empty signature.
fn unsigned(claims: &Claims) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64.encode(serde_json::to_vec(claims).expect("claims"));
    format!("{header}.{body}.")
}

struct Attack<'a> {
    method: Method,
    url: String,
    token: Option<String>,
    body: Option<(&'a str, Vec<u8>)>,
}

async fn send(attack: Attack<'_>) -> Response {
    let mut request = Client::new().request(attack.method, attack.url);
    if let Some(token) = attack.token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, body)) = attack.body {
        request = request.header("content-type", content_type).body(body);
    }
    request.send().await.expect("an answer")
}

async fn expect(what: &str, response: Response, status: u16, code: &str) -> Value {
    let got = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").cloned();
    let content_type = response.headers().get("content-type").cloned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!((got, body["code"].as_str().unwrap_or("")), (status, code), "{what}: {body}");
    if status >= 400 {
        assert_eq!(content_type.expect("content type"), "application/problem+json", "{what}");
    }
    if status == 401 {
        assert!(challenge.is_some_and(|c| c.to_str().is_ok_and(|c| c.starts_with("Bearer"))), "{what}");
    }
    body
}

fn json_body(value: Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", value.to_string().into_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_in_the_security_table_gets_its_status_and_code_and_writes_nothing() {
    let sys = system(2000).await;
    let (commands, queries) = (sys.commands.clone(), sys.queries.clone());
    let alice = hs(&claims("alice", &["client"], 600));
    let bob = hs(&claims("bob", &["client"], 600));
    let analyst = hs(&claims("ann", &["analyst"], 600));
    let ops = hs(&claims("olga", &["ops"], 600));
    let post = |token: Option<&str>, path: &str, body: Option<(&'static str, Vec<u8>)>| Attack {
        method: Method::POST,
        url: format!("{commands}{path}"),
        token: token.map(str::to_owned),
        body,
    };
    let get = |token: Option<&str>, path: &str| Attack {
        method: Method::GET,
        url: format!("{queries}{path}"),
        token: token.map(str::to_owned),
        body: None,
    };

    let opened =
        expect("open", send(post(Some(&alice), "/v1/accounts", json_body(json!({"currency": "EUR"})))).await, 201, "")
            .await;
    let a = opened["account_id"].as_str().expect("id").to_owned();
    let deposit = format!("/v1/accounts/{a}/deposits");
    let sql = "'; drop table accounts; -- \" or 1=1";
    let written = expect(
        "sql-looking reference",
        send(post(Some(&alice), &deposit, json_body(json!({"amount": 100, "reference": sql})))).await,
        200,
        "",
    )
    .await;
    let token = written["consistency_token"].as_str().expect("token").to_owned();

    // Authentication.
    let mut expired = claims("alice", &["client"], -3600);
    expired.nbf = None;
    let mut wrong_aud = claims("alice", &["client"], 600);
    wrong_aud.aud = "someone-else".into();
    let mut wrong_iss = claims("alice", &["client"], 600);
    wrong_iss.iss = "evil".into();
    let mut not_yet = claims("alice", &["client"], 7200);
    not_yet.nbf = Some(not_yet.exp - 3600);
    let tampered = {
        let mut t = alice.clone();
        t.pop();
        t.push(if alice.ends_with('A') { 'B' } else { 'A' });
        t
    };
    let rs = signed(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(RS_PRIVATE).expect("rsa"),
        &claims("alice", &["client"], 600),
    );
    let other_secret = mint_hs256("not-the-secret", &claims("alice", &["client"], 600));
    for (what, token) in [
        ("no token", None),
        ("expired token", Some(hs(&expired))),
        ("wrong audience", Some(hs(&wrong_aud))),
        ("wrong issuer", Some(hs(&wrong_iss))),
        ("not yet valid (nbf)", Some(hs(&not_yet))),
        ("alg: none", Some(unsigned(&claims("alice", &["client"], 600)))),
        ("tampered signature", Some(tampered)),
        ("signed with another secret", Some(other_secret)),
        ("RS256 token to an HS256 service", Some(rs)),
        ("garbage token", Some("not.a.jwt".to_owned())),
    ] {
        let body = json_body(json!({"amount": 1}));
        expect(what, send(post(token.as_deref(), &deposit, body)).await, 401, "unauthorized").await;
        expect(what, send(get(token.as_deref(), &format!("/v1/accounts/{a}"))).await, 401, "unauthorized").await;
    }

    // Authorisation: roles and ownership. Someone else's account is a 404.
    let a_path = format!("/v1/accounts/{a}");
    expect("another client reads", send(get(Some(&bob), &a_path)).await, 404, "not_found").await;
    expect("another client's entries", send(get(Some(&bob), &format!("{a_path}/entries"))).await, 404, "not_found")
        .await;
    expect("another client's history", send(get(Some(&bob), &format!("{a_path}/history"))).await, 404, "not_found")
        .await;
    expect(
        "another client deposits",
        send(post(Some(&bob), &deposit, json_body(json!({"amount": 1})))).await,
        404,
        "not_found",
    )
    .await;
    expect("another client closes", send(post(Some(&bob), &format!("{a_path}/close"), None)).await, 404, "not_found")
        .await;
    let listed = expect("another client lists", send(get(Some(&bob), "/v1/accounts?owner=alice")).await, 200, "").await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let body = json_body(json!({"owner": "alice", "currency": "EUR"}));
    expect("open for somebody else", send(post(Some(&bob), "/v1/accounts", body)).await, 403, "forbidden").await;
    expect(
        "analyst writes",
        send(post(Some(&analyst), &deposit, json_body(json!({"amount": 1})))).await,
        403,
        "forbidden",
    )
    .await;
    expect("ops writes", send(post(Some(&ops), &deposit, json_body(json!({"amount": 1})))).await, 403, "forbidden")
        .await;
    expect("ops reads accounts", send(get(Some(&ops), &a_path)).await, 403, "forbidden").await;
    expect("client reads the event archive", send(get(Some(&alice), "/v1/events")).await, 403, "forbidden").await;
    expect("client reads the ledger totals", send(get(Some(&alice), "/v1/ledger/totals")).await, 403, "forbidden")
        .await;
    let eur = format!("/v1/ledger/totals?currency=EUR&after={token}");
    let totals = expect("analyst reads the ledger totals", send(get(Some(&analyst), &eur)).await, 200, "").await;
    assert_eq!((totals["currency"].as_str(), totals["deposits"].as_i64()), (Some("EUR"), Some(100)), "{totals}");
    expect("ops reads the ledger totals", send(get(Some(&ops), "/v1/ledger/totals")).await, 200, "").await;
    let lowercase = get(Some(&analyst), "/v1/ledger/totals?currency=eur");
    expect("a malformed currency", send(lowercase).await, 400, "validation_failed").await;
    let transfers = format!("{a_path}/transfers");
    expect("another client's transfers", send(get(Some(&bob), &transfers)).await, 404, "not_found").await;
    let stranger = format!("/v1/transfers/{}", uuid::Uuid::new_v4());
    expect("a transfer nobody made", send(get(Some(&analyst), &stranger)).await, 404, "not_found").await;
    let no_roles = hs(&claims("nobody", &[], 600));
    expect("token without a role", send(get(Some(&no_roles), &a_path)).await, 403, "forbidden").await;
    let mut read = get(Some(&analyst), &a_path);
    read.url = format!("{}?after={token}", read.url);
    let seen = expect("analyst reads", send(read).await, 200, "").await;
    assert_eq!(seen["owner"], "alice");
    expect("owner reads", send(get(Some(&alice), &a_path)).await, 200, "").await;

    // Hostile input.
    let oversized =
        Some(("application/json", format!(r#"{{"amount": 1, "reference": "{}"}}"#, "x".repeat(20_000)).into_bytes()));
    expect("oversized body", send(post(Some(&alice), &deposit, oversized)).await, 413, "payload_too_large").await;
    let deep =
        Some(("application/json", format!(r#"{{"amount": {}1{}}}"#, "[".repeat(5000), "]".repeat(5000)).into_bytes()));
    expect("deeply nested JSON", send(post(Some(&alice), &deposit, deep)).await, 400, "validation_failed").await;
    let huge = json_body(json!({"amount": 10_000_000_000_000_000_i64}));
    expect("amount above 10^15", send(post(Some(&alice), &deposit, huge)).await, 422, "validation_failed").await;
    let beyond_i64 = Some(("application/json", br#"{"amount": 100000000000000000000000000000}"#.to_vec()));
    expect("amount beyond i64", send(post(Some(&alice), &deposit, beyond_i64)).await, 400, "validation_failed").await;
    expect(
        "negative amount",
        send(post(Some(&alice), &deposit, json_body(json!({"amount": -5})))).await,
        422,
        "validation_failed",
    )
    .await;
    expect(
        "fractional amount",
        send(post(Some(&alice), &deposit, json_body(json!({"amount": 1.5})))).await,
        400,
        "validation_failed",
    )
    .await;
    let bad_utf8 = Some(("application/json", b"{\"amount\": 1, \"reference\": \"\xff\xfe\"}".to_vec()));
    expect("malformed UTF-8", send(post(Some(&alice), &deposit, bad_utf8)).await, 400, "validation_failed").await;
    let unknown = json_body(json!({"amount": 1, "admin": true}));
    expect("unknown field", send(post(Some(&alice), &deposit, unknown)).await, 400, "validation_failed").await;
    let long = json_body(json!({"amount": 1, "reference": "r".repeat(300)}));
    expect("reference over 256 characters", send(post(Some(&alice), &deposit, long)).await, 422, "validation_failed")
        .await;
    let control = json_body(json!({"amount": 1, "reference": "a\u{0}b"}));
    expect("control characters", send(post(Some(&alice), &deposit, control)).await, 422, "validation_failed").await;
    let text = Some(("text/plain", b"amount=1".to_vec()));
    expect("not JSON", send(post(Some(&alice), &deposit, text)).await, 415, "unsupported_media_type").await;
    let sql_cursor = get(Some(&alice), "/v1/accounts?cursor=a1.'%20or%201=1%20--");
    expect("SQL-looking cursor", send(sql_cursor).await, 400, "bad_cursor").await;
    let sql_id = get(Some(&alice), "/v1/accounts/1%20or%201=1");
    expect("SQL-looking account id", send(sql_id).await, 404, "not_found").await;

    // Nothing above wrote anything: one deposit, its SQL-looking reference kept verbatim.
    let mut entries = get(Some(&alice), &format!("{a_path}/entries"));
    entries.url = format!("{}?after={token}", entries.url);
    let page = expect("entries", send(entries).await, 200, "").await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["items"][0]["reference"], sql);
    let account = expect("owner reads", send(get(Some(&alice), &a_path)).await, 200, "").await;
    assert_eq!((account["balance"].as_i64(), account["version"].as_i64()), (Some(100), Some(2)));

    // The log says who did what: a client acting on its own account is its owner,
    // a person, so the actor is sealed for the owner (docs/personal-data.md).
    let log = testkit::fold_topic(&sys.stack.broker.addr, &sys.stack.topic).await;
    let id: uuid::Uuid = a.parse().expect("uuid");
    let commits: Vec<_> = log.commits_for(id).collect();
    assert_eq!(commits.len(), 2);
    for (_, _, commit, _) in commits {
        let actor = &commit.metadata.extra["actor"];
        assert!(actor["subject"].is_string() && !actor.to_string().contains("alice"), "{actor}");
        assert_eq!(commit.metadata.extra["roles"], json!(["client"]));
    }
    rate_limit(&sys).await;
    public_keys(&sys).await;
    sys.stop().await;
}

/// A client over its rate gets 429 with Retry-After; another client does not.
async fn rate_limit(sys: &System) {
    let mut config = command_service::Config::local(&sys.stack.broker.addr, &sys.stack.db.url, &sys.stack.topic);
    (config.rate_limit_per_second, config.rate_limit_burst) = (1, 3);
    let app = command_service::Application::build(config).await.expect("command service");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    tokio::spawn(app.run_until_stopped());
    testkit::wait_url(&format!("{base}/readyz")).await;
    let carol = testkit::client("carol", &["client"]);
    let mut limited = None;
    for _ in 0..10 {
        let response =
            carol.post(format!("{base}/v1/accounts")).json(&json!({"currency": "EUR"})).send().await.expect("open");
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a client over its limit is refused");
    let retry_after: u64 = limited.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after >= 1);
    expect("over the rate limit", limited, 429, "rate_limited").await;
    let dave = testkit::client("dave", &["client"]);
    let other = dave.post(format!("{base}/v1/accounts")).json(&json!({"currency": "EUR"})).send().await.expect("open");
    assert_eq!(other.status(), 201, "the limit is per client");
}

/// RS256 and ES256 with a public key file; HS/RS confusion is refused.
async fn public_keys(sys: &System) {
    let query_db = sys.stack.db.url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
    for (public, algorithm, private, other) in [
        (RS_PUBLIC, Algorithm::RS256, EncodingKey::from_rsa_pem(RS_PRIVATE).expect("rsa"), Algorithm::ES256),
        (ES_PUBLIC, Algorithm::ES256, EncodingKey::from_ec_pem(ES_PRIVATE).expect("ec"), Algorithm::RS256),
    ] {
        let mut config = query_service::Config::local(&query_db, &sys.stack.topic);
        config.auth.jwt_secret = None;
        config.auth.jwt_public_key = Some(public.into());
        let app = query_service::Application::build(config).await.expect("query service");
        let base = format!("http://{}", app.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until(stop.clone()));
        testkit::wait_url(&format!("{base}/readyz")).await;
        let url = format!("{base}/v1/accounts");
        let good = signed(algorithm, &private, &claims("ann", &["analyst"], 600));
        let ok = Client::new().get(&url).bearer_auth(good).send().await.expect("read");
        assert_eq!(ok.status(), 200, "{algorithm:?} token with its public key");
        // Algorithm confusion: an HS256 token whose HMAC key is the public key itself.
        let pem = std::fs::read(public).expect("pem");
        let confused = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims("ann", &["analyst"], 600),
            &EncodingKey::from_secret(&pem),
        )
        .expect("sign");
        let response = Client::new().get(&url).bearer_auth(confused).send().await.expect("read");
        expect("HS256 signed with the public key", response, 401, "unauthorized").await;
        let foreign = match other {
            Algorithm::RS256 => {
                signed(other, &EncodingKey::from_rsa_pem(RS_PRIVATE).expect("rsa"), &claims("ann", &["analyst"], 600))
            }
            _ => signed(other, &EncodingKey::from_ec_pem(ES_PRIVATE).expect("ec"), &claims("ann", &["analyst"], 600)),
        };
        let response = Client::new().get(&url).bearer_auth(foreign).send().await.expect("read");
        expect("a token of the other algorithm", response, 401, "unauthorized").await;
        stop.cancel();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

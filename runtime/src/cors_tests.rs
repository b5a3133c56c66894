use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::post;
use tower::ServiceExt;

use super::*;

fn cors(origins: &str) -> Cors {
    Cors::from_args(&CorsArgs { cors_allowed_origins: origins.into(), cors_max_age_secs: 600 }).expect("valid origins")
}

/// A router whose only route refuses every request without a token, as the services' do.
fn app(cors: &Cors) -> Router {
    let guarded = Router::new().route(
        "/v1/accounts",
        post(|request: Request<Body>| async move {
            if request.headers().contains_key(header::AUTHORIZATION) {
                (StatusCode::CREATED, [(header::LOCATION, "/v1/accounts/1"), (header::ETAG, "\"1\"")]).into_response()
            } else {
                StatusCode::UNAUTHORIZED.into_response()
            }
        }),
    );
    cors.apply(guarded)
}

use axum::response::IntoResponse;

async fn call(app: Router, request: Request<Body>) -> axum::response::Response {
    app.oneshot(request).await.expect("infallible")
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method("OPTIONS")
        .uri("/v1/accounts")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type,idempotency-key")
        .body(Body::empty())
        .expect("a request")
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered_without_a_token_with_a_max_age() {
    let response = call(app(&cors("https://app.example.com")), preflight("https://app.example.com")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers();
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
    let allowed = h[header::ACCESS_CONTROL_ALLOW_HEADERS].to_str().expect("text");
    assert!(allowed.contains("authorization") && allowed.contains("idempotency-key"), "{allowed}");
    assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
}

#[tokio::test]
async fn an_answer_to_an_allowed_origin_exposes_the_headers_a_front_end_reads() {
    let request = Request::builder()
        .method("POST")
        .uri("/v1/accounts")
        .header(header::ORIGIN, "https://app.example.com")
        .header(header::AUTHORIZATION, "Bearer t")
        .body(Body::empty())
        .expect("a request");
    let response = call(app(&cors("https://other.example, https://app.example.com")), request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
    let exposed = response.headers()[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().expect("text").to_owned();
    for name in EXPOSED {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
}

#[tokio::test]
async fn another_origin_gets_no_cors_header_so_the_browser_blocks_it() {
    let response = call(app(&cors("https://app.example.com")), preflight("https://evil.example")).await;
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
    let response = call(app(&Cors::default()), preflight("https://app.example.com")).await;
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN), "none allowed by default");
}

#[tokio::test]
async fn a_wildcard_allows_any_origin_and_never_credentials() {
    let response = call(app(&cors("*")), preflight("https://anyone.example")).await;
    assert_eq!(response.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(!response.headers().contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
}

#[test]
fn what_is_not_an_origin_is_refused_at_start() {
    for bad in
        ["app.example.com", "https://app.example.com/", "https://*.example.com", "ftp://x", "https://", "*,https://a.b"]
    {
        let args = CorsArgs { cors_allowed_origins: bad.into(), cors_max_age_secs: 600 };
        assert!(Cors::from_args(&args).is_err(), "{bad}");
    }
}

//! Egress security: every non-public address class is refused when a URL is
//! saved; a redirect to a private address is not followed; a name that
//! resolves to loopback when it is dialled is refused then (DNS rebinding,
//! played with the service's test resolver file).

use std::time::Duration;

use serde_json::json;

use crate::stack::{call, client, Receiver, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_redirects_to_them_and_names_that_rebind_to_loopback_are_all_refused() {
    let hosts = std::env::temp_dir().join(format!("ledgerline-resolve-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&hosts, "rebind.example 93.184.215.14\nredirector.test 127.0.0.1\n").expect("the hosts file");
    let env = [
        ("WEBHOOKS_ALLOWED_HOSTS", "redirector.test"),
        ("WEBHOOKS_RESOLVE_FILE", hosts.to_str().expect("a path")),
        ("WEBHOOKS_REQUEST_TIMEOUT", "3s"),
    ];
    let sys = System::start(&env).await;
    let ops = client("treasury", &["ops"]);

    for (url, code) in [
        ("http://hooks.example.com/", "url_scheme_refused"),
        ("https://127.0.0.1/", "url_address_refused"),
        ("https://10.0.0.8/", "url_address_refused"),
        ("https://172.16.5.4/", "url_address_refused"),
        ("https://192.168.0.1/", "url_address_refused"),
        ("https://169.254.169.254/latest/meta-data/", "url_address_refused"),
        ("https://[::1]/", "url_address_refused"),
        ("https://[fd12::1]/", "url_address_refused"),
        ("https://[fe80::1]/", "url_address_refused"),
        ("https://[::ffff:10.0.0.1]/", "url_address_refused"),
        ("ftp://example.com/", "url_invalid"),
    ] {
        let (status, problem) = call(ops.post(sys.endpoints()).json(&json!({"url": url}))).await;
        assert_eq!((status, problem["code"].as_str()), (422, Some(code)), "{url}: {problem}");
    }

    // A redirect to a private address: a failure, not followed.
    let (redirector, target) = (Receiver::python().await, Receiver::python().await);
    redirector.behave(json!({"mode": "redirect", "location": target.url}));
    let port = redirector.url.rsplit(':').next().expect("a port").to_owned();
    let url = format!("http://redirector.test:{port}");
    let (status, created) = call(ops.post(sys.endpoints()).json(&json!({"url": url}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id");
    let (status, attempt) = call(ops.post(format!("{}/{id}/test", sys.endpoints()))).await;
    assert_eq!(
        (status, &attempt["status_code"], &attempt["outcome"]),
        (200, &json!(302), &json!("failed")),
        "{attempt}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(redirector.entries().len(), 1);
    assert!(target.entries().is_empty(), "the redirect was followed: {:#?}", target.entries());

    // A name admitted when saved (a public address), loopback when dialled: refused at connect time.
    let (status, created) = call(ops.post(sys.endpoints()).json(&json!({"url": "https://rebind.example/hook"}))).await;
    assert_eq!(status, 201, "{created}");
    std::fs::write(&hosts, "rebind.example 127.0.0.1\n").expect("the hosts file");
    let id = created["id"].as_str().expect("an id");
    let (status, attempt) = call(ops.post(format!("{}/{id}/test", sys.endpoints()))).await;
    assert_eq!((status, &attempt["outcome"]), (200, &json!("refused")), "{attempt}");
    assert!(attempt["error"].as_str().is_some_and(|e| e.contains("loopback")), "{attempt}");
    let _ = std::fs::remove_file(&hosts);
}

//! A cursor is progress saved outside the log: on a topic that was deleted
//! and created again under its name, the webhooks service refuses to carry on
//! from it (docs/log-protocol.md §11) and delivers nothing.

use std::time::Duration;

use serde_json::json;

use crate::stack::{client, deposit, endpoint, first_successes, open, Receiver, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_made_on_a_topic_that_was_created_again_is_refused_and_nothing_more_is_delivered() {
    let mut sys = System::start(&[("WEBHOOKS_ALLOWED_HOSTS", "127.0.0.1")]).await;
    let (alice, ops) = (client("alice", &["client"]), client("treasury", &["ops"]));
    let receiver = Receiver::python().await;
    let (_, secret) = endpoint(&ops, &sys, json!({"url": receiver.url})).await;
    receiver.trust(&[&secret]);
    let a = open(&alice, &sys).await;
    deposit(&alice, &sys, a, 7).await;
    receiver.until(Duration::from_secs(60), "two messages", |e| first_successes(e).len() >= 2).await;

    sys.hooks.process.kill9();
    testkit::topic::recreate(&sys.broker.addr, &sys.topic, 4).await;
    sys.hooks.process.restart();
    sys.hooks.process.wait_log("refusing to carry on").await;
    let ready = reqwest::get(format!("{}/readyz", sys.hooks.base)).await.expect("answered");
    assert_eq!(ready.status(), 503, "not ready on a log its cursor was not made on");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.entries().len(), 2, "nothing more delivered: {:#?}", receiver.entries());
}

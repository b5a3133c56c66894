//! Services started before their broker or their database: alive, not ready,
//! waiting with back-off; ready and serving once the dependency comes; and
//! stopped by SIGTERM while they wait (issue 16).

use std::time::{Duration, Instant};

use testkit::{free_port, Broker, Database};
use uuid::Uuid;

use crate::stack::{client, funded_account, Service};

fn env(broker: &Broker, database_url: &str, topic: &str) -> Vec<(String, String)> {
    [
        ("KAFKA_BROKERS", broker.addr.as_str()),
        ("EVENTS_TOPIC", topic),
        ("EVENTS_PARTITIONS", "4"),
        ("JWT_SECRET", ledger_runtime::TEST_JWT_SECRET),
        ("SESSION_TIMEOUT_MS", "3000"),
        ("DATABASE_URL", database_url),
        ("PROJECTIONS_GROUP", "boot-projections"),
        ("RUST_LOG", "info,rdkafka=error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn status(url: &str) -> Option<u16> {
    reqwest::get(url).await.ok().map(|r| r.status().as_u16())
}

/// Within 20 s the service answers `/healthz` 200; and then, for a while, `/readyz` 503.
async fn alive_and_waiting(service: &mut Service) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&format!("{}/healthz", service.base)).await != Some(200) {
        service.process.assert_running();
        assert!(Instant::now() < deadline, "{} never answered /healthz", service.base);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..5 {
        assert_eq!(status(&format!("{}/readyz", service.base)).await, Some(503), "ready without its dependency");
        service.process.assert_running();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Forwards `port` to the local Postgres: the database "comes up" when this starts.
async fn postgres_on(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the proxy's port");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_started_with_the_broker_down_wait_alive_and_serve_once_it_comes() {
    // Given a broker that is down, and services started against it
    let mut broker = Broker::durable();
    broker.kill9();
    let db = Database::fresh().await;
    let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
    let mut commands = Service::start("command-service", env(&broker, &db.url, &topic));
    let mut projections = Service::start("projections", env(&broker, &db.url, &topic));
    // Then each is alive and not ready, and does not exit
    alive_and_waiting(&mut commands).await;
    alive_and_waiting(&mut projections).await;
    // When the broker comes up, then each becomes ready and serves
    broker.restart();
    commands.ready().await;
    projections.ready().await;
    funded_account(&client("alice", &["client"]), &commands.base, "EUR", 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_started_with_postgres_down_wait_alive_and_serve_once_it_comes() {
    // Given a database address where nothing listens yet, and services started against it
    let broker = Broker::durable();
    let db = Database::fresh().await;
    let port = free_port();
    let url = db.url.replacen("127.0.0.1:5432", &format!("127.0.0.1:{port}"), 1);
    assert_ne!(url, db.url, "the test database is on 127.0.0.1:5432");
    let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
    let query_url = url.replacen("postgres://postgres@", "postgres://ledger_query@", 1);
    let mut commands = Service::start("command-service", env(&broker, &url, &topic));
    let mut projections = Service::start("projections", env(&broker, &url, &topic));
    let mut queries = Service::start("query-service", env(&broker, &query_url, &topic));
    // Then each is alive and not ready
    for service in [&mut commands, &mut projections, &mut queries] {
        alive_and_waiting(service).await;
    }
    // When Postgres comes up, then each becomes ready, and a command is answered and read
    postgres_on(port).await;
    commands.ready().await;
    projections.ready().await;
    queries.ready().await;
    let alice = client("alice", &["client"]);
    let id = funded_account(&alice, &commands.base, "EUR", 7).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = alice.get(format!("{}/v1/accounts/{id}", queries.base)).send().await.expect("a read");
        if read.status() == 200 && read.json::<serde_json::Value>().await.expect("json")["balance"] == 7 {
            break;
        }
        assert!(Instant::now() < deadline, "the deposit never reached the read model");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_while_the_broker_is_down_stops_each_service_cleanly_within_ten_seconds() {
    let mut broker = Broker::durable();
    broker.kill9();
    let db = Database::fresh().await;
    let topic = format!("ledger.events.{}", Uuid::new_v4().simple());
    for bin in ["command-service", "projections"] {
        let mut service = Service::start(bin, env(&broker, &db.url, &topic));
        alive_and_waiting(&mut service).await;
        let started = Instant::now();
        let exit = service.process.terminate();
        let took = started.elapsed();
        assert!(exit.success(), "{bin} exited with {exit}");
        assert!(took < Duration::from_secs(10), "{bin} took {took:?} to stop");
    }
}

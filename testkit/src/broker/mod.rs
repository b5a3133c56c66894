//! Apache Kafka for the tests: KRaft nodes (each a broker and a controller)
//! on free ports, run from the install `scripts/lib.sh` (`ensure_kafka`) keeps
//! in a cache, with the node settings of `scripts/kafka/` (the same files the
//! scripts and `docker/` use).
//!
//! A JVM broker takes seconds to start and hundreds of MiB, so tests that do
//! not stop their broker share one: `scripts/test.sh` starts it and names it
//! in `LEDGER_TEST_KAFKA`, and [`Broker::start`] hands it out (each test has a
//! topic and consumer groups of its own). Without that variable,
//! [`Broker::start`] starts a broker of the test's own. Tests that kill, pause
//! or wipe a broker take one of their own: [`Broker::own`] (one node, in a
//! mode) or [`Broker::cluster`] (three nodes).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use uuid::Uuid;

use crate::{free_port, log_dir};

mod java;
mod quorum;
mod replicas;

use java::{java, kafka_uuid, tool};

pub const BROKER_HINT: &str = "Apache Kafka is required: install it with `. scripts/lib.sh && ensure_kafka` \
(or run scripts/test.sh or .ci/run), which puts it under ~/.cache/ledgerline/kafka-<version>; or set KAFKA_HOME";

const COMMON: &str = include_str!("../../../scripts/kafka/common.properties");
const SINGLE: &str = include_str!("../../../scripts/kafka/single.properties");
const FSYNC: &str = include_str!("../../../scripts/kafka/fsync.properties");
const CLUSTER: &str = include_str!("../../../scripts/kafka/cluster.properties");
const LOG4J2: &str = "../scripts/kafka/log4j2.properties";

/// The durability modes of docs/kafka.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One node, Kafka's defaults: acknowledged in the page cache.
    Single,
    /// One node that fsyncs every append before acknowledging it.
    Fsync,
    /// Three nodes, replication factor 3, `min.insync.replicas=2`.
    Cluster,
}

impl Mode {
    fn properties(self) -> &'static str {
        match self {
            Mode::Single => SINGLE,
            Mode::Fsync => FSYNC,
            Mode::Cluster => CLUSTER,
        }
    }
}

/// One KRaft node: broker and controller in one JVM.
struct Node {
    child: Option<Child>,
    id: u32,
    port: u16,
    controller_port: u16,
    /// The KRaft directory id its storage is formatted with (KIP-853: a
    /// voter is its node id and this id, so an emptied disk is a new voter).
    directory: String,
    dir: PathBuf,
    /// The JVM's output file of its latest start.
    log: PathBuf,
}

impl Node {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn controller_addr(&self) -> String {
        format!("127.0.0.1:{}", self.controller_port)
    }
}

/// Apache Kafka on free ports: the shared broker, or nodes of this test's own
/// (killed, and their data removed, on drop).
pub struct Broker {
    /// The bootstrap addresses, comma-separated.
    pub addr: String,
    nodes: Vec<Node>,
    mode: Mode,
    cluster_id: String,
}

impl Broker {
    /// The broker tests share (`LEDGER_TEST_KAFKA`), or one of this test's own.
    /// Never kill, pause or wipe it: take [`Broker::own`] for that.
    pub fn start() -> Broker {
        match std::env::var("LEDGER_TEST_KAFKA") {
            Ok(addr) if !addr.is_empty() => {
                Broker { addr, nodes: Vec::new(), mode: Mode::Single, cluster_id: String::new() }
            }
            _ => Broker::own(Mode::Single),
        }
    }

    /// A broker of this test's own, which it may kill and restart; Kafka keeps
    /// its log on disk, so a restart finds every record the broker acknowledged.
    pub fn durable() -> Broker {
        Broker::own(Mode::Single)
    }

    /// Nodes of this test's own in `mode`: one, or three for `Cluster`.
    pub fn own(mode: Mode) -> Broker {
        Broker::launch(mode, if mode == Mode::Cluster { 3 } else { 1 })
    }

    /// Three nodes of this test's own, all brokers and voters, with production durability.
    pub fn cluster() -> Broker {
        Broker::own(Mode::Cluster)
    }

    fn launch(mode: Mode, count: u32) -> Broker {
        let run = Uuid::new_v4().simple().to_string();
        let nodes: Vec<Node> = (1..=count)
            .map(|id| Node {
                child: None,
                id,
                port: free_port(),
                controller_port: free_port(),
                directory: kafka_uuid(),
                log: PathBuf::new(),
                dir: std::env::temp_dir().join(format!("ledgerline-kafka-{run}-{id}")),
            })
            .collect();
        let addr = nodes.iter().map(Node::addr).collect::<Vec<_>>().join(",");
        let mut broker = Broker { addr, nodes, mode, cluster_id: kafka_uuid() };
        for i in 0..broker.nodes.len() {
            broker.spawn(i);
        }
        for i in 0..broker.nodes.len() {
            broker.listening(i);
        }
        broker.wait_serving(broker.nodes.len());
        broker
    }

    /// How many nodes this test owns (0 for the shared broker).
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The bootstrap address of node `i` alone.
    pub fn node_addr(&self, i: usize) -> String {
        self.nodes[i].addr()
    }

    /// The node id (`node.id`) of node `i`: what metadata names leaders by.
    pub fn node_id(&self, i: usize) -> i32 {
        self.nodes[i].id as i32
    }

    fn own_node(&mut self, i: usize) -> &mut Node {
        assert!(!self.nodes.is_empty(), "this test shares its broker: take Broker::own or Broker::cluster to stop one");
        &mut self.nodes[i]
    }

    /// Writes node `i`'s server.properties (common + mode, placeholders
    /// filled) and returns its path.
    fn configure(&self, i: usize) -> PathBuf {
        let node = &self.nodes[i];
        let controllers = self.nodes.iter().map(Node::controller_addr).collect::<Vec<_>>().join(",");
        let data = node.dir.join("data");
        std::fs::create_dir_all(&data).expect("kafka data dir");
        let properties = format!("{COMMON}\n{}", self.mode.properties())
            .replace("@NODE_ID@", &node.id.to_string())
            .replace("@PORT@", &node.port.to_string())
            .replace("@CONTROLLER_PORT@", &node.controller_port.to_string())
            .replace("@CONTROLLERS@", &controllers)
            .replace("@LOG_DIR@", &data.to_string_lossy());
        let config = node.dir.join("server.properties");
        std::fs::write(&config, properties).expect("server.properties");
        config
    }

    fn spawn(&mut self, i: usize) {
        let config = self.configure(i);
        if !self.nodes[i].dir.join("data/meta.properties").exists() {
            // A new cluster: every node formatted with the same initial voter set (KIP-853).
            let voters = self.initial_controllers();
            let node = &self.nodes[i];
            let config = config.to_string_lossy();
            let args = ["format", "-t", &self.cluster_id, "-c", &config, "--initial-controllers", &voters];
            tool("kafka.tools.StorageTool", &args);
            assert!(
                node.dir.join("data/meta.properties").exists(),
                "StorageTool did not format {}",
                node.dir.display()
            );
        }
        let node = self.own_node(i);
        let log = log_dir().join(format!("kafka-{}-{}.log", node.port, Uuid::new_v4().simple()));
        let out = std::fs::File::create(&log).expect("kafka log");
        let heap = ["-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:+ExitOnOutOfMemoryError"];
        let child = java("kafka.Kafka", &heap)
            .arg(&config)
            .current_dir(&node.dir)
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java ({e}): {BROKER_HINT}"));
        node.child = Some(child);
        node.log = log;
    }

    /// Waits until node `i` (just spawned) listens on its broker port. The
    /// nodes of a cluster open it once they have a quorum: spawn them all first.
    fn listening(&mut self, i: usize) {
        let node = self.own_node(i);
        let addr: SocketAddr = node.addr().parse().expect("addr");
        let child = node.child.as_mut().expect("a spawned node");
        crate::wait_for_port(addr, child, "kafka", &node.log);
    }

    /// Waits until the metadata of every live node lists `brokers` brokers.
    fn wait_serving(&self, brokers: usize) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let consumer: BaseConsumer =
            ClientConfig::new().set("bootstrap.servers", &self.addr).create().expect("a metadata client");
        loop {
            if let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(2)) {
                if metadata.brokers().len() >= brokers {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "kafka at {} did not serve {brokers} broker(s) in 90 s", self.addr);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL of every node: whatever a node had not written to the page cache is gone.
    pub fn kill9(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9_node(i);
        }
    }

    /// SIGKILL of node `i`.
    pub fn kill9_node(&mut self, i: usize) {
        if let Some(mut child) = self.own_node(i).child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the nodes again on the same ports and data, and waits until they serve.
    pub fn restart(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9_node(i);
            self.spawn(i);
        }
        self.wait_serving(self.nodes.len());
    }

    /// Starts node `i` again (after [`Broker::kill9_node`], or killing it first) on its data.
    pub fn restart_node(&mut self, i: usize) {
        self.kill9_node(i);
        self.spawn(i);
        self.listening(i);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}

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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use uuid::Uuid;

use crate::{free_port, log_dir};

pub const BROKER_HINT: &str = "Apache Kafka is required: install it with `. scripts/lib.sh && ensure_kafka` \
(or run scripts/test.sh or .ci/run), which puts it under ~/.cache/ledgerline/kafka-<version>; or set KAFKA_HOME";

const COMMON: &str = include_str!("../../scripts/kafka/common.properties");
const SINGLE: &str = include_str!("../../scripts/kafka/single.properties");
const FSYNC: &str = include_str!("../../scripts/kafka/fsync.properties");
const CLUSTER: &str = include_str!("../../scripts/kafka/cluster.properties");
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

/// Where `ensure_kafka` put Kafka: `KAFKA_HOME`, else the newest complete
/// install under `~/.cache/ledgerline` (or `LEDGERLINE_CACHE`).
fn kafka_home() -> PathBuf {
    if let Some(home) = std::env::var_os("KAFKA_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("LEDGERLINE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ledgerline")))
        .unwrap_or_else(|| panic!("no HOME: {BROKER_HINT}"));
    let mut installs: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("kafka-")))
        .filter(|p| p.join(".installed").exists())
        .collect();
    installs.sort();
    installs.pop().unwrap_or_else(|| panic!("no Kafka install in {}: {BROKER_HINT}", cache.display()))
}

/// One KRaft node: broker and controller in one JVM.
struct Node {
    child: Option<Child>,
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
}

impl Node {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
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
    voters: String,
}

impl Broker {
    /// The broker tests share (`LEDGER_TEST_KAFKA`), or one of this test's own.
    /// Never kill, pause or wipe it: take [`Broker::own`] for that.
    pub fn start() -> Broker {
        match std::env::var("LEDGER_TEST_KAFKA") {
            Ok(addr) if !addr.is_empty() => {
                Broker { addr, nodes: Vec::new(), mode: Mode::Single, cluster_id: String::new(), voters: String::new() }
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
                dir: std::env::temp_dir().join(format!("ledgerline-kafka-{run}-{id}")),
            })
            .collect();
        let voters = nodes.iter().map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port)).collect::<Vec<_>>();
        let addr = nodes.iter().map(Node::addr).collect::<Vec<_>>().join(",");
        let cluster_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
        let mut broker = Broker { addr, nodes, mode, cluster_id, voters: voters.join(",") };
        for i in 0..broker.nodes.len() {
            broker.spawn(i);
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

    fn spawn(&mut self, i: usize) {
        let home = kafka_home();
        let (mode, voters, cluster_id) = (self.mode, self.voters.clone(), self.cluster_id.clone());
        let node = self.own_node(i);
        let data = node.dir.join("data");
        std::fs::create_dir_all(&data).expect("kafka data dir");
        let properties = format!("{COMMON}\n{}", mode.properties())
            .replace("@NODE_ID@", &node.id.to_string())
            .replace("@PORT@", &node.port.to_string())
            .replace("@CONTROLLER_PORT@", &node.controller_port.to_string())
            .replace("@VOTERS@", &voters)
            .replace("@LOG_DIR@", &data.to_string_lossy());
        let config = node.dir.join("server.properties");
        std::fs::write(&config, properties).expect("server.properties");
        let log4j = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(LOG4J2);
        let java = |class: &str, heap: &[&str]| {
            let mut command = Command::new("java");
            command
                .args(heap)
                .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
                .arg("-cp")
                .arg(home.join("libs/*"))
                .arg(class)
                .stdin(Stdio::null());
            command
        };
        if !data.join("meta.properties").exists() {
            // A static quorum (controller.quorum.voters): formatting needs only the cluster id.
            let formatted =
                java("kafka.tools.StorageTool", &["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
                    .args(["format", "-t", &cluster_id, "-c"])
                    .arg(&config)
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run java ({e}): {BROKER_HINT}"));
            assert!(
                formatted.status.success(),
                "kafka.tools.StorageTool format failed: {}{}\n{BROKER_HINT}",
                String::from_utf8_lossy(&formatted.stdout),
                String::from_utf8_lossy(&formatted.stderr)
            );
        }
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
        let addr: SocketAddr = node.addr().parse().expect("addr");
        let child = node.child.as_mut().expect("just started");
        crate::wait_for_port(addr, child, "kafka", &log);
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
    }

    /// The disaster of a single node: kills it, drops its storage, starts an empty one on the same port.
    pub fn wipe(&mut self) {
        assert_eq!(self.nodes.len(), 1, "wipe is the single-node disaster; a cluster replaces a node (docs/kafka.md)");
        self.kill9_node(0);
        let _ = std::fs::remove_dir_all(&self.nodes[0].dir);
        self.spawn(0);
        self.wait_serving(1);
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

//! The KRaft quorum of a test's nodes (KIP-853, a dynamic quorum): how a new
//! cluster is formatted, and how a node that lost its disk is replaced the
//! way Kafka documents it (docs/kafka.md, "A node that loses its disk").
//!
//! A voter is a node id *and* the directory id its storage was formatted
//! with. A node that comes back empty gets a new directory id, so it cannot
//! vote as the voter it was (with a static quorum it could, and a voter that
//! forgot what it acknowledged can elect a leader that lacks committed
//! metadata). It joins as an observer, catches up, and only then replaces its
//! old self in the voter set.

use std::time::{Duration, Instant};

use super::java::{kafka_uuid, tool, try_tool};
use super::Broker;

const QUORUM_TOOL: &str = "org.apache.kafka.tools.MetadataQuorumCommand";

impl Broker {
    /// `--initial-controllers` of a new cluster: `id@host:port:directory-id` of every node.
    pub(super) fn initial_controllers(&self) -> String {
        let voter = |n: &super::Node| format!("{}@{}:{}", n.id, n.controller_addr(), n.directory);
        self.nodes.iter().map(voter).collect::<Vec<_>>().join(",")
    }

    /// The disaster of a single node: kills it, drops its storage, starts an empty one on the same port.
    pub fn wipe(&mut self) {
        assert_eq!(self.nodes.len(), 1, "wipe is the single-node disaster; a cluster replaces a node (replace_node)");
        self.kill9_node(0);
        let _ = std::fs::remove_dir_all(&self.nodes[0].dir);
        self.spawn(0);
        self.wait_serving(1);
    }

    /// Node `i` loses its disk: kill -9, its storage removed, and an empty
    /// node started in its place, formatted with `--no-initial-controllers`
    /// (a new directory id). Once it has caught up as an observer, the old
    /// voter is removed and the new one added (`kafka-metadata-quorum
    /// remove-controller`, `add-controller`). Returns when the quorum has
    /// every node as a voter again; its partitions then re-replicate.
    pub fn replace_node(&mut self, i: usize) {
        assert!(self.nodes.len() >= 3, "a node can be replaced only in a cluster that keeps its quorum without it");
        self.kill9_node(i);
        let _ = std::fs::remove_dir_all(&self.nodes[i].dir);
        let old = std::mem::take(&mut self.nodes[i].directory);
        let config = self.configure(i);
        let config = config.to_string_lossy().into_owned();
        let args = ["format", "-t", &self.cluster_id, "-c", &config, "--no-initial-controllers"];
        tool("kafka.tools.StorageTool", &args);
        let meta = std::fs::read_to_string(self.nodes[i].dir.join("data/meta.properties")).expect("meta.properties");
        self.nodes[i].directory =
            meta.lines().find_map(|l| l.strip_prefix("directory.id=")).map(str::to_owned).unwrap_or_else(kafka_uuid);
        self.spawn(i);
        self.listening(i);
        let (id, peer) = (self.nodes[i].id.to_string(), self.nodes[(i + 1) % self.nodes.len()].controller_addr());
        self.quorum(&peer, &["remove-controller", "--controller-id", &id, "--controller-directory-id", &old]);
        self.quorum(&peer, &["--command-config", &config, "add-controller"]);
        self.wait_voters(&peer);
    }

    /// Runs `kafka-metadata-quorum --bootstrap-controller peer args`, again
    /// while it fails (the new node may still be catching up), for up to 60 s.
    fn quorum(&self, peer: &str, args: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut all = vec!["--bootstrap-controller", peer];
        all.extend_from_slice(args);
        loop {
            match try_tool(QUORUM_TOOL, &all) {
                Ok(_) => return,
                Err(text) if Instant::now() > deadline => {
                    panic!("kafka-metadata-quorum {args:?} failed for 60 s: {text}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// Waits until `describe --status` names every node, with its current directory id, as a voter.
    fn wait_voters(&self, peer: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = tool(QUORUM_TOOL, &["--bootstrap-controller", peer, "describe", "--status"]);
            let voters = status.lines().find(|l| l.trim_start().starts_with("CurrentVoters:")).unwrap_or_default();
            if self.nodes.iter().all(|n| voters.contains(&n.directory)) {
                return;
            }
            assert!(Instant::now() < deadline, "the quorum did not take every node back within 60 s:\n{status}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

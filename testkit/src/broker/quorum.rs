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

use super::java::tool;
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
    /// (a new directory id). It joins as an observer, catches up, and
    /// (`controller.quorum.auto.join.enable`) removes the voter of its id
    /// with the old directory id and adds itself: Kafka's documented
    /// remove-controller + add-controller, done by the node. Returns when the
    /// quorum has every node, with its current directory id, as a voter; the
    /// node's partitions then re-replicate by themselves.
    pub fn replace_node(&mut self, i: usize) {
        assert!(self.nodes.len() >= 3, "a node can be replaced only in a cluster that keeps its quorum without it");
        self.kill9_node(i);
        let _ = std::fs::remove_dir_all(&self.nodes[i].dir);
        let config = self.configure(i);
        let config = config.to_string_lossy().into_owned();
        tool("kafka.tools.StorageTool", &["format", "-t", &self.cluster_id, "-c", &config, "--no-initial-controllers"]);
        let meta = std::fs::read_to_string(self.nodes[i].dir.join("data/meta.properties")).expect("meta.properties");
        self.nodes[i].directory = meta
            .lines()
            .find_map(|l| l.strip_prefix("directory.id="))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no directory.id in the new node's meta.properties:\n{meta}"));
        self.spawn(i);
        self.listening(i);
        let peer = self.nodes[(i + 1) % self.nodes.len()].controller_addr();
        self.wait_voters(&peer);
    }

    /// Waits until `describe --status` names every node, with its current directory id, as a voter.
    fn wait_voters(&self, peer: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let status = tool(QUORUM_TOOL, &["--bootstrap-controller", peer, "describe", "--status"]);
            let voters = status.lines().find(|l| l.trim_start().starts_with("CurrentVoters:")).unwrap_or_default();
            if self.nodes.iter().all(|n| voters.contains(&n.directory)) {
                return;
            }
            assert!(Instant::now() < deadline, "the quorum did not take every node back within 90 s:\n{status}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

//! The bank test's chaos: kill -9 of one part at a time, round-robin from a
//! random start, each restarted shortly after. On a three-node cluster the
//! parts include the broker leading the busiest partition, another broker,
//! and a broker that loses its disk and is replaced (docs/kafka.md); a broker
//! is killed only when every replica of every partition is in sync, so never
//! more than one is out.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::stack::System;

/// A small deterministic generator (no extra dependency).
pub struct Dice(pub u64);

impl Dice {
    pub fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// What the chaos loop kills, one at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Victim {
    CommandService,
    Driver,
    Projections,
    /// The broker that leads the topic's busiest partition.
    Leader,
    /// A broker that leads no busy partition (or the only one).
    Broker,
    /// A broker whose disk is lost: it comes back empty and is replaced.
    Disk,
}

impl Victim {
    /// The victims for a broker of `nodes` nodes: on one node, the broker is
    /// killed whole; a cluster also loses its busiest leader and a disk.
    pub fn all(nodes: usize) -> Vec<Victim> {
        use Victim::*;
        if nodes >= 3 {
            vec![CommandService, Leader, Driver, Broker, Projections, Disk]
        } else {
            vec![CommandService, Driver, Projections, Broker]
        }
    }
}

pub struct Chaos {
    dice: Dice,
    victims: Vec<Victim>,
    round: usize,
    pub kills: BTreeMap<Victim, u32>,
}

impl Chaos {
    pub fn new(sys: &System) -> Chaos {
        let mut dice = Dice(0x2545_f491_4f6c_dd1d ^ std::process::id() as u64);
        let victims = Victim::all(sys.broker.nodes());
        let round = dice.roll(victims.len() as u64) as usize;
        Chaos { dice, victims, round, kills: BTreeMap::new() }
    }

    /// Every kind of victim was killed at least once.
    pub fn covered(&self) -> bool {
        self.kills.len() == self.victims.len()
    }

    /// Waits a few seconds, kills the next victim, restarts (or replaces) it
    /// shortly after and waits until every service is ready again.
    pub async fn strike(&mut self, sys: &mut System) {
        tokio::time::sleep(Duration::from_millis(2_500 + self.dice.roll(2_500))).await;
        let victim = self.victims[self.round % self.victims.len()];
        self.round += 1;
        let node = match victim {
            Victim::Leader | Victim::Broker | Victim::Disk => Some(self.broker_node(sys, victim)),
            _ => None,
        };
        *self.kills.entry(victim).or_default() += 1;
        match (victim, node) {
            (Victim::CommandService, _) => sys.commands.kill9(),
            (Victim::Driver, _) => sys.driver.kill9(),
            (Victim::Projections, _) => sys.projections.kill9(),
            (_, Some(i)) if sys.broker.nodes() > 1 => sys.broker.kill9_node(i),
            _ => sys.broker.kill9(),
        }
        tokio::time::sleep(Duration::from_millis(300 + self.dice.roll(1_200))).await;
        match (victim, node) {
            (Victim::CommandService, _) => sys.commands.restart(),
            (Victim::Driver, _) => sys.driver.restart(),
            (Victim::Projections, _) => sys.projections.restart(),
            (Victim::Disk, Some(i)) => {
                let started = std::time::Instant::now();
                tokio::task::block_in_place(|| sys.broker.replace_node(i));
                eprintln!(
                    "chaos: node {i} lost its disk; a voter again with a new directory id {:?} after its start",
                    started.elapsed()
                );
            }
            (_, Some(i)) if sys.broker.nodes() > 1 => tokio::task::block_in_place(|| sys.broker.restart_node(i)),
            _ => tokio::task::block_in_place(|| sys.broker.restart()),
        }
        sys.all_ready().await;
    }

    /// The node to kill: first waits until the cluster could lose any node.
    fn broker_node(&mut self, sys: &System, victim: Victim) -> usize {
        let nodes = sys.broker.nodes();
        if nodes < 3 {
            return 0;
        }
        tokio::task::block_in_place(|| sys.broker.wait_in_sync(Duration::from_secs(120)));
        let busiest = tokio::task::block_in_place(|| sys.broker.busiest_leader(&sys.topic));
        match (victim, busiest) {
            (Victim::Leader, Some((i, partition))) => {
                eprintln!("chaos: node {i} leads the busiest partition, {partition}");
                i
            }
            (_, Some((leader, _))) => (leader + 1 + self.dice.roll(nodes as u64 - 1) as usize) % nodes,
            (_, None) => self.dice.roll(nodes as u64) as usize,
        }
    }
}

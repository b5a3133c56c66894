//! The deliveries a dispatcher holds, one lane per (endpoint, account), in
//! log order. Pure: no I/O, the time is passed in.
//!
//! A lane sends only its first delivery, and only when it is due; the next
//! one goes once the first is done (delivered, or given up). A delivery
//! that was sent is remembered until its outcome is stored, so a fetch of the
//! pending deliveries from before that does not bring it back.

use std::collections::{BTreeMap, HashMap, HashSet};

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Which lane: an endpoint and an account.
pub type Key = (Uuid, Uuid);
/// A delivery's place in the log: `(offset, index in its commit)`.
pub type Place = (i64, i32);

/// One pending delivery.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub event_id: Uuid,
    pub attempts: i32,
    pub due: DateTime<Utc>,
    /// The partition of its account (every delivery of a lane has the same).
    pub partition: i32,
    pub event_type: Arc<str>,
    /// The message as stored (personal fields sealed).
    pub body: Arc<Value>,
}

#[derive(Debug, Default)]
struct Lane {
    /// Every pending delivery of the lane is here (or in flight, or done and
    /// not stored): a newer one may be added without a fetch.
    complete: bool,
    queue: BTreeMap<Place, Pending>,
    /// Sent, not back yet.
    in_flight: Option<Place>,
    /// Done here, outcome not stored yet.
    unstored: HashSet<Place>,
}

impl Lane {
    fn idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_none() && self.unstored.is_empty()
    }
}

/// Every lane, and how many deliveries are in flight per endpoint.
#[derive(Debug, Default)]
pub struct Lanes {
    lanes: HashMap<Key, Lane>,
    per_endpoint: HashMap<Uuid, usize>,
    in_flight: usize,
}

/// A delivery to send now.
#[derive(Clone, Debug, PartialEq)]
pub struct Send {
    pub key: Key,
    pub place: Place,
    pub pending: Pending,
}

impl Lanes {
    /// Adds fetched pending deliveries; those already held, in flight, or
    /// done but not stored are left out.
    pub fn add(&mut self, key: Key, place: Place, pending: Pending) {
        let lane = self.lanes.entry(key).or_default();
        if lane.in_flight == Some(place) || lane.unstored.contains(&place) {
            return;
        }
        lane.queue.entry(place).or_insert(pending);
    }

    /// Marks every lane complete or not (before a fetch's own marks).
    pub fn mark_every(&mut self, complete: bool) {
        for lane in self.lanes.values_mut() {
            lane.complete = complete;
        }
    }

    /// Whether what the last fetch saw of a lane was all of it (fewer rows than its window).
    pub fn mark_complete(&mut self, key: Key, complete: bool) {
        if let Some(lane) = self.lanes.get_mut(&key) {
            lane.complete = complete;
        }
    }

    /// Adds a delivery just stored by the intake, if nothing older can be
    /// pending for its lane without being held here: the lane is complete,
    /// or (`none_elsewhere`: the last fetch saw every pending delivery of the
    /// partition) there is no lane. False: fetch instead.
    pub fn add_new(&mut self, key: Key, place: Place, pending: Pending, none_elsewhere: bool) -> bool {
        match self.lanes.get(&key) {
            Some(lane) if !lane.complete => false,
            None if !none_elsewhere => false,
            _ => {
                let lane = self.lanes.entry(key).or_insert_with(|| Lane { complete: true, ..Lane::default() });
                if lane.in_flight != Some(place) && !lane.unstored.contains(&place) {
                    lane.queue.entry(place).or_insert(pending);
                }
                true
            }
        }
    }

    /// The deliveries to send at `now`: the first of each lane that is due
    /// and not waiting for one in flight, within the limits.
    pub fn take_due(&mut self, now: DateTime<Utc>, per_endpoint: usize, total: usize) -> Vec<Send> {
        let mut sends = Vec::new();
        for (key, lane) in &mut self.lanes {
            if self.in_flight >= total {
                break;
            }
            let Some((&place, first)) = lane.queue.first_key_value() else { continue };
            let busy = self.per_endpoint.get(&key.0).copied().unwrap_or(0);
            if lane.in_flight.is_some() || first.due > now || busy >= per_endpoint {
                continue;
            }
            let pending = lane.queue.remove(&place).expect("the first one is there");
            lane.in_flight = Some(place);
            *self.per_endpoint.entry(key.0).or_default() += 1;
            self.in_flight += 1;
            sends.push(Send { key: *key, place, pending });
        }
        sends
    }

    /// A sent delivery came back. `retry_at`: it failed and is tried again
    /// then (it goes first again); `None`: it is done (delivered or given up).
    pub fn back(&mut self, send: &Send, retry_at: Option<DateTime<Utc>>) {
        if let Some(count) = self.per_endpoint.get_mut(&send.key.0) {
            *count = count.saturating_sub(1);
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(lane) = self.lanes.get_mut(&send.key) else { return };
        lane.in_flight = None;
        lane.unstored.insert(send.place);
        if let Some(due) = retry_at {
            let pending = Pending { attempts: send.pending.attempts + 1, due, ..send.pending.clone() };
            lane.queue.insert(send.place, pending);
        }
    }

    /// The outcomes of these places are stored: forget them, and the lanes left with nothing.
    pub fn stored(&mut self, places: &[(Key, Place)]) {
        for (key, place) in places {
            if let Some(lane) = self.lanes.get_mut(key) {
                lane.unstored.remove(place);
                if lane.idle() {
                    self.lanes.remove(key);
                }
            }
        }
    }

    /// Drops every queued delivery of `endpoint` (it was disabled or deleted).
    pub fn drop_endpoint(&mut self, endpoint: Uuid) {
        for (key, lane) in &mut self.lanes {
            if key.0 == endpoint {
                lane.queue.clear();
            }
        }
    }

    /// Drops what is queued for partitions `keep` says are no longer owned.
    pub fn retain(&mut self, keep: impl Fn(i32) -> bool) {
        for lane in self.lanes.values_mut() {
            if lane.queue.values().next().is_some_and(|p| !keep(p.partition)) {
                lane.queue.clear();
            }
        }
        self.lanes.retain(|_, lane| !lane.idle());
    }

    /// When the first queued delivery that waits only for its time is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.lanes
            .values()
            .filter(|l| l.in_flight.is_none())
            .filter_map(|l| l.queue.first_key_value().map(|(_, p)| p.due))
            .min()
    }

    /// A lane the last fetch saw only part of has sent all it holds: fetch more.
    pub fn starving(&self) -> bool {
        self.lanes.values().any(|l| !l.complete && l.queue.is_empty() && l.in_flight.is_none())
    }

    pub fn queued(&self) -> usize {
        self.lanes.values().map(|l| l.queue.len()).sum()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

#[cfg(test)]
#[path = "lanes_tests.rs"]
mod tests;

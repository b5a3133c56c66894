//! What the worker keeps for one assigned partition.

use tokio_util::sync::CancellationToken;

use crate::driver::{Outstanding, Planner};
use crate::steps::Step;

/// One assigned partition. `run` is `None` until the broker has told where it
/// stands (committed offset, bounds); its records are ignored until then.
pub struct Part {
    /// Tells this assignment's step results from those of an earlier one.
    pub epoch: u64,
    /// Cancelled on revocation: the partition's steps stop retrying.
    pub cancel: CancellationToken,
    pub run: Option<Run>,
}

/// A partition being folded (and, once `live`, acted on).
pub struct Run {
    pub planner: Planner,
    /// The group's committed offset at assignment: acting starts here.
    pub floor: i64,
    /// The end of the partition at assignment: folding to here makes it `live`.
    pub end: i64,
    /// The next offset to fold.
    pub next: i64,
    /// The last seek back: `(to, because of)`, to tell a real gap from a stale fetch.
    pub sought: Option<(i64, i64)>,
    pub live: bool,
    /// Nothing folded yet: the consumer must be sought back to `next` (records
    /// fetched before the start were dropped).
    pub seek_to_start: bool,
    /// Steps found while folding up to `end`, sent when the partition goes live.
    pub held_back: Vec<(i64, Step)>,
    pub outstanding: Outstanding,
}

/// What a step task reports when it ends.
#[derive(Debug)]
pub struct Completion {
    pub partition: i32,
    pub epoch: u64,
    /// The offset of the event that called for it (`None`: a hold expiry).
    pub offset: Option<i64>,
    /// False when it was stopped before it was done.
    pub done: bool,
}

impl Part {
    pub fn new(epoch: u64, cancel: CancellationToken) -> Self {
        Part { epoch, cancel, run: None }
    }

    /// Starts folding from `low`, acting from `floor`, live at `end`.
    pub fn start(&mut self, floor: i64, low: i64, end: i64) {
        self.run = Some(Run {
            planner: Planner::new(floor),
            floor,
            end,
            next: low,
            sought: None,
            live: false,
            seek_to_start: end > low,
            held_back: Vec::new(),
            outstanding: Outstanding::default(),
        });
    }
}

impl Run {
    /// Should the record at `offset` be folded now? `Ok(false)`: folded already
    /// (a stale fetch). `Err(to)`: records were skipped, seek back to `to`. A
    /// record that comes again right after a seek back is past a real gap in
    /// the offsets, and is taken.
    pub fn accept(&mut self, offset: i64) -> Result<bool, i64> {
        if offset < self.next {
            return Ok(false);
        }
        if offset > self.next && self.sought != Some((self.next, offset)) {
            self.sought = Some((self.next, offset));
            return Err(self.next);
        }
        self.sought = None;
        self.next = offset + 1;
        Ok(true)
    }

    pub fn caught_up(&self) -> bool {
        self.next >= self.end
    }

    /// The offset to commit for the group now.
    pub fn checkpoint(&self) -> i64 {
        self.outstanding.checkpoint(self.floor, self.next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(low: i64) -> Run {
        let mut part = Part::new(1, CancellationToken::new());
        part.start(0, low, 100);
        part.run.expect("started")
    }

    #[test]
    fn records_are_folded_in_offset_order_and_stale_ones_are_skipped() {
        let mut run = run(3);
        assert_eq!(run.accept(3), Ok(true));
        assert_eq!(run.accept(4), Ok(true));
        assert_eq!(run.accept(4), Ok(false));
        assert_eq!(run.next, 5);
    }

    #[test]
    fn a_record_past_the_next_offset_asks_for_a_seek_back_then_is_taken_as_a_real_gap() {
        let mut run = run(0);
        assert_eq!(run.accept(5), Err(0), "records 0 to 4 were not folded");
        assert_eq!(run.accept(6), Err(0), "still fetched from before the seek");
        assert_eq!(run.accept(5), Err(0));
        assert_eq!(run.accept(5), Ok(true), "5 again right after the seek: 0 to 4 do not exist");
        assert_eq!(run.next, 6);
    }

    #[test]
    fn a_partition_is_caught_up_at_the_end_it_had_at_assignment() {
        let mut part = Part::new(1, CancellationToken::new());
        part.start(0, 0, 2);
        let run = part.run.as_mut().expect("started");
        assert!(!run.caught_up());
        let _ = (run.accept(0), run.accept(1));
        assert!(run.caught_up());
    }
}

//! The open connections: what each is doing and since when, eviction at the
//! limit, and the header and idle timeouts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub(super) const IDLE: u8 = 0;
pub(super) const READING_BODY: u8 = 1;
pub(super) const BUSY: u8 = 2;

/// One open connection: what it is doing, since when, and how to close it.
pub(super) struct Conn {
    pub(super) state: AtomicU8,
    pub(super) since_ms: AtomicU64,
    /// When the first byte of the next request head arrived (0: none yet).
    pub(super) head_ms: AtomicU64,
    pub(super) close: CancellationToken,
    /// Admitted from the reserve (health checks only): it frees no regular slot when evicted.
    pub(super) reserve: bool,
}

/// Why the reaper closes a connection.
enum Expiry {
    Header,
    Idle,
}

pub(super) struct Table {
    pub(super) started: Instant,
    pub(super) next_id: AtomicU64,
    pub(super) conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Table {
    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(super) fn set(&self, conn: &Conn, state: u8) {
        conn.state.store(state, Ordering::Relaxed);
        conn.since_ms.store(self.now_ms(), Ordering::Relaxed);
        if state == IDLE {
            conn.head_ms.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn open(&self, reserve: bool) -> (u64, Arc<Conn>) {
        let now = self.now_ms();
        let conn = Arc::new(Conn {
            state: AtomicU8::new(IDLE),
            since_ms: AtomicU64::new(now),
            // A new connection owes its first request head at once.
            head_ms: AtomicU64::new(now.max(1)),
            close: CancellationToken::new(),
            reserve,
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::clone(&conn));
        (id, conn)
    }

    pub(super) fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub(super) fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
    }

    /// Closes the regular connection that has waited longest with no request
    /// being handled. A reserve (health-only) connection is never the victim:
    /// closing it frees no regular slot, so it must not let another one in.
    pub(super) fn evict_one(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let victim = conns
            .values()
            .filter(|c| !c.reserve && c.state.load(Ordering::Relaxed) != BUSY && !c.close.is_cancelled())
            .min_by_key(|c| c.since_ms.load(Ordering::Relaxed));
        victim.map(|c| c.close.cancel()).is_some()
    }

    /// Closes the connections whose request head is late (`header`) or that
    /// have had no request for `idle`; returns how many of each.
    pub(super) fn reap(&self, header: Duration, idle: Duration) -> (u64, u64) {
        let now = self.now_ms();
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut late, mut idled) = (0, 0);
        for conn in conns.values().filter(|c| c.state.load(Ordering::Relaxed) == IDLE && !c.close.is_cancelled()) {
            let expiry = match conn.head_ms.load(Ordering::Relaxed) {
                0 => (now.saturating_sub(conn.since_ms.load(Ordering::Relaxed)) > idle.as_millis() as u64)
                    .then_some(Expiry::Idle),
                head => (now.saturating_sub(head) > header.as_millis() as u64).then_some(Expiry::Header),
            };
            match expiry {
                Some(Expiry::Header) => late += 1,
                Some(Expiry::Idle) => idled += 1,
                None => continue,
            }
            conn.close.cancel();
        }
        (late, idled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table { started: Instant::now(), next_id: AtomicU64::new(0), conns: Mutex::default() }
    }

    #[test]
    fn at_the_limit_an_idle_regular_connection_is_evicted_and_a_reserve_one_never_is() {
        // Given two regular connections handling requests and a health check on the reserve
        let table = table();
        for _ in 0..2 {
            let (_, conn) = table.open(false);
            table.set(&conn, BUSY);
        }
        let (_, health) = table.open(true);
        // When a new connection needs a slot, then closing the health check would not free one
        assert!(!table.evict_one(), "a reserve connection is not a regular slot");
        assert!(!health.close.is_cancelled());
        // But an idle regular connection is the victim
        let (_, idle) = table.open(false);
        assert!(table.evict_one());
        assert!(idle.close.is_cancelled());
    }
}

//! Waiting for a dependency: a service whose broker or database is not there
//! yet waits and tries again (capped back-off, a warning each time); it never
//! exits for that.

use std::future::Future;
use std::time::Duration;

use tracing::warn;

/// The first wait; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds, saying what it waits for while it fails.
pub async fn until_ok<T, E: std::fmt::Display, F: Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let mut wait = FIRST_WAIT;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(error) => warn!(%error, retry_in_ms = wait.as_millis() as u64, "{what} is not available yet: retrying"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_attempt_that_fails_twice_is_tried_until_it_succeeds() {
        let mut tries = 0;
        let value = until_ok("the thing", || {
            tries += 1;
            let result = if tries < 3 { Err("down") } else { Ok(tries) };
            async move { result }
        })
        .await;
        assert_eq!(value, 3);
    }
}

//! When a failed delivery is tried again. Pure: the randomness is passed in.
//!
//! The default is Standard Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 14 h, 20 h and 24 h after each failure, each with up to ±10 %
//! jitter so that a receiver coming back is not hit by every retry at once.
//! After the last one the delivery is given up (it stays listed in the
//! endpoint's attempts and can be replayed). A `Retry-After` on 429 or 503 is
//! honoured in place of the schedule's delay, within [`RETRY_AFTER_MAX`].

use std::time::Duration;

/// The default schedule, as `WEBHOOKS_RETRY_SCHEDULE` would give it.
pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,14h,20h,24h";
/// The longest `Retry-After` honoured; a longer one waits this long.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(24 * 3600);

/// The delays after the first, second, … failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(Vec<Duration>);

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    RetryIn(Duration),
    GiveUp,
}

impl Schedule {
    /// From comma-separated durations: a number and a unit, `ms`, `s`, `m` or `h`.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let delays = text.split(',').map(|d| parse_duration(d.trim())).collect::<Result<Vec<_>, _>>()?;
        if delays.is_empty() || delays.len() > 32 {
            return Err("WEBHOOKS_RETRY_SCHEDULE: 1 to 32 durations".into());
        }
        Ok(Schedule(delays))
    }

    /// Attempts in all: the first, and one per delay.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }

    /// After `failed` attempts (1 after the first), with `retry_after` from the
    /// answer if it was a 429 or 503, and `jitter` uniform in `[-1, 1]`.
    pub fn next(&self, failed: usize, retry_after: Option<Duration>, jitter: f64) -> Next {
        let Some(delay) = failed.checked_sub(1).and_then(|i| self.0.get(i)) else { return Next::GiveUp };
        if let Some(wait) = retry_after {
            return Next::RetryIn(wait.min(RETRY_AFTER_MAX));
        }
        let factor = 1.0 + 0.1 * jitter.clamp(-1.0, 1.0);
        Next::RetryIn(delay.mul_f64(factor))
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::parse(DEFAULT).expect("the default schedule parses")
    }
}

/// `250ms`, `5s`, `30m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 5s"))?;
    let unit = match unit {
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        _ => return Err(format!("{text:?}: the unit is one of ms, s, m, h, d")),
    };
    unit.checked_mul(u32::try_from(n).map_err(|_| format!("{text:?} is too long"))?)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// A `Retry-After` value in seconds (the HTTP-date form is not honoured: the schedule applies).
pub fn retry_after(header: Option<&str>) -> Option<Duration> {
    header.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_standard_webhooks_schedule_of_nine_retries() {
        let schedule = Schedule::default();
        assert_eq!(schedule.attempts(), 10);
        let minutes: Vec<u64> = (1..=9)
            .map(|failed| match schedule.next(failed, None, 0.0) {
                Next::RetryIn(d) => d.as_secs() / 60,
                Next::GiveUp => u64::MAX,
            })
            .collect();
        assert_eq!(minutes, vec![0, 5, 30, 120, 300, 600, 840, 1200, 1440]);
        assert_eq!(schedule.next(10, None, 0.0), Next::GiveUp);
    }

    #[test]
    fn jitter_moves_a_delay_by_at_most_a_tenth() {
        let schedule = Schedule::parse("10s").expect("parses");
        assert_eq!(schedule.next(1, None, 1.0), Next::RetryIn(Duration::from_secs(11)));
        assert_eq!(schedule.next(1, None, -1.0), Next::RetryIn(Duration::from_secs(9)));
        assert_eq!(schedule.next(1, None, 7.0), Next::RetryIn(Duration::from_secs(11)), "clamped");
    }

    #[test]
    fn retry_after_replaces_the_delay_within_its_bound_but_never_adds_attempts() {
        let schedule = Schedule::parse("100ms,200ms").expect("parses");
        assert_eq!(schedule.next(1, Some(Duration::from_secs(3)), 0.0), Next::RetryIn(Duration::from_secs(3)));
        assert_eq!(schedule.next(2, Some(Duration::from_secs(1 << 40)), 0.0), Next::RetryIn(RETRY_AFTER_MAX));
        assert_eq!(schedule.next(3, Some(Duration::from_secs(1)), 0.0), Next::GiveUp);
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn a_schedule_that_is_not_durations_is_refused() {
        for bad in ["", "5", "5x", "s", "5s,,5s", "-1s", "99999999999h"] {
            assert!(Schedule::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }
}

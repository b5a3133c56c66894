//! The suite's output: the table, the targets it is held to, and the files.

use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::load::Outcome;
use super::sys;

/// One row of the report: ours, its ceiling, their ratio, and where it ran.
#[derive(Serialize)]
pub(super) struct Row {
    pub(super) scenario: String,
    pub(super) ours: String,
    pub(super) ceiling: String,
    pub(super) ratio: Option<f64>,
    /// Scenario 6: the rate against the minimal handler's, the second ceiling.
    pub(super) of_minimal: Option<f64>,
    pub(super) p50_ms: Option<f64>,
    pub(super) p99_ms: Option<f64>,
    pub(super) p999_ms: Option<f64>,
    pub(super) errors: Option<u64>,
    /// Latency samples behind the percentiles (none: the row has no latencies).
    pub(super) samples: Option<u64>,
    pub(super) note: String,
    pub(super) machine: String,
    pub(super) broker: String,
    pub(super) revision: String,
}

impl Row {
    pub(super) fn new(scenario: impl Into<String>, ours: impl Into<String>) -> Row {
        Row {
            scenario: scenario.into(),
            ours: ours.into(),
            ceiling: String::new(),
            ratio: None,
            of_minimal: None,
            p50_ms: None,
            p99_ms: None,
            p999_ms: None,
            errors: None,
            samples: None,
            note: String::new(),
            machine: sys::machine(),
            broker: sys::broker(),
            revision: sys::revision(),
        }
    }

    pub(super) fn latencies(mut self, o: &Outcome) -> Row {
        (self.p50_ms, self.p99_ms, self.p999_ms, self.errors) =
            (Some(o.ms(0.5)), Some(o.ms(0.99)), Some(o.ms(0.999)), Some(o.errors));
        self.samples = Some(o.hist.len());
        self
    }
}

/// A target of the issue: which row, which figure, and the bound.
struct Target {
    what: &'static str,
    measured: Option<f64>,
    met: Option<bool>,
    /// Why a measured row is not judged on its figure (no data, too many errors).
    why: Option<String>,
}

/// Errors above this share of a row's attempts make its figure meaningless.
const MAX_ERROR_SHARE: f64 = 0.01;

/// Whether `row`'s figures may be judged: `Err` says why not (never `met`).
fn sound(row: &Row) -> Result<(), String> {
    let (samples, errors) = (row.samples.unwrap_or(1), row.errors.unwrap_or(0));
    if samples == 0 {
        return Err(format!("no data: 0 samples, {errors} errors"));
    }
    let share = errors as f64 / (samples + errors) as f64;
    if share > MAX_ERROR_SHARE {
        return Err(format!("failed: {errors} errors in {} attempts ({:.1} %)", samples + errors, share * 100.0));
    }
    Ok(())
}

fn row<'a>(rows: &'a [Row], prefix: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.scenario.starts_with(prefix))
}

/// The figure `figure` of the row starting with `prefix`, if the row is sound.
fn judged(rows: &[Row], prefix: &str, figure: fn(&Row) -> Option<f64>) -> Result<Option<f64>, String> {
    match row(rows, prefix) {
        None => Ok(None),
        Some(r) => sound(r).map(|()| figure(r)),
    }
}

/// The lowest of `figure` over the rows starting with each of `prefixes`; all must be there.
fn lowest(rows: &[Row], prefixes: &[&str], figure: fn(&Row) -> Option<f64>) -> Result<Option<f64>, String> {
    let mut low: Option<f64> = None;
    for prefix in prefixes {
        match judged(rows, prefix, figure)? {
            Some(v) => low = Some(low.map_or(v, |l| l.min(v))),
            None => return Ok(None),
        }
    }
    Ok(low)
}

fn target(what: &'static str, figure: Result<Option<f64>, String>, meets: impl Fn(f64) -> bool) -> Target {
    match figure {
        Ok(measured) => Target { what, measured, met: measured.map(meets), why: None },
        Err(why) => Target { what, measured: None, met: Some(false), why: Some(why) },
    }
}

fn targets(rows: &[Row]) -> Vec<Target> {
    let ratio = |r: &Row| r.ratio;
    let p99 = |r: &Row| r.p99_ms;
    vec![
        target(
            "commands >= 50% of the raw producer at 64 clients (ratio)",
            judged(rows, "1. commands, 64 clients", ratio),
            |v| v >= 0.5,
        ),
        target("p99 <= 10 ms at 50% load (ms)", judged(rows, "2.", p99), |v| v <= 10.0),
        target("lag p99 <= 100 ms at 50% load (ms)", judged(rows, "3.", p99), |v| v <= 100.0),
        target(
            "projection fold >= 50% of its ceiling (ratio, 1 worker)",
            judged(rows, "4. projection fold, 1", ratio),
            |v| v >= 0.5,
        ),
        target(
            "query >= 50% of pgbench (lowest ratio)",
            lowest(rows, &["6. GET /v1/accounts/{id}, 16", "6. GET /v1/accounts/{id}, 64"], ratio),
            |v| v >= 0.5,
        ),
        // Both client counts must be measured; the lower ratio is held to the target.
        target(
            "transfers >= 0.4 of the deposit rate, 16 and 64 clients (lowest ratio)",
            lowest(rows, &["8. transfers, 16 clients", "8. transfers, 64 clients"], ratio),
            |v| v >= 0.4,
        ),
        target(
            "query >= 0.8 of the minimal handler, 16 and 64 connections (lowest ratio)",
            lowest(rows, &["6. GET /v1/accounts/{id}, 16", "6. GET /v1/accounts/{id}, 64"], |r| r.of_minimal),
            |v| v >= 0.8,
        ),
        // Issue 27: webhooks against a plain client, and their latency at half that rate.
        target(
            "webhook deliveries >= 0.8 of a plain HTTP client (ratio)",
            judged(rows, "12. webhook deliveries", ratio),
            |v| v >= 0.8,
        ),
        target(
            "webhook commit → delivered p99 <= 100 ms at 50% (ms)",
            judged(rows, "12. webhook commit → delivered at 50%", p99),
            |v| v <= 100.0,
        ),
        // Issue 26: the writer against the raw producer, in every broker mode.
        target(
            "commands >= 0.8 of the raw producer at 64 and 256 clients (lowest ratio)",
            lowest(rows, &["1. commands, 64 clients", "1. commands, 256 clients"], ratio),
            |v| v >= 0.8,
        ),
    ]
}

/// Prints the table and the targets, and writes `results.md` and `results.json` to `out`.
pub(super) fn write(rows: &mut [Row], quick: bool, took: Duration, out: &std::path::Path) -> anyhow::Result<()> {
    // In scenario order (they ran in the order that shares set-ups).
    rows.sort_by_key(|r| r.scenario.split('.').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(99));
    let mode = if quick { "quick" } else { "full" };
    let header = format!(
        "machine: {}; broker: {}; revision: {}; mode: {mode}; took {:.0} s; loadgen CPU {:.0} s (it shares the cores)",
        sys::machine(),
        sys::broker(),
        sys::revision(),
        took.as_secs_f64(),
        sys::own_cpu_seconds()
    );
    let cell = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.2}"));
    let mut md = format!(
        "{header}\n\n| scenario | ours | ceiling | ratio | p50 ms | p99 ms | p99.9 ms | errors | note |\n|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows.iter() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.ours,
            r.ceiling,
            cell(r.ratio),
            cell(r.p50_ms),
            cell(r.p99_ms),
            cell(r.p999_ms),
            r.errors.map_or(String::new(), |e| e.to_string()),
            r.note
        ));
    }
    let targets = targets(rows);
    md.push_str("\n| target | measured | met |\n|---|---|---|\n");
    for t in &targets {
        let met = match (t.met, &t.why) {
            (_, Some(why)) => format!("**no** ({why})"),
            (Some(true), None) => "yes".to_owned(),
            (Some(false), None) => "**no**".to_owned(),
            (None, None) => "not measured".to_owned(),
        };
        md.push_str(&format!("| {} | {} | {met} |\n", t.what, cell(t.measured)));
    }
    print!("{md}");
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("results.md"), &md)?;
    let targets: Vec<_> =
        targets.iter().map(|t| json!({"target": t.what, "measured": t.measured, "met": t.met, "why": t.why})).collect();
    let document = json!({"machine": sys::machine(), "broker": sys::broker(), "revision": sys::revision(),
                          "mode": mode, "seconds": took.as_secs_f64(),
                          "loadgen_cpu_seconds": sys::own_cpu_seconds(), "rows": rows, "targets": targets});
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&document)?)?;
    eprintln!("wrote {} and results.json", out.join("results.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag_row(samples: u64, errors: u64, p99: f64) -> Row {
        let mut row = Row::new("3. command → read model lag at 50% of peak", format!("{samples} samples"));
        (row.p99_ms, row.samples, row.errors) = (Some(p99), Some(samples), Some(errors));
        row
    }

    fn lag_target(rows: &[Row]) -> Target {
        targets(rows).into_iter().find(|t| t.what.starts_with("lag p99")).expect("the lag target")
    }

    #[test]
    fn a_row_with_no_samples_is_never_met_and_says_it_has_no_data() {
        let target = lag_target(&[lag_row(0, 0, 0.0)]);
        assert_eq!(target.met, Some(false));
        assert_eq!(target.measured, None);
        assert!(target.why.as_deref().is_some_and(|w| w.starts_with("no data")), "{:?}", target.why);
    }

    #[test]
    fn a_row_with_more_than_one_percent_errors_is_never_met_however_good_its_figure() {
        let target = lag_target(&[lag_row(980, 20, 1.0)]);
        assert_eq!(target.met, Some(false));
        assert!(target.why.as_deref().is_some_and(|w| w.starts_with("failed")), "{:?}", target.why);
    }

    #[test]
    fn a_sound_row_is_judged_on_its_figure() {
        assert_eq!(lag_target(&[lag_row(1000, 10, 50.0)]).met, Some(true));
        assert_eq!(lag_target(&[lag_row(1000, 0, 500.0)]).met, Some(false));
        assert_eq!(lag_target(&[]).met, None, "a scenario that did not run is not measured");
    }
}

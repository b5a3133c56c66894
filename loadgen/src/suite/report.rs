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
    pub(super) p50_ms: Option<f64>,
    pub(super) p99_ms: Option<f64>,
    pub(super) p999_ms: Option<f64>,
    pub(super) errors: Option<u64>,
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
            p50_ms: None,
            p99_ms: None,
            p999_ms: None,
            errors: None,
            note: String::new(),
            machine: sys::machine(),
            broker: sys::broker(),
            revision: sys::revision(),
        }
    }

    pub(super) fn latencies(mut self, o: &Outcome) -> Row {
        (self.p50_ms, self.p99_ms, self.p999_ms, self.errors) =
            (Some(o.ms(0.5)), Some(o.ms(0.99)), Some(o.ms(0.999)), Some(o.errors));
        self
    }
}

/// A target of the issue: which row, which figure, and the bound.
struct Target {
    what: &'static str,
    measured: Option<f64>,
    met: Option<bool>,
}

fn row<'a>(rows: &'a [Row], prefix: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.scenario.starts_with(prefix))
}

fn targets(rows: &[Row]) -> Vec<Target> {
    let at_least = |v: Option<f64>, bound: f64| v.map(|v| v >= bound);
    let at_most = |v: Option<f64>, bound: f64| v.map(|v| v <= bound);
    let commands = row(rows, "1. commands, 64 clients").and_then(|r| r.ratio);
    let p99 = row(rows, "2.").and_then(|r| r.p99_ms);
    let lag = row(rows, "3.").and_then(|r| r.p99_ms);
    let fold = row(rows, "4. projection fold, 1").and_then(|r| r.ratio);
    let query = rows.iter().filter(|r| r.scenario.starts_with("6.")).filter_map(|r| r.ratio).reduce(f64::min);
    // Both client counts must be measured; the lower ratio is held to the target.
    let ratio_of = |prefix: &str| row(rows, prefix).and_then(|r| r.ratio);
    let transfers =
        ratio_of("8. transfers, 16 clients").zip(ratio_of("8. transfers, 64 clients")).map(|(a, b)| a.min(b));
    vec![
        Target {
            what: "commands >= 50% of the raw producer at 64 clients (ratio)",
            measured: commands,
            met: at_least(commands, 0.5),
        },
        Target { what: "p99 <= 10 ms at 50% load (ms)", measured: p99, met: at_most(p99, 10.0) },
        Target { what: "lag p99 <= 100 ms at 50% load (ms)", measured: lag, met: at_most(lag, 100.0) },
        Target {
            what: "projection fold >= 50% of its ceiling (ratio, 1 worker)",
            measured: fold,
            met: at_least(fold, 0.5),
        },
        Target { what: "query >= 50% of pgbench (lowest ratio)", measured: query, met: at_least(query, 0.5) },
        Target {
            what: "transfers >= 0.4 of the deposit rate, 16 and 64 clients (lowest ratio)",
            measured: transfers,
            met: at_least(transfers, 0.4),
        },
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
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        md.push_str(&format!("| {} | {} | {met} |\n", t.what, cell(t.measured)));
    }
    print!("{md}");
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("results.md"), &md)?;
    let targets: Vec<_> =
        targets.iter().map(|t| json!({"target": t.what, "measured": t.measured, "met": t.met})).collect();
    let document = json!({"machine": sys::machine(), "broker": sys::broker(), "revision": sys::revision(),
                          "mode": mode, "seconds": took.as_secs_f64(),
                          "loadgen_cpu_seconds": sys::own_cpu_seconds(), "rows": rows, "targets": targets});
    std::fs::write(out.join("results.json"), serde_json::to_vec_pretty(&document)?)?;
    eprintln!("wrote {} and results.json", out.join("results.md").display());
    Ok(())
}

//! The suite's output: the table, the targets it is held to, and the files.

use std::time::Duration;

use serde_json::json;

use super::{sys, Row};

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

//! `replay`: rebuild read models from the log in a shadow schema, then swap
//! them in (or, with `--dry-run`, compare them with the live ones).

use std::time::Instant;

use projections::replay::{Outcome, Replay};

use crate::export::progress_bar;

/// Runs the replay and prints what it did; returns the number of differences
/// found by a dry run (0 after a swap).
pub async fn run(replay: Replay) -> anyhow::Result<u64> {
    let bar = progress_bar(0);
    let started = Instant::now();
    let outcome = replay
        .run(|progress| {
            bar.set_length(progress.target);
            bar.set_position(progress.records);
            let rate = progress.events as f64 / started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{rate:.0} events/s"));
        })
        .await?;
    bar.finish_and_clear();
    Ok(report(&outcome))
}

fn report(outcome: &Outcome) -> u64 {
    let rate = outcome.events as f64 / outcome.seconds.max(1e-3);
    let mut checkpoints: Vec<_> = outcome.checkpoints.iter().collect();
    checkpoints.sort();
    let at: Vec<String> = checkpoints.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    println!(
        "replayed {}: {} records, {} events in {:.2} s ({rate:.0} events/s), up to checkpoints {}",
        outcome.tables.join(", "),
        outcome.records,
        outcome.events,
        outcome.seconds,
        at.join(" ")
    );
    let Some(differences) = &outcome.differences else {
        println!("swapped in atomically: {}", outcome.tables.join(", "));
        return 0;
    };
    let mut total = 0u64;
    for diff in differences {
        println!(
            "DIFF {}: {} row(s) only in the live table, {} only in the replay",
            diff.table, diff.live_only, diff.shadow_only
        );
        for sample in &diff.samples {
            println!("  {sample}");
        }
        total += (diff.live_only + diff.shadow_only) as u64;
    }
    println!("dry run, nothing swapped: {total} difference(s)");
    total
}

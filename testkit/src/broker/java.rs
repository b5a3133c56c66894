//! Running Kafka's JVM programs (the broker, StorageTool, the quorum tool)
//! from the install `ensure_kafka` made, and Kafka's form of a random id.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use uuid::Uuid;

use super::{BROKER_HINT, LOG4J2};

/// Where `ensure_kafka` put Kafka: `KAFKA_HOME`, else the newest complete
/// install under `~/.cache/ledgerline` (or `LEDGERLINE_CACHE`).
pub(super) fn kafka_home() -> PathBuf {
    if let Some(home) = std::env::var_os("KAFKA_HOME") {
        return PathBuf::from(home);
    }
    let cache = std::env::var_os("LEDGERLINE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ledgerline")))
        .unwrap_or_else(|| panic!("no HOME: {BROKER_HINT}"));
    let mut installs: Vec<PathBuf> = std::fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("kafka-")))
        .filter(|p| p.join(".installed").exists())
        .collect();
    installs.sort();
    installs.pop().unwrap_or_else(|| panic!("no Kafka install in {}: {BROKER_HINT}", cache.display()))
}

/// A new Kafka `Uuid` as its tools print it: URL-safe base64 of 16 random
/// bytes, never starting with `-` (Kafka's `Uuid.randomUuid` rule).
pub(super) fn kafka_uuid() -> String {
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// `java … class` with the Kafka install on the class path and its log4j2 configuration.
pub(super) fn java(class: &str, heap: &[&str]) -> Command {
    let log4j = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(LOG4J2);
    let mut command = Command::new("java");
    command
        .args(heap)
        .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
        .arg("-cp")
        .arg(kafka_home().join("libs/*"))
        .arg(class)
        .stdin(Stdio::null());
    command
}

/// Runs a Kafka tool to its end: what it printed, as `Err` if it failed.
fn try_tool(class: &str, args: &[&str]) -> Result<String, String> {
    let out = java(class, &["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run java ({e}): {BROKER_HINT}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// [`try_tool`], panicking with the tool's output if it fails.
pub(super) fn tool(class: &str, args: &[&str]) -> String {
    try_tool(class, args).unwrap_or_else(|text| panic!("{class} {args:?} failed: {text}\n{BROKER_HINT}"))
}

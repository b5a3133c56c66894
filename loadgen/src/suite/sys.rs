//! What the report says about where it ran, and process memory and CPU.

use std::process::Command;

fn first_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    format!("{cores} cores, {model}")
}

pub fn broker() -> String {
    let mode = match super::mode() {
        testkit::Mode::Single => "single: one node, no fsync",
        testkit::Mode::Fsync => "fsync: one node, log.flush.interval.messages=1",
        testkit::Mode::Cluster => "cluster: three nodes, RF 3, min.insync.replicas=2",
    };
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "4.x".into());
    format!("Apache Kafka {version} ({mode})")
}

pub fn revision() -> String {
    first_line("git", &["rev-parse", "--short", "HEAD"])
}

/// A line of `/proc/<pid>/status`, in KiB (`VmHWM` peak, `VmRSS` now).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// CPU seconds (user + system) this process has used.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds("self").0
}

/// CPU seconds (user + system) of process `pid` ("self" for this one), and
/// those of its children it has waited for.
pub fn cpu_seconds(pid: &str) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised name: utime, stime, cutime, cstime are the 12th to 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    ((ticks(11) + ticks(12)) / 100.0, (ticks(13) + ticks(14)) / 100.0)
}

/// CPU seconds of every process named `postgres`: the live backends' own, and
/// the postmaster's waited-for children's (the backends that have exited).
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0.0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| {
            let (own, children) = cpu_seconds(&e.file_name().to_string_lossy());
            own + children
        })
        .sum()
}

/// Where the CPU of a run went, per request: the service (if any), this
/// process (the load generator, and a handler served in it), its waited-for
/// children (pgbench) and Postgres.
pub struct CpuSplit {
    service: Option<(String, f64)>,
    own: (f64, f64),
    postgres: f64,
}

impl CpuSplit {
    pub fn start(service: Option<u32>) -> Self {
        Self {
            service: service.map(|pid| (pid.to_string(), cpu_seconds(&pid.to_string()).0)),
            own: cpu_seconds("self"),
            postgres: postgres_cpu_seconds(),
        }
    }

    /// "CPU µs per request: …" for `requests` done since `start`, naming the
    /// service `service` and this process (with its waited-for children) `own`.
    pub fn per_request(&self, requests: f64, service: &str, own_name: &str) -> String {
        let per = |seconds: f64| seconds / requests.max(1.0) * 1e6;
        let own = cpu_seconds("self");
        let mut parts = Vec::new();
        if let Some((pid, before)) = &self.service {
            parts.push(format!("{service} {:.0}", per(cpu_seconds(pid).0 - before)));
        }
        parts.push(format!("{own_name} {:.0}", per(own.0 - self.own.0 + own.1 - self.own.1)));
        parts.push(format!("Postgres {:.0}", per(postgres_cpu_seconds() - self.postgres)));
        format!("CPU µs per request: {}", parts.join(", "))
    }
}

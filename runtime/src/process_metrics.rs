//! Process metrics as Prometheus' own client libraries name them
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, …), read
//! from `/proc/self` by `procfs` at each scrape. On a system without `/proc`
//! the metrics are simply absent.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Reads the process's figures when scraped.
#[derive(Debug, Default)]
struct ProcessCollector;

/// Registers the process metrics with `registry`.
pub fn register(registry: &mut Registry) {
    registry.register_collector(Box::new(ProcessCollector));
}

struct Reading {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    start_time_seconds: f64,
    open_fds: Option<usize>,
    max_fds: Option<u64>,
    threads: i64,
}

fn read() -> Option<Reading> {
    let me = procfs::process::Process::myself().ok()?;
    let stat = me.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    let boot = procfs::boot_time_secs().ok()? as f64;
    let max_fds = me.limits().ok().and_then(|l| match l.max_open_files.soft_limit {
        procfs::process::LimitValue::Value(v) => Some(v),
        procfs::process::LimitValue::Unlimited => None,
    });
    Some(Reading {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_bytes: stat.rss * procfs::page_size(),
        virtual_bytes: stat.vsize,
        start_time_seconds: boot + stat.starttime as f64 / ticks,
        open_fds: me.fd_count().ok(),
        max_fds,
        threads: stat.num_threads,
    })
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(r) = read() else { return Ok(()) };
        let cpu = ConstCounter::new(r.cpu_seconds);
        let help = "Total user and system CPU time spent in seconds";
        cpu.encode(encoder.encode_descriptor("process_cpu_seconds", help, None, cpu.metric_type())?)?;
        let e = &mut encoder;
        gauge(e, "process_resident_memory_bytes", "Resident memory size in bytes", r.resident_bytes as f64)?;
        gauge(e, "process_virtual_memory_bytes", "Virtual memory size in bytes", r.virtual_bytes as f64)?;
        let help = "Start time of the process since the Unix epoch in seconds";
        gauge(e, "process_start_time_seconds", help, r.start_time_seconds)?;
        if let Some(open) = r.open_fds {
            gauge(e, "process_open_fds", "Number of open file descriptors", open as f64)?;
        }
        if let Some(max) = r.max_fds {
            gauge(e, "process_max_fds", "Maximum number of open file descriptors", max as f64)?;
        }
        gauge(e, "process_threads", "Number of OS threads in the process", r.threads as f64)
    }
}

//! Load shapes: closed loop (N clients back to back) and open loop (a fixed
//! rate, latency counted from each request's scheduled time).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore};

/// Latencies in microseconds, and what went wrong.
pub struct Outcome {
    pub hist: Histogram<u64>,
    pub errors: u64,
    pub seconds: f64,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.hist.len() as f64 / self.seconds
    }

    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds are valid")
}

/// A request to send, built from a per-request number.
pub type MakeRequest = Arc<dyn Fn(u64) -> reqwest::RequestBuilder + Send + Sync>;

/// Decides from the status and body whether an answer counts as done.
pub type Check = Arc<dyn Fn(u16, &[u8]) -> bool + Send + Sync>;

/// Sends one request; `Ok(body)` on a non-5xx answer or, with `check`, on
/// one that passes it (the check sees every answer, 5xx included).
async fn send(request: reqwest::RequestBuilder, check: Option<&Check>) -> Result<Vec<u8>, ()> {
    let answer = request.send().await.map_err(|_| ())?;
    let status = answer.status().as_u16();
    if check.is_none() && status >= 500 {
        return Err(());
    }
    let body = answer.bytes().await.map_err(|_| ())?.to_vec();
    match check {
        Some(check) if !check(status, &body) => Err(()),
        _ => Ok(body),
    }
}

/// `clients` tasks send back to back for `secs`. A 4xx (a refused withdrawal)
/// is a served request; 5xx and transport errors are errors.
pub async fn closed(clients: usize, secs: f64, make: MakeRequest) -> Outcome {
    closed_checked(clients, secs, make, None).await
}

/// [`closed`], where an answer counts only if `check` passes (else it is an error).
pub async fn closed_checked(clients: usize, secs: f64, make: MakeRequest, check: Option<Check>) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let (stop, errors, make, check) = (stop.clone(), errors.clone(), make.clone(), check.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut k = c as u64;
            while !stop.load(Ordering::Relaxed) {
                k = k.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let started = Instant::now();
                match send(make(k), check.as_ref()).await {
                    Ok(_) => {
                        let _ = hist.record(started.elapsed().as_micros() as u64);
                    }
                    Err(()) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            hist
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut hist = histogram();
    for task in tasks {
        if let Ok(h) = task.await {
            let _ = hist.add(h);
        }
    }
    Outcome { hist, errors: errors.load(Ordering::Relaxed), seconds: started.elapsed().as_secs_f64() }
}

/// What a fixed-rate run measured.
pub struct FixedRate {
    /// From each request's scheduled send time: queueing included.
    pub scheduled: Outcome,
    /// From the actual send: service time only.
    pub service: Histogram<u64>,
    /// From a 2xx to the read that shows it (sampled), if probed.
    pub lag: Histogram<u64>,
    /// Probes that never saw their write (timed out, or answered other than 2xx).
    pub probe_failures: u64,
}

/// After a 2xx with this body, a probe returns how long until the write is
/// readable (e.g. a read with its consistency token).
pub type Probe = Arc<dyn Fn(Vec<u8>) -> ProbeFuture + Send + Sync>;
pub type ProbeFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Option<Duration>> + Send>>;

/// Sends at `rate` per second for `secs` (at most 1024 in flight); every
/// `probe_every`-th 2xx is handed to `probe`.
pub async fn fixed_rate(rate: f64, secs: f64, make: MakeRequest, probe: Option<(u64, Probe)>) -> FixedRate {
    fixed_rate_checked(rate, secs, make, probe, None).await
}

/// [`fixed_rate`], where an answer counts only if `check` passes.
pub async fn fixed_rate_checked(
    rate: f64,
    secs: f64,
    make: MakeRequest,
    probe: Option<(u64, Probe)>,
    check: Option<Check>,
) -> FixedRate {
    let hists = Arc::new(Mutex::new((histogram(), histogram(), histogram())));
    let errors = Arc::new(AtomicU64::new(0));
    let probe_failures = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(1024));
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let started = tokio::time::Instant::now();
    let end = started + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for i in 0u64.. {
        let at = started + interval * i as u32;
        if at >= end {
            break;
        }
        tokio::time::sleep_until(at).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
        let (hists, errors, make, probe, check) =
            (hists.clone(), errors.clone(), make.clone(), probe.clone(), check.clone());
        let probe_failures = probe_failures.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = send(make(i), check.as_ref()).await;
            let (scheduled, service) = (at.elapsed().as_micros() as u64, sent.elapsed().as_micros() as u64);
            drop(permit);
            match result {
                Ok(body) => {
                    let lag = match probe {
                        Some((every, probe)) if i % every == 0 => {
                            let lag = probe(body).await;
                            if lag.is_none() {
                                probe_failures.fetch_add(1, Ordering::Relaxed);
                            }
                            lag
                        }
                        _ => None,
                    };
                    let mut h = hists.lock().await;
                    let _ = h.0.record(scheduled);
                    let _ = h.1.record(service);
                    if let Some(lag) = lag {
                        let _ = h.2.record(lag.as_micros() as u64);
                    }
                }
                Err(()) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (scheduled, service, lag) =
        std::mem::replace(&mut *hists.lock().await, (histogram(), histogram(), histogram()));
    let scheduled = Outcome { hist: scheduled, errors: errors.load(Ordering::Relaxed), seconds };
    FixedRate { scheduled, service, lag, probe_failures: probe_failures.load(Ordering::Relaxed) }
}

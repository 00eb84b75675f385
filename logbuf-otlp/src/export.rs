//! The exporter thread: takes batches from a bounded queue and posts them, retrying.

use std::collections::VecDeque;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use prost::Message;

/// One export request on its way.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) batch: crate::mapping::LogBatch,
    /// Records counted in the stats (events and the journal's drop reports).
    pub(crate) records: u64,
}

/// The counters behind [`OtlpStats`](crate::OtlpStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) rejected_batches: AtomicU64,
    pub(crate) queued: AtomicU64,
}

/// The queue between the sink (worker thread) and the exporter thread.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) queue: VecDeque<Job>,
    /// The records of the job being posted, if any.
    pub(crate) in_flight: Option<u64>,
    /// The sink is gone: finish the queue, then stop.
    pub(crate) closed: bool,
    /// Bumped when the sink gives up on the queue and the job in flight (counting them as
    /// lost): the exporter then counts nothing for that job.
    pub(crate) abandoned: u64,
    /// Why the last records were lost, for the sink's error.
    pub(crate) last_loss: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Signalled on every change of `state`.
    pub(crate) changed: Condvar,
    pub(crate) counters: Counters,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something did, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `records` as lost for `why`.
    pub(crate) fn lose(&self, state: &mut State, records: u64, why: String) {
        if records > 0 {
            self.counters.lost.fetch_add(records, Ordering::Relaxed);
            state.last_loss = Some(why);
        }
    }
}

/// How the exporter talks to the collector.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) endpoint: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) min_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) retry_for: Duration,
    /// The `Resource` message, encoded once.
    pub(crate) resource: Vec<u8>,
}

/// What one post came to.
enum Outcome {
    /// 2xx; how many records the collector rejected (partial success).
    Delivered { rejected: u64, message: String },
    /// Worth another try after the wait, if it is given (429 and 5xx gateways' `Retry-After`).
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// Not worth another try.
    Refused { why: String },
}

/// The exporter thread's loop: until the sink is gone and the queue empty.
pub(crate) fn run(shared: Arc<Shared>, settings: Settings) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(settings.timeout))
        .user_agent(concat!("logbuf-otlp/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    loop {
        let (job, generation) = {
            let mut state = shared.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    state.in_flight = Some(job.records);
                    shared
                        .counters
                        .queued
                        .store(state.queue.len() as u64, Ordering::Relaxed);
                    break (job, state.abandoned);
                }
                if state.closed {
                    return;
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        deliver(&shared, &settings, &agent, job, generation);
        let mut state = shared.lock();
        state.in_flight = None;
        drop(state);
        shared.changed.notify_all();
    }
}

/// Posts `job` until it is delivered, refused, or past the retry bound; counts the result
/// unless the sink abandoned the job meanwhile.
fn deliver(shared: &Shared, settings: &Settings, agent: &ureq::Agent, job: Job, generation: u64) {
    let records = job.records;
    let body = encode(job.batch.encode(&settings.resource), settings.gzip);
    let start = Instant::now();
    let mut backoff = settings.min_backoff;
    let counters = &shared.counters;
    loop {
        counters.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = post(agent, settings, &body);
        let mut state = shared.lock();
        if state.abandoned != generation {
            return;
        }
        let (why, after) = match outcome {
            Outcome::Delivered { rejected, message } => {
                let rejected = rejected.min(records);
                counters
                    .exported
                    .fetch_add(records - rejected, Ordering::Relaxed);
                shared.lose(
                    &mut state,
                    rejected,
                    format!("the collector rejected {rejected} record(s): {message}"),
                );
                return;
            }
            Outcome::Refused { why } => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                counters.rejected_batches.fetch_add(1, Ordering::Relaxed);
                shared.lose(&mut state, records, format!("{why} (not retried)"));
                return;
            }
            Outcome::Retry { why, after } => (why, after),
        };
        counters.failures.fetch_add(1, Ordering::Relaxed);
        let wait = after.unwrap_or(backoff);
        if start.elapsed() + wait > settings.retry_for {
            shared.lose(
                &mut state,
                records,
                format!(
                    "{why}; gave up after {:?} of retries",
                    start.elapsed().as_millis() as f64 / 1e3
                ),
            );
            return;
        }
        // Wait, unless the sink abandons the job meanwhile.
        let deadline = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.abandoned != generation {
                return;
            }
        }
        drop(state);
        counters.retries.fetch_add(1, Ordering::Relaxed);
        backoff = (backoff * 2).min(settings.max_backoff);
    }
}

/// The request's protobuf bytes, gzipped if asked.
fn encode(bytes: Vec<u8>, gzip: bool) -> Vec<u8> {
    if !gzip {
        return bytes;
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing to a vector cannot fail.
    match encoder.write_all(&bytes).and_then(|()| encoder.finish()) {
        Ok(zipped) => zipped,
        Err(_) => bytes,
    }
}

fn post(agent: &ureq::Agent, settings: &Settings, body: &[u8]) -> Outcome {
    let mut request = agent
        .post(settings.endpoint.as_str())
        .header("content-type", "application/x-protobuf");
    if settings.gzip {
        request = request.header("content-encoding", "gzip");
    }
    for (name, value) in &settings.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut response = match request.send(body) {
        Ok(response) => response,
        Err(e @ (ureq::Error::BadUri(_) | ureq::Error::Http(_))) => {
            return Outcome::Refused {
                why: format!("cannot make the request: {e}"),
            };
        }
        Err(e) => {
            return Outcome::Retry {
                why: format!("cannot reach the collector: {e}"),
                after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    let bytes = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .unwrap_or_default();
    match status {
        200..=299 => {
            let (rejected, message) = match ExportLogsServiceResponse::decode(bytes.as_slice()) {
                Ok(ExportLogsServiceResponse {
                    partial_success: Some(partial),
                }) => (
                    u64::try_from(partial.rejected_log_records).unwrap_or(0),
                    partial.error_message,
                ),
                _ => (0, String::new()),
            };
            Outcome::Delivered { rejected, message }
        }
        // The retryable codes of the OTLP/HTTP specification.
        429 | 502 | 503 | 504 => Outcome::Retry {
            why: format!("the collector answered {status}"),
            after,
        },
        _ => Outcome::Refused {
            why: format!("the collector answered {status}{}", status_text(&bytes)),
        },
    }
}

/// The start of a refusal's body, if it is text (a protobuf `Status` is left out).
fn status_text(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text)
            if !text.trim().is_empty() && !text.chars().any(|c| c.is_control() && c != '\n') =>
        {
            let text: String = text.trim().chars().take(200).collect();
            format!(": {text}")
        }
        _ => String::new(),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = chrono::Utc::now() + chrono::Duration::seconds(120);
        let wait = retry_after(&later.to_rfc2822()).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(retry_after("soon"), None);
    }
}

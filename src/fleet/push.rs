//! Sending records to an ingest service from a native host (the CLI's `--push`, edge boxes
//! without a browser): a queue drained by a background thread in batches, retried with
//! exponential backoff and jitter until acknowledged, so analysis never waits on the network.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Record;

/// Most records in one batch.
pub(crate) const PUSH_BATCH_RECORDS: usize = 500;
/// Most records queued; beyond it the oldest are dropped (and counted).
pub(crate) const PUSH_QUEUE_CAP: usize = 100_000;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(30);

/// How a push ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Records the service acknowledged (stored now or before).
    pub acknowledged: usize,
    /// Records the service refused (400, 403, 413 of a single record): resending cannot help.
    pub refused: usize,
    /// Records dropped because the queue was full.
    pub dropped: usize,
    /// Records still queued when `finish` gave up waiting.
    pub unsent: usize,
    /// Failed attempts (network errors, 5xx, 401), each followed by a retry.
    pub retries: usize,
}

#[derive(Default)]
struct Shared {
    queue: VecDeque<Record>,
    closing: bool,
    deadline: Option<Instant>,
    summary: PushSummary,
}

/// A background sender. [`Pusher::send`] queues; [`Pusher::finish`] waits for the queue to drain.
pub struct Pusher {
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Pusher {
    /// Starts the sender thread for `url` (the service's `/v1/records`) with the screen's token.
    pub fn start(url: &str, token: &str) -> Self {
        let shared = Arc::new((Mutex::new(Shared::default()), Condvar::new()));
        let (url, token, inner) = (url.to_string(), token.to_string(), shared.clone());
        let thread = std::thread::spawn(move || drain(&url, &token, &inner));
        Pusher {
            shared,
            thread: Some(thread),
        }
    }

    pub fn send(&self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let (lock, wake) = &*self.shared;
        let mut shared = lock.lock().expect("the sender does not panic");
        shared.queue.extend(records);
        while shared.queue.len() > PUSH_QUEUE_CAP {
            shared.queue.pop_front();
            shared.summary.dropped += 1;
        }
        wake.notify_all();
    }

    /// Waits until every queued record is acknowledged or refused, or `patience` has passed.
    pub fn finish(mut self, patience: Duration) -> PushSummary {
        let (lock, wake) = &*self.shared;
        {
            let mut shared = lock.lock().expect("the sender does not panic");
            shared.closing = true;
            shared.deadline = Some(Instant::now() + patience);
            wake.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut shared = lock.lock().expect("the sender does not panic");
        shared.summary.unsent = shared.queue.len();
        shared.summary.clone()
    }
}

enum Outcome {
    Acknowledged,
    /// The service will never take these records.
    Refused(String),
    /// Try again later.
    Retry(String),
}

fn post(agent: &ureq::Agent, url: &str, token: &str, batch: &[Record]) -> Outcome {
    let body: String = batch.iter().map(|r| r.to_line() + "\n").collect();
    let response = agent
        .post(url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "application/x-ndjson")
        .send(body.as_str());
    match response {
        Ok(r) if r.status().is_success() => Outcome::Acknowledged,
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            match status {
                400 | 403 | 413 => Outcome::Refused(format!("{status}: {text}")),
                _ => Outcome::Retry(format!("{status}: {text}")),
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// Full jitter: a random wait up to the current backoff, so a fleet coming back after an
/// outage does not retry in step.
fn jittered(backoff: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    // A fresh RandomState is seeded from the OS: randomness enough for a retry delay.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let nanos = backoff.as_nanos().max(2) as u64;
    Duration::from_nanos(nanos / 2 + random % (nanos / 2))
}

fn drain(url: &str, token: &str, shared: &Arc<(Mutex<Shared>, Condvar)>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let (lock, wake) = &**shared;
    let mut backoff = FIRST_RETRY;
    loop {
        let batch: Vec<Record> = {
            let mut s = lock.lock().expect("the sender does not panic");
            while s.queue.is_empty() && !s.closing {
                s = wake.wait(s).expect("the sender does not panic");
            }
            if s.queue.is_empty() || s.deadline.is_some_and(|d| Instant::now() >= d) {
                return;
            }
            s.queue.iter().take(PUSH_BATCH_RECORDS).cloned().collect()
        };
        let outcome = post(&agent, url, token, &batch);
        let mut s = lock.lock().expect("the sender does not panic");
        match outcome {
            Outcome::Acknowledged => {
                s.queue.drain(..batch.len());
                s.summary.acknowledged += batch.len();
                backoff = FIRST_RETRY;
            }
            Outcome::Refused(why) => {
                eprintln!(
                    "glance: the ingest service refused {} records: {why}",
                    batch.len()
                );
                s.queue.drain(..batch.len());
                s.summary.refused += batch.len();
            }
            Outcome::Retry(why) => {
                s.summary.retries += 1;
                eprintln!("glance: push failed ({why}); retrying");
                let wait = jittered(backoff);
                backoff = (backoff * 2).min(LONGEST_RETRY);
                let until = Instant::now() + wait;
                // Sleep, but wake for `finish` (its deadline may be sooner).
                while Instant::now() < until {
                    if s.deadline.is_some_and(|d| Instant::now() >= d) {
                        return;
                    }
                    let left = until.saturating_duration_since(Instant::now());
                    s = wake
                        .wait_timeout(s, left)
                        .expect("the sender does not panic")
                        .0;
                }
            }
        }
    }
}

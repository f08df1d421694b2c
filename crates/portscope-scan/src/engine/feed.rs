//! How probes reach the engines' threads and how their answers come back: one lazy iterator
//! shared by every thread, taken a batch at a time so its lock is rare, and one set of sinks
//! behind a lock. Pure code, shared by the connect engines (Linux and Windows) and the SYN engine.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

use portscope_core::error::Result;

use crate::report::{Outcome, ScanStats};

/// Runs one engine thread per element of `workers` (what sets each thread apart: nothing, or its
/// source port), each pulling probes `batch` at a time from the one lazy iterator, and returns
/// their figures merged ([`merge`]). The sinks are shared: a call at a time, from any thread.
pub(crate) fn fan_out<I, W, E>(
    probes: I,
    workers: &[W],
    batch: usize,
    on_result: impl FnMut(SocketAddr, Outcome) + Send,
    on_progress: impl FnMut(u64) + Send,
    engine: E,
) -> Result<ScanStats>
where
    I: Iterator<Item = SocketAddr> + Send,
    W: Sync,
    E: Fn(&W, Batches<'_, I>, &mut dyn FnMut(SocketAddr, Outcome), &mut dyn FnMut(u64)) -> Result<ScanStats>
        + Sync,
{
    let shared = Mutex::new(probes);
    let sinks = Mutex::new((on_result, on_progress));
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .iter()
            .map(|worker| {
                let (shared, sinks, engine) = (&shared, &sinks, &engine);
                scope.spawn(move || {
                    engine(
                        worker,
                        Batches::new(shared, batch),
                        &mut |addr, outcome| (lock(sinks).0)(addr, outcome),
                        &mut |n| {
                            if n > 0 {
                                (lock(sinks).1)(n);
                            }
                        },
                    )
                })
            })
            .collect();
        join_all(handles)
    });
    merge(results)
}

/// The figures of engine threads that ran side by side as one: counts and peaks in flight add
/// up, the smoothed RTT is their mean, the variance and timeout the largest. The first thread
/// that failed fails the whole. `elapsed` is left to the caller, who knows when it all began.
fn merge(results: Vec<Result<ScanStats>>) -> Result<ScanStats> {
    let mut total = ScanStats::default();
    let mut srtts = Vec::new();
    for stats in results {
        let stats = stats?;
        total.probes += stats.probes;
        total.retries += stats.retries;
        total.deferred += stats.deferred;
        total.peak_in_flight += stats.peak_in_flight;
        total.timeout_us = total.timeout_us.max(stats.timeout_us);
        total.rttvar_us = total.rttvar_us.max(stats.rttvar_us);
        srtts.push(stats.srtt_us);
    }
    total.srtt_us = srtts.iter().sum::<u64>() / srtts.len().max(1) as u64;
    Ok(total)
}

/// Takes a poisoned lock anyway: a panicking engine thread is reported by `join`.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits for every engine thread of a scope and returns what each reported, a panicked thread
/// as an error (the scan fails rather than losing that thread's probes in silence).
fn join_all<T>(handles: Vec<std::thread::ScopedJoinHandle<'_, Result<T>>>) -> Vec<Result<T>> {
    handles
        .into_iter()
        .map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(portscope_core::error::Error::System(
                    "a scan thread panicked".into(),
                ))
            })
        })
        .collect()
}

/// One engine thread's view of the shared probe iterator: `size` probes at a time.
pub(crate) struct Batches<'a, I> {
    shared: &'a Mutex<I>,
    size: usize,
    buffer: VecDeque<SocketAddr>,
}

impl<'a, I> Batches<'a, I> {
    pub(crate) fn new(shared: &'a Mutex<I>, size: usize) -> Batches<'a, I> {
        Batches {
            shared,
            size: size.max(1),
            buffer: VecDeque::new(),
        }
    }
}

impl<I: Iterator<Item = SocketAddr>> Iterator for Batches<'_, I> {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        if self.buffer.is_empty() {
            self.buffer.extend(lock(self.shared).by_ref().take(self.size));
        }
        self.buffer.pop_front()
    }
}

/// Paces sends to at most `rate` per second. A late loop does not earn a burst: at most one
/// interval of credit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pacer {
    next_send: std::time::Instant,
}

impl Pacer {
    pub(crate) fn new(start: std::time::Instant) -> Pacer {
        Pacer { next_send: start }
    }

    /// Whether one probe may go now under `rate` (taking its slot when it may).
    pub(crate) fn take(&mut self, rate: f64, now: std::time::Instant) -> bool {
        if self.next_send > now {
            return false;
        }
        let interval = std::time::Duration::from_secs_f64(1.0 / rate);
        self.next_send = self.next_send.max(now.checked_sub(interval).unwrap_or(now)) + interval;
        true
    }

    /// How long until the next slot.
    pub(crate) fn until_next(&self, now: std::time::Instant) -> std::time::Duration {
        self.next_send.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_share_one_iterator_a_batch_at_a_time() {
        let all: Vec<SocketAddr> = (1..=10u16)
            .map(|p| SocketAddr::from(([198, 18, 0, 2], p)))
            .collect();
        let shared = Mutex::new(all.clone().into_iter());
        let mut a = Batches::new(&shared, 4);
        let mut b = Batches::new(&shared, 4);
        let first = a.next().unwrap();
        let from_b: Vec<_> = b.by_ref().collect();
        let rest: Vec<_> = a.collect();
        assert_eq!(first, all[0]);
        assert_eq!(rest, all[1..4]);
        assert_eq!(from_b, all[4..]);
    }

    #[test]
    fn the_pacer_allows_one_send_per_interval_and_no_burst() {
        let start = std::time::Instant::now();
        let mut p = Pacer::new(start);
        assert!(p.take(10.0, start));
        assert!(!p.take(10.0, start));
        let late = start + std::time::Duration::from_secs(5);
        assert!(p.take(10.0, late));
        assert!(p.take(10.0, late), "being late earns one interval of credit");
        assert!(!p.take(10.0, late), "and not fifty");
    }
}

//! How training and generation in one process share the cores.
//!
//! A training step runs two parts of its batch side by side, which keeps every pool
//! thread busy with training's products; a decode step's many small products then wait
//! behind them, and generation beside a job fell from 0.40 to 0.17 of its idle speed
//! (`bench/serve-concurrent.mjs`, share phase). So generation marks each step it runs,
//! and while one ran recently training runs its parts one after the other on a pool of
//! its own with one thread ([`on_one_core`]): the same numbers in the same order, and
//! the shared pool's threads free for generation's products. Beside a job a request
//! then decoded at 0.59-0.66 of its idle speed with inter-token p99 39-46 ms, against
//! 0.50-0.56 and 112-124 ms with the parts in turn on the shared pool, for the same
//! training step (about 1600 ms).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after a decode step generation still counts as running: longer than the
/// gap between two steps of a streamed request on a loaded machine, short enough that a
/// finished request gives the cores back to training within a step.
const RECENT: Duration = Duration::from_millis(250);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds after [`epoch`] (plus one, so 0 means never) of the latest decode step.
static LAST_DECODE: AtomicU64 = AtomicU64::new(0);

/// Records that a generation step is running now.
pub(crate) fn mark_decode() {
    let now = epoch().elapsed().as_micros() as u64 + 1;
    LAST_DECODE.fetch_max(now, Ordering::Relaxed);
}

/// `f` of each of `items`, in their order: side by side on the shared pool, or, while
/// generation ran recently, one after the other on [`on_one_core`]. Training's parts and
/// the eval pass's batches both go through it, so both leave generation the same room.
pub(crate) fn map_side_by_side<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    if decoding_recently() {
        on_one_core(|| items.iter().map(f).collect())
    } else {
        items.par_iter().map(f).collect()
    }
}

/// Runs `f` on a pool of one thread of its own (made on first use), so the rayon work
/// inside it stays on that thread and off the shared pool.
fn on_one_core<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static ONE: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    // Without the pool (a thread the OS would not start) the work runs on the shared one.
    match ONE.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(|_| "arkor-train-shared".into()).build().ok()) {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

#[cfg(test)]
thread_local! {
    /// What [`decoding_recently`] answers on this thread, whatever generation does.
    pub(crate) static ASSUME: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether a generation step ran within [`RECENT`].
pub(crate) fn decoding_recently() -> bool {
    #[cfg(test)]
    if let Some(assumed) = ASSUME.with(|a| a.get()) {
        return assumed;
    }
    let last = LAST_DECODE.load(Ordering::Relaxed);
    // Saturating: another thread may have marked a step after this one read the clock.
    last != 0 && (epoch().elapsed().as_micros() as u64 + 1).saturating_sub(last) < RECENT.as_micros() as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_decode_step_counts_as_recent() {
        super::mark_decode();
        assert!(super::decoding_recently());
    }
}

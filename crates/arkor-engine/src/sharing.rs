//! How training and generation in one process share the cores.
//!
//! A training step runs two parts of its batch side by side, which keeps every pool
//! thread busy with training's products; a decode step's many small products then wait
//! behind them, and generation beside a job fell from 0.40 to 0.17 of its idle speed
//! (`bench/serve-concurrent.mjs`, share phase). So while both run, each gets one core:
//! generation marks each step it runs, and while one ran recently training runs its
//! parts one after the other on a pool of one thread of its own ([`map_side_by_side`]),
//! with the same numbers in the same order; and while training works, a generation step
//! runs on another pool of one thread ([`decode_step`]). One decode stream barely gains
//! from a second thread (64-74 tok/s on two, 66-68 on one, `batch_bench`), while its two
//! threads beside training's one made three busy threads on two cores, where each
//! product waited for a thread the OS had parked. With one core each, a request beside a
//! job decoded at 0.68-0.87 of its idle speed and a step took 2.03-2.19x as long as
//! alone, against 0.66-0.72 and 2.15-2.22x with generation on both threads
//! (bench/README.md, "One core each while both run").

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
fn mark_decode() {
    let now = epoch().elapsed().as_micros() as u64 + 1;
    LAST_DECODE.fetch_max(now, Ordering::Relaxed);
}

/// `f` of each of `items`, in their order: side by side on the shared pool, or, while
/// generation ran recently, one after the other on [`on_one_core`]. Training's parts and
/// the eval pass's batches both go through it, so both leave generation the same room.
pub(crate) fn map_side_by_side<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    let _working = Training::start();
    if decoding_recently() {
        on_one_core(&TRAIN_POOL, "arkor-train-shared", || items.iter().map(f).collect())
    } else {
        items.par_iter().map(f).collect()
    }
}

/// Runs one generation step `f`, marked as such ([`decoding_recently`]): on the shared
/// pool, or, while training works, on a pool of one thread of its own, so the two take
/// one core each instead of time-slicing three threads on two.
pub(crate) fn decode_step<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    mark_decode();
    if TRAINING.load(Ordering::Relaxed) > 0 {
        on_one_core(&GEN_POOL, "arkor-gen-shared", f)
    } else {
        f()
    }
}

/// Training's pool while generation runs, and generation's while training works.
static TRAIN_POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
static GEN_POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();

/// How many [`map_side_by_side`] calls (a step's parts, an eval pass's batches) are
/// running now.
static TRAINING: AtomicUsize = AtomicUsize::new(0);

/// Counts one [`map_side_by_side`] call in [`TRAINING`] while it lives.
struct Training;
impl Training {
    fn start() -> Self {
        TRAINING.fetch_add(1, Ordering::Relaxed);
        Training
    }
}
impl Drop for Training {
    fn drop(&mut self) {
        TRAINING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `f` on a pool of one thread of its own (made on first use), so the rayon work
/// inside it stays on that thread and off the shared pool.
fn on_one_core<R: Send>(pool: &'static OnceLock<Option<rayon::ThreadPool>>, name: &'static str, f: impl FnOnce() -> R + Send) -> R {
    // Without the pool (a thread the OS would not start) the work runs on the shared one.
    match pool.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(move |_| name.into()).build().ok()) {
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
        super::decode_step(|| ());
        assert!(super::decoding_recently());
    }

    // Only the side with training at work: other tests in this binary train at the
    // same time, so "no training now" cannot be arranged here.
    #[test]
    fn while_training_works_generation_runs_on_one_thread_of_its_own() {
        let seen = super::map_side_by_side(&[()], |_| {
            super::decode_step(|| (std::thread::current().name().map(String::from), rayon::current_num_threads()))
        });
        assert_eq!(seen, vec![(Some("arkor-gen-shared".to_string()), 1)]);
    }
}

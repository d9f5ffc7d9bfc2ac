//! candle's thread count, settled when the addon loads, before candle starts threads.
//!
//! candle hands element-wise CPU ops to its own spinning worker threads
//! (`CANDLE_NUM_THREADS`, default one per core), which on a machine with few cores
//! compete with the training kernels' rayon threads: a bf16 training step of
//! gemma-3-270m ran ~10% faster on 2 cores with those ops kept on the calling thread
//! (matrix products and the engine's kernels still use every core). candle reads only
//! the environment, once, on first use, so the default is set there; a value the
//! user set wins.

/// What the addon runs candle with unless `CANDLE_NUM_THREADS` says otherwise.
const DEFAULT: &str = "1";

#[napi_derive::module_init]
fn default_candle_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // Runs while Node loads the addon on its main thread, before any engine
        // thread exists.
        std::env::set_var("CANDLE_NUM_THREADS", DEFAULT);
    }
}

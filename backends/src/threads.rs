//! How many CPU threads the ndarray backend uses.
//!
//! The patched burn-ndarray (`backends/vendor/PATCHED.md`) splits large matrix products (by
//! rows, columns or batch entries) and large element-wise operations (by ranges of elements)
//! over its own threads, sized once per process from `MATMUL_NUM_THREADS` (1 to 4). Every part
//! computes whole output elements with the same operations in the same order as one thread, so
//! results are bit-identical for every thread count (tested). The calling thread works on one
//! part and hands the others to helper threads that spin briefly between operations: a
//! training step runs thousands of operations of tens of microseconds, too short for a thread
//! wake-up each.
//!
//! The default is every core the process may use, at most 4, chosen by measurement
//! (docs/performance.md): on two cores the second thread makes the demo model's training step
//! about a third faster and its decoding no slower.

/// The environment variable the backend reads once, at its first large operation.
pub const MATMUL_THREADS_VAR: &str = "MATMUL_NUM_THREADS";

/// The most threads the backend uses for one operation.
pub const MAX_MATMUL_THREADS: usize = 4;

/// Threads when nothing says otherwise: the available parallelism, at most
/// [`MAX_MATMUL_THREADS`] (see the module documentation).
pub fn default_cpu_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_MATMUL_THREADS)
}

/// Runs at a time that fill the cores without sharing them: the cores the process may use
/// divided by the backend's `threads` per run, at least 1 (one run of two threads on two
/// cores). More runs than that make the helper threads of the run that holds them, which spin
/// between operations, compete with the other runs for the cores (docs/performance.md).
pub fn runs_at_a_time(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / threads.max(1)).max(1)
}

/// Sets the backend's thread count (clamped to 1..=[`MAX_MATMUL_THREADS`]) for this process
/// and returns it. Call it before the first tensor operation (the threads are started at the
/// first large one) and before other threads start, e.g. first thing in `main`.
pub fn set_cpu_threads(threads: usize) -> usize {
    let threads = threads.clamp(1, MAX_MATMUL_THREADS);
    // SAFETY: called at start-up, before any other thread of this process reads or writes the
    // environment (documented requirement of this function).
    unsafe { std::env::set_var(MATMUL_THREADS_VAR, threads.to_string()) };
    threads
}

/// The thread count for this process: [`MATMUL_THREADS_VAR`] when it is set (clamped), else
/// [`default_cpu_threads`]. (`lcia` and the benchmarks set the variable from it; a library user
/// who sets nothing gets the backend's own default, the same.)
pub fn cpu_threads() -> usize {
    std::env::var(MATMUL_THREADS_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or_else(default_cpu_threads, |n| n.clamp(1, MAX_MATMUL_THREADS))
}

//! How many CPU threads the ndarray backend's matrix products use.
//!
//! burn-ndarray multiplies through `matrixmultiply`, built here with its `threading` feature:
//! it splits each product's output blocks over a pool sized once per process from
//! `MATMUL_NUM_THREADS` (1 to 4). Each output element is still summed by one thread in the same
//! order, so results are bit-identical for every thread count (tested). The element-wise ops
//! stay on the calling thread.
//!
//! The default is one thread, chosen by measurement (docs/performance.md): on two cores a
//! second product thread makes the demo model's training step slower and its decoding much
//! slower (the products are small, the pool's hand-offs are not), and makes the 68.6 M-parameter
//! model's step 17 % (AMD EPYC) to 25 % (Intel Xeon) faster. Larger models and machines with
//! more cores may gain more: `lcia --threads N` or `MATMUL_NUM_THREADS=N`.

/// The environment variable `matrixmultiply` reads once, at its first product.
pub const MATMUL_THREADS_VAR: &str = "MATMUL_NUM_THREADS";

/// The most threads `matrixmultiply` uses for one product.
pub const MAX_MATMUL_THREADS: usize = 4;

/// Product threads when nothing says otherwise (see the module documentation).
pub const DEFAULT_CPU_THREADS: usize = 1;

/// Sets the matrix-product thread count (clamped to 1..=[`MAX_MATMUL_THREADS`]) for this
/// process and returns it. Call it before the first tensor operation (the pool is sized at the
/// first product) and before other threads start, e.g. first thing in `main`.
pub fn set_cpu_threads(threads: usize) -> usize {
    let threads = threads.clamp(1, MAX_MATMUL_THREADS);
    // SAFETY: called at start-up, before any other thread of this process reads or writes the
    // environment (documented requirement of this function).
    unsafe { std::env::set_var(MATMUL_THREADS_VAR, threads.to_string()) };
    threads
}

/// The thread count for this process: [`MATMUL_THREADS_VAR`] when it is set (clamped), else
/// [`DEFAULT_CPU_THREADS`]. (`lcia` and the benchmarks set the variable from it; a library user
/// who sets nothing gets `matrixmultiply`'s own default, the physical core count.)
pub fn cpu_threads() -> usize {
    std::env::var(MATMUL_THREADS_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(DEFAULT_CPU_THREADS, |n| n.clamp(1, MAX_MATMUL_THREADS))
}

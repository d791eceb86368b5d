//! lcia patch: the backend's own CPU threads for large element-wise operations and matrix
//! products.
//!
//! The thread count is read once, at the first large operation, from `MATMUL_NUM_THREADS`
//! (1 to 4; unset: the available parallelism, at most 4). Work is only ever split into parts
//! that each compute whole output elements with the same operations as one thread would, so
//! every result is the same bit for bit whatever the thread count.
//!
//! The operations are short (tens of microseconds), so the hand-off must be cheaper than a
//! thread wake-up: the calling thread works on the first part itself and posts the others to
//! `threads - 1` helper threads, which spin for a while after each part before they sleep. One
//! caller at a time: an operation that finds the helpers busy (another thread of the process
//! is using them) runs all its parts on its own thread.

use core::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The variable the thread count is read from.
const THREADS_VAR: &str = "MATMUL_NUM_THREADS";
/// The most threads used for one operation.
const MAX_THREADS: usize = 4;
/// How long a helper waits for the next part, spinning, before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// A part posted to a helper: the work (lifetime erased) and the part's index.
type Job = (*const (dyn Fn(usize) + Sync), usize);

/// What a helper and the thread posting to it share.
struct Slot {
    /// The posted part (null when none); written by the poster, taken by the helper.
    job: AtomicPtr<Job>,
    /// Set by the helper when the part has finished (or panicked: `panicked`).
    done: AtomicBool,
    panicked: AtomicBool,
    /// Set by the helper while it sleeps (the poster then wakes it).
    sleeping: AtomicBool,
}

struct Helper {
    slot: Arc<Slot>,
    thread: Thread,
}

/// The thread count and, above one thread, the helper threads (locked by the one caller).
struct Pool {
    threads: usize,
    helpers: Mutex<Vec<Helper>>,
}

static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let threads = std::env::var(THREADS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, MAX_THREADS);
        let helpers: Vec<Helper> = (1..threads).filter_map(|i| spawn_helper(i).ok()).collect();
        Pool {
            threads: helpers.len() + 1,
            helpers: Mutex::new(helpers),
        }
    })
}

fn spawn_helper(index: usize) -> std::io::Result<Helper> {
    let slot = Arc::new(Slot {
        job: AtomicPtr::new(core::ptr::null_mut()),
        done: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
        sleeping: AtomicBool::new(false),
    });
    let shared = slot.clone();
    let handle = std::thread::Builder::new()
        .name(format!("burn-ndarray-{index}"))
        .spawn(move || helper_loop(&shared))?;
    Ok(Helper {
        slot,
        thread: handle.thread().clone(),
    })
}

fn helper_loop(slot: &Slot) {
    loop {
        let job = wait_for_job(slot);
        // SAFETY: the poster keeps the job and its work alive until `done` is set.
        let (work, part) = unsafe { *job };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            (*work)(part)
        }));
        slot.panicked.store(result.is_err(), SeqCst);
        slot.done.store(true, SeqCst);
    }
}

/// Spins for [`SPIN`], then sleeps, until a part is posted; takes it.
fn wait_for_job(slot: &Slot) -> *mut Job {
    let mut since = Instant::now();
    let mut spins = 0u32;
    loop {
        let job = slot.job.swap(core::ptr::null_mut(), SeqCst);
        if !job.is_null() {
            return job;
        }
        spins = spins.wrapping_add(1);
        if spins % 64 != 0 || since.elapsed() < SPIN {
            core::hint::spin_loop();
            continue;
        }
        slot.sleeping.store(true, SeqCst);
        if slot.job.load(SeqCst).is_null() {
            std::thread::park();
        }
        slot.sleeping.store(false, SeqCst);
        since = Instant::now();
    }
}

/// How many parts `units` of work split into when a part should hold at least `min_units`
/// (1 when the backend runs on one thread or the work is small).
pub(crate) fn parts(units: usize, min_units: usize) -> usize {
    if units < 2 * min_units.max(1) {
        return 1;
    }
    pool().threads.min(units / min_units.max(1)).max(1)
}

/// Runs `work(part)` for every part in `0..parts`, the first on the calling thread, the others
/// on the helper threads (all on the calling thread when they are busy), and returns when all
/// have finished.
pub(crate) fn run(parts: usize, work: impl Fn(usize) + Sync) {
    if parts < 2 {
        return (0..parts).for_each(work);
    }
    let helpers = match pool().helpers.try_lock() {
        Ok(helpers) if !helpers.is_empty() => helpers,
        _ => return (0..parts).for_each(work),
    };
    let posted = (parts - 1).min(helpers.len());
    let work: &(dyn Fn(usize) + Sync) = &work;
    // SAFETY (lifetime): every posted part has finished before this function returns.
    let work: *const (dyn Fn(usize) + Sync) = unsafe { core::mem::transmute(work) };
    let mut jobs: Vec<Job> = (0..posted).map(|i| (work, i + 1)).collect();
    for (helper, job) in helpers.iter().zip(jobs.iter_mut()) {
        helper.slot.done.store(false, SeqCst);
        helper.slot.job.store(job, SeqCst);
        if helper.slot.sleeping.load(SeqCst) {
            helper.thread.unpark();
        }
    }
    // SAFETY: `work` points to the caller's closure, alive for this whole function.
    let local = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        for part in (posted + 1..parts).chain(0..1) {
            unsafe { (*work)(part) };
        }
    }));
    let mut panicked = false;
    for helper in helpers.iter().take(posted) {
        let mut spins = 0u32;
        while !helper.slot.done.load(SeqCst) {
            spins = spins.wrapping_add(1);
            if spins < 1 << 12 {
                core::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        panicked |= helper.slot.panicked.load(SeqCst);
    }
    drop(helpers);
    if let Err(payload) = local {
        std::panic::resume_unwind(payload);
    }
    assert!(!panicked, "a part of a parallel operation panicked on a helper thread");
}

/// The range of part `part` when `len` items are split into `parts` parts whose sizes are
/// multiples of `align` (except the last).
pub(crate) fn range(len: usize, parts: usize, part: usize, align: usize) -> Range<usize> {
    let align = align.max(1);
    let per = len.div_ceil(parts).div_ceil(align) * align;
    (part * per).min(len)..((part + 1) * per).min(len)
}

/// A raw pointer that may cross to the helper threads: every part writes a disjoint region.
pub(crate) struct SendPtr<T>(pub(crate) *mut T);

// Copied whatever `T` is (a derive would ask `T: Copy`).
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}

// SAFETY: the parts of one operation write disjoint elements through it, and `run` returns
// only after every part has finished.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}

/// Runs `work(range, chunk)` for `parts` disjoint ranges of `slice` (multiples of 16 elements,
/// the last one shorter), each chunk being `slice[range]`.
pub(crate) fn for_chunks<T: Send>(
    slice: &mut [T],
    parts: usize,
    work: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    let len = slice.len();
    let ptr = SendPtr(slice.as_mut_ptr());
    run(parts, |part| {
        let range = range(len, parts, part, 16);
        let ptr = ptr;
        // SAFETY: the ranges of the parts are disjoint and inside the slice, which `run`
        // outlives.
        let chunk =
            unsafe { core::slice::from_raw_parts_mut(ptr.0.add(range.start), range.len()) };
        work(range, chunk);
    });
}

/// Applies `f` to every element of `slice` in place, in parts.
pub(crate) fn map_in_place<E: Copy + Send + Sync>(
    slice: &mut [E],
    parts: usize,
    f: &(impl Fn(E) -> E + Sync),
) {
    for_chunks(slice, parts, |_, chunk| {
        for x in chunk {
            *x = f(*x);
        }
    });
}

/// `f` of every element of `src`, in the same order, into a new vector, in parts.
pub(crate) fn map_to_vec<E: Copy + Send + Sync>(
    src: &[E],
    parts: usize,
    f: &(impl Fn(E) -> E + Sync),
) -> Vec<E> {
    let mut out: Vec<E> = Vec::with_capacity(src.len());
    for_chunks(&mut out.spare_capacity_mut()[..src.len()], parts, |range, dst| {
        for (d, &s) in dst.iter_mut().zip(&src[range]) {
            d.write(f(s));
        }
    });
    // SAFETY: every element was written above.
    unsafe { out.set_len(src.len()) };
    out
}

/// `f(a, b)` of every pair of elements of `a` and `b`, written over `a`, in parts.
pub(crate) fn zip_in_place<E: Copy + Send + Sync>(
    a: &mut [E],
    b: &[E],
    parts: usize,
    f: &(impl Fn(E, E) -> E + Sync),
) {
    for_chunks(a, parts, |range, chunk| {
        for (x, &y) in chunk.iter_mut().zip(&b[range]) {
            *x = f(*x, y);
        }
    });
}

/// `f(a, b)` of every pair of elements of `a` and `b` into a new vector, in parts.
pub(crate) fn zip_to_vec<E: Copy + Send + Sync>(
    a: &[E],
    b: &[E],
    parts: usize,
    f: &(impl Fn(E, E) -> E + Sync),
) -> Vec<E> {
    let mut out: Vec<E> = Vec::with_capacity(a.len());
    for_chunks(&mut out.spare_capacity_mut()[..a.len()], parts, |range, dst| {
        for ((d, &x), &y) in dst.iter_mut().zip(&a[range.clone()]).zip(&b[range]) {
            d.write(f(x, y));
        }
    });
    // SAFETY: every element was written above.
    unsafe { out.set_len(a.len()) };
    out
}

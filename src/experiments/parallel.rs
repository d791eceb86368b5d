//! Running independent jobs a few at a time on their own threads. The CPU backend's helper
//! threads serve one run at a time and spin between its operations, so runs × threads per
//! run should not exceed the cores (`lcia_backends::runs_at_a_time`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `jobs` of `work` at a time on their own threads, keeping the input order.
pub fn in_parallel<T: Send, J: Sync>(
    jobs: usize,
    work: &[J],
    f: impl Fn(&J) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = work.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, work.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = work.get(i) else { break };
                    let value = f(job);
                    *slots[i].lock().expect("no worker panics holding a slot") = Some(value);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|s| {
            s.into_inner()
                .expect("no poisoned slot")
                .expect("every job ran")
        })
        .collect()
}

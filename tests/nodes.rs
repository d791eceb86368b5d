//! Runs over several processes: two `lcia run` processes on this machine joined through
//! `lcia orchestrator` over loopback, against one device; and a peer killed mid-run.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lcia::continual::RunOptions;
use lcia::continual::manifest::Manifest;

use crate::pipeline::{run_config, temp_dir, three_tasks};

fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

fn lcia(args: &[&str], log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lcia"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for `child` until `deadline`; kills it and fails past it.
fn finish(child: &mut Child, deadline: Instant, what: &str) -> std::process::ExitStatus {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not stop in time");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The processes of a test, killed when it ends, also when an assertion fails.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts an orchestrator and an `lcia run` of a two-node run for each of `ranks` (run
/// directory `{tag}-node{rank}`, log beside it); returns them, the orchestrator first.
fn start(dir: &Path, config: &Path, tag: &str, timeout: &str, ranks: &[usize]) -> Processes {
    let port = free_port().to_string();
    let orchestrator = format!("ws://127.0.0.1:{port}");
    let log = dir.join(format!("{tag}-orchestrator.log"));
    let mut children = vec![lcia(&["orchestrator", "--port", &port], &log)];
    std::thread::sleep(Duration::from_millis(500));
    for rank in ranks {
        let address = format!("ws://127.0.0.1:{}", free_port());
        let out = dir.join(format!("{tag}-node{rank}"));
        let rank = rank.to_string();
        let args = [
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--nodes",
            "2",
            "--node-rank",
            &rank,
            "--orchestrator",
            &orchestrator,
            "--node-address",
            &address,
            "--peer-timeout",
            timeout,
        ];
        let log = dir.join(format!("{tag}-node{rank}.log"));
        children.push(lcia(&args, &log));
    }
    Processes(children)
}

#[test]
fn a_node_without_its_peer_stops_within_the_time_out_and_writes_no_task() {
    let dir = temp_dir("lone-node");
    let config = three_tasks(&dir);
    let started = Instant::now();
    let mut processes = start(&dir, &config, "lone", "3", &[0]);
    let (out, log) = (dir.join("lone-node0"), dir.join("lone-node0.log"));
    let status = finish(
        &mut processes.0[1],
        started + Duration::from_secs(60),
        "the lone node",
    );
    drop(processes);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success());
    assert!(
        text.contains("joining the collective: no answer from the other replicas within 3 s"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    // No task was committed: no manifest, no checkpoint.
    assert!(!out.join("manifest.json").exists());
    assert!(!out.join("checkpoints").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Needs the patched burn-collective and burn-communication (backends/vendor/PATCHED.md): the
/// releases hang on the second all-reduce between processes.
#[test]
fn two_processes_reproduce_one_device_and_a_lost_peer_stops_the_other() {
    let dir = temp_dir("nodes");
    let config = three_tasks(&dir);
    let one = run_config(&config, &dir.join("one"), &RunOptions::default()).unwrap();

    let mut processes = start(&dir, &config, "pair", "60", &[0, 1]);
    let deadline = Instant::now() + Duration::from_secs(300);
    for (rank, child) in processes.0.iter_mut().enumerate().skip(1) {
        let status = finish(child, deadline, "a node");
        let log = std::fs::read_to_string(dir.join(format!("pair-node{}.log", rank - 1)));
        assert!(
            status.success(),
            "node {}: {}",
            rank - 1,
            log.unwrap_or_default()
        );
    }
    drop(processes);
    for rank in 0..2 {
        let manifest = Manifest::read(&dir.join(format!("pair-node{rank}"))).unwrap();
        let rows: Vec<_> = manifest
            .finished
            .iter()
            .map(|r| r.accuracies.clone())
            .collect();
        let expected: Vec<_> = one
            .manifest
            .finished
            .iter()
            .map(|r| r.accuracies.clone())
            .collect();
        assert_eq!(rows, expected, "node {rank}: accuracy matrix");
        for (a, b) in one.manifest.finished.iter().zip(&manifest.finished) {
            let (la, lb) = (a.final_loss.unwrap(), b.final_loss.unwrap());
            assert!(
                (la - lb).abs() <= 1e-5 * la.abs(),
                "node {rank} {}: {la} vs {lb}",
                a.task
            );
            assert_eq!(b.devices, [format!("node {rank}/2: Cpu")]);
        }
    }

    // Kill node 1 once the second task trains: node 0 stops at once (the collective's
    // connection breaks) or at the latest after the time-out, naming the lost peer, and its
    // first task's checkpoint and manifest stay as committed.
    let mut processes = start(&dir, &config, "lost", "5", &[0, 1]);
    let log0 = dir.join("lost-node0.log");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&log0)
        .unwrap_or_default()
        .contains("task 2/3")
    {
        assert!(Instant::now() < deadline, "node 0 never reached task 2");
        std::thread::sleep(Duration::from_millis(50));
    }
    processes.0[2].kill().unwrap();
    let killed = Instant::now();
    let status = finish(
        &mut processes.0[1],
        killed + Duration::from_secs(60),
        "node 0",
    );
    let waited = killed.elapsed();
    drop(processes);
    let log = std::fs::read_to_string(&log0).unwrap();
    assert!(!status.success());
    assert!(
        log.contains("a peer process") && log.contains("the last finished task's checkpoint"),
        "{log}"
    );
    assert!(waited < Duration::from_secs(30), "stopped after {waited:?}");
    let manifest = Manifest::read(&dir.join("lost-node0")).unwrap();
    assert_eq!(manifest.finished.len(), 1);
    let checkpoint = dir
        .join("lost-node0")
        .join(&manifest.finished[0].checkpoint);
    lcia::adapters::io::check_finite_parameter_set(&checkpoint).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

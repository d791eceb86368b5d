//! Data-parallel training of one task: one model replica per device, each in its own thread,
//! each training on its share of every micro-batch; the replicas sum their gradients through
//! burn's collective all-reduce ([`super::sync`]) and apply the same AdamW step and the same
//! balanced-EMA update, so they stay bit-identical.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burn::collective::{CollectiveConfig, PeerId};
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;

use super::record::TrainReport;
use super::step::StepState;
use super::sync::CollectivePeer;
use super::trainer::{Shard, TaskData, TrainConfig, run_task};
use crate::data::ImagePreprocess;
use crate::data::sample::TrainSample;
use crate::dema::DemaConfig;
use crate::model::llava::Llava;

/// burn's local collective server is one per backend and process: one data-parallel task at a
/// time.
static COLLECTIVE: Mutex<()> = Mutex::new(());

/// Where this process stands in a run over several processes (burn-collective's global mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlacement {
    /// This process's rank, `0..nodes`; its replicas' peer ids start at `rank × devices`.
    pub rank: usize,
    /// Processes taking part.
    pub nodes: usize,
    /// The orchestrator's address (`ws://host:port`).
    pub orchestrator: String,
    /// This process's address as its peers reach it (`ws://host:port`).
    pub address: String,
    /// The port this process serves its tensors on.
    pub data_port: u16,
    /// How long a collective call may wait for the other processes before the run stops with
    /// an error.
    pub timeout: Duration,
}

/// [`crate::train::train_task`] on several devices of this process and, with a node
/// placement, of other processes: returns this process's first replica's model and report.
///
/// # Faithfulness
/// Each micro-batch of `batch_size` samples is split into contiguous shares, one per replica;
/// a replica's loss is its share's summed token loss divided by the supervised tokens of the
/// whole micro-batch, so the summed gradient is exactly the one-device gradient (up to float
/// summation order). Extra loss terms (EWC, LwF, O-LoRA) are not supported on several devices.
pub fn train_task_parallel<B: AutodiffBackend>(
    model: Llava<B>,
    samples: &[TrainSample],
    config: &TrainConfig,
    dema: Option<&DemaConfig>,
    images: &ImagePreprocess,
    pad_id: i64,
    (devices, node): (&[B::Device], Option<&NodePlacement>),
) -> crate::Result<(Llava<B>, TrainReport)> {
    let data = TaskData {
        samples,
        images,
        pad_id,
    };
    let mut replicas = train_replicas(model, &data, config, dema, devices, node)?;
    Ok(replicas.swap_remove(0))
}

/// Trains one replica per device of this process and returns every replica's model and report,
/// in device order (the tests compare them). With `node`, the replicas join the replicas of the
/// other processes through the orchestrator.
pub fn train_replicas<B: AutodiffBackend>(
    model: Llava<B>,
    data: &TaskData<'_>,
    config: &TrainConfig,
    dema: Option<&DemaConfig>,
    devices: &[B::Device],
    node: Option<&NodePlacement>,
) -> crate::Result<Vec<(Llava<B>, TrainReport)>> {
    if devices.is_empty() {
        return Err(crate::Error::Parallel("no device to train on".into()));
    }
    let nodes = node.map_or(1, |n| n.nodes);
    let first_peer = node.map_or(0, |n| n.rank * devices.len());
    let replicas = devices.len() * nodes;
    let collective = collective_config(devices.len(), node)?;
    let _one_at_a_time = COLLECTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let peak_rates = (config.lr_lora, config.lr_projector);
    let abort = Arc::new(AtomicBool::new(false));
    let results: Vec<crate::Result<(Llava<B>, TrainReport)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(local, device)| {
                let replica = model.clone().fork(device);
                let collective = collective.clone();
                let peer = CollectivePeer {
                    id: PeerId::from(first_peer + local),
                    replicas,
                    timeout: node.map(|n| n.timeout),
                    abort: abort.clone(),
                };
                let shard = Shard {
                    rank: first_peer + local,
                    replicas,
                };
                scope.spawn(move || {
                    let (id, joining) = (peer.id, device.clone());
                    let result = peer
                        .within("joining the collective", move || {
                            burn::collective::register::<B::InnerBackend>(id, joining, collective)
                        })
                        .and_then(|()| {
                            let state = StepState::<B>::new(config.weight_decay, dema, peak_rates)
                                .with_sync(Box::new(peer.clone()));
                            run_task(replica, data, config, state, device, shard)
                        });
                    match &result {
                        // The replicas of this process waiting for this one stop too (those of
                        // other processes stop at their time-out).
                        Err(_) => peer.stop_others(),
                        Ok(_) => {
                            let _ = burn::collective::finish_collective::<B::InnerBackend>(id);
                        }
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    Err(crate::Error::Parallel("a replica's thread panicked".into()))
                })
            })
            .collect()
    });
    if node.is_none() {
        burn::collective::reset_collective::<B::InnerBackend>();
    }
    first_cause(results)
}

/// Every replica's result, or the error that stopped the task: a replica's own error (bad data,
/// a non-finite loss) before the collective errors of the replicas it left waiting.
fn first_cause<T>(results: Vec<crate::Result<T>>) -> crate::Result<Vec<T>> {
    let mut values = Vec::with_capacity(results.len());
    let mut collective = None;
    for result in results {
        match result {
            Ok(value) => values.push(value),
            Err(error @ crate::Error::Parallel(_)) => {
                collective.get_or_insert(error);
            }
            Err(error) => return Err(error),
        }
    }
    match collective {
        Some(error) => Err(error),
        None => Ok(values),
    }
}

/// burn-collective's configuration for `devices` replicas in this process and, with `node`, the
/// global mode's addresses.
fn collective_config(
    devices: usize,
    node: Option<&NodePlacement>,
) -> crate::Result<CollectiveConfig> {
    let config = CollectiveConfig::default().with_num_devices(devices);
    let Some(node) = node else {
        return Ok(config);
    };
    let address = |what: &str, text: &str| {
        text.parse()
            .map_err(|error| crate::Error::Parallel(format!("{what} '{text}': {error}")))
    };
    Ok(config
        .with_num_nodes(node.nodes as u32)
        .with_global_address(address("orchestrator address", &node.orchestrator)?)
        .with_node_address(address("node address", &node.address)?)
        .with_data_service_port(node.data_port))
}

/// The devices a task trained on, as the manifest records them: empty on one device, else each
/// replica of this process and, over several processes, the node's rank.
pub fn describe_layout<B: AutodiffBackend>(
    devices: &[B::Device],
    node: Option<&NodePlacement>,
) -> Vec<String> {
    let here = devices.iter().map(|d| format!("{d:?}"));
    match node {
        Some(n) => here
            .map(|d| format!("node {}/{}: {d}", n.rank, n.nodes))
            .collect(),
        None if devices.len() > 1 => here.collect(),
        None => Vec::new(),
    }
}

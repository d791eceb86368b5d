//! Sharing one step between data-parallel replicas: each replica's gradients of the trainable
//! tensors, and the step's loss and token counts, are summed over all replicas in ONE
//! collective call, so every replica applies the same AdamW step and the same balanced-EMA
//! update from the same reduced gradient.
//!
//! The tensors travel in the model's module order (field order, the same in every process),
//! never in [`burn::module::ParamId`] order: parameter ids are drawn at random when a model is
//! loaded, so two processes would pair different tensors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use burn::collective::{PeerId, ReduceOperation};
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;

/// Sums values over the replicas of a data-parallel run; every replica gets the same result.
pub trait GradientSync<B: AutodiffBackend>: Send {
    /// The element-wise sum of `values` over all replicas (called by every replica, in the same
    /// order, with tensors of the same shape).
    fn sum(&self, values: Tensor<B::InnerBackend, 1>) -> crate::Result<Tensor<B::InnerBackend, 1>>;
}

/// One replica of a run on burn's collective operations (`burn::collective`): the devices of
/// one process, and through its global mode several processes.
#[derive(Debug, Clone)]
pub struct CollectivePeer {
    /// This replica's peer id, unique over all processes.
    pub id: PeerId,
    /// Replicas over all processes.
    pub replicas: usize,
    /// How long a collective call may wait for the other replicas (several processes: a peer
    /// that stopped never answers); `None` waits as long as it takes.
    pub timeout: Option<Duration>,
    /// Set by a replica of this process that stopped with an error: the others stop waiting.
    pub abort: Arc<AtomicBool>,
}

/// What a failed collective call leaves behind.
const NOTHING_WRITTEN: &str = "nothing of the unfinished task was written, the last finished \
     task's checkpoint stays valid (--resume continues from it)";

impl CollectivePeer {
    /// Tells the other replicas of this process that this one stopped.
    pub fn stop_others(&self) {
        self.abort.store(true, Ordering::SeqCst);
    }

    /// Runs `call` (a collective call of this replica), giving up after the peer's time-out or
    /// as soon as another replica of this process stopped.
    pub fn within<T: Send + 'static>(
        &self,
        what: &str,
        call: impl FnOnce() -> Result<T, burn::collective::CollectiveError> + Send + 'static,
    ) -> crate::Result<T> {
        let failed = |error: String| {
            crate::Error::Parallel(format!("replica {}: {what}: {error}", self.id.0))
        };
        // The call runs on its own thread so that a peer that never answers cannot hold this
        // one; when it gives up, that thread is left to the collective's reset (one process) or
        // to the end of the process (several).
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = send.send(call());
        });
        let started = Instant::now();
        loop {
            match receive.recv_timeout(Duration::from_millis(50)) {
                Ok(result) => {
                    return result.map_err(|error| {
                        failed(format!(
                            "{error:?} (the collective stopped: a peer process closed its \
                             connection or failed); {NOTHING_WRITTEN}"
                        ))
                    });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(failed("the collective call ended without a result".into()));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.abort.load(Ordering::SeqCst) {
                return Err(failed("another replica of this process stopped".into()));
            }
            if let Some(timeout) = self.timeout.filter(|t| started.elapsed() > *t) {
                return Err(failed(format!(
                    "no answer from the other replicas within {} s (a peer process stopped or \
                     cannot be reached); {NOTHING_WRITTEN}",
                    timeout.as_secs_f64()
                )));
            }
        }
    }
}

impl<B: AutodiffBackend> GradientSync<B> for CollectivePeer {
    fn sum(&self, values: Tensor<B::InnerBackend, 1>) -> crate::Result<Tensor<B::InnerBackend, 1>> {
        // The ring all-reduce between processes cuts the vector into one slice per process:
        // short vectors (the token counts) are padded to one element per replica.
        let length = values.dims()[0];
        let values = match length < self.replicas {
            true => {
                let pad = Tensor::zeros([self.replicas - length], &values.device());
                Tensor::cat(vec![values, pad], 0)
            }
            false => values,
        };
        let primitive = values.into_primitive().tensor();
        let id = self.id;
        let summed = self.within("all-reduce", move || {
            burn::collective::all_reduce::<B::InnerBackend>(id, primitive, ReduceOperation::Sum)
        })?;
        let summed = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(summed));
        Ok(summed.slice(0..length))
    }
}

/// Sums host numbers over the replicas (one collective call).
pub fn sum_host<B: AutodiffBackend>(
    sync: &dyn GradientSync<B>,
    values: &[f64],
    device: &B::Device,
) -> crate::Result<Vec<f64>> {
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let tensor = Tensor::from_data(TensorData::new(data, [values.len()]), device);
    let summed = sync.sum(tensor)?.into_data().convert::<f64>();
    Ok(summed.to_vec().unwrap_or_default())
}

/// Flattens the trainable tensors' gradients in module order; a tensor without a gradient on
/// this replica sends zeros, and a presence flag per tensor travels at the end.
struct Gather<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
    present: Vec<f32>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gather<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !param.is_require_grad() {
            return;
        }
        let value = param.val().inner();
        let numel = value.shape().num_elements();
        let grad = self.grads.get::<B::InnerBackend, D>(param.id);
        self.present.push(f32::from(grad.is_some()));
        let flat = match grad {
            Some(grad) => grad.reshape([numel]),
            None => Tensor::zeros([numel], &value.device()),
        };
        self.parts.push(flat);
    }
}

/// Cuts the reduced vector back into gradients, in the same module order, keeping only the
/// tensors that some replica had a gradient for (a tensor no replica reached stays out of the
/// optimizer's step, as on one device).
struct Scatter<'a, B: AutodiffBackend> {
    flat: &'a Tensor<B::InnerBackend, 1>,
    present: &'a [f64],
    offset: usize,
    index: usize,
    out: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scatter<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !param.is_require_grad() {
            return;
        }
        let dims: [usize; D] = param.val().dims();
        let numel: usize = dims.iter().product();
        let range = self.offset..self.offset + numel;
        if self.present[self.index] > 0.0 {
            let grad = self.flat.clone().slice(range).reshape(dims);
            self.out.register(param.id, grad);
        }
        self.offset += numel;
        self.index += 1;
    }
}

/// Sums `grads` (the trainable tensors of `model`) and `stats` over the replicas in one
/// collective call; returns the reduced gradients and writes the reduced stats back.
pub fn sum_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
    sync: &dyn GradientSync<B>,
    model: &M,
    grads: GradientsParams,
    stats: &mut [f64],
    device: &B::Device,
) -> crate::Result<GradientsParams> {
    let mut gather = Gather::<B> {
        grads: &grads,
        parts: Vec::new(),
        present: Vec::new(),
    };
    model.visit(&mut gather);
    let tensors = gather.present.len();
    let mut tail: Vec<f32> = gather.present;
    tail.extend(stats.iter().map(|&v| v as f32));
    let tail_len = tail.len();
    let mut parts = gather.parts;
    parts.push(Tensor::from_data(TensorData::new(tail, [tail_len]), device));
    let flat = Tensor::cat(parts, 0);
    let total = flat.dims()[0];
    let summed = sync.sum(flat)?;
    let body = total - tail_len;
    let tail: Vec<f64> = summed
        .clone()
        .slice(body..total)
        .into_data()
        .convert::<f64>()
        .to_vec()
        .unwrap_or_default();
    for (stat, reduced) in stats.iter_mut().zip(&tail[tensors..]) {
        *stat = *reduced;
    }
    let mut scatter = Scatter::<B> {
        flat: &summed,
        present: &tail[..tensors],
        offset: 0,
        index: 0,
        out: GradientsParams::new(),
    };
    model.visit(&mut scatter);
    Ok(scatter.out)
}

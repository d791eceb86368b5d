//! The balanced-EMA state of a module's tracked tensors, packed for speed: the tensors of one
//! size that started together are stacked into one `[rows, numel]` tensor ([`Group`]), so a
//! step's L1 sums and EMA updates take a few operations per size instead of a dozen per tensor
//! (the LoRA factors of all layers share a few sizes).

mod group;

use std::collections::{HashMap, HashSet};

use burn::module::ParamId;
use burn::prelude::*;

use super::coefficient::DemaConfig;
use super::stats::DemaStep;
use group::Group;

/// A tracked tensor: its row in one of the groups.
#[derive(Debug)]
struct Tracked {
    id: ParamId,
    name: String,
    numel: usize,
    group: usize,
    row: usize,
}

/// The tracked tensors (name, size, place) and their stacked EMA state.
#[derive(Debug)]
pub(crate) struct Packed<B: Backend> {
    tracked: Vec<Tracked>,
    index: HashMap<ParamId, usize>,
    groups: Vec<Group<B>>,
}

impl<B: Backend> Default for Packed<B> {
    fn default() -> Self {
        Self {
            tracked: Vec::new(),
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }
}

/// A trainable tensor of this step: its id, module path and flattened weights.
pub(crate) type Found<B> = (ParamId, String, Tensor<B, 1>);

impl<B: Backend> Packed<B> {
    /// Number of tracked tensors.
    pub(crate) fn len(&self) -> usize {
        self.tracked.len()
    }

    /// The name and size of a tracked tensor.
    pub(crate) fn describe(&self, id: &ParamId) -> Option<(&str, usize)> {
        let t = &self.tracked[*self.index.get(id)?];
        Some((t.name.as_str(), t.numel))
    }

    /// The EMA of one tensor, flattened.
    pub(crate) fn ema(&self, id: &ParamId) -> Option<Tensor<B, 1>> {
        let t = &self.tracked[*self.index.get(id)?];
        self.groups[t.group].ema(t.row)
    }

    /// The anchor (weights after its first step) of one tensor, flattened.
    pub(crate) fn anchor(&self, id: &ParamId) -> Option<Tensor<B, 1>> {
        let t = &self.tracked[*self.index.get(id)?];
        self.groups[t.group].anchor(t.row)
    }

    /// One step: folds the weights of `found` (with their gradients from `grads`) into the EMA
    /// and returns each one's step, in the order of `found` (`None` for none). Tensors seen
    /// for the first time start with `config_of(name, numel)`.
    pub(crate) fn step(
        &mut self,
        found: &[Found<B>],
        grads: &HashMap<ParamId, Tensor<B, 1>>,
        config_of: impl Fn(&str, usize) -> DemaConfig,
    ) -> Vec<Option<DemaStep>> {
        self.track_new(found, config_of);
        let present: HashSet<ParamId> = found.iter().map(|(id, ..)| *id).collect();
        self.split_absent(&present);

        // Each group's rows in order; a group without all its rows here waits.
        let mut inputs: Vec<Vec<Option<_>>> = self
            .groups
            .iter()
            .map(|g| (0..g.len()).map(|_| None).collect())
            .collect();
        for (id, _, theta) in found {
            let t = &self.tracked[self.index[id]];
            inputs[t.group][t.row] = Some((theta.clone(), grads.get(id).cloned()));
        }
        let mut pending = Vec::new();
        for (g, rows) in inputs.into_iter().enumerate() {
            if rows.iter().all(Option::is_some) {
                let (thetas, grads) = rows.into_iter().flatten().unzip();
                pending.push((g, self.groups[g].prepare(thetas, grads)));
            }
        }
        let mut steps: Vec<Vec<DemaStep>> = vec![Vec::new(); self.groups.len()];
        if !pending.is_empty() {
            let lengths: Vec<usize> = pending.iter().map(|(_, p)| p.norms().dims()[0]).collect();
            let all = Tensor::cat(pending.iter().map(|(_, p)| p.norms().clone()).collect(), 0);
            let values: Vec<f64> = all.into_data().iter::<f64>().collect();
            let mut offset = 0;
            for ((g, step), len) in pending.into_iter().zip(lengths) {
                steps[g] = self.groups[g].resolve(step, &values[offset..offset + len]);
                offset += len;
            }
        }
        found
            .iter()
            .map(|(id, ..)| {
                let t = &self.tracked[self.index[id]];
                steps[t.group].get(t.row).copied()
            })
            .collect()
    }

    /// Starts tracking the tensors of `found` seen for the first time, in new groups by size
    /// (in order of first appearance).
    fn track_new(&mut self, found: &[Found<B>], config_of: impl Fn(&str, usize) -> DemaConfig) {
        let mut by_size: Vec<(usize, Vec<(ParamId, String)>)> = Vec::new();
        for (id, name, theta) in found {
            if self.index.contains_key(id) {
                continue;
            }
            let numel = theta.shape().num_elements();
            match by_size.iter_mut().find(|(n, _)| *n == numel) {
                Some((_, members)) => members.push((*id, name.clone())),
                None => by_size.push((numel, vec![(*id, name.clone())])),
            }
        }
        for (numel, members) in by_size {
            let configs = members.iter().map(|(_, name)| config_of(name, numel));
            let group = self.groups.len();
            self.groups.push(Group::new(numel, configs.collect()));
            for (row, (id, name)) in members.into_iter().enumerate() {
                self.index.insert(id, self.tracked.len());
                self.tracked.push(Tracked {
                    id,
                    name,
                    numel,
                    group,
                    row,
                });
            }
        }
    }

    /// Moves the tracked tensors missing from this step's module into groups of their own, so
    /// that their state waits unchanged while their former groups go on.
    fn split_absent(&mut self, present: &HashSet<ParamId>) {
        for g in 0..self.groups.len() {
            let mut members: Vec<usize> = (0..self.tracked.len())
                .filter(|&t| self.tracked[t].group == g)
                .collect();
            members.sort_by_key(|&t| self.tracked[t].row);
            let (here, away): (Vec<usize>, Vec<usize>) = members
                .into_iter()
                .partition(|&t| present.contains(&self.tracked[t].id));
            if here.is_empty() || away.is_empty() {
                continue;
            }
            let rows = |ts: &[usize]| ts.iter().map(|&t| self.tracked[t].row).collect::<Vec<_>>();
            let moved = self.groups[g].select(&rows(&away));
            self.groups[g] = self.groups[g].select(&rows(&here));
            self.groups.push(moved);
            let new = self.groups.len() - 1;
            for (row, &t) in here.iter().enumerate() {
                self.tracked[t].row = row;
            }
            for (row, &t) in away.iter().enumerate() {
                (self.tracked[t].group, self.tracked[t].row) = (new, row);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dema::{AlphaSource, DemaState, EmaDtype};

    type B = lcia_backends::CpuBackend;

    fn tensor(values: Vec<f32>) -> Tensor<B, 1> {
        let len = values.len();
        Tensor::from_data(TensorData::new(values, [len]), &Default::default())
    }

    fn bits(tensor: Option<Tensor<B, 1>>) -> Option<Vec<u32>> {
        let data = tensor?.into_data();
        Some(data.iter::<f32>().map(f32::to_bits).collect())
    }

    /// Five tensors (three of one size, two of another) over eight steps, with what makes the
    /// rows of a group differ: non-finite weights at a first step, a missing gradient, a tensor
    /// absent for two steps. Every α, source and EMA equals the per-tensor state's bit for bit.
    #[test]
    fn packed_steps_equal_the_per_tensor_state_bit_for_bit() {
        let configs = [
            DemaConfig::official().with_scale(0.01),
            DemaConfig::official()
                .with_scale(0.01)
                .with_dtype(EmaDtype::Bf16),
            DemaConfig::paper().with_scale(0.01),
            DemaConfig::fixed(0.9),
        ];
        for config in configs {
            let sizes = [12, 12, 7, 12, 7];
            let ids: Vec<ParamId> = sizes.iter().map(|_| ParamId::new()).collect();
            let mut packed = Packed::<B>::default();
            let mut states: Vec<DemaState<B, 1>> = sizes
                .iter()
                .map(|_| DemaState::new(config.clone()))
                .collect();
            let mut rng = crate::rng::SplitMix64::new(7);
            let mut draw = |scale: f32| (rng.next_f64() as f32 - 0.5) * scale;
            let mut weights: Vec<Vec<f32>> = sizes
                .iter()
                .map(|&n| (0..n).map(|_| draw(1.0)).collect())
                .collect();
            let (mut dynamic, mut rows_differ) = (0, 0);
            for step in 0..8 {
                let (mut found, mut grads) = (Vec::new(), HashMap::new());
                for (k, &n) in sizes.iter().enumerate() {
                    if k == 3 && (step == 4 || step == 5) {
                        continue;
                    }
                    let g: Vec<f32> = (0..n).map(|_| draw(0.1)).collect();
                    for (w, g) in weights[k].iter_mut().zip(&g) {
                        *w -= 0.5 * g;
                    }
                    let mut w = weights[k].clone();
                    if k == 1 && step == 0 {
                        w[2] = f32::NAN;
                        rows_differ += 1;
                    }
                    found.push((ids[k], format!("t{k}"), tensor(w)));
                    if !(k == 2 && step == 3) {
                        grads.insert(ids[k], tensor(g));
                    }
                }
                let steps = packed.step(&found, &grads, |_, _| config.clone());
                for ((id, _, theta), got) in found.iter().zip(steps) {
                    let k = ids.iter().position(|i| i == id).unwrap();
                    let alpha = states[k].update(theta, grads.get(id));
                    let want = states[k].last();
                    let got = got.expect("a step for every tensor found");
                    let at = format!("{config:?}, step {step}, tensor {k}");
                    assert_eq!(got.alpha.to_bits(), alpha.to_bits(), "{at}");
                    assert_eq!(got.source, want.source, "{at}");
                    assert_eq!(bits(packed.ema(id)), bits(states[k].ema().cloned()), "{at}");
                    let anchor = bits(states[k].anchor().cloned());
                    assert_eq!(bits(packed.anchor(id)), anchor, "{at}");
                    dynamic += usize::from(got.source == AlphaSource::Dynamic);
                }
            }
            assert_eq!(rows_differ, 1);
            if config.is_dynamic() {
                assert!(dynamic > 0, "{config:?}: no dynamic coefficient");
            }
            assert_eq!(packed.len(), 5);
        }
    }
}

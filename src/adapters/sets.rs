//! Parameter sets: several named copies of a model's trainable tensors (LoRA adapters and
//! projector) over ONE base model, swapped in and out by name.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::AdapterError;
use super::params::values_by_path;

/// Which tensors of a model belong to a parameter set, by module path.
pub type SetSelector = fn(&str) -> bool;

/// How a new parameter set starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpandInit {
    /// From the most recently trained set, as the official code does (a new group's output
    /// directory starts from the previous task's checkpoint; METHOD.md §3.4-3.5).
    FromLatest,
    /// From the weights the run started with (fresh adapters, initial projector), as the paper
    /// describes ("randomly initialised" training parameters).
    Fresh,
}

/// The selected tensors of a model, by module path (flattened; shapes come from the model).
#[derive(Debug, Clone)]
pub struct SetWeights<B: Backend> {
    tensors: BTreeMap<String, Tensor<B, 1>>,
}

impl<B: Backend> SetWeights<B> {
    /// The tensors of `model` whose path `selector` accepts.
    pub fn capture<M: Module<B>>(model: &M, selector: SetSelector) -> Self {
        let tensors = values_by_path(model, Some(Box::new(selector)));
        Self {
            tensors: tensors.into_iter().map(|(p, t)| (p, t.detach())).collect(),
        }
    }

    /// Writes these tensors into `model` (each keeps the parameter's `require_grad`); a path
    /// the model lacks is left out, a model parameter without a tensor here is left as it is.
    pub fn apply<M: Module<B>>(&self, model: M) -> M {
        model.map(&mut Apply {
            weights: self,
            path: Vec::new(),
        })
    }

    /// Module paths in the set.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// One tensor, flattened.
    pub fn get(&self, path: &str) -> Option<&Tensor<B, 1>> {
        self.tensors.get(path)
    }

    /// Number of scalars.
    pub fn num_params(&self) -> usize {
        self.tensors.values().map(|t| t.dims()[0]).sum()
    }
}

struct Apply<'a, B: Backend> {
    weights: &'a SetWeights<B>,
    path: Vec<String>,
}

impl<B: Backend> ModuleMapper<B> for Apply<'_, B> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let Some(stored) = self.weights.tensors.get(&self.path.join(".")) else {
            return param;
        };
        param.map(|current| {
            let require_grad = current.is_require_grad();
            stored
                .clone()
                .reshape(current.dims())
                .detach()
                .set_require_grad(require_grad)
        })
    }
}

/// Named parameter sets of one base model, one of them active.
///
/// Expand: [`expand`](Self::expand) adds a set and makes it active. Retrain: [`select`](Self::select)
/// it, train, then [`store`](Self::store) the trained weights back. Evaluate a set: `select` it.
pub struct ParameterSets<B: Backend> {
    selector: SetSelector,
    init: ExpandInit,
    initial: SetWeights<B>,
    sets: Vec<(String, SetWeights<B>)>,
    active: Option<usize>,
    last_stored: Option<usize>,
}

impl<B: Backend> ParameterSets<B> {
    /// No sets yet; `model`'s selected tensors now are the [`ExpandInit::Fresh`] starting point.
    pub fn new<M: Module<B>>(model: &M, selector: SetSelector, init: ExpandInit) -> Self {
        Self {
            selector,
            init,
            initial: SetWeights::capture(model, selector),
            sets: Vec::new(),
            active: None,
            last_stored: None,
        }
    }

    /// Set names in creation order.
    pub fn names(&self) -> Vec<&str> {
        self.sets.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The active set's name.
    pub fn active(&self) -> Option<&str> {
        self.active.map(|i| self.sets[i].0.as_str())
    }

    /// A set's weights.
    pub fn get(&self, name: &str) -> Option<&SetWeights<B>> {
        self.index(name).map(|i| &self.sets[i].1)
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.sets.iter().position(|(n, _)| n == name)
    }

    /// Adds set `name`, initialised as the [`ExpandInit`] policy says, writes it into `model`
    /// and makes it active.
    pub fn expand<M: Module<B>>(&mut self, name: &str, model: M) -> Result<M, AdapterError> {
        if self.index(name).is_some() {
            return Err(AdapterError::Set(name.into(), "already exists".into()));
        }
        let start = match (self.init, self.last_stored) {
            (ExpandInit::FromLatest, Some(latest)) => self.sets[latest].1.clone(),
            _ => self.initial.clone(),
        };
        let model = start.apply(model);
        self.sets.push((name.to_string(), start));
        self.active = Some(self.sets.len() - 1);
        Ok(model)
    }

    /// Writes set `name` into `model` and makes it active.
    pub fn select<M: Module<B>>(&mut self, name: &str, model: M) -> Result<M, AdapterError> {
        let i = self.index(name).ok_or_else(|| {
            AdapterError::Set(
                name.into(),
                format!("no such set (have {:?})", self.names()),
            )
        })?;
        self.active = Some(i);
        Ok(self.sets[i].1.apply(model))
    }

    /// Adds or replaces set `name` with `weights` as if it had just been trained and stored (it
    /// becomes active and the latest); restores sets from checkpoints when a run resumes.
    pub fn put(&mut self, name: &str, weights: SetWeights<B>) {
        let i = match self.index(name) {
            Some(i) => {
                self.sets[i].1 = weights;
                i
            }
            None => {
                self.sets.push((name.to_string(), weights));
                self.sets.len() - 1
            }
        };
        self.active = Some(i);
        self.last_stored = Some(i);
    }

    /// Copies `model`'s selected tensors into the active set (after training it).
    pub fn store<M: Module<B>>(&mut self, model: &M) -> Result<(), AdapterError> {
        let i = self.active.ok_or_else(|| {
            AdapterError::Set(String::new(), "no active set to store into".into())
        })?;
        self.sets[i].1 = SetWeights::capture(model, self.selector);
        self.last_stored = Some(i);
        Ok(())
    }
}

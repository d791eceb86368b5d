//! The trainable tensors of a module by module path: their values (flattened, still tracked by
//! autodiff when the module is) and their gradients.

use std::collections::BTreeMap;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// Which module paths to keep.
pub type PathFilter = Box<dyn Fn(&str) -> bool>;

struct Values<B: Backend> {
    path: Vec<String>,
    keep: Option<PathFilter>,
    tensors: BTreeMap<String, Tensor<B, 1>>,
}

impl<B: Backend> ModuleVisitor<B> for Values<B> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let path = self.path.join(".");
        if self.keep.as_ref().is_none_or(|keep| keep(&path)) {
            let value = param.val();
            let n = value.shape().num_elements();
            self.tensors.insert(path, value.reshape([n]));
        }
    }
}

/// The float parameters of `module` whose path `keep` accepts (all when `None`), flattened;
/// on an autodiff backend they stay in the graph, so a loss built from them has gradients.
pub fn values_by_path<B: Backend, M: Module<B>>(
    module: &M,
    keep: Option<PathFilter>,
) -> BTreeMap<String, Tensor<B, 1>> {
    let mut visitor = Values {
        path: Vec::new(),
        keep,
        tensors: BTreeMap::new(),
    };
    module.visit(&mut visitor);
    visitor.tensors
}

struct Gradients<'a, B: AutodiffBackend> {
    path: Vec<String>,
    grads: &'a GradientsParams,
    tensors: BTreeMap<String, Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Gradients<'_, B> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            let n = grad.shape().num_elements();
            self.tensors.insert(self.path.join("."), grad.reshape([n]));
        }
    }
}

/// The gradient in `grads` of each parameter of `module` that has one (the trainable ones),
/// flattened, by module path.
pub fn gradients_by_path<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> BTreeMap<String, Tensor<B::InnerBackend, 1>> {
    let mut visitor = Gradients {
        path: Vec::new(),
        grads,
        tensors: BTreeMap::new(),
    };
    module.visit(&mut visitor);
    visitor.tensors
}

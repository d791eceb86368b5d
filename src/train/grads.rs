//! Gradient plumbing of the trainer: moving a sub-module's gradients into their own set (for a
//! second learning rate) and global-norm clipping.

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

struct Split<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Split<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.from.remove::<B::InnerBackend, D>(param.id) {
            self.to.register(param.id, grad);
        }
    }
}

/// Moves the gradients of `part`'s parameters out of `grads` into a new set (the projector's
/// gradients, stepped with the projector's learning rate).
pub fn split_off<B: AutodiffBackend, M: AutodiffModule<B>>(
    part: &M,
    grads: &mut GradientsParams,
) -> GradientsParams {
    let mut split = Split {
        from: grads,
        to: GradientsParams::new(),
    };
    part.visit(&mut split);
    split.to
}

struct SquaredNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for SquaredNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.parts.push(grad.powi_scalar(2).sum());
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// The global L2 norm of `module`'s gradients in `grads` (one device read).
pub fn global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    let mut norm = SquaredNorm::<B> {
        grads,
        parts: Vec::new(),
    };
    module.visit(&mut norm);
    if norm.parts.is_empty() {
        return 0.0;
    }
    Tensor::cat(norm.parts, 0)
        .sum()
        .into_scalar()
        .elem::<f64>()
        .sqrt()
}

/// Scales all gradients by `max_norm / norm` when their global norm exceeds `max_norm`
/// (`torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
pub fn clip_global_norm<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let norm = global_norm::<B, M>(module, grads);
    if norm > max_norm && norm.is_finite() {
        let mut scale = Scale {
            grads,
            factor: max_norm / (norm + 1e-6),
        };
        module.visit(&mut scale);
    }
    norm
}

struct FirstNonFinite<'a> {
    /// `None`: look at the trainable weights; `Some`: at these gradients.
    grads: Option<&'a GradientsParams>,
    path: Vec<String>,
    found: Option<String>,
}

fn any_non_finite<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> bool {
    tensor
        .is_finite()
        .bool_not()
        .any()
        .into_scalar()
        .elem::<bool>()
}

impl<B: AutodiffBackend> ModuleVisitor<B> for FirstNonFinite<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.found.is_some() {
            return;
        }
        let name = self.path.join(".");
        match self.grads {
            Some(grads) => {
                let grad = grads.get::<B::InnerBackend, D>(param.id);
                if grad.is_some_and(any_non_finite) {
                    self.found = Some(format!("the gradient of {name}"));
                }
            }
            None => {
                if param.is_require_grad() && any_non_finite(param.val().inner()) {
                    self.found = Some(format!("the weight {name}"));
                }
            }
        }
    }
}

/// The first trainable weight of `module` with a NaN or infinite value or, when all are
/// finite, the first such gradient in `grads`, named by its module path (one device read per
/// tensor: for error reports and end-of-task checks).
pub fn first_non_finite<B: AutodiffBackend, M: AutodiffModule<B>>(
    module: &M,
    grads: Option<&GradientsParams>,
) -> Option<String> {
    let mut passes = std::iter::once(None).chain(grads.map(Some));
    passes.find_map(|grads| {
        let mut search = FirstNonFinite {
            grads,
            path: Vec::new(),
            found: None,
        };
        module.visit(&mut search);
        search.found
    })
}

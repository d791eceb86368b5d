//! Freezing and unfreezing whole modules.
use burn::module::{ModuleMapper, Param};
use burn::prelude::*;

/// Sets `require_grad` on every float parameter of `module` (false freezes it).
pub fn set_trainable<B: Backend, M: Module<B>>(module: M, trainable: bool) -> M {
    struct SetGrad(bool);
    impl<B: Backend> ModuleMapper<B> for SetGrad {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
            param.set_require_grad(self.0)
        }
    }
    module.map(&mut SetGrad(trainable))
}

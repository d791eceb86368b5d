mod activation;
mod backward;
mod base;
mod bool_tensor;
#[cfg(feature = "distributed")]
mod distributed;
mod int_tensor;
mod module;
mod qtensor;
mod tensor;
mod transaction;

pub(crate) mod maxmin;
pub(crate) mod sort;

pub use backward::*;
pub use base::*;

/// lcia patch: whether unary ops whose backward reads their own output keep that output
/// instead of recomputing it from the checkpointed input: under `NoCheckpointing`, where every
/// checkpointed input is kept anyway.
pub(crate) fn keeps_outputs<C: crate::checkpoint::strategy::CheckpointStrategy>() -> bool {
    core::any::TypeId::of::<C>()
        == core::any::TypeId::of::<crate::checkpoint::strategy::NoCheckpointing>()
}

mod activation;
mod base;
pub(crate) mod par;
mod bool_tensor;
mod int_tensor;
mod module;
mod qtensor;
#[cfg(feature = "simd")]
mod simd;
mod tensor;
mod transaction;

pub(crate) mod adaptive_avgpool;
pub(crate) mod avgpool;
pub(crate) mod conv;
pub(crate) mod deform_conv;
// lcia patch: products with a thin side without packing
pub(crate) mod direct;
// lcia patch: the softmax and its backward pass one row at a time
pub(crate) mod softmax;
// lcia patch: sums of absolute (differences) and the sum of two products in one pass
pub(crate) mod fused;
pub(crate) mod grid_sample;
pub(crate) mod interpolate;
pub(crate) mod macros;
pub(crate) mod matmul;
pub(crate) mod maxpool;
pub(crate) mod padding;
pub(crate) mod quantization;

pub(crate) use base::*;

use crate::{
    NdArray, NdArrayTensor, SharedArray,
    element::{ExpElement, FloatNdArrayElement, IntNdArrayElement, QuantElement},
    execute_with_float_dtype, execute_with_numeric_dtype,
    ops::{NdArrayMathOps, base::map_unary},
};
use burn_backend::{
    ElementConversion, TensorMetadata,
    ops::{ActivationOps, FloatTensorOps},
    tensor::FloatTensor,
};

impl<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement> ActivationOps<Self>
    for NdArray<E, I, Q>
where
    NdArrayTensor: From<SharedArray<E>>,
    NdArrayTensor: From<SharedArray<I>>,
{
    fn relu(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        execute_with_numeric_dtype!(tensor, |array| NdArrayMathOps::clamp_min(array, 0.elem()))
    }

    // lcia patch: the backend-generic sigmoid, exp(-log(1 + exp(-x))), in one pass over the
    // tensor instead of six (the same f32 operations in the same order, so the same bits).
    fn sigmoid(tensor: FloatTensor<Self>) -> FloatTensor<Self> {
        execute_with_float_dtype!(tensor, FloatElem, |array: SharedArray<FloatElem>| {
            let one: FloatElem = 1.0.elem();
            crate::fastmath::map(array, crate::fastmath::Kernel::Sigmoid).unwrap_or_else(|array| {
                map_unary(array, |x: FloatElem| (-((-x).exp_elem() + one).log_elem()).exp_elem())
            })
        })
    }

    // lcia patch: the backend-generic backward, s · (1 − s) · grad, in one pass instead of four
    // (same operations, same order).
    fn sigmoid_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        execute_with_float_dtype!((output, grad), FloatElem, |output: SharedArray<FloatElem>,
                                                              grad: SharedArray<FloatElem>| {
            let one: FloatElem = 1.0.elem();
            let f = move |s: FloatElem, g: FloatElem| (s * (-s + one)) * g;
            match crate::ops::par::par_binary(output, grad, f) {
                Ok(out) => out,
                Err((output, grad)) => ndarray::Zip::from(&output)
                    .and(&grad)
                    .map_collect(|&s, &g| f(s, g))
                    .into_shared(),
            }
        })
    }

    // lcia patch: the softmax of f32 tensors along their last axis one row at a time
    // (`crate::ops::softmax`), with the composite's results; other tensors take the composite.
    fn softmax(tensor: FloatTensor<Self>, dim: usize) -> FloatTensor<Self> {
        let tensor = match last_axis_f32(tensor, dim) {
            Ok(array) => match crate::ops::softmax::forward(array, false) {
                Ok(mut parts) => return parts.swap_remove(0).into(),
                Err(array) => array.into(),
            },
            Err(tensor) => tensor,
        };
        let [output, _, _] = composite_parts::<E, I, Q>(tensor, dim);
        output
    }

    // lcia patch: as `softmax`, keeping the exponentials and their sums for the backward pass.
    fn softmax_parts(tensor: FloatTensor<Self>, dim: usize) -> [FloatTensor<Self>; 3] {
        match last_axis_f32(tensor, dim) {
            Ok(array) => match crate::ops::softmax::forward(array, true) {
                Ok(parts) => {
                    let [y, e, s]: [SharedArray<f32>; 3] =
                        parts.try_into().expect("three parts");
                    [y.into(), e.into(), s.into()]
                }
                Err(array) => composite_parts::<E, I, Q>(array.into(), dim),
            },
            Err(tensor) => composite_parts::<E, I, Q>(tensor, dim),
        }
    }

    // lcia patch: the softmax's backward pass one row at a time for the parts made above, with
    // the composite's reciprocal of the sums (`float_recip`, a SIMD approximation on some
    // CPUs); other tensors take the composite.
    fn softmax_parts_backward(
        grad: FloatTensor<Self>,
        exp: FloatTensor<Self>,
        sum: FloatTensor<Self>,
        dim: usize,
    ) -> FloatTensor<Self> {
        let recip = Self::float_recip(sum.clone());
        let last = exp.shape().num_dims() - 1;
        if let (true, NdArrayTensor::F32(g), NdArrayTensor::F32(e), NdArrayTensor::F32(s), NdArrayTensor::F32(r)) =
            (dim == last, &grad, &exp, &sum, &recip)
        {
            let (e, s, r) = (e.clone().into_shared(), s.clone().into_shared(), r.clone().into_shared());
            match crate::ops::softmax::backward(g.clone().into_shared(), &e, &s, &r) {
                Ok(out) => return out.into(),
                Err(_) => {}
            }
        }
        let shape = exp.shape();
        let direct = Self::float_mul(grad.clone(), recip);
        let value = Self::float_div(Self::float_neg(exp.clone()), Self::float_powi_scalar(sum, 2.into()));
        let of_sum = Self::float_sum_dim(Self::float_mul(grad, value), dim);
        let ones = Self::float_ones(shape, &Self::float_device(&of_sum), of_sum.dtype().into());
        let spread = Self::float_mul(ones, Self::float_sum_dim(of_sum, dim));
        Self::float_mul(Self::float_add(direct, spread), exp)
    }
}

/// lcia patch: the f32 array of `tensor` when `dim` is its last axis, the tensor back otherwise.
fn last_axis_f32(tensor: NdArrayTensor, dim: usize) -> Result<SharedArray<f32>, NdArrayTensor> {
    let last = tensor.shape().num_dims() - 1;
    match tensor {
        NdArrayTensor::F32(storage) if dim == last => Ok(storage.into_shared()),
        other => Err(other),
    }
}

/// lcia patch: the backend-generic softmax composite (`ActivationOps::softmax_parts`'s default).
fn composite_parts<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement>(
    tensor: NdArrayTensor,
    dim: usize,
) -> [NdArrayTensor; 3]
where
    NdArrayTensor: From<SharedArray<E>>,
    NdArrayTensor: From<SharedArray<I>>,
{
    type B<E, I, Q> = NdArray<E, I, Q>;
    let max = B::<E, I, Q>::float_max_dim(B::<E, I, Q>::float_detach(tensor.clone()), dim);
    let shifted = B::<E, I, Q>::float_sub(tensor, max);
    let exp = B::<E, I, Q>::float_exp(shifted);
    let sum = B::<E, I, Q>::float_sum_dim(exp.clone(), dim);
    let output = B::<E, I, Q>::float_div(exp.clone(), sum.clone());
    [output, exp, sum]
}

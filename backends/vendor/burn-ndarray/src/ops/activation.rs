use crate::{
    NdArray, NdArrayTensor, SharedArray,
    element::{ExpElement, FloatNdArrayElement, IntNdArrayElement, QuantElement},
    execute_with_float_dtype, execute_with_numeric_dtype,
    ops::{NdArrayMathOps, base::map_unary},
};
use burn_backend::{ElementConversion, TensorMetadata, ops::ActivationOps, tensor::FloatTensor};

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
}

use crate::{
    NdArrayElement, ShapeOps, SharedArray,
    ops::NdArrayOps,
    pool::{self, SendPtr},
};

use alloc::{vec, vec::Vec};
use burn_backend::ElementConversion;
use burn_backend::Shape;
use ndarray::{IxDyn, ShapeBuilder};

// lcia patch: each product reads its operands through strided views (upstream copied every
// non-contiguous operand, and every contiguous one through `reshape`, before multiplying); a
// right operand shared by the whole batch (a linear layer's weight) is multiplied once with the
// batch's rows stacked, when the left operand's rows are evenly spaced; f32/f64 products write
// an uninitialised output (matrixmultiply with beta = 0 never reads it). Every output element is
// still summed by matrixmultiply in the same order, so the results are the upstream ones.
pub(crate) fn matmul<E: NdArrayElement>(
    lhs: SharedArray<E>,
    rhs: SharedArray<E>,
) -> SharedArray<E> {
    let shape_lhs = lhs.shape();
    let shape_rhs = rhs.shape();
    let ndims = shape_lhs.num_dims();
    let m = shape_lhs[ndims - 2]; // # of left rows
    let k = shape_rhs[ndims - 2]; // # of left cols and right rows
    let n = shape_rhs[ndims - 1]; // # of right cols

    let (out_shape, strides_lhs, strides_rhs, strides_out) = output_shape(shape_lhs, shape_rhs);
    let out_mat_size = m * n;
    let num_out_batches = out_shape.num_elements() / out_mat_size.max(1);
    let num_r_batches: usize = shape_rhs[..ndims - 2].iter().product();

    let lhs_view = lhs.view();
    let rhs_view = rhs.view();

    let float = is_float::<E>();
    let mut out = if float {
        Vec::with_capacity(num_out_batches * out_mat_size)
    } else {
        vec![0.0.elem::<E>(); num_out_batches * out_mat_size]
    };
    // A batch of left rows against one right matrix: one product of (batch · m) rows when the
    // batch's rows are evenly spaced in memory.
    let stacked = if num_r_batches == 1 && num_out_batches > 1 {
        stacked_rows(&lhs_view, num_out_batches * m, k)
    } else {
        None
    };
    // SAFETY (both calls): `out` holds room for num_out_batches · m · n elements, each product
    // writes its own m × n (or batch · m × n) block of it.
    if let Some(rows) = stacked {
        unsafe { par_product(&rows, &matrix(&rhs_view, 0), out.as_mut_ptr()) };
    } else {
        // lcia patch: a batch of products large enough for the backend's threads is split
        // between them, a whole product each (below that, each product may still be split).
        let work = num_out_batches * m * k * n;
        let parts = pool::parts(work, PAR_PRODUCT_MIN).min(num_out_batches);
        let parts = if work / num_out_batches.max(1) >= 2 * PAR_PRODUCT_MIN { 1 } else { parts };
        let out_ptr = SendPtr(out.as_mut_ptr());
        let batch = |out_batch: usize, split: bool| {
            let out_index = strides_out.unflatten(out_batch);
            let l_batch = strides_lhs.flatten(&out_index);
            let r_batch = strides_rhs.flatten(&out_index);
            let lhs_mat = matrix(&lhs_view, l_batch);
            let rhs_mat = matrix(&rhs_view, r_batch);
            let c = out_ptr;
            let c = unsafe { c.0.add(out_batch * out_mat_size) };
            if split {
                unsafe { par_product(&lhs_mat, &rhs_mat, c) };
            } else {
                unsafe { product(&lhs_mat, &rhs_mat, c, n) };
            }
        };
        if parts > 1 {
            pool::run(parts, |part| {
                for out_batch in pool::range(num_out_batches, parts, part, 1) {
                    batch(out_batch, false);
                }
            });
        } else {
            (0..num_out_batches).for_each(|b| batch(b, true));
        }
    }
    if float {
        // SAFETY: `product` wrote every element of every block (nothing to write when
        // m · n = 0).
        unsafe { out.set_len(num_out_batches * out_mat_size) };
    }
    let out = ndarray::Array::from_shape_vec(IxDyn(&out_shape), out).unwrap();
    out.into_shared()
}

/// Whether `E` is `T`.
fn same<E: 'static, T: 'static>() -> bool {
    core::any::TypeId::of::<E>() == core::any::TypeId::of::<T>()
}

/// Whether `E` is one of the element types matrixmultiply multiplies directly.
fn is_float<E: 'static>() -> bool {
    same::<E, f32>() || same::<E, f64>()
}

/// The matrix of flattened batch index `batch` (row-major over the leading dimensions) of `array`,
/// as a view with the array's own strides.
fn matrix<'a, E>(
    array: &ndarray::ArrayView<'a, E, IxDyn>,
    batch: usize,
) -> ndarray::ArrayView2<'a, E> {
    let ndims = array.ndim();
    let dims = &array.shape()[..ndims - 2];
    let mut index = vec![0; dims.len()];
    let mut rest = batch;
    for i in (0..dims.len()).rev() {
        index[i] = rest % dims[i];
        rest /= dims[i];
    }
    let mut view = array.clone();
    for i in index {
        view = view.index_axis_move(ndarray::Axis(0), i);
    }
    view.into_dimensionality::<ndarray::Ix2>().unwrap()
}

/// All matrices of `array` as one `rows × k` view, when every row of every matrix sits at a
/// constant distance from the previous one (e.g. a row-major batch, or one sliced along its rows).
fn stacked_rows<'a, E>(
    array: &ndarray::ArrayView<'a, E, IxDyn>,
    rows: usize,
    k: usize,
) -> Option<ndarray::ArrayView2<'a, E>> {
    let ndims = array.ndim();
    let shape = array.shape();
    let strides = array.strides();
    let row_stride = strides[ndims - 2];
    let mut expected = row_stride * shape[ndims - 2] as isize;
    for d in (0..ndims - 2).rev() {
        if shape[d] != 1 && strides[d] != expected {
            return None;
        }
        expected *= shape[d] as isize;
    }
    if row_stride < 0 || strides[ndims - 1] < 0 {
        return None;
    }
    let col_stride = strides[ndims - 1] as usize;
    // SAFETY: every (row, col) of the new view addresses an element of `array`: rows are
    // `row_stride` apart across the whole batch (checked above), columns as in the array.
    unsafe {
        Some(ndarray::ArrayView2::from_shape_ptr(
            (rows, k).strides((row_stride as usize, col_stride)),
            array.as_ptr(),
        ))
    }
}

/// Multiply-adds per part below which a product stays on one thread.
const PAR_PRODUCT_MIN: usize = 1 << 18;

/// `lhs · rhs` into the row-major `m × n` block at `c`, its rows (or, for few rows, its
/// columns) split between the backend's threads when the product is large. matrixmultiply sums
/// each output element over `k` in the same order wherever the element sits, so the parts give
/// the bits of one whole product.
///
/// # Safety
/// As [`product`].
unsafe fn par_product<E: NdArrayElement>(
    lhs: &ndarray::ArrayView2<'_, E>,
    rhs: &ndarray::ArrayView2<'_, E>,
    c: *mut E,
) {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    let parts = pool::parts(m * k * n, PAR_PRODUCT_MIN);
    let c = SendPtr(c);
    // Rows in multiples of 16 (the row panel of matrixmultiply's AVX-512 kernel, twice the
    // AVX2 one's) when there are enough of them.
    if parts > 1 && m >= 16 * parts {
        pool::run(parts, |part| {
            let rows = pool::range(m, parts, part, 16);
            let c = c;
            let sub = lhs.slice(ndarray::s![rows.clone(), ..]);
            unsafe { product(&sub, rhs, c.0.add(rows.start * n), n) };
        });
    } else if parts > 1 && n >= 16 * parts {
        pool::run(parts, |part| {
            let cols = pool::range(n, parts, part, 16);
            let c = c;
            let sub = rhs.slice(ndarray::s![.., cols.clone()]);
            unsafe { product(lhs, &sub, c.0.add(cols.start), n) };
        });
    } else {
        unsafe { product(lhs, rhs, c.0, n) };
    }
}

/// `lhs · rhs` into the `m × n` block at `c` whose rows are `ldc` elements apart. For f32/f64 the block may be
/// uninitialised (matrixmultiply with beta = 0 writes every element without reading any; an
/// empty `k` is written as zeros); other types must arrive zeroed.
///
/// # Safety
/// `c` must be valid for writes of the `lhs.nrows() × rhs.ncols()` block with row stride `ldc`.
unsafe fn product<E: NdArrayElement>(
    lhs: &ndarray::ArrayView2<'_, E>,
    rhs: &ndarray::ArrayView2<'_, E>,
    c: *mut E,
    ldc: usize,
) {
    let (m, k) = lhs.dim();
    let n = rhs.ncols();
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = (lhs.strides()[0], lhs.strides()[1]);
    let (rsb, csb) = (rhs.strides()[0], rhs.strides()[1]);
    let (float32, float64) = (same::<E, f32>(), same::<E, f64>());
    unsafe {
        if is_float::<E>() && k == 0 {
            for i in 0..m {
                for j in 0..n {
                    c.add(i * ldc + j).write(0.0.elem());
                }
            }
        } else if float32 && super::direct::wanted(m, k, n, rsa, csa) {
            // lcia patch: a thin product without packing, same bits (see `direct`)
            super::direct::sgemm(
                m,
                k,
                n,
                lhs.as_ptr() as *const f32,
                rsa,
                csa,
                rhs.as_ptr() as *const f32,
                rsb,
                csb,
                c as *mut f32,
                ldc,
            );
        } else if float32 {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                lhs.as_ptr() as *const f32,
                rsa,
                csa,
                rhs.as_ptr() as *const f32,
                rsb,
                csb,
                0.0,
                c as *mut f32,
                ldc as isize,
                1,
            );
        } else if float64 {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                1.0,
                lhs.as_ptr() as *const f64,
                rsa,
                csa,
                rhs.as_ptr() as *const f64,
                rsb,
                csb,
                0.0,
                c as *mut f64,
                ldc as isize,
                1,
            );
        } else {
            let mut out = ndarray::ArrayViewMut2::from_shape_ptr((m, n).strides((ldc, 1)), c);
            ndarray::linalg::general_mat_mul(1.0.elem(), lhs, rhs, 0.0.elem(), &mut out);
        }
    }
}

#[derive(Debug, PartialEq)]
struct Strides {
    strides: Vec<usize>,
}
impl Strides {
    fn new(strides: Vec<usize>) -> Self {
        Strides { strides }
    }

    fn unflatten(&self, linear_index: usize) -> Vec<usize> {
        let mut coord = Vec::with_capacity(self.strides.len());
        let mut rem = linear_index;
        for stride in self.strides.iter() {
            coord.push(rem / stride);
            rem %= stride;
        }
        coord
    }

    fn flatten(&self, index: &Vec<usize>) -> usize {
        assert_eq!(self.strides.len(), index.len());
        self.strides
            .iter()
            .zip(index)
            .map(|(stride, index)| stride * index)
            .sum()
    }
}

/// Compute the (broadcasted) output shape of matrix multiplication, along with strides for
/// the non-matrix dimensions of all arrays.
///
/// # Arguments
/// * `lsh`: Shape of the first (left-hand) matrix multiplication argument.
/// * `rsh`: Shape of the second (right-hand) matrix multiplication argument.
///
/// # Panics
/// * If `D` is not at least 2.
/// * If the matrix multiplication dimensions (last 2) are incompatible.
/// * If any other dimension is not the same for both tensors, or equal to 1. (Any dimension where
///   one dim is equal to 1 is broadcast.)
fn output_shape(lsh: &[usize], rsh: &[usize]) -> (Shape, Strides, Strides, Strides) {
    let ndims = lsh.num_dims();
    if ndims < 2 {
        panic!("Matrix multiplication requires an array with at least 2 dimensions.");
    }

    // Fetch matrix dimensions and check compatibility.
    let l_rows = lsh[ndims - 2];
    let l_cols = lsh[ndims - 1];
    let r_rows = rsh[ndims - 2];
    let r_cols = rsh[ndims - 1];
    if l_cols != r_rows {
        panic!("Dimensions are incompatible for matrix multiplication.");
    }
    // Set matrix dimensions of the output shape.
    let mut osh = vec![0; ndims];
    osh[ndims - 2] = l_rows;
    osh[ndims - 1] = r_cols;

    // Set other array dimensions, broadcasting as necessary.
    // Compute the strides inline.
    let mut cur_l_stride: usize = 1;
    let mut cur_r_stride: usize = 1;
    let mut cur_o_stride: usize = 1;
    let mut l_strides = Vec::with_capacity(ndims - 2);
    let mut r_strides = Vec::with_capacity(ndims - 2);
    let mut o_strides = Vec::with_capacity(ndims - 2);
    for i in (0..ndims - 2).rev() {
        let l_dim = lsh[i];
        let r_dim = rsh[i];

        // Compatible dimensions are:
        //   1. Both dimensions are equal.
        //   2. One of the dimensions is equal to 1.
        let o_dim: usize;
        if l_dim == r_dim {
            o_dim = l_dim; // both dimensions are equal
            l_strides.push(cur_l_stride);
            r_strides.push(cur_r_stride);
        } else if l_dim == 1 {
            o_dim = r_dim; // broadcast the left
            l_strides.push(0);
            r_strides.push(cur_r_stride);
        } else if r_dim == 1 {
            o_dim = l_dim; // broadcast the right
            l_strides.push(cur_l_stride);
            r_strides.push(0);
        } else {
            panic!("Dimensions differ and cannot be broadcasted.");
        }
        osh[i] = o_dim;
        o_strides.push(cur_o_stride);
        cur_o_stride *= o_dim;

        cur_l_stride *= l_dim;
        cur_r_stride *= r_dim;
    }
    l_strides.reverse();
    r_strides.reverse();
    o_strides.reverse();

    (
        Shape::from(osh),
        Strides::new(l_strides),
        Strides::new(r_strides),
        Strides::new(o_strides),
    )
}

pub(crate) fn cross<E: NdArrayElement>(
    lhs: SharedArray<E>,
    rhs: SharedArray<E>,
    dim: usize,
) -> SharedArray<E> {
    let shape_lhs = lhs.shape();
    let shape_rhs = rhs.shape();
    let ndims = shape_lhs.num_dims();

    // Broadcast the shapes except along dim
    let mut broadcast_shape = vec![0; ndims];
    for i in 0..ndims {
        if i == dim {
            broadcast_shape[i] = shape_lhs[i]; // already checked to be 3
        } else {
            let l = shape_lhs[i];
            let r = shape_rhs[i];
            if l == r {
                broadcast_shape[i] = l;
            } else if l == 1 {
                broadcast_shape[i] = r;
            } else if r == 1 {
                broadcast_shape[i] = l;
            } else {
                panic!("Tensors are not broadcastable along dimension {}", i);
            }
        }
    }

    // Broadcast lhs and rhs
    let lhs_broadcast = if shape_lhs == broadcast_shape.as_slice() {
        lhs
    } else {
        NdArrayOps::expand(lhs, Shape::from(broadcast_shape.clone()))
    };
    let rhs_broadcast = if shape_rhs == broadcast_shape.as_slice() {
        rhs
    } else {
        NdArrayOps::expand(rhs, Shape::from(broadcast_shape.clone()))
    };

    // Now, move dim to the last dimension
    let mut perm = (0..ndims).collect::<Vec<_>>();
    perm.remove(dim);
    perm.push(dim);

    let lhs_permuted = NdArrayOps::permute(lhs_broadcast, &perm);
    let rhs_permuted = NdArrayOps::permute(rhs_broadcast, &perm);

    // Reshape to (*, 3)
    let total_elements = lhs_permuted.shape().num_elements();
    let batch_size = total_elements / 3;
    let lhs_reshaped = NdArrayOps::reshape(lhs_permuted, Shape::new([batch_size, 3]));
    let rhs_reshaped = NdArrayOps::reshape(rhs_permuted, Shape::new([batch_size, 3]));

    // Compute cross product
    let mut result = ndarray::ArrayD::<E>::zeros(IxDyn(&[batch_size, 3]));
    for i in 0..batch_size {
        let a1 = lhs_reshaped[IxDyn(&[i, 0])];
        let a2 = lhs_reshaped[IxDyn(&[i, 1])];
        let a3 = lhs_reshaped[IxDyn(&[i, 2])];
        let b1 = rhs_reshaped[IxDyn(&[i, 0])];
        let b2 = rhs_reshaped[IxDyn(&[i, 1])];
        let b3 = rhs_reshaped[IxDyn(&[i, 2])];
        result[IxDyn(&[i, 0])] = a2.mul(b3).sub(a3.mul(b2));
        result[IxDyn(&[i, 1])] = a3.mul(b1).sub(a1.mul(b3));
        result[IxDyn(&[i, 2])] = a1.mul(b2).sub(a2.mul(b1));
    }

    let result_shared = result.into_shared();

    // Reshape back to the broadcast shape with dim at the end
    let mut result_shape = broadcast_shape;
    result_shape.remove(dim);
    result_shape.push(3);
    let result_reshaped = NdArrayOps::reshape(result_shared, Shape::from(result_shape));

    // Permute back
    let mut inv_perm = vec![0; ndims];
    for (i, &p) in perm.iter().enumerate() {
        inv_perm[p] = i;
    }
    NdArrayOps::permute(result_reshaped, &inv_perm)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Strides {
        fn empty() -> Self {
            Strides {
                strides: Vec::with_capacity(0),
            }
        }
    }

    #[test]
    fn test_output_shape() {
        // plain matrix multiply
        assert_eq!(
            output_shape(&[5, 3], &[3, 7]),
            (
                Shape::from([5, 7]),
                Strides::empty(),
                Strides::empty(),
                Strides::empty()
            )
        );
        // matrix multiply with one extra stack dimension
        assert_eq!(
            output_shape(&[4, 5, 3], &[4, 3, 7]),
            (
                Shape::from([4, 5, 7]),
                Strides::new(vec![1]),
                Strides::new(vec![1]),
                Strides::new(vec![1])
            )
        );
        // rank 3, broadcast left
        assert_eq!(
            output_shape(&[1, 5, 3], &[4, 3, 7]),
            (
                Shape::from([4, 5, 7]),
                Strides::new(vec![0]),
                Strides::new(vec![1]),
                Strides::new(vec![1])
            )
        );
        // rank 3, broadcast right
        assert_eq!(
            output_shape(&[4, 5, 3], &[1, 3, 7]),
            (
                Shape::from([4, 5, 7]),
                Strides::new(vec![1]),
                Strides::new(vec![0]),
                Strides::new(vec![1])
            )
        );
        // rank 4, multi broadcast
        assert_eq!(
            output_shape(&[1, 4, 5, 3], &[8, 1, 3, 7]),
            (
                Shape::from([8, 4, 5, 7]),
                Strides::new(vec![0, 1]),
                Strides::new(vec![1, 0]),
                Strides::new(vec![4, 1])
            )
        );
        // rank 5, multi-broadcast
        assert_eq!(
            output_shape(&[1, 3, 4, 5, 3], &[8, 3, 1, 3, 7]),
            (
                Shape::from([8, 3, 4, 5, 7]),
                Strides::new(vec![0, 4, 1]),
                Strides::new(vec![3, 1, 0]),
                Strides::new(vec![12, 4, 1])
            )
        )
    }

    #[test]
    #[should_panic(
        expected = "Matrix multiplication requires an array with at least 2 dimensions."
    )]
    fn test_output_shape_too_small() {
        output_shape(&[4], &[4]);
    }

    #[test]
    #[should_panic(expected = "Dimensions are incompatible for matrix multiplication.")]
    fn test_output_shape_bad_matrix_dims() {
        output_shape(&[5, 3], &[4, 7]);
    }

    #[test]
    #[should_panic(expected = "Dimensions differ and cannot be broadcasted.")]
    fn test_output_shape_non_broadcast() {
        output_shape(&[4, 5, 3], &[2, 3, 7]);
    }
}

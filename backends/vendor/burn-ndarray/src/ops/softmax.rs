//! lcia patch: the softmax along the last axis of a row-major f32 array and its backward pass,
//! one row at a time (each row stays in the cache) instead of one pass over the whole array and
//! one new array per operation of the backend-generic composite.
//!
//! Every element comes out of the composite's f32 operations in the composite's order, so the
//! results are its results bit for bit:
//! - forward: `max` folded from the row's first element (`if v > acc`), `e = exp(x − max)`
//!   (libm's `expf`, or the reproduced one of [`crate::fastmath`], which equals it), `s = Σ e`
//!   with ndarray's unrolled sum over a contiguous lane (the composite's `sum_axis` takes that
//!   path when the last axis has the smallest stride, which the default layout guarantees),
//!   `y = e / s`;
//! - backward (burn-autodiff's backward passes of the division, the sum and the exponential):
//!   `w = g · (−e / s²)`, `v = Σ w` (the same unrolled sum), the sum's gradient `0 + v` (a sum
//!   over the kept axis of length 1, times ones), and `(g · r + (0 + v)) · e`, where `r` is the
//!   backend's `recip(s)` (given by the caller: on some CPUs it is a SIMD approximation, and the
//!   composite uses it).

use ndarray::{ArrayView1, IxDyn};

use crate::SharedArray;
use crate::element::ExpElement;
use crate::fastmath::{self, Kernel};
use crate::pool::{self, SendPtr};

/// Fewest elements for which the rows are split between the backend's threads.
const PAR_MIN: usize = 1 << 14;

/// Whether `array` is row-major with ndarray's default strides (C order, strides of length-1
/// axes included) and not empty: then every array the composite makes on the way has them too.
pub(crate) fn default_layout(array: &SharedArray<f32>) -> bool {
    let mut expected = 1isize;
    for (&len, &stride) in array.shape().iter().zip(array.strides()).rev() {
        if len == 0 || stride != expected {
            return false;
        }
        expected *= len as isize;
    }
    !array.shape().is_empty()
}

fn to_array(values: Vec<f32>, shape: &[usize]) -> SharedArray<f32> {
    ndarray::Array::from_shape_vec(IxDyn(shape), values)
        .expect("as many values as the shape holds")
        .into_shared()
}

/// The softmax along the last axis: `[y, e, s]` when `keep` (the output, the exponentials and
/// their sums with the last axis kept at length 1), `[y]` otherwise; the array back when it is
/// not in the default layout.
pub(crate) fn forward(
    x: SharedArray<f32>,
    keep: bool,
) -> Result<Vec<SharedArray<f32>>, SharedArray<f32>> {
    if !default_layout(&x) {
        return Err(x);
    }
    let shape = x.shape().to_vec();
    let n = shape[shape.len() - 1];
    let len = x.len();
    let rows = len / n;
    let src = x.as_slice().expect("row-major");
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut exps: Vec<f32> = Vec::with_capacity(if keep { len } else { 0 });
    let mut sums: Vec<f32> = Vec::with_capacity(rows);
    let (yp, ep, sp) = (
        SendPtr(out.as_mut_ptr()),
        SendPtr(exps.as_mut_ptr()),
        SendPtr(sums.as_mut_ptr()),
    );
    let fast = fastmath::fast_math_active();
    let parts = pool::parts(len, PAR_MIN).min(rows);
    pool::run(parts, |part| {
        let (yp, ep, sp) = (yp, ep, sp);
        for row in pool::range(rows, parts, part, 1) {
            let x = &src[row * n..(row + 1) * n];
            let max = x.iter().fold(x[0], |acc, &v| if v > acc { v } else { acc });
            // SAFETY: rows are disjoint between parts; `out` (and `exps` when kept) hold `len`
            // elements and `sums` `rows`; each row is written in full before it is read.
            unsafe {
                let base = if keep { ep.0 } else { yp.0 }.add(row * n);
                for (j, &v) in x.iter().enumerate() {
                    base.add(j).write(v - max);
                }
                let e = core::slice::from_raw_parts_mut(base, n);
                match fast {
                    true => Kernel::Exp.apply(e),
                    false => e.iter_mut().for_each(|v| *v = v.exp_elem()),
                }
                let sum = ArrayView1::from(&*e).sum();
                sp.0.add(row).write(sum);
                if keep {
                    let y = yp.0.add(row * n);
                    for (j, &v) in e.iter().enumerate() {
                        y.add(j).write(v / sum);
                    }
                } else {
                    e.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
    });
    // SAFETY: every element was written above.
    unsafe {
        out.set_len(len);
        sums.set_len(rows);
        if keep {
            exps.set_len(len);
        }
    }
    let mut kept = shape.clone();
    kept[shape.len() - 1] = 1;
    let mut parts = vec![to_array(out, &shape)];
    if keep {
        parts.push(to_array(exps, &shape));
        parts.push(to_array(sums, &kept));
    }
    Ok(parts)
}

/// The input gradient of the softmax along the last axis from the output gradient `g`, the
/// exponentials `e`, the sums `s` and the backend's reciprocals `r` of the sums; `g` back when
/// an operand is not laid out as [`forward`] makes them.
pub(crate) fn backward(
    g: SharedArray<f32>,
    e: &SharedArray<f32>,
    s: &SharedArray<f32>,
    r: &SharedArray<f32>,
) -> Result<SharedArray<f32>, SharedArray<f32>> {
    let shape = e.shape().to_vec();
    let n = shape[shape.len() - 1];
    let rows = e.len() / n.max(1);
    let fits = |a: &SharedArray<f32>| a.len() == rows && a.as_slice().is_some();
    if g.shape() != shape.as_slice()
        || !default_layout(&g)
        || !default_layout(e)
        || !fits(s)
        || !fits(r)
    {
        return Err(g);
    }
    let len = e.len();
    let (gs, es) = (
        g.as_slice().expect("row-major"),
        e.as_slice().expect("row-major"),
    );
    let (ss, rs) = (s.as_slice().expect("rows"), r.as_slice().expect("rows"));
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let op = SendPtr(out.as_mut_ptr());
    let parts = pool::parts(len, PAR_MIN).min(rows);
    pool::run(parts, |part| {
        let op = op;
        for row in pool::range(rows, parts, part, 1) {
            let (g, e) = (&gs[row * n..(row + 1) * n], &es[row * n..(row + 1) * n]);
            let square = ss[row] * ss[row];
            // SAFETY: rows are disjoint between parts and `out` holds `len` elements; the row
            // is written in full (the products `w`) before it is read.
            unsafe {
                let o = op.0.add(row * n);
                for j in 0..n {
                    o.add(j).write(g[j] * (-e[j] / square));
                }
                let w = core::slice::from_raw_parts_mut(o, n);
                let spread = 0.0 + ArrayView1::from(&*w).sum();
                for j in 0..n {
                    w[j] = (g[j] * rs[row] + spread) * e[j];
                }
            }
        }
    });
    // SAFETY: every element was written above.
    unsafe { out.set_len(len) };
    Ok(to_array(out, &shape))
}

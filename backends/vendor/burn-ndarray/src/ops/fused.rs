//! lcia patch: `Σ |a − b|` and `Σ |a|` along the last axis, and `a·ka + b·kb` with one factor
//! per row, of row-major f32 arrays, in one pass each instead of the composite's two or three
//! passes with a new array per operation.
//!
//! Every element comes out of the composite's f32 operations in the composite's order, so the
//! results are its results bit for bit:
//! - the sums: `|a − b|` (or `|a|`) element by element, summed along each row as the
//!   composite's `sum_axis` sums a contiguous lane (the path it takes when the summed axis has
//!   the smallest stride, which the default layout gives the last axis): ndarray's unrolled
//!   fold, eight partial sums over chunks of eight from zero, combined as
//!   `0 + (p0 + p4)`, `+ (p1 + p5)`, `+ (p2 + p6)`, `+ (p3 + p7)`, then the rest one by one;
//! - the mix: `a·ka` and `b·kb`, each rounded to f32, then their sum (no fused multiply-add).

use ndarray::IxDyn;

use super::softmax::default_layout;
use crate::SharedArray;
use crate::pool::{self, SendPtr};

/// Fewest elements for which the rows are split between the backend's threads.
const PAR_MIN: usize = 1 << 14;

/// `Σ |a − b|` of two rows (`Σ |a|` without `b`) in the order of ndarray's unrolled fold.
fn row_sum(a: &[f32], b: Option<&[f32]>) -> f32 {
    let mut p = [0.0f32; 8];
    let whole = a.len() / 8 * 8;
    match b {
        Some(b) => {
            for (ca, cb) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
                for k in 0..8 {
                    p[k] += (ca[k] - cb[k]).abs();
                }
            }
        }
        None => {
            for ca in a[..whole].chunks_exact(8) {
                for k in 0..8 {
                    p[k] += ca[k].abs();
                }
            }
        }
    }
    let mut acc = 0.0f32;
    acc += p[0] + p[4];
    acc += p[1] + p[5];
    acc += p[2] + p[6];
    acc += p[3] + p[7];
    for j in whole..a.len() {
        acc += match b {
            Some(b) => (a[j] - b[j]).abs(),
            None => a[j].abs(),
        };
    }
    acc
}

/// `Σ |a − b|` (`Σ |a|` without `b`) along the last axis, which is kept with length 1; the
/// operands back when they are not row-major arrays of one shape.
#[allow(clippy::type_complexity)]
pub(crate) fn sum_abs_last(
    a: SharedArray<f32>,
    b: Option<SharedArray<f32>>,
) -> Result<SharedArray<f32>, (SharedArray<f32>, Option<SharedArray<f32>>)> {
    let fits = default_layout(&a)
        && b.as_ref()
            .is_none_or(|b| b.shape() == a.shape() && default_layout(b));
    if !fits {
        return Err((a, b));
    }
    let shape = a.shape().to_vec();
    let n = shape[shape.len() - 1];
    let rows = a.len() / n;
    let xs = a.as_slice().expect("row-major");
    let ys = b.as_ref().map(|b| b.as_slice().expect("row-major"));
    let mut out: Vec<f32> = Vec::with_capacity(rows);
    let op = SendPtr(out.as_mut_ptr());
    let parts = pool::parts(a.len(), PAR_MIN).min(rows);
    pool::run(parts, |part| {
        let op = op;
        for row in pool::range(rows, parts, part, 1) {
            let span = row * n..(row + 1) * n;
            let sum = row_sum(&xs[span.clone()], ys.map(|ys| &ys[span]));
            // SAFETY: rows are disjoint between parts and `out` holds `rows` elements.
            unsafe { op.0.add(row).write(sum) };
        }
    });
    // SAFETY: every row was written above.
    unsafe { out.set_len(rows) };
    let mut kept = shape;
    let last = kept.len() - 1;
    kept[last] = 1;
    Ok(ndarray::Array::from_shape_vec(IxDyn(&kept), out)
        .expect("one value per row")
        .into_shared())
}

/// `a·ka + b·kb` for row-major `a`, `b` of one shape and factors `ka`, `kb` holding one value
/// per row (that shape with the last axis of length 1); `a` is overwritten when it is not
/// shared. The operands back otherwise.
#[allow(clippy::type_complexity)]
pub(crate) fn mix_rows(
    mut a: SharedArray<f32>,
    ka: SharedArray<f32>,
    b: SharedArray<f32>,
    kb: SharedArray<f32>,
) -> Result<SharedArray<f32>, [SharedArray<f32>; 4]> {
    let shape = a.shape().to_vec();
    let mut kept = shape.clone();
    if let Some(last) = kept.last_mut() {
        *last = 1;
    }
    let column = |k: &SharedArray<f32>| k.shape() == kept.as_slice() && default_layout(k);
    let fits = default_layout(&a)
        && b.shape() == shape.as_slice()
        && default_layout(&b)
        && column(&ka)
        && column(&kb);
    if !fits {
        return Err([a, ka, b, kb]);
    }
    let n = shape[shape.len() - 1];
    let (len, rows) = (a.len(), a.len() / n);
    let (ks, ys, ts) = (
        ka.as_slice().expect("row-major"),
        b.as_slice().expect("row-major"),
        kb.as_slice().expect("row-major"),
    );
    let parts = pool::parts(len, PAR_MIN).min(rows);
    let mix = |o: &mut [f32], x: Option<&[f32]>, row: usize| {
        let (k, t) = (ks[row], ts[row]);
        let y = &ys[row * n..(row + 1) * n];
        match x {
            Some(x) => o
                .iter_mut()
                .zip(x.iter().zip(y))
                .for_each(|(o, (&x, &y))| *o = x * k + y * t),
            None => o.iter_mut().zip(y).for_each(|(o, &y)| *o = *o * k + y * t),
        }
    };
    if a.is_unique() {
        let op = SendPtr(a.as_slice_mut().expect("row-major").as_mut_ptr());
        pool::run(parts, |part| {
            let op = op;
            for row in pool::range(rows, parts, part, 1) {
                // SAFETY: rows are disjoint between parts; the array holds `len` elements.
                let o = unsafe { core::slice::from_raw_parts_mut(op.0.add(row * n), n) };
                mix(o, None, row);
            }
        });
        return Ok(a);
    }
    let xs = a.as_slice().expect("row-major");
    let mut out: Vec<f32> = vec![0.0; len];
    let op = SendPtr(out.as_mut_ptr());
    pool::run(parts, |part| {
        let op = op;
        for row in pool::range(rows, parts, part, 1) {
            // SAFETY: rows are disjoint between parts; `out` holds `len` elements.
            let o = unsafe { core::slice::from_raw_parts_mut(op.0.add(row * n), n) };
            mix(o, Some(&xs[row * n..(row + 1) * n]), row);
        }
    });
    Ok(ndarray::Array::from_shape_vec(IxDyn(&shape), out)
        .expect("same shape")
        .into_shared())
}

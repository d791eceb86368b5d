//! lcia patch: element-wise operations of two arrays (with broadcasting) in parts on the
//! backend's threads (`crate::pool`). Every output element is `f` of the same two inputs as on
//! one thread, so the results do not depend on the thread count.

use crate::{
    SharedArray,
    pool::{self, SendPtr},
};
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use ndarray::{ArrayViewMutD, Axis, IxDyn, Slice, Zip};

/// Output elements per part below which a binary operation stays on one thread.
const PAR_MIN: usize = 1 << 14;

/// The shape both operands broadcast to (same rank, each axis equal or 1 on one side).
fn broadcast_shape(lhs: &[usize], rhs: &[usize]) -> Option<Vec<usize>> {
    if lhs.len() != rhs.len() || lhs.is_empty() {
        return None;
    }
    lhs.iter()
        .zip(rhs)
        .map(|(&l, &r)| match (l, r) {
            _ if l == r => Some(l),
            (1, r) => Some(r),
            (l, 1) => Some(l),
            _ => None,
        })
        .collect()
}

/// `f(lhs, rhs)` element by element with broadcasting, in parts on the backend's threads when
/// the output is large; gives the operands back untouched when it would stay on one thread.
pub(crate) fn par_binary<E, F>(
    mut lhs: SharedArray<E>,
    rhs: SharedArray<E>,
    f: F,
) -> Result<SharedArray<E>, (SharedArray<E>, SharedArray<E>)>
where
    E: Copy + Send + Sync,
    F: Fn(E, E) -> E + Sync,
{
    let Some(shape) = broadcast_shape(lhs.shape(), rhs.shape()) else {
        return Err((lhs, rhs));
    };
    let len: usize = shape.iter().product();
    let parts = pool::parts(len, PAR_MIN);
    if parts == 1 {
        return Err((lhs, rhs));
    }
    let same = lhs.shape() == rhs.shape();
    if same && lhs.is_standard_layout() && rhs.is_standard_layout() {
        let b = rhs.as_slice().expect("row-major");
        if lhs.is_unique() {
            pool::zip_in_place(lhs.as_slice_mut().expect("row-major"), b, parts, &f);
            return Ok(lhs);
        }
        let out = pool::zip_to_vec(lhs.as_slice().expect("row-major"), b, parts, &f);
        let out = ndarray::Array::from_shape_vec(lhs.raw_dim(), out).expect("same shape");
        return Ok(out.into_shared());
    }
    // Broadcasting or strided operands: the output's first axis is split.
    let rows = shape[0];
    let parts = parts.min(rows);
    if parts < 2 {
        return Err((lhs, rhs));
    }
    let row_len = len / rows;
    let dim = IxDyn(&shape);
    // The left operand is overwritten when it is row-major, unshared and already the output's
    // shape; otherwise the output is a new row-major array.
    let in_place = lhs.shape() == shape.as_slice() && lhs.is_standard_layout() && lhs.is_unique();
    let mut fresh: Vec<E> = Vec::new();
    let out = if in_place {
        SendPtr(lhs.as_slice_mut().expect("row-major").as_mut_ptr() as *mut MaybeUninit<E>)
    } else {
        fresh.reserve_exact(len);
        SendPtr(fresh.as_mut_ptr() as *mut MaybeUninit<E>)
    };
    {
        // In place the left operand is read through the output itself, not through a view.
        let l = (!in_place).then(|| lhs.broadcast(dim.clone()).expect("broadcastable"));
        let r = rhs.broadcast(dim.clone()).expect("broadcastable");
        pool::run(parts, |part| {
            let range = pool::range(rows, parts, part, 1);
            let mut sub = shape.clone();
            sub[0] = range.len();
            let out = out;
            // SAFETY: rows `range` of the row-major output, disjoint between parts (in place:
            // initialised elements of the left operand, which nothing else reads meanwhile).
            let o = unsafe {
                ArrayViewMutD::from_shape_ptr(IxDyn(&sub), out.0.add(range.start * row_len))
            };
            let slice = Slice::from(range);
            let r = r.slice_axis(Axis(0), slice);
            match &l {
                Some(l) => Zip::from(o)
                    .and(l.slice_axis(Axis(0), slice))
                    .and(r)
                    .for_each(|o, &a, &b| {
                        o.write(f(a, b));
                    }),
                // SAFETY: in place every output element holds the left operand's value.
                None => Zip::from(o).and(r).for_each(|o, &b| {
                    o.write(f(unsafe { o.assume_init_read() }, b));
                }),
            }
        });
    }
    if in_place {
        return Ok(lhs);
    }
    // SAFETY: every element was written above.
    unsafe { fresh.set_len(len) };
    let out = ndarray::Array::from_shape_vec(dim, fresh).expect("same shape");
    Ok(out.into_shared())
}

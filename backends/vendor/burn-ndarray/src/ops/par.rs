//! lcia patch: element-wise operations of two arrays (with broadcasting) and copies in parts
//! on the backend's threads (`crate::pool`). Every output element is `f` of the same two inputs
//! (or the same copied element) as on one thread, so the results do not depend on the thread
//! count.

use crate::{
    SharedArray,
    pool::{self, SendPtr},
};
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice, Zip};

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
    if len == 0 {
        return Err((lhs, rhs));
    }
    // One part (small, or one thread) still takes the paths below: they overwrite an unshared
    // left operand instead of allocating a new output.
    let parts = pool::parts(len, PAR_MIN);
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
    let mut lhs = match row_broadcast(lhs, &rhs, &shape, len, &f) {
        Ok(out) => return Ok(out),
        Err(lhs) => lhs,
    };
    // Broadcasting or strided operands: the output's first axis is split.
    let rows = shape[0];
    let parts = parts.min(rows);
    let in_place = lhs.shape() == shape.as_slice() && lhs.is_standard_layout() && lhs.is_unique();
    if parts < 2 && !in_place {
        return Err((lhs, rhs));
    }
    let dim = IxDyn(&shape);
    // The left operand is overwritten when it is row-major, unshared and already the output's
    // shape; otherwise the output is a new row-major array.
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
        // SAFETY: `out` is the row-major output (in place: initialised elements of the left
        // operand, which nothing else reads meanwhile).
        unsafe {
            for_rows(out, &shape, parts, |rows, o| {
                let slice = Slice::from(rows);
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
                        o.write(f(o.assume_init_read(), b));
                    }),
                }
            })
        };
    }
    if in_place {
        return Ok(lhs);
    }
    // SAFETY: every element was written above.
    unsafe { fresh.set_len(len) };
    let out = ndarray::Array::from_shape_vec(dim, fresh).expect("same shape");
    Ok(out.into_shared())
}

/// Runs `write(rows, output rows)` for `parts` disjoint ranges of the first axis of the
/// row-major array of `shape` at `out`.
///
/// # Safety
/// `out` must be valid for writes of the whole array for the duration of the call.
unsafe fn for_rows<E: Send + Sync>(
    out: SendPtr<MaybeUninit<E>>,
    shape: &[usize],
    parts: usize,
    write: impl Fn(core::ops::Range<usize>, ArrayViewMutD<'_, MaybeUninit<E>>) + Sync,
) {
    let rows = shape[0];
    let row_len = shape[1..].iter().product::<usize>();
    pool::run(parts, |part| {
        let range = pool::range(rows, parts, part, 1);
        let mut sub = shape.to_vec();
        sub[0] = range.len();
        let out = out;
        // SAFETY: rows `range` of the output (the caller's guarantee), disjoint between parts.
        let o = unsafe {
            ArrayViewMutD::from_shape_ptr(IxDyn(&sub), out.0.add(range.start * row_len))
        };
        write(range, o);
    });
}

/// A new row-major array of `shape`, its rows written in `parts` parts by `write(rows, output
/// rows)`, which must write every element of its rows.
fn par_rows<E: Copy + Send + Sync>(
    shape: &[usize],
    parts: usize,
    write: impl Fn(core::ops::Range<usize>, ArrayViewMutD<'_, MaybeUninit<E>>) + Sync,
) -> ArrayD<E> {
    let len: usize = shape.iter().product();
    let mut fresh: Vec<E> = Vec::with_capacity(len);
    let out = SendPtr(fresh.as_mut_ptr() as *mut MaybeUninit<E>);
    // SAFETY: `fresh` has room for the whole array.
    unsafe { for_rows(out, shape, parts, write) };
    // SAFETY: every row was written by one part.
    unsafe { fresh.set_len(len) };
    ArrayD::from_shape_vec(IxDyn(shape), fresh).expect("same shape")
}

/// Parts for a copy of `len` elements split along a first axis of `rows` (1: stay on one thread).
fn copy_parts(len: usize, rows: usize) -> usize {
    pool::parts(len, PAR_MIN).min(rows)
}

/// A row-major copy of `array`, in parts on the backend's threads when it is large (`None`
/// otherwise: the caller copies on its own thread).
pub(crate) fn standard_copy<E: Copy + Send + Sync>(array: &ArrayViewD<'_, E>) -> Option<ArrayD<E>> {
    let shape = array.shape();
    if shape.is_empty() {
        return None;
    }
    let parts = copy_parts(array.len(), shape[0]);
    if parts < 2 {
        return None;
    }
    Some(par_rows(shape, parts, |rows, o| {
        array.slice_axis(Axis(0), Slice::from(rows)).assign_to(o);
    }))
}

/// `arrays` concatenated along axis `dim` (not the first) into a row-major array, in parts on
/// the backend's threads when it is large (`None` otherwise).
pub(crate) fn concatenate<E: Copy + Send + Sync>(
    arrays: &[ArrayViewD<'_, E>],
    shape: &[usize],
) -> Option<ArrayD<E>> {
    let dim = (0..shape.len()).find(|&d| arrays.iter().any(|a| a.shape()[d] != shape[d]))?;
    if dim == 0 {
        return None;
    }
    let parts = copy_parts(shape.iter().product(), shape[0]);
    if parts < 2 {
        return None;
    }
    Some(par_rows(shape, parts, |rows, mut o| {
        let mut start = 0;
        for a in arrays {
            let len = a.shape()[dim];
            let src = a.slice_axis(Axis(0), Slice::from(rows.clone()));
            src.assign_to(o.slice_axis_mut(Axis(dim), Slice::from(start..start + len)));
            start += len;
        }
    }))
}

/// Shortest last axis for which [`row_broadcast`] takes an operation (its per-row bookkeeping
/// would cost more on shorter rows).
const ROW_MIN: usize = 8;

/// `f(lhs, rhs)` for a row-major left operand of the output's shape and a right operand that
/// is, along the last axis, one value per row (`[.., 1]`: a softmax's or a norm's divisor) or
/// a contiguous row (`[.., n]` repeated over leading axes: a norm's weight, a rotary table),
/// as plain loops over each row (ndarray's `Zip` walks a broadcast operand element by element).
/// Rows are split between the backend's threads when large; every element is `f` of the same
/// two inputs. Gives the left operand back when the shapes do not fit.
fn row_broadcast<E, F>(
    mut lhs: SharedArray<E>,
    rhs: &SharedArray<E>,
    shape: &[usize],
    len: usize,
    f: &F,
) -> Result<SharedArray<E>, SharedArray<E>>
where
    E: Copy + Send + Sync,
    F: Fn(E, E) -> E + Sync,
{
    let last = shape.len() - 1;
    let n = shape[last];
    if lhs.shape() != shape || !lhs.is_standard_layout() || n < ROW_MIN {
        return Err(lhs);
    }
    let Some(r) = rhs.broadcast(IxDyn(shape)) else {
        return Err(lhs);
    };
    let rstrides: Vec<isize> = r.strides().to_vec();
    let per_row = rstrides[last] == 0;
    if !per_row && rstrides[last] != 1 {
        return Err(lhs);
    }
    let rows = len / n;
    let parts = pool::parts(len, PAR_MIN).min(rows);
    let rptr = SendPtr(r.as_ptr() as *mut E);
    let in_place = lhs.is_unique();
    let mut fresh: Vec<E> = Vec::new();
    let (src, dst) = if in_place {
        let p = lhs.as_slice_mut().expect("row-major").as_mut_ptr();
        (SendPtr(p), SendPtr(p))
    } else {
        fresh.reserve_exact(len);
        let src = lhs.as_slice().expect("row-major").as_ptr() as *mut E;
        (SendPtr(src), SendPtr(fresh.as_mut_ptr()))
    };
    pool::run(parts, |part| {
        let (src, dst, rptr) = (src, dst, rptr);
        for row in pool::range(rows, parts, part, 1) {
            // The right operand's offset of this row: its index along each leading axis.
            let (mut rest, mut offset) = (row, 0isize);
            for axis in (0..last).rev() {
                offset += (rest % shape[axis]) as isize * rstrides[axis];
                rest /= shape[axis];
            }
            // SAFETY: rows are disjoint between parts; `src` and `dst` hold `len` elements
            // (the same buffer in place, where each element is read before it is written);
            // `offset` stays inside the right operand's broadcast view.
            unsafe {
                let a = src.0.add(row * n) as *const E;
                let o = dst.0.add(row * n);
                let b = rptr.0.offset(offset) as *const E;
                if per_row {
                    let b = *b;
                    for j in 0..n {
                        o.add(j).write(f(*a.add(j), b));
                    }
                } else {
                    for j in 0..n {
                        o.add(j).write(f(*a.add(j), *b.add(j)));
                    }
                }
            }
        }
    });
    if in_place {
        return Ok(lhs);
    }
    // SAFETY: every element was written above.
    unsafe { fresh.set_len(len) };
    let out = ndarray::Array::from_shape_vec(IxDyn(shape), fresh).expect("same shape");
    Ok(out.into_shared())
}

//! lcia patch: f32 products with a thin side (few rows, few columns or a short inner
//! dimension: LoRA's rank-r products, per-head attention) computed without packing, with the
//! bits of matrixmultiply.
//!
//! matrixmultiply packs both operands into panels and runs a 16 × 16 (AVX-512) or 8 × 8 (AVX2)
//! kernel; when one side of the product is a few elements wide, packing the large operand costs
//! as much as the product and most of each tile is padding. Here the small right operand is
//! made row-major (if it is not), the left one is read in place (one stored transposed, as in
//! a weight gradient `xᵀ · g`, becomes the right operand of `cᵀ = bᵀ · aᵀ`), and each output
//! element is summed exactly as matrixmultiply sums it: over `k` in blocks of 256 (its `kc`),
//! within a block by fused multiply-adds in order starting from zero, the first block's sum
//! stored and each later one added to the stored value. The same operations in the same order
//! give the same bits (`tests/cpu_math.rs` in lcia compares the two on many shapes and
//! strides).

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::*;
use std::sync::OnceLock;

/// matrixmultiply's block length along `k` for f32 (`archparam::S_KC`).
const KC: usize = 256;

/// Whether the CPU has AVX-512F (checked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Whether f32 products with a thin side skip matrixmultiply's packing on this machine
/// (x86-64 with AVX-512F); the results are the same bits either way.
pub fn direct_products_active() -> bool {
    available()
}

/// Whether an `m × k · k × n` product goes to the direct kernel: one side at most [`THIN`]
/// wide, and the operand read by vectors (the right one, or the left one when it is stored
/// transposed and the product is computed as `(bᵀ · aᵀ)ᵀ`) small enough for the first cache
/// levels.
pub(crate) fn wanted(m: usize, k: usize, n: usize, rsa: isize, csa: isize) -> bool {
    if m.min(k).min(n) > THIN || !available() {
        return false;
    }
    if along_rows(m, csa) {
        k * n <= SMALL
    } else {
        // Measured faster only for a few columns (rank-r weight gradients); the per-head
        // `pᵀ · g` of attention (32 columns) was slower than matrixmultiply.
        rsa == 1 && n <= 16 && k * m <= SMALL
    }
}

/// Whether the left operand is read along its rows (contiguous rows, or so few rows that the
/// stride does not matter); otherwise the product is computed transposed.
fn along_rows(m: usize, csa: isize) -> bool {
    csa == 1 || m <= 16
}

/// Elements of the operand read by vectors up to which the direct kernel is used.
const SMALL: usize = 64 * 1024;

/// Width up to which a side counts as thin (chosen by measurement, docs/performance.md).
const THIN: usize = 32;

/// `c = a · b` for the `m × n` block at `c` (rows `ldc` apart), `a` and `b` given by element
/// pointers and strides (in elements).
///
/// # Safety
/// The pointers must be valid for the given shapes and strides, `c` for writes of the block;
/// [`available`] must be true.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn sgemm(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    ldc: usize,
) {
    if along_rows(m, csa) {
        unsafe { by_rows(m, k, n, a, rsa, csa, b, rsb, csb, c, ldc) };
    } else {
        // A left operand stored transposed (a weight gradient `xᵀ · g`): `cᵀ = bᵀ · aᵀ`, whose
        // right operand `aᵀ` has contiguous rows, into a scratch block copied back transposed.
        // Every element is the same sum of the same products in the same order.
        let mut t = vec![0.0f32; n * m];
        unsafe { by_rows(n, k, m, b, csb, rsb, a, csa, rsa, t.as_mut_ptr(), m) };
        for (j, column) in t.chunks_exact(m).enumerate() {
            for (i, v) in column.iter().enumerate() {
                unsafe { c.add(i * ldc + j).write(*v) };
            }
        }
    }
}

/// [`sgemm`] reading the left operand along its rows.
///
/// # Safety
/// As [`sgemm`].
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
unsafe fn by_rows(
    m: usize,
    k: usize,
    n: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    rsb: isize,
    csb: isize,
    c: *mut f32,
    ldc: usize,
) {
    let packed: Vec<f32>;
    let (b, ldb) = if csb == 1 && rsb >= 0 {
        (b, rsb as usize)
    } else {
        let mut rows = Vec::with_capacity(k * n);
        for kk in 0..k {
            for j in 0..n {
                rows.push(unsafe { *b.offset(kk as isize * rsb + j as isize * csb) });
            }
        }
        packed = rows;
        (packed.as_ptr(), n)
    };
    let mut j0 = 0;
    while j0 < n {
        let cols = (n - j0).min(64);
        let chunks = cols.div_ceil(16);
        let tail = cols - 16 * (chunks - 1);
        let mask: u16 = if tail == 16 {
            u16::MAX
        } else {
            (1u16 << tail) - 1
        };
        let block = Block {
            k,
            a,
            rsa,
            csa,
            b: unsafe { b.add(j0) },
            ldb,
            c: unsafe { c.add(j0) },
            ldc,
            mask,
        };
        unsafe {
            match chunks {
                1 => block.rows::<8, 1>(m),
                2 => block.rows::<6, 2>(m),
                3 => block.rows::<4, 3>(m),
                _ => block.rows::<4, 4>(m),
            }
        }
        j0 += cols;
    }
}

/// Up to 64 columns of the product, every row.
#[cfg(target_arch = "x86_64")]
struct Block {
    k: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    /// Lanes of the last 16-column chunk inside the product.
    mask: u16,
}

#[cfg(target_arch = "x86_64")]
impl Block {
    /// Tiles of `R` rows, then single rows for the remainder.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const R: usize, const CJ: usize>(&self, m: usize) {
        let mut i = 0;
        while i + R <= m {
            unsafe { self.tile::<R, CJ>(i) };
            i += R;
        }
        while i < m {
            unsafe { self.tile::<1, CJ>(i) };
            i += 1;
        }
    }

    /// Rows `i..i + R` of the block: `R × CJ` accumulators of 16 lanes.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const CJ: usize>(&self, i: usize) {
        let a = unsafe { self.a.offset(i as isize * self.rsa) };
        let c = unsafe { self.c.add(i * self.ldc) };
        let lanes = |cj: usize| if cj + 1 == CJ { self.mask } else { u16::MAX };
        let mut start = 0;
        while start < self.k {
            let end = (start + KC).min(self.k);
            let mut acc = [[_mm512_setzero_ps(); CJ]; R];
            for kk in start..end {
                let brow = unsafe { self.b.add(kk * self.ldb) };
                let mut bv = [_mm512_setzero_ps(); CJ];
                for (cj, v) in bv.iter_mut().enumerate() {
                    *v = unsafe { _mm512_maskz_loadu_ps(lanes(cj), brow.add(16 * cj)) };
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = unsafe { *a.offset(r as isize * self.rsa + kk as isize * self.csa) };
                    let av = _mm512_set1_ps(x);
                    for (acc, bv) in row.iter_mut().zip(&bv) {
                        *acc = _mm512_fmadd_ps(av, *bv, *acc);
                    }
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (cj, acc) in row.iter().enumerate() {
                    let p = unsafe { c.add(r * self.ldc + 16 * cj) };
                    let sum = if start == 0 {
                        *acc
                    } else {
                        _mm512_add_ps(unsafe { _mm512_maskz_loadu_ps(lanes(cj), p) }, *acc)
                    };
                    unsafe { _mm512_mask_storeu_ps(p, lanes(cj), sum) };
                }
            }
            start = end;
        }
    }
}

/// Never called: [`available`] is false off x86-64.
///
/// # Safety
/// None needed.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn sgemm(
    _m: usize,
    _k: usize,
    _n: usize,
    _a: *const f32,
    _rsa: isize,
    _csa: isize,
    _b: *const f32,
    _rsb: isize,
    _csb: isize,
    _c: *mut f32,
    _ldc: usize,
) {
    unreachable!("the direct product needs AVX-512")
}

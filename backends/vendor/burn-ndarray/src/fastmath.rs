//! lcia patch: `exp`, `log` and the one-pass sigmoid of f32 arrays with glibc's `expf` and
//! `logf` reproduced operation for operation, four elements at a time with AVX2 instead of a
//! library call per element, with the results of the system's libm bit for bit.
//!
//! x86-64 glibc (2.27 and later) selects `__expf_fma` and `__logf_fma` on CPUs with FMA and
//! AVX2: a table of 2^(i/32) (exp) or of 16 pairs (1/c, log c) (log) and a short polynomial
//! in f64 with fused multiply-adds. The functions below make the same operations in the same
//! order with the same constants, for the inputs of the main paths (|x| < 88 for exp, positive
//! normal numbers for log); every other input (overflow, underflow, zero, subnormal, negative,
//! infinite, NaN) is recomputed with libm. They are used only where the CPU has FMA and AVX2 and
//! a check at first use finds them equal to libm on a spread of inputs ([`fast_math_active`]);
//! everywhere else (another libm, another CPU) every element goes through libm as before.

use std::any::Any;
use std::sync::OnceLock;

use crate::SharedArray;

const EXP_TABLE: [u64; 32] = [
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
];
/// 32 / ln 2, the shift that rounds to an integer, and the polynomial of 2^(r/32).
const INV_LN2_N: u64 = 0x40471547652b82fe;
const SHIFT: u64 = 0x4338000000000000;
const EXP_POLY: [u64; 3] = [0x3ebc6af84b912394, 0x3f2ebfce50fac4f3, 0x3f962e42ff0c52d6];

/// (1/c, log c) for the 16 subintervals of the mantissa, ln 2, and the polynomial of log1p.
const LOG_TABLE: [(u64, u64); 16] = [
    (0x3ff661ec79f8f3be, 0xbfd57bf7808caade),
    (0x3ff571ed4aaf883d, 0xbfd2bef0a7c06ddb),
    (0x3ff49539f0f010b0, 0xbfd01eae7f513a67),
    (0x3ff3c995b0b80385, 0xbfcb31d8a68224e9),
    (0x3ff30d190c8864a5, 0xbfc6574f0ac07758),
    (0x3ff25e227b0b8ea0, 0xbfc1aa2bc79c8100),
    (0x3ff1bb4a4a1a343f, 0xbfba4e76ce8c0e5e),
    (0x3ff12358f08ae5ba, 0xbfb1973c5a611ccc),
    (0x3ff0953f419900a7, 0xbfa252f438e10c1e),
    (0x3ff0000000000000, 0x0000000000000000),
    (0x3fee608cfd9a47ac, 0x3faaa5aa5df25984),
    (0x3feca4b31f026aa0, 0x3fbc5e53aa362eb4),
    (0x3feb2036576afce6, 0x3fc526e57720db08),
    (0x3fe9c2d163a1aa2d, 0x3fcbc2860d224770),
    (0x3fe886e6037841ed, 0x3fd1058bc8a07ee1),
    (0x3fe767dcf5534862, 0x3fd4043057b6ee09),
];
const LN2: u64 = 0x3fe62e42fefa39ef;
const LOG_POLY: [u64; 3] = [0xbfd00ea348b88334, 0x3fd5575b0be00b6a, 0xbfdffffef20a4123];

fn f(bits: u64) -> f64 {
    f64::from_bits(bits)
}

/// The backend-generic sigmoid `exp(−log(1 + exp(−x)))` with libm's functions.
fn sigmoid_libm(x: f32) -> f32 {
    (-((-x).exp() + 1.0).ln()).exp()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    //! Four lanes at a time: the f32 inputs widened to f64 in a 256-bit register, the tables
    //! read with gathers; in each lane the operations of `__expf_fma` / `__logf_fma`.

    use core::arch::x86_64::*;

    use super::{EXP_POLY, EXP_TABLE, INV_LN2_N, LN2, LOG_POLY, LOG_TABLE, SHIFT, f};

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn splat(bits: u64) -> __m256d {
        _mm256_set1_pd(f(bits))
    }

    /// Lanes whose `expf` leaves the main path, as a 4-bit mask.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn exp_outside(x: __m128) -> i32 {
        let top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(x), 20), _mm_set1_epi32(0x7ff));
        _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(top, _mm_set1_epi32(0x42a))))
    }

    /// Lanes whose `logf` leaves the main path, as a 4-bit mask.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn log_outside(x: __m128) -> i32 {
        // Unsigned `ix − 0x800000 > 0x7effffff` as a signed comparison of values offset by 2³¹.
        let shifted = _mm_sub_epi32(_mm_castps_si128(x), _mm_set1_epi32(0x0080_0000));
        let flip = _mm_set1_epi32(i32::MIN);
        let bound = _mm_xor_si128(_mm_set1_epi32(0x7eff_ffff), flip);
        let over = _mm_cmpgt_epi32(_mm_xor_si128(shifted, flip), bound);
        _mm_movemask_ps(_mm_castsi128_ps(over))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn exp4(x: __m128) -> (__m128, i32) {
        let xd = _mm256_cvtps_pd(x);
        let kd = _mm256_fmadd_pd(splat(INV_LN2_N), xd, splat(SHIFT));
        let ki = _mm256_castpd_si256(kd);
        let kd = _mm256_sub_pd(kd, splat(SHIFT));
        let r = _mm256_fmsub_pd(splat(INV_LN2_N), xd, kd);
        let index = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
        // SAFETY: every index is in 0..32, the table's length.
        let t = unsafe { _mm256_i64gather_epi64::<8>(EXP_TABLE.as_ptr() as *const i64, index) };
        let s = _mm256_castsi256_pd(_mm256_add_epi64(t, _mm256_slli_epi64::<47>(ki)));
        let z = _mm256_fmadd_pd(r, splat(EXP_POLY[0]), splat(EXP_POLY[1]));
        let r2 = _mm256_mul_pd(r, r);
        let y = _mm256_fmadd_pd(r, splat(EXP_POLY[2]), _mm256_set1_pd(1.0));
        let y = _mm256_fmadd_pd(z, r2, y);
        (_mm256_cvtpd_ps(_mm256_mul_pd(y, s)), exp_outside(x))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn log4(x: __m128) -> (__m128, i32) {
        let ix = _mm_castps_si128(x);
        let tmp = _mm_sub_epi32(ix, _mm_set1_epi32(0x3f33_0000));
        let i = _mm_and_si128(_mm_srli_epi32::<19>(tmp), _mm_set1_epi32(15));
        let pair = _mm_slli_epi32::<1>(i);
        let table = LOG_TABLE.as_ptr() as *const f64;
        // SAFETY: every pair index is in 0..32 (16 pairs of f64), inside the table.
        let (invc, logc) = unsafe {
            (
                _mm256_i32gather_pd::<8>(table, pair),
                _mm256_i32gather_pd::<8>(table.add(1), pair),
            )
        };
        let k = _mm256_cvtepi32_pd(_mm_srai_epi32::<23>(tmp));
        let iz = _mm_sub_epi32(ix, _mm_and_si128(tmp, _mm_set1_epi32(0xff80_0000u32 as i32)));
        let z = _mm256_cvtps_pd(_mm_castsi128_ps(iz));
        let y0 = _mm256_fmadd_pd(k, splat(LN2), logc);
        let r = _mm256_fmadd_pd(z, invc, _mm256_set1_pd(-1.0));
        let y = _mm256_fmadd_pd(r, splat(LOG_POLY[1]), splat(LOG_POLY[2]));
        let r2 = _mm256_mul_pd(r, r);
        let y0 = _mm256_add_pd(r, y0);
        let y = _mm256_fmadd_pd(r2, splat(LOG_POLY[0]), y);
        let y = _mm256_cvtpd_ps(_mm256_fmadd_pd(r2, y, y0));
        let one = _mm_castsi128_ps(_mm_cmpeq_epi32(ix, _mm_set1_epi32(0x3f80_0000)));
        (_mm_andnot_ps(one, y), log_outside(x))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn sigmoid4(x: __m128) -> (__m128, i32) {
        let sign = _mm_set1_ps(-0.0);
        let (e, out_e) = exp4(_mm_xor_ps(x, sign));
        let a = _mm_add_ps(e, _mm_set1_ps(1.0));
        let (l, out_l) = log4(a);
        let (y, out_y) = exp4(_mm_xor_ps(l, sign));
        (y, out_e | out_l | out_y)
    }

    /// `$lanes` over `$values` four at a time, the flagged lanes and the last `len % 4`
    /// elements through `$scalar` (libm).
    macro_rules! run {
        ($values:expr, $lanes:ident, $scalar:expr) => {{
            let mut quads = $values.chunks_exact_mut(4);
            for quad in &mut quads {
                // SAFETY: `quad` holds four f32.
                let x = unsafe { _mm_loadu_ps(quad.as_ptr()) };
                let (y, outside) = $lanes(x);
                // SAFETY: `quad` holds four f32.
                unsafe { _mm_storeu_ps(quad.as_mut_ptr(), y) };
                if outside != 0 {
                    let mut input = [0f32; 4];
                    // SAFETY: `input` holds four f32.
                    unsafe { _mm_storeu_ps(input.as_mut_ptr(), x) };
                    for (lane, v) in quad.iter_mut().enumerate() {
                        if outside & (1 << lane) != 0 {
                            *v = $scalar(input[lane]);
                        }
                    }
                }
            }
            for v in quads.into_remainder() {
                *v = $scalar(*v);
            }
        }};
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn exp(values: &mut [f32]) {
        run!(values, exp4, f32::exp)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn log(values: &mut [f32]) {
        run!(values, log4, f32::ln)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn sigmoid(values: &mut [f32]) {
        run!(values, sigmoid4, super::sigmoid_libm)
    }
}

/// An element-wise function of f32 arrays with a fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    Exp,
    Log,
    Sigmoid,
}

impl Kernel {
    /// Applies the function to every element of `values` in place (callers check
    /// [`fast_math_active`]).
    pub(crate) fn apply(self, values: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `fast_math_active` checked that the CPU has AVX2 and FMA.
        unsafe {
            match self {
                Kernel::Exp => avx2::exp(values),
                Kernel::Log => avx2::log(values),
                Kernel::Sigmoid => avx2::sigmoid(values),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = values;
    }
}

/// Whether the fast path is in use: the CPU has AVX2 and FMA, and the reproduced functions give
/// libm's results on a spread of inputs (every 16411th bit pattern).
pub fn fast_math_active() -> bool {
    static ACTIVE: OnceLock<bool> = OnceLock::new();
    *ACTIVE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
                return false;
            }
            let inputs: Vec<f32> = (0..u32::MAX / 16411)
                .map(|i| f32::from_bits(i.wrapping_mul(16411)))
                .collect();
            let same = |kernel: Kernel, libm: fn(f32) -> f32| {
                let mut out = inputs.clone();
                kernel.apply(&mut out);
                out.iter()
                    .zip(&inputs)
                    .all(|(y, &x)| y.to_bits() == libm(x).to_bits())
            };
            same(Kernel::Exp, f32::exp)
                && same(Kernel::Log, f32::ln)
                && same(Kernel::Sigmoid, sigmoid_libm)
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}

/// `kernel` over every element of an f32 array, in parts on the backend's threads; `Err` (the
/// array given back) for other element types, strided arrays, or where the fast path is off.
pub(crate) fn map<E: 'static>(
    array: SharedArray<E>,
    kernel: Kernel,
) -> Result<SharedArray<E>, SharedArray<E>> {
    let boxed: Box<dyn Any> = Box::new(array);
    let mut array = match boxed.downcast::<SharedArray<f32>>() {
        Ok(array) if array.is_standard_layout() && fast_math_active() => *array,
        Ok(array) => return Err(back(*array)),
        Err(other) => return Err(*other.downcast::<SharedArray<E>>().expect("the same type")),
    };
    // A shared array is copied first (copy on write), then overwritten.
    let values = array.as_slice_mut().expect("a row-major array is a slice");
    let parts = crate::pool::parts(values.len(), 1 << 13);
    crate::pool::for_chunks(values, parts, |_, chunk| kernel.apply(chunk));
    Ok(back(array))
}

fn back<E: 'static>(array: SharedArray<f32>) -> SharedArray<E> {
    let boxed: Box<dyn Any> = Box::new(array);
    *boxed.downcast::<SharedArray<E>>().expect("E is f32 here")
}

//! Bicubic resizing that reproduces Pillow's `Image.resize(..., BICUBIC)` bit for bit, the
//! resampling CLIPImageProcessor runs (fixed-point 8-bit path of Pillow's `Resample.c`).

use image::RgbImage;

/// Pillow's fixed-point precision for 8-bit images (`PRECISION_BITS = 32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;
/// Support of the bicubic kernel.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Pillow's bicubic kernel (Keys, a = -0.5).
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output index: the first input index and the fixed-point weights.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (xmin..xmax)
                .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let w = if total != 0.0 { w / total } else { *w };
                    let scaled = w * (1u64 << PRECISION_BITS) as f64;
                    if w < 0.0 {
                        (scaled - 0.5) as i64
                    } else {
                        (scaled + 0.5) as i64
                    }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// One separable pass along x (`horizontal`) or y, rounding to 8 bits as Pillow does.
fn pass(src: &RgbImage, out_w: u32, out_h: u32, horizontal: bool) -> RgbImage {
    let coeffs = if horizontal {
        coefficients(src.width() as usize, out_w as usize)
    } else {
        coefficients(src.height() as usize, out_h as usize)
    };
    let mut out = RgbImage::new(out_w, out_h);
    for y in 0..out_h {
        for x in 0..out_w {
            let (start, weights) = &coeffs[if horizontal { x } else { y } as usize];
            let mut acc = [1i64 << (PRECISION_BITS - 1); 3];
            for (i, w) in weights.iter().enumerate() {
                let (sx, sy) = if horizontal {
                    ((start + i) as u32, y)
                } else {
                    (x, (start + i) as u32)
                };
                let px = src.get_pixel(sx, sy);
                for c in 0..3 {
                    acc[c] += px[c] as i64 * w;
                }
            }
            out.put_pixel(x, y, image::Rgb(acc.map(clip8)));
        }
    }
    out
}

/// Resizes to `width × height` with Pillow's bicubic filter: horizontal pass, then vertical,
/// each skipped when that side keeps its size.
pub fn resize_bicubic(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let mut out = image.clone();
    if width != out.width() {
        out = pass(&out, width, out.height(), true);
    }
    if height != out.height() {
        out = pass(&out, width, height, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_the_kernel_is_interpolating() {
        assert_eq!(bicubic(0.0), 1.0);
        assert_eq!(bicubic(1.0), 0.0);
        assert_eq!(bicubic(2.0), 0.0);
        for (start, w) in coefficients(20, 32).into_iter().chain(coefficients(48, 32)) {
            let sum: i64 = w.iter().sum();
            assert!(
                (sum - (1 << PRECISION_BITS)).abs() <= w.len() as i64,
                "{start} {sum}"
            );
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let img = RgbImage::from_pixel(7, 5, image::Rgb([10, 128, 250]));
        let out = resize_bicubic(&img, 13, 3);
        assert!(out.pixels().all(|p| p.0 == [10, 128, 250]));
    }
}

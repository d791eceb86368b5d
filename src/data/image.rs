//! LLaVA-1.5 image preprocessing: pad to square, resize, centre crop, normalise (CLIP).

use std::path::Path;

use image::{DynamicImage, Rgb, RgbImage};

use super::DataError;

/// CLIP's per-channel mean (`OPENAI_CLIP_MEAN`).
#[allow(clippy::excessive_precision)] // quoted digit for digit from transformers
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// CLIP's per-channel standard deviation (`OPENAI_CLIP_STD`).
#[allow(clippy::excessive_precision)] // quoted digit for digit from transformers
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];
/// LLaVA's padding colour: `tuple(int(x * 255) for x in image_mean)` = (122, 116, 104).
pub const PAD_COLOUR: [u8; 3] = [122, 116, 104];

/// How an image becomes pixel values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagePreprocess {
    /// Side of the output (`crop_size`; 336 for LLaVA-1.5, the vision config's `image_size`).
    pub size: usize,
    /// Shortest side after resizing (`shortest_edge`; equal to `size` for CLIP).
    pub resize_to: usize,
    /// Pad to a square with [`PAD_COLOUR`] first (LLaVA `image_aspect_ratio=pad`). The official
    /// evaluation of ScienceQA, ImageNet, Grounding and VQAv2 skips it (METHOD.md §5).
    pub pad_to_square: bool,
}

impl ImagePreprocess {
    /// LLaVA-1.5 training preprocessing for a tower with input side `size`.
    pub fn llava(size: usize) -> Self {
        Self {
            size,
            resize_to: size,
            pad_to_square: true,
        }
    }

    /// The same without padding (resize the shortest side, centre crop).
    pub fn no_pad(size: usize) -> Self {
        Self {
            pad_to_square: false,
            ..Self::llava(size)
        }
    }

    /// Reads an image file and preprocesses it; an unreadable or corrupt file is an error
    /// naming it.
    pub fn load(&self, path: &Path) -> Result<Vec<f32>, DataError> {
        let image = image::open(path).map_err(|e| DataError::Image {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(self.apply(&image))
    }

    /// Pixel values `[3, size, size]` (channel-major, normalised) of `image`.
    pub fn apply(&self, image: &DynamicImage) -> Vec<f32> {
        let mut rgb = image.to_rgb8();
        if self.pad_to_square {
            rgb = pad_to_square(&rgb, PAD_COLOUR);
        }
        let (w, h) = rgb.dimensions();
        let (new_w, new_h) = shortest_edge_size(w as usize, h as usize, self.resize_to);
        if (new_w, new_h) != (w as usize, h as usize) {
            rgb = super::resample::resize_bicubic(&rgb, new_w as u32, new_h as u32);
        }
        let (left, top) = crop_origin(new_w, new_h, self.size);
        normalise(&rgb, left, top, self.size)
    }
}

/// LLaVA's `expand2square`: the image centred on a square canvas of its longer side.
pub fn pad_to_square(image: &RgbImage, colour: [u8; 3]) -> RgbImage {
    let (w, h) = image.dimensions();
    if w == h {
        return image.clone();
    }
    let side = w.max(h);
    let mut canvas = RgbImage::from_pixel(side, side, Rgb(colour));
    let (x, y) = ((side - w) / 2, (side - h) / 2);
    image::imageops::replace(&mut canvas, image, x as i64, y as i64);
    canvas
}

/// transformers' `get_resize_output_image_size(default_to_square=False)`: the shortest side
/// becomes `shortest`, the other `int(shortest * long / short)`. Returns (width, height).
pub fn shortest_edge_size(width: usize, height: usize, shortest: usize) -> (usize, usize) {
    let (short, long) = (width.min(height), width.max(height));
    let new_long = (shortest as f64 * long as f64 / short as f64) as usize;
    if width <= height {
        (shortest, new_long)
    } else {
        (new_long, shortest)
    }
}

/// transformers' `center_crop` origin: `((width - size) // 2, (height - size) // 2)`.
pub fn crop_origin(width: usize, height: usize, size: usize) -> (usize, usize) {
    (
        width.saturating_sub(size) / 2,
        height.saturating_sub(size) / 2,
    )
}

/// The `size × size` window at (`left`, `top`), scaled by 1/255 and normalised with
/// [`CLIP_MEAN`]/[`CLIP_STD`], channel-major.
pub fn normalise(image: &RgbImage, left: usize, top: usize, size: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; 3 * size * size];
    for y in 0..size {
        for x in 0..size {
            let px = image.get_pixel((left + x) as u32, (top + y) as u32);
            for c in 0..3 {
                let v = px[c] as f32 / 255.0;
                out[c * size * size + y * size + x] = (v - CLIP_MEAN[c]) / CLIP_STD[c];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_with_the_mean_colour_and_centres_the_image() {
        let img = RgbImage::from_pixel(4, 2, Rgb([255, 0, 0]));
        let sq = pad_to_square(&img, PAD_COLOUR);
        assert_eq!(sq.dimensions(), (4, 4));
        // (4 - 2) / 2 = 1 row of padding on top, 1 below
        assert_eq!(sq.get_pixel(0, 0).0, PAD_COLOUR);
        assert_eq!(sq.get_pixel(3, 1).0, [255, 0, 0]);
        assert_eq!(sq.get_pixel(3, 2).0, [255, 0, 0]);
        assert_eq!(sq.get_pixel(0, 3).0, PAD_COLOUR);
        // odd difference: (5 - 2) / 2 = 1 on top, 2 below
        let sq = pad_to_square(&RgbImage::from_pixel(5, 2, Rgb([0, 0, 0])), PAD_COLOUR);
        assert_eq!(sq.get_pixel(0, 0).0, PAD_COLOUR);
        assert_eq!(sq.get_pixel(0, 1).0, [0, 0, 0]);
        assert_eq!(sq.get_pixel(0, 3).0, PAD_COLOUR);
    }

    #[test]
    fn resize_and_crop_arithmetic_follows_transformers() {
        assert_eq!(shortest_edge_size(640, 480, 336), (448, 336));
        assert_eq!(shortest_edge_size(480, 640, 336), (336, 448));
        assert_eq!(shortest_edge_size(500, 333, 336), (504, 336)); // int(336 * 500 / 333) = 504
        assert_eq!(crop_origin(448, 336, 336), (56, 0));
        assert_eq!(crop_origin(337, 336, 336), (0, 0)); // (337 - 336) // 2 = 0
    }

    #[test]
    #[allow(clippy::excessive_precision)]
    fn normalisation_uses_the_clip_statistics() {
        let img = RgbImage::from_pixel(2, 2, Rgb([255, 0, 122]));
        let px = normalise(&img, 0, 0, 2);
        assert!((px[0] - (1.0 - 0.48145466) / 0.26862954).abs() < 1e-6);
        assert!((px[4] - (0.0 - 0.4578275) / 0.26130258).abs() < 1e-6);
        assert!((px[8] - (122.0 / 255.0 - 0.40821073) / 0.27577711).abs() < 1e-6);
    }
}

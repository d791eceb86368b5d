//! The demo's synthetic retention set: POPE- and MME-style questions on new scenes.

use std::path::Path;

use super::data::{COLOURS, POSITIONS, SHAPES, Scene};
use crate::experiments::retention_set::{LabelledImage, Vocabulary, encode, write_yes_no_set};
use crate::rng::SplitMix64;

/// Writes `dir/pope/` and `dir/mme/` for `images` new single-shape scenes of `size` pixels:
/// the shape (POPE), its colour and its position (MME).
pub fn write_retention_set(dir: &Path, images: usize, size: u32, seed: u64) -> crate::Result<()> {
    let mut rng = SplitMix64::new(seed);
    let labelled: Vec<LabelledImage> = (0..images)
        .map(|_| {
            let scene = Scene::random(&mut rng, false);
            LabelledImage {
                png: encode(&scene.draw(size, &mut rng)),
                shape: scene.shape,
                colour: scene.colour,
                position: Some(scene.position),
            }
        })
        .collect();
    let colours: Vec<&str> = COLOURS.iter().map(|c| c.0).collect();
    let words = Vocabulary {
        shapes: &SHAPES,
        colours: &colours,
        positions: &POSITIONS,
    };
    write_yes_no_set(dir, &labelled, words, seed)
}

//! A small synthetic knowledge-retention set from the demo's scenes: POPE-style and MME-style
//! yes/no questions about held-out images (shape, colour, position), written as parquet files
//! with the real benchmarks' schemas so `lcia eval --suite retention` reads them as it reads
//! the public releases.

use std::io::Cursor;
use std::path::Path;

use super::data::{COLOURS, POSITIONS, SHAPES, Scene};
use crate::eval::retention::table::{Column, write_table};
use crate::rng::SplitMix64;

/// POPE's three ways of choosing the absent object, one per image in turn.
const SPLITS: [&str; 3] = ["random", "popular", "adversarial"];

/// Writes `dir/pope/test-00000-of-00001.parquet` (two questions per image: the shape that is
/// there, and one that is not) and `dir/mme/test-00000-of-00001.parquet` (a yes/no pair per
/// image on its colour and on its position) for `images` new scenes of `size` pixels.
pub fn write_retention_set(dir: &Path, images: usize, size: u32, seed: u64) -> crate::Result<()> {
    let mut rng = SplitMix64::new(seed);
    let (mut pope, mut mme) = (Rows::default(), Rows::default());
    for i in 0..images {
        let scene = Scene::random(&mut rng, false);
        let png = encode(&scene.draw(size, &mut rng));
        let other = |n: usize, at: usize, rng: &mut SplitMix64| {
            (at + 1 + (rng.next_u64() % (n as u64 - 1)) as usize) % n
        };
        let split = SPLITS[i % SPLITS.len()];
        let absent = match split {
            "random" => other(SHAPES.len(), scene.shape, &mut rng),
            "popular" => usize::from(scene.shape == 0),
            _ => (scene.shape + 1) % SHAPES.len(),
        };
        for (shape, answer) in [(scene.shape, "yes"), (absent, "no")] {
            pope.push(
                format!("{}", pope.len()),
                format!("Is there a {} in the image?", SHAPES[shape]),
                answer,
                split,
                &png,
            );
        }
        let colour = other(COLOURS.len(), scene.colour, &mut rng);
        let position = other(POSITIONS.len(), scene.position, &mut rng);
        for (category, asked, truth) in [
            (
                "color",
                [COLOURS[scene.colour].0, COLOURS[colour].0],
                "Is the shape {}?",
            ),
            (
                "position",
                [POSITIONS[scene.position], POSITIONS[position]],
                "Is the shape on the {}?",
            ),
        ] {
            for (k, word) in asked.iter().enumerate() {
                mme.push(
                    format!("{category}/{i:04}.png"),
                    format!("{} Please answer yes or no.", truth.replace("{}", word)),
                    ["Yes", "No"][k],
                    category,
                    &png,
                );
            }
        }
    }
    write_table(
        &dir.join("pope/test-00000-of-00001.parquet"),
        pope.columns("category"),
    )?;
    write_table(
        &dir.join("mme/test-00000-of-00001.parquet"),
        mme.columns("category"),
    )?;
    Ok(())
}

fn encode(image: &image::RgbImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image.clone())
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("PNG encoding into memory does not fail");
    bytes.into_inner()
}

#[derive(Default)]
struct Rows {
    ids: Vec<Option<String>>,
    questions: Vec<Option<String>>,
    answers: Vec<Option<String>>,
    groups: Vec<Option<String>>,
    images: Vec<Option<Vec<u8>>>,
}

impl Rows {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn push(&mut self, id: String, question: String, answer: &str, group: &str, image: &[u8]) {
        self.ids.push(Some(id));
        self.questions.push(Some(question));
        self.answers.push(Some(answer.to_string()));
        self.groups.push(Some(group.to_string()));
        self.images.push(Some(image.to_vec()));
    }

    fn columns(self, group: &str) -> Vec<(&str, Column)> {
        vec![
            ("question_id", Column::Text(self.ids)),
            ("question", Column::Text(self.questions)),
            ("answer", Column::Text(self.answers)),
            (group, Column::Text(self.groups)),
            ("image", Column::Image(self.images)),
        ]
    }
}

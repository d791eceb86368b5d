//! A small synthetic knowledge-retention set: POPE-style and MME-style yes/no questions about
//! held-out labelled images (shape, colour, position), written as parquet files with the real
//! benchmarks' schemas so `lcia eval --suite retention` reads them as it reads the public
//! releases. The demo and easy-VQA write one each.

use std::io::Cursor;
use std::path::Path;

use crate::data::parquet::{Column, write_table};
use crate::rng::SplitMix64;

/// POPE's three ways of choosing the absent object, one per image in turn.
const SPLITS: [&str; 3] = ["random", "popular", "adversarial"];

/// One held-out image and what it shows (indices into the [`Vocabulary`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    /// The PNG bytes.
    pub png: Vec<u8>,
    /// The shape.
    pub shape: usize,
    /// The colour.
    pub colour: usize,
    /// Where the shape is, when the images say.
    pub position: Option<usize>,
}

/// The words the questions use.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary<'a> {
    /// Shape names.
    pub shapes: &'a [&'a str],
    /// Colour names.
    pub colours: &'a [&'a str],
    /// Position names.
    pub positions: &'a [&'a str],
}

/// Writes `dir/pope/test-00000-of-00001.parquet` (two questions per image: the shape that is
/// there, and one that is not, the absent one chosen at random, as the most common shape, or
/// as the next one, in turn) and `dir/mme/test-00000-of-00001.parquet` (a yes/no pair per
/// image on its colour, and on its position where known) in the benchmarks' schemas.
pub fn write_yes_no_set(
    dir: &Path,
    images: &[LabelledImage],
    words: Vocabulary,
    seed: u64,
) -> crate::Result<()> {
    let mut rng = SplitMix64::new(seed);
    let (mut pope, mut mme) = (Rows::default(), Rows::default());
    let other = |n: usize, at: usize, rng: &mut SplitMix64| {
        (at + 1 + (rng.next_u64() % (n as u64 - 1)) as usize) % n
    };
    for (i, image) in images.iter().enumerate() {
        let split = SPLITS[i % SPLITS.len()];
        let shapes = words.shapes.len();
        let absent = match split {
            "random" => other(shapes, image.shape, &mut rng),
            "popular" => usize::from(image.shape == 0),
            _ => (image.shape + 1) % shapes,
        };
        for (shape, answer) in [(image.shape, "yes"), (absent, "no")] {
            let question = format!("Is there a {} in the image?", words.shapes[shape]);
            pope.push(pope.len().to_string(), question, answer, split, &image.png);
        }
        let colour = other(words.colours.len(), image.colour, &mut rng);
        let mut pairs = vec![(
            "color",
            [words.colours[image.colour], words.colours[colour]],
            "Is the shape {}?",
        )];
        if let Some(at) = image.position {
            let position = other(words.positions.len(), at, &mut rng);
            pairs.push((
                "position",
                [words.positions[at], words.positions[position]],
                "Is the shape on the {}?",
            ));
        }
        for (category, asked, question) in pairs {
            for (k, word) in asked.iter().enumerate() {
                mme.push(
                    format!("{category}/{i:04}.png"),
                    format!("{} Please answer yes or no.", question.replace("{}", word)),
                    ["Yes", "No"][k],
                    category,
                    &image.png,
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

/// PNG bytes of an image.
pub fn encode(image: &image::RgbImage) -> Vec<u8> {
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

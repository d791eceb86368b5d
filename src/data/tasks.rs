//! The CoIN task registry and task orders (METHOD.md §5-§7).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The eight CoIN tasks, in the original training order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CoinTask {
    /// ScienceQA (multiple choice, letter answers).
    ScienceQA,
    /// TextVQA (OCR questions, soft accuracy).
    TextVQA,
    /// ImageNet (classification as instruction).
    ImageNet,
    /// GQA (compositional questions).
    GQA,
    /// VizWiz (questions from blind users, may be unanswerable).
    VizWiz,
    /// Grounding (RefCOCO/+/g boxes).
    Grounding,
    /// VQAv2.
    VQAv2,
    /// OCR-VQA (book covers).
    OCRVQA,
}

/// The task order used by the official runs.
pub const ORIGIN_ORDER: [CoinTask; 8] = [
    CoinTask::ScienceQA,
    CoinTask::TextVQA,
    CoinTask::ImageNet,
    CoinTask::GQA,
    CoinTask::VizWiz,
    CoinTask::Grounding,
    CoinTask::VQAv2,
    CoinTask::OCRVQA,
];

impl CoinTask {
    /// The folder name in the CoIN annotations (`Instructions/<name>/train.json`).
    pub fn name(self) -> &'static str {
        match self {
            CoinTask::ScienceQA => "ScienceQA",
            CoinTask::TextVQA => "TextVQA",
            CoinTask::ImageNet => "ImageNet",
            CoinTask::GQA => "GQA",
            CoinTask::VizWiz => "VizWiz",
            CoinTask::Grounding => "Grounding",
            CoinTask::VQAv2 => "VQAv2",
            CoinTask::OCRVQA => "OCRVQA",
        }
    }

    /// `max_new_tokens` of the official evaluation scripts.
    pub fn max_new_tokens(self) -> usize {
        match self {
            CoinTask::TextVQA | CoinTask::GQA | CoinTask::VizWiz | CoinTask::OCRVQA => 128,
            CoinTask::ScienceQA | CoinTask::ImageNet | CoinTask::Grounding | CoinTask::VQAv2 => {
                1024
            }
        }
    }

    /// Whether the official evaluation pads images to a square (TextVQA, GQA, VizWiz, OCR-VQA)
    /// or only resizes and crops them (the others), a train/test mismatch of the official code.
    pub fn pads_images_at_eval(self) -> bool {
        matches!(
            self,
            CoinTask::TextVQA | CoinTask::GQA | CoinTask::VizWiz | CoinTask::OCRVQA
        )
    }

    /// Global batch size of the official training scripts.
    pub fn global_batch(self) -> usize {
        match self {
            CoinTask::ScienceQA | CoinTask::TextVQA | CoinTask::VizWiz => 128,
            CoinTask::ImageNet => 160,
            CoinTask::GQA | CoinTask::Grounding => 64,
            CoinTask::VQAv2 => 80,
            CoinTask::OCRVQA => 96,
        }
    }

    /// Training annotations relative to the instruction-type folder.
    pub fn train_file(self) -> String {
        format!("{}/train.json", self.name())
    }

    /// Test annotations relative to the instruction-type folder.
    pub fn test_file(self) -> String {
        format!("{}/test.json", self.name())
    }
}

impl FromStr for CoinTask {
    type Err = String;

    /// Case-insensitive; `OCR-VQA` and `OCRVQA` both work.
    fn from_str(s: &str) -> Result<Self, String> {
        let key: String = s
            .chars()
            .filter(|c| c.is_alphanumeric())
            .collect::<String>()
            .to_lowercase();
        ORIGIN_ORDER
            .into_iter()
            .find(|t| t.name().to_lowercase() == key)
            .ok_or_else(|| {
                let names: Vec<&str> = ORIGIN_ORDER.iter().map(|t| t.name()).collect();
                format!("unknown task '{s}' (expected one of {})", names.join(", "))
            })
    }
}

/// The order tasks are learned in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskOrder {
    /// ScienceQA → TextVQA → ImageNet → GQA → VizWiz → Grounding → VQAv2 → OCR-VQA.
    Origin,
    /// The origin order backwards.
    Reverse,
    /// By name, case-insensitively (the paper's "Alphabet" order; no official script exists,
    /// so this reading is ours).
    Alphabet,
    /// An explicit list of task names.
    Custom(Vec<String>),
}

impl TaskOrder {
    /// The task sequence; a custom list with an unknown name, a repeat or no task is an error.
    pub fn tasks(&self) -> Result<Vec<CoinTask>, String> {
        Ok(match self {
            TaskOrder::Origin => ORIGIN_ORDER.to_vec(),
            TaskOrder::Reverse => ORIGIN_ORDER.iter().rev().copied().collect(),
            TaskOrder::Alphabet => {
                let mut tasks = ORIGIN_ORDER.to_vec();
                tasks.sort_by_key(|t| t.name().to_lowercase());
                tasks
            }
            TaskOrder::Custom(names) => {
                let tasks = names
                    .iter()
                    .map(|n| n.parse::<CoinTask>())
                    .collect::<Result<Vec<_>, _>>()?;
                if tasks.is_empty() {
                    return Err("the task list is empty".into());
                }
                if let Some(t) = tasks
                    .iter()
                    .enumerate()
                    .find(|(i, t)| tasks[..*i].contains(t))
                {
                    return Err(format!("task '{}' appears twice", t.1.name()));
                }
                tasks
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_and_names() {
        let alpha: Vec<&str> = TaskOrder::Alphabet
            .tasks()
            .unwrap()
            .iter()
            .map(|t| t.name())
            .collect();
        assert_eq!(
            alpha,
            [
                "GQA",
                "Grounding",
                "ImageNet",
                "OCRVQA",
                "ScienceQA",
                "TextVQA",
                "VizWiz",
                "VQAv2"
            ]
        );
        assert_eq!(TaskOrder::Reverse.tasks().unwrap()[0], CoinTask::OCRVQA);
        assert_eq!("ocr-vqa".parse::<CoinTask>(), Ok(CoinTask::OCRVQA));
        let err = TaskOrder::Custom(vec!["GQA".into(), "COCO".into()])
            .tasks()
            .unwrap_err();
        assert!(err.contains("'COCO'") && err.contains("ScienceQA"), "{err}");
        assert!(TaskOrder::Custom(vec![]).tasks().is_err());
        assert!(
            TaskOrder::Custom(vec!["gqa".into(), "GQA".into()])
                .tasks()
                .unwrap_err()
                .contains("twice")
        );
        assert_eq!(CoinTask::GQA.max_new_tokens(), 128);
        assert_eq!(CoinTask::VQAv2.max_new_tokens(), 1024);
        assert!(
            !CoinTask::ScienceQA.pads_images_at_eval() && CoinTask::VizWiz.pads_images_at_eval()
        );
        assert_eq!(
            ORIGIN_ORDER
                .iter()
                .map(|t| t.global_batch())
                .collect::<Vec<_>>(),
            [128, 128, 160, 64, 128, 64, 80, 96]
        );
    }
}

//! LLaVA/CoIN instruction records: the training format (`id`, `image`, `conversations`) and the
//! test format (`question_id`, `image`, `text`, answers), with per-record validation.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::DataError;
use super::template::{Role, Turn};

/// One turn as stored: `{"from": "human" | "gpt", "value": "..."}`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct StoredTurn {
    /// `human` or `gpt`.
    pub from: String,
    /// The text.
    pub value: String,
}

/// A training record of a LLaVA/CoIN instruction file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TrainRecord {
    /// Record id (string or number in the files).
    #[serde(deserialize_with = "id_string")]
    pub id: String,
    /// Image path relative to the image root, if the record has one.
    #[serde(default)]
    pub image: Option<String>,
    /// Alternating human/gpt turns.
    pub conversations: Vec<StoredTurn>,
}

/// A test record of a CoIN test file; task-specific answer fields are kept as JSON.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TestRecord {
    /// Question id.
    #[serde(deserialize_with = "id_string")]
    pub question_id: String,
    /// Image path relative to the image root.
    #[serde(default)]
    pub image: Option<String>,
    /// The prompt.
    pub text: String,
    /// Everything else (`answer`, `answers`, `answer_bbox`, `size`, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn id_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

impl TrainRecord {
    /// The turns with roles; an unknown speaker is an error.
    pub fn turns(&self) -> Result<Vec<Turn>, String> {
        self.conversations
            .iter()
            .map(|t| {
                let role = match t.from.as_str() {
                    "human" => Role::Human,
                    "gpt" => Role::Gpt,
                    other => return Err(format!("unknown speaker '{other}'")),
                };
                Ok(Turn {
                    role,
                    value: t.value.clone(),
                })
            })
            .collect()
    }

    fn problem(&self, image_root: Option<&Path>) -> Option<String> {
        if self.conversations.len() < 2 {
            return Some("needs a human turn and a gpt turn".into());
        }
        if let Err(e) = self.turns() {
            return Some(e);
        }
        if let Some(t) = self
            .conversations
            .iter()
            .find(|t| t.from == "gpt" && t.value.trim().is_empty())
        {
            return Some(format!("empty answer ({:?})", t.value));
        }
        match (&self.image, image_root) {
            (Some(image), Some(root)) if !root.join(image).is_file() => {
                Some(format!("image {} not found", root.join(image).display()))
            }
            _ => None,
        }
    }
}

/// What loading a file kept and what it skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Records kept.
    pub kept: usize,
    /// `(index, reason)` of each skipped record.
    pub skipped: Vec<(usize, String)>,
}

/// Reads a training file (a JSON array). Malformed JSON is an error with line and column. A
/// record with fewer than two turns, an unknown speaker, an empty answer or (given
/// `image_root`) a missing image is an error naming the file and index when `strict`, else it
/// is skipped, counted and logged.
pub fn load_train_records(
    path: &Path,
    image_root: Option<&Path>,
    strict: bool,
) -> Result<(Vec<TrainRecord>, LoadReport), DataError> {
    let records: Vec<TrainRecord> = read_json(path)?;
    let mut report = LoadReport::default();
    let mut kept = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        match record.problem(image_root) {
            None => kept.push(record),
            Some(reason) if strict => {
                return Err(DataError::Record {
                    path: path.to_path_buf(),
                    index,
                    message: reason,
                });
            }
            Some(reason) => {
                log::warn!("{}: record {index} skipped: {reason}", path.display());
                report.skipped.push((index, reason));
            }
        }
    }
    report.kept = kept.len();
    Ok((kept, report))
}

/// Reads a test file (a JSON array of [`TestRecord`]).
pub fn load_test_records(path: &Path) -> Result<Vec<TestRecord>, DataError> {
    read_json(path)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Json {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| DataError::Json {
        path: PathBuf::from(path),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

//! GGUF (llama.cpp's single-file model format, version 2 and 3): the reader, the
//! dequantizers and the import of a Llama-architecture file into an HF-style directory.
//!
//! A GGUF file is a header (magic `GGUF`, version, tensor and metadata counts), typed
//! metadata key/values (`llama.block_count`, `tokenizer.ggml.tokens`, ...), one info record
//! per tensor (name, dimensions fastest-first, GGML type, offset) and the tensor data, which
//! starts at the next multiple of `general.alignment` (32 by default).

mod import;
mod quant;
mod tokenizer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use import::{ImportSummary, import_gguf, llama_config_json, unpermute_rows};
pub use quant::{GgmlType, dequantize};
pub use tokenizer::tokenizer_json;

use super::ModelError;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// Any unsigned integer type.
    U64(u64),
    /// Any signed integer type.
    I64(i64),
    /// `float32` or `float64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// `string`.
    Str(String),
    /// `array` (of any one type).
    Array(Vec<GgufValue>),
}

impl GgufValue {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            GgufValue::U64(v) => Some(v),
            GgufValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F64(v) => Some(v),
            GgufValue::U64(v) => Some(v as f64),
            GgufValue::I64(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array, if it is one.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

/// Where one tensor is and what it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    /// GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions, fastest-varying first (GGML order; PyTorch's shape reversed).
    pub dims: Vec<u64>,
    /// Element type.
    pub kind: GgmlType,
    /// Byte offset from the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// Number of elements.
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// The PyTorch (row-major, slowest first) shape.
    pub fn torch_shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A GGUF file read into memory.
#[derive(Debug)]
pub struct GgufFile {
    /// The file it came from (for error messages).
    pub path: PathBuf,
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata by key.
    pub metadata: BTreeMap<String, GgufValue>,
    /// Tensor infos in file order.
    pub tensors: Vec<GgufTensorInfo>,
    data: Vec<u8>,
    data_start: usize,
}

impl GgufFile {
    /// Reads and parses `path`; a truncated or malformed file is an error naming the file and
    /// the byte offset where parsing stopped.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let data = std::fs::read(path).map_err(|error| ModelError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::parse(path, data)
    }

    /// Parses a whole GGUF file held in `data`.
    pub fn parse(path: &Path, data: Vec<u8>) -> Result<Self, ModelError> {
        let fail = |at: usize, message: String| ModelError::Weights {
            file: path.to_path_buf(),
            message: format!("GGUF at byte {at}: {message}"),
        };
        let mut r = Reader { data: &data, at: 0 };
        let magic = r
            .bytes(4)
            .map_err(|at| fail(at, "truncated header".into()))?;
        if magic != b"GGUF" {
            return Err(fail(0, "not a GGUF file (magic is not 'GGUF')".into()));
        }
        let version = r.u32().map_err(|at| fail(at, "truncated header".into()))?;
        if !(2..=3).contains(&version) {
            return Err(fail(4, format!("unsupported GGUF version {version}")));
        }
        let n_tensors = r.u64().map_err(|at| fail(at, "truncated header".into()))?;
        let n_kv = r.u64().map_err(|at| fail(at, "truncated header".into()))?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r
                .string()
                .map_err(|at| fail(at, "truncated metadata key".into()))?;
            let kind = r
                .u32()
                .map_err(|at| fail(at, format!("truncated type of '{key}'")))?;
            let value = r
                .value(kind)
                .map_err(|at| fail(at, format!("bad or truncated value of '{key}'")))?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        for i in 0..n_tensors {
            let bad = |at| fail(at, format!("bad or truncated info of tensor #{i}"));
            let name = r.string().map_err(bad)?;
            let n_dims = r.u32().map_err(bad)?;
            if n_dims > 8 {
                return Err(fail(
                    r.at,
                    format!("tensor '{name}' has {n_dims} dimensions"),
                ));
            }
            let dims = (0..n_dims).map(|_| r.u64()).collect::<Result<Vec<_>, _>>();
            let dims = dims.map_err(bad)?;
            let raw = r.u32().map_err(bad)?;
            let kind = GgmlType::from_id(raw).ok_or_else(|| {
                fail(r.at, format!("tensor '{name}' has unknown GGML type {raw}"))
            })?;
            let offset = r.u64().map_err(bad)?;
            tensors.push(GgufTensorInfo {
                name,
                dims,
                kind,
                offset,
            });
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(GgufValue::as_u64)
            .unwrap_or(32)
            .max(1) as usize;
        let data_start = r.at.div_ceil(alignment) * alignment;
        let file = GgufFile {
            path: path.to_path_buf(),
            version,
            metadata,
            tensors,
            data,
            data_start,
        };
        for info in &file.tensors {
            file.raw(info)?;
        }
        Ok(file)
    }

    /// A metadata value, or an error naming the key and the file.
    pub fn get(&self, key: &str) -> Result<&GgufValue, ModelError> {
        self.metadata.get(key).ok_or_else(|| ModelError::Weights {
            file: self.path.clone(),
            message: format!("GGUF metadata key '{key}' is missing"),
        })
    }

    /// A metadata value that must be a non-negative integer.
    pub fn get_u64(&self, key: &str) -> Result<u64, ModelError> {
        let value = self.get(key)?;
        value
            .as_u64()
            .ok_or_else(|| self.bad_key(key, "an integer"))
    }

    /// A metadata value that must be numeric.
    pub fn get_f64(&self, key: &str) -> Result<f64, ModelError> {
        let value = self.get(key)?;
        value.as_f64().ok_or_else(|| self.bad_key(key, "a number"))
    }

    /// A metadata value that must be a string.
    pub fn get_str(&self, key: &str) -> Result<&str, ModelError> {
        let value = self.get(key)?;
        value.as_str().ok_or_else(|| self.bad_key(key, "a string"))
    }

    fn bad_key(&self, key: &str, what: &str) -> ModelError {
        ModelError::Weights {
            file: self.path.clone(),
            message: format!("GGUF metadata key '{key}' is not {what}"),
        }
    }

    /// The tensor info called `name`.
    pub fn tensor(&self, name: &str) -> Result<&GgufTensorInfo, ModelError> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                file: self.path.clone(),
            })
    }

    /// The raw bytes of a tensor (checked to lie inside the file).
    pub fn raw(&self, info: &GgufTensorInfo) -> Result<&[u8], ModelError> {
        let size = info
            .kind
            .byte_size(info.elements())
            .ok_or_else(|| ModelError::Weights {
                file: self.path.clone(),
                message: format!(
                    "tensor '{}': {} elements do not fill whole {:?} blocks",
                    info.name,
                    info.elements(),
                    info.kind
                ),
            })?;
        let start = self.data_start as u64 + info.offset;
        let end = start + size;
        if end > self.data.len() as u64 {
            return Err(ModelError::Weights {
                file: self.path.clone(),
                message: format!(
                    "tensor '{}' needs bytes {start}..{end} but the file has {} (truncated?)",
                    info.name,
                    self.data.len()
                ),
            });
        }
        Ok(&self.data[start as usize..end as usize])
    }

    /// A tensor dequantized to f32, in row-major order of [`GgufTensorInfo::torch_shape`].
    pub fn dequantized(&self, name: &str) -> Result<Vec<f32>, ModelError> {
        let info = self.tensor(name)?;
        dequantize(info.kind, self.raw(info)?).map_err(|message| ModelError::Weights {
            file: self.path.clone(),
            message: format!("tensor '{name}': {message}"),
        })
    }
}

/// A little-endian cursor; errors carry the offset where reading failed.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], usize> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(self.at)?;
        let out = &self.data[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], usize> {
        Ok(self.bytes(N)?.try_into().expect("length checked"))
    }
    fn u32(&mut self) -> Result<u32, usize> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, usize> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn string(&mut self) -> Result<String, usize> {
        let at = self.at;
        let len = usize::try_from(self.u64()?).map_err(|_| at)?;
        let bytes = self.bytes(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| at)
    }
    fn value(&mut self, kind: u32) -> Result<GgufValue, usize> {
        Ok(match kind {
            0 => GgufValue::U64(self.array::<1>()?[0] as u64),
            1 => GgufValue::I64(i8::from_le_bytes(self.array()?) as i64),
            2 => GgufValue::U64(u16::from_le_bytes(self.array()?) as u64),
            3 => GgufValue::I64(i16::from_le_bytes(self.array()?) as i64),
            4 => GgufValue::U64(self.u32()? as u64),
            5 => GgufValue::I64(i32::from_le_bytes(self.array()?) as i64),
            6 => GgufValue::F64(f32::from_le_bytes(self.array()?) as f64),
            7 => GgufValue::Bool(self.array::<1>()?[0] != 0),
            8 => GgufValue::Str(self.string()?),
            9 => {
                let inner = self.u32()?;
                let at = self.at;
                let len = usize::try_from(self.u64()?).map_err(|_| at)?;
                if len > self.data.len() {
                    return Err(at);
                }
                let items = (0..len).map(|_| self.value(inner));
                GgufValue::Array(items.collect::<Result<_, _>>()?)
            }
            10 => GgufValue::U64(self.u64()?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array()?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array()?)),
            _ => return Err(self.at - 4),
        })
    }
}

//! GGML element types and dequantization to f32 (llama.cpp's `ggml-quants.c` block layouts).
//!
//! Block formats (all little-endian, `d` and `m` are IEEE half floats):
//! - `Q8_0`: 32 weights per 34-byte block: `d`, then 32 signed bytes `q`; `x = d·q`.
//! - `Q4_0`: 32 weights per 18-byte block: `d`, then 16 bytes; byte `j` holds weight `j` in its
//!   low nibble and weight `j + 16` in its high nibble; `x = d·(q − 8)`.
//! - `Q4_1`: 32 weights per 20-byte block: `d`, `m`, then the nibbles as in `Q4_0`; `x = d·q + m`.

use half::{bf16, f16};

/// The element types a GGUF tensor can have (ids from `ggml.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16.
    Bf16,
    /// 4-bit, scale only.
    Q4_0,
    /// 4-bit, scale and minimum.
    Q4_1,
    /// 8-bit, scale only.
    Q8_0,
    /// A type this reader recognises but cannot dequantize (k-quants, 5-bit, i-quants...).
    Other(u32),
}

impl GgmlType {
    /// The type with GGML id `id`; `None` for ids no GGML version has used.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            8 => Self::Q8_0,
            30 => Self::Bf16,
            6 | 7 | 9..=29 | 31..=41 => Self::Other(id),
            _ => return None,
        })
    }

    /// `(weights per block, bytes per block)` for the types this module dequantizes.
    pub fn block(self) -> Option<(u64, u64)> {
        Some(match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::Bf16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q8_0 => (32, 34),
            Self::Other(_) => return None,
        })
    }

    /// Bytes taken by `elements` weights; `None` for an unsupported type or a count that is
    /// not a whole number of blocks.
    pub fn byte_size(self, elements: u64) -> Option<u64> {
        let (per_block, bytes) = self.block()?;
        elements
            .is_multiple_of(per_block)
            .then_some(elements / per_block * bytes)
    }
}

fn half_at(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

/// Dequantizes `bytes` of type `kind` to f32 values, in storage order.
///
/// ```
/// use lcia::model::gguf::{GgmlType, dequantize};
/// // One Q8_0 block: d = 0.5 (f16 0x3800), weights 0, 1, -2, 3, ...
/// let mut block = vec![0x00, 0x38];
/// block.extend((0..32).map(|i: i8| if i % 2 == 0 { -i } else { i } as u8));
/// let x = dequantize(GgmlType::Q8_0, &block).unwrap();
/// assert_eq!(&x[..4], &[0.0, 0.5, -1.0, 1.5]);
/// ```
pub fn dequantize(kind: GgmlType, bytes: &[u8]) -> Result<Vec<f32>, String> {
    let (per_block, block_bytes) = kind.block().ok_or_else(|| {
        format!("GGML type {kind:?} is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1 are)")
    })?;
    let block_bytes = block_bytes as usize;
    if !bytes.len().is_multiple_of(block_bytes) {
        return Err(format!(
            "{} bytes are not a whole number of {kind:?} blocks of {block_bytes} bytes",
            bytes.len()
        ));
    }
    let blocks = bytes.chunks_exact(block_bytes);
    let mut out = Vec::with_capacity(bytes.len() / block_bytes * per_block as usize);
    match kind {
        GgmlType::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        GgmlType::F16 => out.extend(blocks.map(|b| half_at(b, 0))),
        GgmlType::Bf16 => out.extend(blocks.map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())),
        GgmlType::Q8_0 => {
            for b in blocks {
                let d = half_at(b, 0);
                out.extend(b[2..].iter().map(|&q| d * (q as i8) as f32));
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let (offset, start) = if kind == GgmlType::Q4_0 {
                (-8.0, 2)
            } else {
                (0.0, 4)
            };
            for b in blocks {
                let d = half_at(b, 0);
                let m = if kind == GgmlType::Q4_1 {
                    half_at(b, 2)
                } else {
                    0.0
                };
                let qs = &b[start..start + 16];
                let value = |q: u8| d * (q as f32 + offset) + m;
                out.extend(qs.iter().map(|&q| value(q & 0x0F)));
                out.extend(qs.iter().map(|&q| value(q >> 4)));
            }
        }
        GgmlType::Other(_) => unreachable!("rejected above"),
    }
    Ok(out)
}

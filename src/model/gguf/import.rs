//! A Llama-architecture GGUF file → an HF-style model directory (`config.json`,
//! `model.safetensors` in f32, `tokenizer.json`, `tokenizer_config.json`).
//!
//! llama.cpp's converter reorders the rows of `attn_q` and `attn_k` within each head from
//! the rotate-half layout (first halves, then second halves) to interleaved pairs, for its
//! RoPE kernel; the import undoes that so the weights fit the HF (rotate-half) Llama.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, tensor::TensorView};
use serde_json::json;

use super::{GgmlType, GgufFile, tokenizer_json};
use crate::model::ModelError;

/// What [`import_gguf`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// Tensors written to `model.safetensors`.
    pub tensors: usize,
    /// Parameters written.
    pub parameters: u64,
    /// How many source tensors had each GGML type.
    pub source_types: BTreeMap<String, usize>,
    /// Whether the LM head is tied to the embedding (no `output.weight` in the file).
    pub tied_embeddings: bool,
    /// Vocabulary size of the tokenizer written.
    pub vocab_size: usize,
}

/// The transformers `config.json` (as a JSON value) for the file's `llama.*` metadata.
pub fn llama_config_json(file: &GgufFile) -> Result<serde_json::Value, ModelError> {
    let arch = file.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(ModelError::Weights {
            file: file.path.clone(),
            message: format!("general.architecture is '{arch}'; only 'llama' can be imported"),
        });
    }
    let hidden = file.get_u64("llama.embedding_length")?;
    let heads = file.get_u64("llama.attention.head_count")?;
    let kv_heads = match file.metadata.get("llama.attention.head_count_kv") {
        Some(_) => file.get_u64("llama.attention.head_count_kv")?,
        None => heads,
    };
    let head_dim = match file.metadata.get("llama.rope.dimension_count") {
        Some(_) => file.get_u64("llama.rope.dimension_count")?,
        None => hidden / heads,
    };
    let vocab = match file.metadata.get("llama.vocab_size") {
        Some(_) => file.get_u64("llama.vocab_size")?,
        None => file.tensor("token_embd.weight")?.dims[1],
    };
    let theta = match file.metadata.get("llama.rope.freq_base") {
        Some(_) => file.get_f64("llama.rope.freq_base")?,
        None => 10_000.0,
    };
    let id = |key: &str| file.metadata.get(key).and_then(|v| v.as_u64());
    Ok(json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": file.get_u64("llama.feed_forward_length")?,
        "num_hidden_layers": file.get_u64("llama.block_count")?,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "head_dim": head_dim,
        "rms_norm_eps": file.get_f64("llama.attention.layer_norm_rms_epsilon")?,
        "rope_theta": theta,
        "max_position_embeddings": file.get_u64("llama.context_length")?,
        "tie_word_embeddings": file.tensor("output.weight").is_err(),
        "hidden_act": "silu",
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": id("tokenizer.ggml.bos_token_id"),
        "eos_token_id": id("tokenizer.ggml.eos_token_id"),
        "pad_token_id": id("tokenizer.ggml.padding_token_id"),
        "torch_dtype": "float32",
    }))
}

/// The HF name of a GGUF Llama tensor, and the head count whose row permutation must be
/// undone (`Some` for `attn_q` / `attn_k`).
fn hf_name(name: &str, heads: u64, kv_heads: u64) -> Option<(String, Option<u64>)> {
    let fixed = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(hf) = fixed {
        return Some((hf.to_string(), None));
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, leaf) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (hf, permute) = match leaf {
        "attn_norm.weight" => ("input_layernorm.weight", None),
        "ffn_norm.weight" => ("post_attention_layernorm.weight", None),
        "attn_q.weight" => ("self_attn.q_proj.weight", Some(heads)),
        "attn_k.weight" => ("self_attn.k_proj.weight", Some(kv_heads)),
        "attn_v.weight" => ("self_attn.v_proj.weight", None),
        "attn_output.weight" => ("self_attn.o_proj.weight", None),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", None),
        "ffn_up.weight" => ("mlp.up_proj.weight", None),
        "ffn_down.weight" => ("mlp.down_proj.weight", None),
        _ => return None,
    };
    Some((format!("model.layers.{layer}.{hf}"), permute))
}

/// Undoes llama.cpp's per-head row interleaving of a `[heads · head_dim, cols]` matrix: GGUF
/// row `h·d + 2i + j` is HF row `h·d + j·d/2 + i`.
pub fn unpermute_rows(values: &[f32], heads: usize, cols: usize) -> Vec<f32> {
    let rows = values.len() / cols;
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = (h * head_dim + 2 * i + j) * cols;
                let dst = (h * head_dim + j * half + i) * cols;
                out[dst..dst + cols].copy_from_slice(&values[src..src + cols]);
            }
        }
    }
    out
}

/// Imports the Llama GGUF file `src` into `out` (created if needed): every tensor
/// dequantized to f32 under its HF name, Q/K rows restored to the HF order, the config and
/// the tokenizer from the metadata. Files are written to temporary names and renamed.
pub fn import_gguf(src: &Path, out: &Path) -> Result<ImportSummary, ModelError> {
    let file = GgufFile::open(src)?;
    let config = llama_config_json(&file)?;
    let heads = file.get_u64("llama.attention.head_count")?;
    let kv_heads = config["num_key_value_heads"].as_u64().unwrap_or(heads);
    let tokenizer = tokenizer_json(&file)?;
    let mut source_types = BTreeMap::new();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut parameters = 0;
    for info in &file.tensors {
        let (name, permute) =
            hf_name(&info.name, heads, kv_heads).ok_or_else(|| ModelError::UnexpectedTensor {
                name: info.name.clone(),
                file: file.path.clone(),
            })?;
        let mut values = file.dequantized(&info.name)?;
        let shape = info.torch_shape();
        if let Some(h) = permute {
            let rows = shape[0];
            if shape.len() != 2 || rows % (2 * h as usize) != 0 {
                return Err(ModelError::Weights {
                    file: file.path.clone(),
                    message: format!(
                        "tensor '{}' of shape {shape:?} does not split into {h} heads",
                        info.name
                    ),
                });
            }
            values = unpermute_rows(&values, h as usize, shape[1]);
        }
        let kind = match info.kind {
            GgmlType::Other(id) => format!("type {id}"),
            k => format!("{k:?}"),
        };
        *source_types.entry(kind).or_insert(0) += 1;
        parameters += values.len() as u64;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((name, shape, bytes));
    }
    let io = |path: &Path, error: std::io::Error| ModelError::Io {
        path: path.to_path_buf(),
        error,
    };
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let weights = out.join("model.safetensors");
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes);
            view.map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ModelError::Weights {
            file: weights.clone(),
            message: e.to_string(),
        })?;
    let meta = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "pt".to_string(),
    )]));
    crate::io::replace_atomic(&weights, |tmp| {
        safetensors::serialize_to_file(views, meta, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| ModelError::Weights {
        file: weights.clone(),
        message: e.to_string(),
    })?;
    let token = |key: &str| {
        let tokens = file.metadata.get("tokenizer.ggml.tokens")?.as_array()?;
        let id = file.metadata.get(key)?.as_u64()?;
        tokens.get(id as usize)?.as_str().map(str::to_string)
    };
    let tokenizer_config = json!({
        "tokenizer_class": "GPT2Tokenizer",
        "bos_token": token("tokenizer.ggml.bos_token_id"),
        "eos_token": token("tokenizer.ggml.eos_token_id"),
        "pad_token": token("tokenizer.ggml.padding_token_id"),
        "unk_token": token("tokenizer.ggml.unknown_token_id"),
        "add_bos_token": file.metadata.get("tokenizer.ggml.add_bos_token")
            .map(|v| *v == super::GgufValue::Bool(true)).unwrap_or(false),
        "chat_template": file.metadata.get("tokenizer.chat_template").and_then(|v| v.as_str()),
        "model_max_length": config["max_position_embeddings"],
    });
    let vocab_size = file
        .get("tokenizer.ggml.tokens")?
        .as_array()
        .map_or(0, <[_]>::len);
    let written = |name: &str| {
        let path = out.join(name);
        move |error| ModelError::Io { path, error }
    };
    crate::io::write_json(&out.join("config.json"), &config).map_err(written("config.json"))?;
    crate::io::write_atomic(&out.join("tokenizer.json"), tokenizer.as_bytes())
        .map_err(written("tokenizer.json"))?;
    crate::io::write_json(&out.join("tokenizer_config.json"), &tokenizer_config)
        .map_err(written("tokenizer_config.json"))?;
    Ok(ImportSummary {
        tensors: tensors.len(),
        parameters,
        source_types,
        tied_embeddings: config["tie_word_embeddings"] == json!(true),
        vocab_size,
    })
}

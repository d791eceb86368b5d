//! `lcia route`: which group of a run an instruction goes to, and why.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use lcia::continual::RunDir;
use lcia::continual::config::RunConfig;
use lcia::continual::manifest::read_json;
use lcia::routing::codebook::extract_instruction;
use lcia::routing::{InstructionCodebook, Router, Split, TaskKind};
use lcia_backends::BackendTask;

/// `lcia route`.
#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The run directory (its config.json and codebook.json are used).
    #[arg(long)]
    pub run: PathBuf,
    /// Task name, for its instruction-extraction rule (Grounding, ImageNet or other).
    #[arg(long, default_value = "")]
    pub task: String,
    /// The test prompt or instruction.
    pub instruction: String,
}

impl BackendTask for RouteArgs {
    type Output = anyhow::Result<String>;

    fn run<AB: AutodiffBackend>(self, device: AB::Device) -> anyhow::Result<String> {
        let run = RunDir::new(&self.run);
        let config: RunConfig = read_json(&run.config())?;
        let codebook = InstructionCodebook::load(&run.codebook())?;
        let similarity = config
            .method
            .similarity
            .build::<AB::InnerBackend>(&device)?;
        let kind = TaskKind::of_task(&self.task);
        let instruction = extract_instruction(&self.instruction, kind, Split::Test)
            .unwrap_or_else(|| self.instruction.trim().to_string());
        let tau = config.method.tau;
        let router = Router::new(&codebook, similarity.as_ref(), tau);
        let (group, best, fallback) = router.route(std::slice::from_ref(&instruction))?;
        let mut out = format!(
            "instruction: {instruction:?}\nmeasure: {:?}, threshold τ = {tau}\n\n| group | mean similarity | instructions |\n|---:|---:|---|\n",
            config.method.similarity
        );
        let sims = codebook.similarities(similarity.as_ref(), std::slice::from_ref(&instruction));
        for (g, (sim, members)) in sims.iter().zip(&codebook.groups).enumerate() {
            let shown: Vec<&str> = members.iter().take(3).map(String::as_str).collect();
            let more = members.len().saturating_sub(3);
            let more = if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            };
            out.push_str(&format!(
                "| {g} | {sim:.4} | {}{more} |\n",
                shown.join(" / ")
            ));
        }
        out.push_str(&if fallback {
            format!("\n-> group {group}: the best similarity {best:.4} is below τ, so the latest group answers\n")
        } else {
            format!("\n-> group {group}: the most similar group ({best:.4} ≥ τ)\n")
        });
        Ok(out)
    }
}
